//! Plans and goals as the engine runs them; their types and pure checks are
//! in `crate::plans`.

mod goals;
mod plans;
