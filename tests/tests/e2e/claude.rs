//! The real Claude Code CLI (pinned, installed by `make test`) supervised by
//! Cortex, against the mock model API of this package on 127.0.0.1.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::util::{mock_api_bin, tagged_pids, text, wait_until, OwnedChild, TestHome};

const LIMIT: Duration = Duration::from_secs(90);

/// The pinned CLI: `CORTEX_CLAUDE_BIN`, else where `make test` installs it.
pub fn claude_bin() -> PathBuf {
    let bin = std::env::var_os("CORTEX_CLAUDE_BIN")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../.tools/claude-code/node_modules/.bin/claude")
        });
    assert!(
        bin.exists(),
        "the Claude Code CLI is not installed at {}: run `make test` (it installs the pinned version) or set CORTEX_CLAUDE_BIN",
        bin.display()
    );
    bin
}

/// A running mock of the model API and the environment that points the CLI at it.
pub struct MockApi {
    _child: OwnedChild,
    pub port: u16,
    pub log: PathBuf,
}

impl MockApi {
    pub fn start(h: &TestHome) -> Self {
        let port_file = h.scratch.path().join("mock.port");
        let log = h.scratch.path().join("mock-requests.jsonl");
        let mut c = Command::new(mock_api_bin());
        c.args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&log);
        let child = OwnedChild::spawn_logged(c, h.scratch.path());
        let mut port = 0;
        wait_until(Duration::from_secs(10), "the mock API listens", || {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            port > 0
        });
        Self {
            _child: child,
            port,
            log,
        }
    }

    /// config.json `agent` section for the real CLI against this mock.
    pub fn agent_config(&self, h: &TestHome) -> serde_json::Value {
        let claude_home = h.scratch.path().join("claude-home");
        std::fs::create_dir_all(&claude_home).unwrap();
        serde_json::json!({
            "command": [claude_bin()],
            "env": {
                "ANTHROPIC_BASE_URL": format!("http://127.0.0.1:{}", self.port),
                "ANTHROPIC_API_KEY": "dummy-key",
                "HOME": claude_home,
                "DISABLE_TELEMETRY": "1",
                "DISABLE_AUTOUPDATER": "1",
                "DISABLE_ERROR_REPORTING": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "CLAUDE_CODE_MAX_RETRIES": "1"
            }
        })
    }
}

fn claude_home() -> (TestHome, MockApi) {
    let h = TestHome::new();
    h.use_fake_agent();
    let mock = MockApi::start(&h);
    h.configure(serde_json::json!({"agent": mock.agent_config(&h)}));
    (h, mock)
}

#[test]
fn a_tool_task_completes_with_its_file_tokens_and_cost() {
    let (h, _mock) = claude_home();
    let owner = h.start_owner();
    let wd = h.workdir();
    let id = h.submit_in("Create out.txt with a greeting. MOCK:tool", &wd);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        std::fs::read_to_string(wd.join("out.txt")).unwrap().trim(),
        "hello"
    );
    let w = &h.workers_of(&id)[0];
    assert!(w["cost_usd"].as_f64().unwrap() > 0.0, "{w}");
    assert!(
        w["tokens"]["input"].as_u64().unwrap() > 0 && w["tokens"]["output"].as_u64().unwrap() > 0,
        "{w}"
    );
    // The generated hooks reported to the home.
    let hooks =
        std::fs::read_to_string(h.file(&format!("heartbeats/{}.jsonl", w["id"].as_str().unwrap())))
            .unwrap_or_default();
    assert!(
        hooks.contains("\"hook\":\"PreToolUse\"") && hooks.contains("\"tool\":\"Bash\""),
        "{hooks}"
    );
    let logs = text(&h.cortex(&["logs", w["id"].as_str().unwrap()]).stdout);
    assert!(
        logs.contains("→ Bash") && logs.contains("done (success)"),
        "{logs}"
    );
    owner.stop();
}

#[test]
fn an_api_error_ends_failed_with_the_status_as_reason() {
    let (h, mock) = claude_home();
    h.edit_expert("development", serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let id = h.submit_in("Fix the login handler. MOCK:e500", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    assert!(
        t["reason"].as_str().unwrap().contains("API error 500"),
        "{t}"
    );
    let requests = std::fs::read_to_string(&mock.log).unwrap_or_default();
    assert!(
        requests.contains("\"e500\""),
        "the CLI really called the mock: {requests}"
    );
    owner.stop();
}

#[test]
fn a_worker_killed_mid_tool_leaves_no_process_with_its_tag() {
    let (h, _mock) = claude_home();
    let owner = h.start_owner();
    let id = h.submit_in("Fix the slow job. MOCK:sleep", &h.workdir());
    let mut wid = String::new();
    wait_until(LIMIT, "the Bash tool's `sleep 300` runs", || {
        let ws = h.workers_of(&id);
        let Some(w) = ws.first() else { return false };
        wid = w["id"].as_str().unwrap().to_string();
        tagged_pids(&wid).into_iter().any(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("sleep"))
        })
    });
    let out = h.cortex(&["kill", &wid]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "cancelled", "{t}");
    assert!(
        tagged_pids(&wid).is_empty(),
        "nothing with the tag of {wid} survives"
    );
    owner.stop();
}

#[test]
fn with_nudges_on_the_real_cli_takes_its_prompt_on_stdin_and_completes() {
    let (h, _mock) = claude_home();
    h.configure(serde_json::json!({"pm": {"nudge_on_stall": true}}));
    let owner = h.start_owner();
    let wd = h.workdir();
    let id = h.submit_in("Create out.txt with a greeting. MOCK:tool", &wd);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        std::fs::read_to_string(wd.join("out.txt")).unwrap().trim(),
        "hello"
    );
    let w = &h.workers_of(&id)[0];
    let fifo = h.file(&format!(
        "workers/{}/attempt-1/stdin.fifo",
        w["id"].as_str().unwrap()
    ));
    assert!(
        fifo.exists(),
        "the prompt went through the attempt's stdin FIFO"
    );
    owner.stop();
}
