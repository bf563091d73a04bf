//! What a cluster does to its jobs behind the owner's back, as the PM
//! judges it: a job suspended and resumed.
//!
//! May depend on: the harness (`super`), the PM's tests' helpers.

use super::pm::{one_healthy_worker, silent_six_minutes, told};
use super::*;

#[test]
fn a_job_the_cluster_suspends_is_waiting_not_hung_and_is_judged_from_its_resumption() {
    let (mut f, task, w) = one_healthy_worker();
    let pid = f.pid(&w, 1);
    f.fake.set_suspended(pid, true);
    let seen = silent_six_minutes(&mut f, &task, "waiting");
    assert_eq!(
        seen.health_reason.as_deref(),
        Some("suspended by the cluster")
    );
    // What it waits for: a suspension, not a restart (the Waiting card and
    // the row say so).
    assert_eq!(
        seen.waiting_for.as_ref().map(|x| x.kind),
        Some(crate::views::WaitKind::Suspended)
    );
    // Other processes read it from the PM's file as well.
    let elsewhere = crate::pm::state_file::read_verdicts(&Home::new(f.dir.path()));
    let (_, verdict) = elsewhere.get(w.id.as_str()).expect("in pm-state.json");
    assert!(verdict.suspended, "{verdict:?}");
    let p = f.fake.process(w.id.as_str(), 1).unwrap();
    assert!(p.signals.is_empty(), "nothing is stopped: {:?}", p.signals);
    assert!(!f
        .alerts()
        .iter()
        .any(|a| matches!(a.kind, AlertKind::Zombie | AlertKind::Stalled)));
    // Resumed: its silence counts from then, not from before it was stopped.
    f.fake.set_suspended(pid, false);
    f.advance(1);
    f.tick();
    assert_eq!(f.worker_of(&task).health, "healthy");
    f.advance(100);
    f.tick();
    assert_eq!(f.worker_of(&task).health, "late");
    f.advance(150);
    f.tick();
    f.tick();
    let p = f.fake.process(w.id.as_str(), 1).unwrap();
    assert_eq!(
        p.signals,
        vec![Signal::Term],
        "silent 251 s since its resumption"
    );
}

#[test]
fn a_suspension_while_waiting_out_an_api_retry_is_told_to_the_app() {
    let (mut f, task, w) = one_healthy_worker();
    let pid = f.pid(&w, 1);
    let retry = r#"{"type":"system","subtype":"api_retry","attempt":1,"retry_delay_ms":60000,"error_status":529}"#;
    f.fake.say(pid, retry);
    f.advance(1);
    f.tick();
    assert_eq!(f.worker_of(&task).health, "waiting");
    // What the app was told so far.
    let told = |f: &mut Fleet| {
        let mut kinds = Vec::new();
        while let Ok(e) = f.events.try_recv() {
            if let EngineEvent::WorkerUpdated { worker } = e {
                kinds.push(worker.waiting_for.map(|x| x.kind));
            }
        }
        kinds
    };
    told(&mut f);
    // Suspended while it waits: still `waiting`, but for the cluster now;
    // resumed, back to the retry it announced.
    use crate::views::WaitKind::{ApiRetry, Suspended};
    for (suspended, kind) in [(true, Suspended), (false, ApiRetry)] {
        f.fake.set_suspended(pid, suspended);
        f.advance(1);
        f.tick();
        assert_eq!(told(&mut f).last(), Some(&Some(kind)));
    }
}

/// A healthy worker whose job the cluster suspended for six silent
/// minutes; its output file says when the agent last spoke (a new owner
/// reads it so).
fn suspended_six_minutes() -> (Fleet, String, WorkerDto, u32) {
    let (mut f, task, w) = one_healthy_worker();
    let pid = f.pid(&w, 1);
    f.fake.written_at(pid, f.engine().now());
    f.fake.set_suspended(pid, true);
    silent_six_minutes(&mut f, &task, "waiting");
    (f, task, w, pid)
}

/// The worker, resumed a second ago, is judged from then: nothing is
/// stopped now, it is late 100 s on and stopped as hung 250 s on.
fn judged_from_a_second_ago(f: &Fleet, task: &str, w: &WorkerDto) {
    let signals = |f: &Fleet| f.fake.process(w.id.as_str(), 1).unwrap().signals;
    let seen = f.worker_of(task);
    assert!(
        signals(f).is_empty(),
        "nothing is stopped: {:?}",
        signals(f)
    );
    assert!(
        !matches!(seen.health.as_str(), "stalled" | "zombie" | "late"),
        "{seen:?}"
    );
    f.advance(100);
    f.tick();
    assert_eq!(f.worker_of(task).health, "late");
    f.advance(150);
    f.tick();
    f.tick();
    assert_eq!(signals(f), vec![Signal::Term], "silent 251 s since resumed");
}

/// The next owner knows of a suspension: a job resumed just before the
/// owner restarted is judged from its resumption, not from its last output
/// before it was stopped.
#[test]
fn a_job_resumed_before_the_owner_restarts_is_judged_from_its_resumption_by_the_next_owner() {
    let (mut f, task, w, pid) = suspended_six_minutes();
    f.fake.set_suspended(pid, false);
    f.advance(1);
    f.tick();
    assert_eq!(f.worker_of(&task).health, "healthy");
    f.restart_engine();
    f.tick();
    judged_from_a_second_ago(&f, &task, &w);
}

/// A job suspended when the owner restarted and resumed before the next
/// one first looks: that owner counts its silence from the first look that
/// saw it running again (the latest time it can have been resumed).
#[test]
fn a_job_resumed_while_no_owner_watched_is_judged_from_the_next_owners_first_look() {
    let (mut f, task, w, pid) = suspended_six_minutes();
    f.restart_engine();
    f.fake.set_suspended(pid, false);
    f.advance(1);
    f.tick();
    judged_from_a_second_ago(&f, &task, &w);
}

/// A hold placed on a job already waiting in the queue changes what it
/// waits for: said once in the activity log, as its first wait was.
#[test]
fn a_hold_on_a_job_already_queued_is_logged_once() {
    let mut f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.set_queued(pid, Some("Priority"));
    f.advance(1);
    f.tick();
    let said = |f: &mut Fleet| -> Vec<String> {
        told(f)
            .into_iter()
            .filter(|(e, _)| e == "health")
            .map(|(_, m)| m)
            .collect()
    };
    let first = said(&mut f);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(Some(&first[0]), f.worker_of(&task).health_reason.as_ref());
    f.fake.set_queued(pid, Some("JobHeldUser"));
    let mut then = Vec::new();
    for _ in 0..3 {
        f.advance(10);
        f.tick();
        then.extend(said(&mut f));
    }
    let w = f.worker_of(&task);
    assert_eq!(w.health, "scheduled");
    assert_ne!(w.health_reason.as_ref(), Some(&first[0]), "{w:?}");
    assert_eq!(then, w.health_reason.into_iter().collect::<Vec<_>>());
}
