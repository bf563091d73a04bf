//! Cortex's pure domain.
//!
//! Everything here is plain data and plain functions: no file or network I/O,
//! no clock reads, no randomness of its own. Callers pass in the current time
//! and random bytes, so every rule (dedup, ordering, routing, health policy)
//! is testable with tables of cases.
//!
//! May depend on: serde, thiserror, chrono (types only), sha2.

#![warn(missing_docs)]

pub mod alerts;
pub mod config;
pub mod duration;
pub mod eval;
pub mod health;
pub mod id;
pub mod input;
pub mod learned;
pub mod linear;
pub mod plan;
pub mod pricing;
pub mod redact;
pub mod restart;
pub mod router;
pub mod settle;
pub mod state;
pub mod stream;
pub mod task;
pub mod terminal;
pub mod text;
pub mod transcript;
pub mod worker;

pub use chrono::{DateTime, Utc};

/// Version written into every journal line and snapshot. A reader refuses a
/// record with a newer version instead of guessing at its meaning.
pub const SCHEMA_VERSION: u32 = 1;
