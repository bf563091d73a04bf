//! Agent drivers: how an attempt's command line, environment and files are
//! built. The Claude Code driver runs `claude -p <prompt> --output-format
//! stream-json --verbose ...` with generated hook settings; the generic
//! driver runs any command with `{prompt}` in its argument template.

use std::path::{Path, PathBuf};

use cortex_core::config::{AgentConfig, Driver, ExpertProfile};

use crate::home::Home;
use crate::spawner::{Launch, SpawnError};

/// The attempt's prompt, in its folder: the agent's stdin (Claude Code's
/// `-p` reads it there), and `{prompt_file}` for the generic driver.
pub const PROMPT_FILE: &str = "prompt.txt";

/// Attempt files are records for people and for the agent's own start;
/// they need no fsync (the journal holds what must survive a crash). Only
/// their owner can read them: they hold the prompt.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SpawnError> {
    crate::files::write(path, bytes)
        .map_err(|e| SpawnError(format!("cannot write {}: {e}", path.display())))
}

/// The Claude Code hook events that report to the home.
pub const HOOK_EVENTS: [&str; 5] = [
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "StopFailure",
    "SessionEnd",
];

/// What the driver needs to know about one attempt.
#[derive(Debug)]
pub struct AttemptSpec<'a> {
    /// The coordination home the hooks report to.
    pub home: &'a Home,
    /// The agent's settings: its driver, environment and argument template.
    pub agent: &'a AgentConfig,
    /// `agent.command`, or the `CORTEX_AGENT_COMMAND` override.
    pub command: &'a [String],
    /// The expert the attempt runs as (preamble, permissions, model).
    pub expert: &'a ExpertProfile,
    /// The worker's id, passed to the agent as `CORTEX_WORKER_ID`.
    pub worker_id: &'a str,
    /// The attempt's number (1 for the first), passed as `CORTEX_ATTEMPT`.
    pub attempt: u32,
    /// The folder the agent works in.
    pub workdir: &'a Path,
    /// The prompt the attempt starts with.
    pub prompt: &'a str,
    /// Session to continue (restart), if any.
    pub resume: Option<&'a str>,
    /// Argv of the command hooks run to report (`cortex heartbeat`).
    pub heartbeat_command: &'a [String],
    /// Claude driver: take prompts as stream-json messages on stdin (a FIFO),
    /// so a nudge can reach the agent while it runs.
    pub stream_input: bool,
}

/// A user message in Claude Code's stream-json input format.
pub fn user_message(text: &str) -> String {
    serde_json::json!({"type": "user", "message": {"role": "user", "content": text}}).to_string()
}

/// A planned attempt: how to launch it, and the session it will have.
#[derive(Debug)]
pub struct Planned {
    /// The command line, environment, working folder and files to start it with.
    pub launch: Launch,
    /// The Claude Code session id (new, or the one resumed); None for the generic driver.
    pub session_id: Option<String>,
    /// The attempt's folder (`workers/<id>/attempt-<n>`), which holds its files.
    pub dir: PathBuf,
    /// For stream input: the prompt, to write to the FIFO once started.
    pub first_message: Option<String>,
    /// What `meta.json` records, less the pid, known once started.
    meta: serde_json::Value,
    attempt: u32,
    resumed: bool,
}

/// An attempt's `meta.json`, for people: what ran, where, with which prompt.
/// Nothing reads it back, so it is written after the agent is started and
/// recorded, off the path from decision to running.
pub struct AttemptMeta {
    path: PathBuf,
    body: serde_json::Value,
    /// The attempt's number and process, once it started.
    started: Option<(u32, u32)>,
    resumed: bool,
}

impl AttemptMeta {
    /// Writes `meta.json` into the attempt's folder, readable only by its owner.
    pub fn write(&self) -> Result<(), SpawnError> {
        write_private(&self.path, self.body.to_string().as_bytes())
    }

    /// The attempt's number and its process, once it started.
    pub fn started(&self) -> Option<(u32, u32)> {
        self.started
    }

    /// Whether the attempt resumed its worker's conversation.
    pub fn resumed(&self) -> bool {
        self.resumed
    }
}

impl Planned {
    /// The attempt's `meta.json`, with the pid when the agent started.
    pub fn meta(&self, pid: Option<u32>) -> AttemptMeta {
        let mut body = self.meta.clone();
        body["pid"] = pid.into();
        AttemptMeta {
            path: self.dir.join("meta.json"),
            body,
            started: pid.map(|p| (self.attempt, p)),
            resumed: self.resumed,
        }
    }
}

/// A random RFC 4122 version 4 UUID.
pub fn new_session_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap_or_else(|e| panic!("the OS random generator failed: {e}"));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Quotes one word for a POSIX shell (hook commands are run by one).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `--settings` file: each hook reports the event to the home. Only
/// ids and paths go into the command, never task text.
pub fn hook_settings(spec: &AttemptSpec<'_>) -> serde_json::Value {
    hook_settings_for(spec.heartbeat_command, spec.home.root())
}

/// The `--settings` file whose hooks run `heartbeat_command` (program and
/// subcommand) against the home at `home`: a local agent's, or a pod's own.
pub fn hook_settings_for(heartbeat_command: &[String], home: &Path) -> serde_json::Value {
    let mut hooks = serde_json::Map::new();
    for event in HOOK_EVENTS {
        // The worker and attempt come from `CORTEX_WORKER_ID` and
        // `CORTEX_ATTEMPT`, which the agent and so its hooks inherit: one
        // file serves every worker of the home.
        let mut argv: Vec<String> = heartbeat_command.to_vec();
        argv.extend([
            "--home".into(),
            home.display().to_string(),
            "--hook".into(),
            event.to_string(),
        ]);
        let command = argv
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut entry =
            serde_json::json!({"hooks": [{"type": "command", "command": command, "timeout": 10}]});
        if event.ends_with("ToolUse") {
            entry["matcher"] = "*".into();
        }
        hooks.insert(event.to_string(), serde_json::json!([entry]));
    }
    serde_json::json!({ "hooks": hooks })
}

/// Writes the home's hooks settings unless the file already says exactly
/// this (the common case: it depends only on the home and the heartbeat
/// command). Replaced by rename, so an agent starting meanwhile reads a
/// whole file.
fn ensure_hook_settings(spec: &AttemptSpec<'_>) -> Result<PathBuf, SpawnError> {
    let path = spec.home.hook_settings_file();
    // What this process last wrote or found there, with the file's size and
    // change time then: while those have not changed, neither has the file,
    // and a start needs one `stat`, not a read and a rebuild.
    static LAST: std::sync::Mutex<Option<(PathBuf, Vec<String>, FileStamp)>> =
        std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((p, command, stamp)) = last.as_ref() {
        if p == &path
            && command.as_slice() == spec.heartbeat_command
            && FileStamp::of(&path).as_ref() == Some(stamp)
        {
            return Ok(path);
        }
    }
    let body = serde_json::to_vec_pretty(&hook_settings(spec)).unwrap_or_default();
    let remember = |last: &mut Option<(PathBuf, Vec<String>, FileStamp)>| {
        *last = FileStamp::of(&path).map(|s| (path.clone(), spec.heartbeat_command.to_vec(), s));
    };
    if std::fs::read(&path).is_ok_and(|old| old == body) {
        remember(&mut last);
        return Ok(path);
    }
    let tmp = path.with_file_name(format!(
        ".hooks.{}.{}.tmp",
        std::process::id(),
        spec.worker_id
    ));
    write_private(&tmp, &body)?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| SpawnError(format!("cannot write {}: {e}", path.display())))?;
    remember(&mut last);
    Ok(path)
}

/// A file's identity and version as `stat` gives them.
#[derive(Debug, PartialEq, Eq)]
struct FileStamp {
    ino: u64,
    len: u64,
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            ino: m.ino(),
            len: m.len(),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The prompt of a restarted attempt: the conversation is resumed, so it
/// only says what happened.
pub fn resume_prompt(reason: &str) -> String {
    format!(
        "Your previous run was interrupted ({reason}). Continue the same task from where you left off; do not redo finished steps."
    )
}

/// Builds the attempt's folder, files and command line.
pub fn plan(spec: &AttemptSpec<'_>) -> Result<Planned, SpawnError> {
    let wdir = spec.home.workers_dir().join(spec.worker_id);
    let dir = wdir.join(format!("attempt-{}", spec.attempt));
    // Usually the folder is there already (a ready one was moved into place)
    // or only the attempt's level is missing (a later attempt).
    match crate::files::create_dir(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::files::create_dir_all(&wdir).and_then(|()| crate::files::create_dir(&dir))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
    .map_err(|e| SpawnError(format!("cannot create {}: {e}", dir.display())))?;
    let mut argv: Vec<String> = spec.command.to_vec();
    let mut session_id = None;
    match spec.agent.driver {
        Driver::Claude => {
            let settings = ensure_hook_settings(spec)?;
            if spec.stream_input {
                argv.extend(["--input-format".into(), "stream-json".into()]);
            } else {
                // Print mode with the prompt on stdin: never in argv, where
                // every local user could read it.
                argv.push("-p".into());
            }
            argv.extend([
                "--output-format".into(),
                "stream-json".into(),
                "--verbose".into(),
            ]);
            match spec.resume {
                Some(s) => {
                    argv.extend(["--resume".into(), s.to_string()]);
                    session_id = Some(s.to_string());
                }
                None => {
                    let s = new_session_id();
                    argv.extend(["--session-id".into(), s.clone()]);
                    session_id = Some(s);
                }
            }
            argv.extend([
                "--append-system-prompt".into(),
                spec.expert.preamble.clone(),
            ]);
            argv.extend(["--settings".into(), settings.display().to_string()]);
            let p = &spec.expert.permissions;
            if !p.allowed_tools.is_empty() {
                argv.extend(["--allowedTools".into(), p.allowed_tools.join(",")]);
            }
            if let Some(mode) = &p.permission_mode {
                argv.extend(["--permission-mode".into(), mode.clone()]);
            }
            if let Some(model) = &spec.expert.model {
                argv.extend(["--model".into(), model.clone()]);
            }
            if spec.stream_input {
                // Print mode; the prompt arrives on stdin.
                argv.push("-p".into());
            }
        }
        Driver::Generic => {
            let file = dir.join(PROMPT_FILE).display().to_string();
            argv.extend(spec.agent.args_template.iter().map(|a| {
                a.replace("{prompt_file}", &file)
                    .replace("{prompt}", spec.prompt)
            }));
        }
    }
    let prompt_file = dir.join(PROMPT_FILE);
    let stream = spec.stream_input && spec.agent.driver == Driver::Claude;
    if stream {
        // The prompt goes through the FIFO; a ready folder's empty file
        // would only suggest an empty prompt.
        let _ = std::fs::remove_file(&prompt_file);
    } else {
        // Usually there already (a ready folder's): no inode to allocate.
        write_private(&prompt_file, spec.prompt.as_bytes())?;
    }
    let mut env: Vec<(String, String)> = spec
        .agent
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend([
        ("CORTEX_WORKER_ID".into(), spec.worker_id.to_string()),
        ("CORTEX_ATTEMPT".into(), spec.attempt.to_string()),
        ("CORTEX_HOME".into(), spec.home.root().display().to_string()),
    ]);
    let meta = serde_json::json!({
        "worker_id": spec.worker_id, "attempt": spec.attempt, "driver": spec.agent.driver,
        "program": argv.first(), "session_id": session_id, "workdir": spec.workdir,
        "resumed": spec.resume.is_some(),
        "prompt": spec.prompt,
    });
    Ok(Planned {
        launch: Launch {
            argv,
            env,
            cwd: spec.workdir.to_path_buf(),
            stdout: dir.join("stdout.jsonl"),
            stderr: dir.join("stderr.log"),
            stdin_fifo: stream.then(|| dir.join("stdin.fifo")),
            stdin_file: (!stream).then_some(prompt_file),
            deadline_secs: (spec.expert.time_limit_secs > 0).then_some(spec.expert.time_limit_secs),
        },
        session_id,
        first_message: stream.then(|| user_message(spec.prompt)),
        dir,
        meta,
        attempt: spec.attempt,
        resumed: spec.resume.is_some(),
    })
}

/// Reads `CORTEX_AGENT_COMMAND` (a JSON array of strings), if set.
pub fn command_override() -> Result<Option<Vec<String>>, String> {
    let Ok(raw) = std::env::var("CORTEX_AGENT_COMMAND") else {
        return Ok(None);
    };
    let v: Vec<String> = serde_json::from_str(&raw).map_err(|e| {
        format!("CORTEX_AGENT_COMMAND must be a JSON array of strings such as [\"claude\"]: {e}")
    })?;
    if v.first().is_none_or(|p| p.trim().is_empty()) {
        return Err("CORTEX_AGENT_COMMAND is an empty array, expected at least the program".into());
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The argument that follows `flag` in `argv`.
    fn after<'a>(argv: &'a [String], flag: &str) -> &'a str {
        let i = argv.iter().position(|a| a == flag).unwrap();
        &argv[i + 1]
    }

    #[test]
    fn quoting_keeps_one_word_one_word() {
        assert_eq!(shell_quote("/usr/bin/cortex"), "/usr/bin/cortex");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn session_ids_are_v4_uuids() {
        let s = new_session_id();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_ne!(s, new_session_id());
    }

    #[test]
    fn the_prompt_goes_on_stdin_never_in_argv_and_hooks_carry_no_task_text() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let (config, experts) = home.load_settings().unwrap();
        let prompt = "fix it; rm -rf / $(whoami) `id` 'quoted'";
        let hb = vec![
            "/opt/cortex bin/cortex".to_string(),
            "heartbeat".to_string(),
        ];
        let spec = AttemptSpec {
            home: &home,
            agent: &config.agent,
            command: &config.agent.command,
            expert: experts.get("development").unwrap(),
            worker_id: "w-abc",
            attempt: 1,
            workdir: dir.path(),
            prompt,
            resume: None,
            heartbeat_command: &hb,
            stream_input: false,
        };
        let p = plan(&spec).unwrap();
        assert!(p.launch.argv.contains(&"-p".to_string()));
        assert!(
            !p.launch.argv.iter().any(|a| a.contains("whoami")),
            "{:?}",
            p.launch.argv
        );
        let stdin = p.launch.stdin_file.clone().expect("the prompt on stdin");
        assert_eq!(std::fs::read_to_string(&stdin).unwrap(), prompt);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stdin).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the prompt");
        assert!(p.launch.argv.contains(&"--session-id".to_string()));
        let settings = std::fs::read_to_string(home.hook_settings_file()).unwrap();
        assert!(!settings.contains("whoami"));
        assert!(!settings.contains("w-abc"), "one file for every worker");
        assert_eq!(
            after(&p.launch.argv, "--settings"),
            home.hook_settings_file().display().to_string()
        );
        assert!(
            settings.contains("'/opt/cortex bin/cortex' heartbeat"),
            "{settings}"
        );
        assert!(p
            .launch
            .env
            .contains(&("CORTEX_WORKER_ID".into(), "w-abc".into())));
        let resumed = plan(&AttemptSpec {
            attempt: 2,
            resume: Some("sess-1"),
            ..spec
        })
        .unwrap();
        assert_eq!(after(&resumed.launch.argv, "--resume"), "sess-1");
        assert!(!resumed.launch.argv.contains(&"--session-id".to_string()));
    }
}
