//! Supervision: the PM's side of the engine. The PM's picture and its pure
//! parts live in `crate::pm` (which knows nothing of the engine); what the
//! engine does with them is here.
//!
//! - `picture`: the PM's state as kept by the engine, its log and metrics.
//! - `tick`: one PM tick (decide, then act).
//! - `state_file`: writing `pm-state.json`.
//! - `circuit`: the per-expert circuit breaker.
//! - `sightings`: journaling what a tick saw a cluster do to its jobs.

mod circuit;
mod picture;
mod sightings;
mod state_file;
mod tick;
