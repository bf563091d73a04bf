//! The fleet: the engine's supervision of worker processes, one concern per
//! file. The data it keeps (live workers, their tails, stop requests) and the
//! pure helpers over it are in `crate::runtime`, which knows nothing of the
//! engine; what the engine does with them is here.
//!
//! - `startup`: the runtime state and what each journaled worker needs when an owner starts.
//! - `pass`: one supervision pass (exits, output, budgets).
//! - `attempts`: what follows an attempt's end, and starting the next one.
//! - `launch`: launching one attempt through the launcher.
//! - `capacity`: places in the capacity, and a worker waiting for a free one.
//! - `schedule`: restarts due, queued tasks to workers, circuit-breaker waits.
//! - `stop`: stopping the fleet and one worker's process.
//! - `control`: a person's actions on one worker, and the worker views.

mod attempts;
mod capacity;
mod control;
mod launch;
mod pass;
mod schedule;
mod startup;
mod stop;
