//! End-to-end tests: the real `cortex` binary, real processes, real files.
//!
//! Build the workspace's binaries first (`make test` does): these tests run
//! `target/<profile>/cortex`, and the fake agent and mock API of this package.

#![allow(clippy::unwrap_used)]

mod util;

mod claude;
mod disk;
mod foundation;
mod hardening;
mod kube_replay;
mod kubernetes;
mod outcomes;
mod plans;
mod pm;
mod privacy;
mod review;
mod routing;
mod runtime;
mod scale;
mod supervision;
