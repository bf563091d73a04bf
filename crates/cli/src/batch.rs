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

/// The batch's items in parts whose request stays well under what an
/// owner takes (`MAX_REQUEST_BYTES`, with room for the request around
/// them), in order; an item too large alone goes alone (and is refused
/// alone).
fn under_request_size(items: Vec<BatchItem>) -> Vec<Vec<BatchItem>> {
    let budget =
        usize::try_from(cortex_engine::inbox::MAX_REQUEST_BYTES / 4 * 3).unwrap_or(usize::MAX);
    let mut parts: Vec<Vec<BatchItem>> = Vec::new();
    let mut size = 0usize;
    for item in items {
        let len = serde_json::to_vec(&item).map_or(0, |v| v.len()) + 1;
        match parts.last_mut() {
            Some(part) if size + len <= budget => part.push(item),
            _ => {
                parts.push(vec![item]);
                size = 0;
            }
        }
        size += len;
    }
    parts
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
    let mut slots = slots.into_iter();
    // An owner takes requests of at most `MAX_REQUEST_BYTES`: a long batch
    // goes as several, in order, so it is taken whether an owner runs or not.
    for chunk in under_request_size(items) {
        let count = chunk.len();
        let chunk_slots: Vec<usize> = slots.by_ref().take(count).collect();
        let sent = crate::client::execute(
            home,
            InboxOp::SubmitBatch { items: chunk },
            Duration::from_secs(a.timeout),
        )
        .map_err(Failure::from)
        .and_then(answered)
        .and_then(|value| {
            value
                .get("results")
                .cloned()
                .and_then(|r| serde_json::from_value(r).ok())
                .filter(|r: &Vec<BatchAnswer>| r.len() == count)
                .ok_or_else(|| {
                    Failure::runtime("protocol", "unexpected answer from the owner to a batch")
                })
        });
        let results = match sent {
            Ok(r) => r,
            // This part was not taken (the others' answers stand): each of
            // its lines says why.
            Err(f) => {
                for slot in chunk_slots {
                    answers[slot].2 = Some(error_body(&f.code, f.message.clone(), f.bad_input));
                }
                continue;
            }
        };
        for (slot, r) in chunk_slots.into_iter().zip(results) {
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
