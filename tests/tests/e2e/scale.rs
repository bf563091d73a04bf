//! Heavy output: agents that flood their output are read completely and
//! settled, while the owner keeps answering requests.

use std::time::Duration;

use crate::util::{text, wait_until, TestHome};

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

/// Runs `cortex submit --batch -` with `input` on stdin.
fn submit_batch(h: &TestHome, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = h
        .command()
        .args(["submit", "--batch", "-"])
        .current_dir(h.workdir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_batch_is_answered_line_by_line_and_a_bad_line_does_not_stop_it() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.cortex(&["pause"]);
    for owner_running in [false, true] {
        let owner = owner_running.then(|| h.start_owner());
        let tag = if owner_running { "owned" } else { "free" };
        let input = format!(
            concat!(
                "{{\"id\": 1, \"text\": \"write the {0} release notes\"}}\n",
                "not json\n",
                "\n",
                "{{\"id\": \"b\", \"text\": \"fix the {0} login bug\", \"priority\": \"high\"}}\n",
                "{{\"id\": 4, \"text\": \"bad \\u0007 bell {0}\"}}\n",
                "{{\"id\": 5, \"text\": \"write the {0} release notes\"}}\n",
                "{{\"id\": 6, \"text\": \"x\", \"priority\": \"urgent\"}}\n",
            ),
            tag
        );
        let out = submit_batch(&h, &input);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let lines: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 6, "one answer per non-blank line: {lines:?}");
        let at: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
        assert_eq!(at, vec![1, 2, 4, 5, 6, 7]);
        assert_eq!(lines[0]["id"], 1);
        assert_eq!(lines[0]["deduplicated"], false, "{}", lines[0]);
        // The place is named within the line the answer carries.
        let said = lines[1]["error"]["message"].as_str().unwrap();
        assert!(
            said.ends_with("(column 2)") && !said.contains("line 1"),
            "{said}"
        );
        assert_eq!(lines[2]["id"], "b");
        assert_eq!(lines[2]["deduplicated"], false, "{}", lines[2]);
        assert_eq!(lines[3]["error"]["bad_input"], true, "{}", lines[3]);
        assert_eq!(lines[4]["task_id"], lines[0]["task_id"], "{}", lines[4]);
        assert_eq!(lines[4]["deduplicated"], true);
        assert_eq!(lines[5]["error"]["code"], "bad_input", "{}", lines[5]);
        for l in [&lines[0], &lines[2]] {
            let t = h.task(l["task_id"].as_str().unwrap());
            assert!(t["description"].as_str().unwrap().contains(tag), "{t}");
        }
        if let Some(o) = owner {
            assert!(o.stop().status.success());
        }
    }
    assert_eq!(h.tasks().len(), 4, "two tasks per batch, nothing else");
}

#[test]
fn a_batch_larger_than_one_request_is_taken_whole_while_an_owner_runs() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.cortex(&["pause"]);
    let owner = h.start_owner();
    // 40 lines of about 30 KB: 1.2 MB, more than an owner takes at once.
    let filler = "describe the module in detail ".repeat(1000);
    let input: String = (0..40)
        .map(|i| format!("{{\"id\": {i}, \"text\": \"part {i}: {filler}\"}}\n"))
        .collect();
    assert!(input.len() as u64 > cortex_engine::inbox::MAX_REQUEST_BYTES);
    let out = submit_batch(&h, &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    // Answered in order, each with its own task.
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["id"], i as u64, "{l}");
        assert_eq!(l["deduplicated"], false, "{l}");
    }
    assert_eq!(h.tasks().len(), 40);
    assert!(owner.stop().status.success());
}
