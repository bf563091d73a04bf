//! A full disk: the owner stays up, refuses new work with a clear error,
//! keeps supervising, cleans up after itself, and recovers when space returns.

use std::time::Duration;

use crate::util::{files_under, text, wait_until, SmallDisk, TestHome};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_full_disk_is_survived_and_recovered_from() {
    let Some(disk) = SmallDisk::mount(2 * 1024 * 1024) else {
        return;
    };
    let h = TestHome::new_in(disk.path());
    h.use_fake_agent();
    let mut owner = h.start_owner();
    let hang = h.submit_in("keep watching the logs FAKE:hang", &h.workdir());
    let worker = h.wait_running_worker(&hang, LIMIT);
    let pid = h.workers_of(&hang)[0]["pid"].as_u64().unwrap();

    disk.fill();
    // The agent dies: the owner must record it and write a snapshot, and
    // finds no room for the snapshot.
    // SAFETY: SIGKILL to the agent this test caused.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    wait_until(LIMIT, "the owner to meet the full disk", || {
        owner.stderr_so_far().contains("disk full") || owner.exited().is_some()
    });
    assert!(
        owner.exited().is_none(),
        "the owner stopped on a full disk: {}",
        owner.stderr_so_far()
    );
    let refused = h.cortex(&["submit", "write the changelog FAKE:normal", "--json"]);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
    let said = text(&refused.stdout) + &text(&refused.stderr);
    assert!(
        said.contains("disk full") && said.contains("free space and retry"),
        "{said}"
    );
    let leftovers: Vec<_> = files_under(h.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(owner.exited().is_none(), "{}", owner.stderr_so_far());

    disk.free();
    // Space is back: the killed attempt is settled and restarted (resumed,
    // so the fake agent completes), not failed for want of room, and new
    // work is taken again, without a restart of the owner.
    wait_until(LIMIT, "the killed attempt restarted", || {
        h.workers().iter().any(|w| {
            w["id"] == worker.as_str()
                && w["attempt"].as_u64() >= Some(2)
                && matches!(w["state"].as_str(), Some("running" | "completed"))
        })
    });
    let id = h.submit_in("write the changelog FAKE:normal", &h.workdir());
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let out = owner.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Nothing torn was left behind: the next start has nothing to move aside.
    let again = h.start_owner().stop();
    let err = text(&again.stderr);
    assert!(!err.contains("quarantined"), "{err}");
    let empty: Vec<_> = files_under(h.path())
        .into_iter()
        .filter(|p| p.starts_with(h.file("quarantine")))
        .collect();
    assert!(empty.is_empty(), "{empty:?}");
    drop(h);
}
