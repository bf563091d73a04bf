//! Outcomes as the engine runs them: a task's verification and the review of
//! a worker's work. The work itself is done in `crate::verify` and
//! `crate::review`, which know nothing of the engine.

mod review;
mod verify;
