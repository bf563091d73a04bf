//! Cortex's engine: everything that touches files, processes and time.
//!
//! Theory of operation: one process owns a coordination home at a time (the
//! `cortex.lock` flock). The owner appends every change to `journal.jsonl`
//! and fsyncs before it acknowledges anything; snapshots (`task-queue.json`)
//! are written atomically and only shorten replay. Other processes never write
//! the state: they drop requests into `inbox/`, and the owner answers each
//! with an ack file once the change is durable. When nobody owns the home, a
//! CLI command becomes the owner for the length of the command.
//!
//! May depend on: cortex-core, tokio, notify, tracing, libc.

#![warn(missing_docs)]

pub mod cgroup;
pub mod clock;
pub mod dto;
pub mod engine;
pub mod error;
pub mod exits;
mod expert_edit;
pub mod files;
#[cfg(test)]
mod fleet_tests;
pub mod home;
pub mod inbox;
pub mod journal;
pub mod launcher;
pub mod learning;
pub mod lock;
pub mod snapshot;
pub mod store;

pub use engine::OwnerLoop;
pub use engine::{Engine, EngineEvent, RerouteAck, StatusDto, SubmitAck, TaskDto};
pub use error::EngineError;
pub use home::Home;
pub use lock::OwnerKind;
pub mod driver;
pub mod plans;
pub mod pm;
pub mod procfs;
pub mod review;
pub mod runtime;
pub mod spares;
pub mod spawner;
#[doc(hidden)]
pub mod testfs;
pub mod usage;
pub mod verify;
pub mod views;
pub mod worktree;
