//! `cortex submit --batch FILE|-`: many submissions in one request.
//!
//! Each line is checked here first; the good ones go to the owner as one
//! request, journaled with one fsync. Every non-blank input line gets one
//! answer line, in input order: the task (`task_id`, `deduplicated`,
//! `status`) or the error that refused that line.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use cortex_core::input::{validate_submission, SubmitRequest};
use cortex_engine::clock;
use cortex_engine::inbox::{AckError, BatchAnswer, BatchItem, InboxOp};
use cortex_engine::{EngineError, Home};
use serde_json::{json, Value};

use crate::args::SubmitArgs;
use crate::commands::{answered, resolve_workdir};
use crate::Failure;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    id: Value,
    #[serde(alias = "description")]
    text: String,
    #[serde(rename = "type", default)]
    task_type: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    workdir: Option<std::path::PathBuf>,
    #[serde(default)]
    worktree: Option<bool>,
}

/// An answer line: `{"line", "id"?, ...}`.
fn answer_line(line: usize, id: &Value, body: Value) -> Value {
    let mut v = json!({ "line": line });
    if !id.is_null() {
        v["id"] = id.clone();
    }
    if let (Some(out), Value::Object(body)) = (v.as_object_mut(), body) {
        out.extend(body);
    }
    v
}

pub(crate) fn error_body(code: &str, message: String, bad_input: bool) -> Value {
    json!({ "error": { "code": code, "message": message, "bad_input": bad_input } })
}

/// A JSONL input: the file, or stdin for `-`.
pub(crate) fn open_lines(path: &Path) -> Result<Box<dyn BufRead>, Failure> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(path).map_err(|e| {
        Failure::bad_input("bad_input", format!("cannot read {}: {e}", path.display()))
    })?;
    Ok(Box::new(std::io::BufReader::new(f)))
}

pub(crate) fn submit_batch(home: &Home, a: &SubmitArgs, path: &Path) -> Result<(), Failure> {
    let reader = open_lines(path)?;
    let experts = home.settings_for_reading()?.experts;
    let types = experts.task_types();
    // Per answer: the line number, its id, and the answer once known.
    let mut answers: Vec<(usize, Value, Option<Value>)> = Vec::new();
    let mut items = Vec::new();
    let mut slots = Vec::new();
    // A batch names few folders, usually one: each is resolved once.
    let mut workdirs: std::collections::HashMap<
        Option<std::path::PathBuf>,
        Result<String, Failure>,
    > = std::collections::HashMap::new();
    for (n, raw) in reader.split(b'\n').enumerate() {
        let raw = raw.map_err(|e| Failure::runtime("io", format!("read error: {e}")))?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = n + 1;
        let parsed = std::str::from_utf8(&raw)
            .map_err(|e| format!("line is not valid UTF-8: {e}"))
            .and_then(|s| {
                serde_json::from_str::<Line>(s).map_err(|e| {
                    format!(
                        "expected {{\"text\" (or \"description\"), \"id\"?, \"type\"?, \"priority\"?, \"key\"?, \"workdir\"?, \"worktree\"?}}: {}",
                        crate::commands::json_line_error(&e)
                    )
                })
            });
        let l = match parsed {
            Ok(l) => l,
            Err(m) => {
                let body = error_body("bad_input", m, true);
                answers.push((line_no, Value::Null, Some(body)));
                continue;
            }
        };
        let given = l.workdir.or_else(|| a.workdir.clone());
        let checked = workdirs
            .entry(given)
            .or_insert_with_key(|given| resolve_workdir(given.clone()))
            .clone()
            .and_then(|workdir| {
                let req = SubmitRequest {
                    description: l.text,
                    task_type: l.task_type.or_else(|| a.task_type.clone()),
                    priority: l.priority.or_else(|| a.priority.clone()),
                    key: l.key,
                    workdir: Some(workdir),
                    worktree: l.worktree.unwrap_or(a.worktree),
                    verify: a.verify.clone(),
                    after: a.after.clone(),
                    plan: false,
                };
                validate_submission(&req, &types)
                    .map(|_| req)
                    .map_err(|e| Failure::from(EngineError::from(e)))
            });
        match checked {
            Ok(submit) => {
                slots.push(answers.len());
                answers.push((line_no, l.id, None));
                items.push(BatchItem {
                    request_id: clock::request_id(clock::now()),
                    submit,
                });
            }
            Err(f) => {
                let body = error_body(&f.code, f.message, f.bad_input);
                answers.push((line_no, l.id, Some(body)));
            }
        }
    }
    if !items.is_empty() {
        let count = items.len();
        let value = answered(crate::client::execute(
            home,
            InboxOp::SubmitBatch { items },
            Duration::from_secs(a.timeout),
        )?)?;
        let results: Vec<BatchAnswer> = value
            .get("results")
            .cloned()
            .and_then(|r| serde_json::from_value(r).ok())
            .filter(|r: &Vec<BatchAnswer>| r.len() == count)
            .ok_or_else(|| {
                Failure::runtime("protocol", "unexpected answer from the owner to a batch")
            })?;
        for (slot, r) in slots.into_iter().zip(results) {
            let body = match (r.ok, r.result, r.error) {
                (true, Some(v), _) => v,
                (
                    _,
                    _,
                    Some(AckError {
                        code,
                        message,
                        bad_input,
                    }),
                ) => error_body(&code, message, bad_input),
                _ => error_body("protocol", "no answer for this line".into(), false),
            };
            answers[slot].2 = Some(body);
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut refused, mut failed) = (0usize, 0usize);
    for (line, id, body) in answers {
        let body = body.unwrap_or_default();
        if let Some(e) = body.get("error") {
            if e["bad_input"] == true {
                refused += 1;
            } else {
                failed += 1;
            }
        }
        let _ = writeln!(out, "{}", answer_line(line, &id, body));
    }
    let _ = out.flush();
    crate::status_cmd::note_if_unsupervised(home);
    if refused + failed == 0 {
        return Ok(());
    }
    Err(Failure {
        code: if failed > 0 { "failed" } else { "bad_input" }.into(),
        message: format!(
            "{} line(s) of the batch were not submitted",
            refused + failed
        ),
        bad_input: failed == 0,
        printed: true,
    })
}
