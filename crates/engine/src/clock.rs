//! The engine's only sources of time and randomness, so ids and timestamps
//! come from one place.

use chrono::{DateTime, Utc};
use cortex_core::id::{RequestId, TaskId, WorkerId};

/// The wall-clock time now, in UTC.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

fn random10() -> [u8; 10] {
    let mut b = [0u8; 10];
    // The OS generator failing is not recoverable in any useful way: ids
    // without randomness could collide, which is the bug we exist to avoid.
    getrandom::fill(&mut b).unwrap_or_else(|e| panic!("the OS random generator failed: {e}"));
    b
}

fn millis(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

/// A new task id: the time `at` (milliseconds) then random bits, so ids sort by creation.
pub fn task_id(at: DateTime<Utc>) -> TaskId {
    TaskId::new(millis(at), random10())
}

/// A new plan id, made like a task id.
pub fn plan_id(at: DateTime<Utc>) -> cortex_core::id::PlanId {
    cortex_core::id::PlanId::new(millis(at), random10())
}

/// A new worker id, made like a task id.
pub fn worker_id(at: DateTime<Utc>) -> WorkerId {
    WorkerId::new(millis(at), random10())
}

/// A new inbox request id, made like a task id.
pub fn request_id(at: DateTime<Utc>) -> RequestId {
    RequestId::new(millis(at), random10())
}

/// A compact UTC stamp for file names: `20261123T231500.123Z`.
pub fn file_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}
