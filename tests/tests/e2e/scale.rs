//! Heavy output: agents that flood their output are read completely and
//! settled, while the owner keeps answering requests.

use std::time::Duration;

use crate::util::{wait_until, TestHome};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn floods_of_output_are_read_whole_and_settled_while_requests_are_answered() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    const LINES: u64 = 40_000;
    let floods: Vec<String> = (0..4)
        .map(|i| {
            h.submit_in(
                &format!("flood job {i} FAKE:flood FAKE_LINES:{LINES} FAKE_SECS:0"),
                &h.workdir(),
            )
        })
        .collect();
    wait_until(LIMIT, "a flood running", || {
        h.workers().iter().any(|w| w["state"] == "running")
    });
    // Requests are answered while the output is being read.
    let other = h.submit_in("write the notes FAKE:normal", &h.workdir());
    assert_eq!(h.wait_task_done(&other, LIMIT)["status"], "completed");
    for id in &floods {
        let t = h.wait_task_done(id, LIMIT);
        assert_eq!(t["status"], "completed", "{t}");
        let w = &h.workers_of(id)[0];
        assert_eq!(
            w["last_text"],
            format!("flood line {LINES} of {LINES}"),
            "every line was read: {w}"
        );
        assert_eq!(w["result"], format!("Flooded {LINES} lines."), "{w}");
        assert!(w["tokens"]["input"].as_u64().unwrap() >= 100 * LINES, "{w}");
    }
    let out = owner.stop();
    assert!(out.status.success());
}
