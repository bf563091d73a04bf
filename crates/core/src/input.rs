//! Validation of what people and scripts submit. Every rejection names the
//! field and what was expected; nothing is stored for a rejected request.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::task::Priority;

/// Largest accepted task description, in bytes of UTF-8. Big enough for a
/// pasted stack trace, small enough that a runaway script cannot fill the
/// journal with one request.
pub const MAX_DESCRIPTION_BYTES: usize = 32 * 1024;
/// Largest accepted idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 200;

/// A submission as it arrives from the CLI, the inbox or the desktop app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The work to do, in words.
    pub description: String,
    /// An explicit task type, routed to the expert that declares it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// The priority's name (`critical`, `high`, `medium`, `low`); medium
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// An idempotency key: a second submission with the same key is the same
    /// task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The absolute directory the work happens in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Run each expert's part of the task in its own git worktree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree: bool,
    /// A check of the work (`--verify CMD`), run by `sh -c` in the workdir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    /// Ids of tasks that must complete before this one starts (`--after`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// A goal for the coordinator to split into a plan (`--plan`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plan: bool,
}

/// A submission that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSubmission {
    /// The work to do, trimmed.
    pub description: String,
    /// The explicit task type, lowercased, known to an expert.
    pub task_type: Option<String>,
    /// The task's priority.
    pub priority: Priority,
    /// The idempotency key, if given.
    pub key: Option<String>,
    /// The absolute workdir, without a trailing slash.
    pub workdir: Option<String>,
    /// Run each expert's part in its own git worktree.
    pub worktree: bool,
    /// The check of the work, if given.
    pub verify: Option<String>,
}

/// Why a submission or a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    /// The task text is empty.
    #[error("task text is empty: give a description of the work")]
    EmptyText,
    /// The task text is longer than allowed.
    #[error("task text is {len} bytes, over the limit of {max} bytes")]
    TextTooLong {
        /// The text's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A field holds a control character other than newline and tab.
    #[error("{field} contains a control character ({code}) at byte {offset}: only newline and tab are allowed")]
    ControlCharacter {
        /// The field, as named to a person.
        field: &'static str,
        /// The character as `U+XXXX`.
        code: String,
        /// Its byte offset in the field.
        offset: usize,
    },
    /// A field holds a bidirectional control character.
    #[error("{field} contains a bidirectional control ({code}) at byte {offset}, which can make text read differently from what it is: remove it")]
    BidiControl {
        /// The field, as named to a person.
        field: &'static str,
        /// The character as `U+XXXX`.
        code: String,
        /// Its byte offset in the field.
        offset: usize,
    },
    /// A field is empty.
    #[error("{field} is empty")]
    Empty {
        /// The field, as named to a person.
        field: &'static str,
    },
    /// A field is longer than allowed.
    #[error("{field} is {len} bytes, over the limit of {max} bytes")]
    TooLong {
        /// The field, as named to a person.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The priority is not one of the known names.
    #[error("{0}")]
    UnknownPriority(String),
    /// The task type is not declared by any expert.
    #[error("unknown task type `{given}`, expected one of: {}", known.join(", "))]
    UnknownType {
        /// The type as given.
        given: String,
        /// The types the experts declare.
        known: Vec<String>,
    },
    /// The idempotency key is longer than allowed.
    #[error("key is {len} bytes, over the limit of {max} bytes")]
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The idempotency key is given but empty.
    #[error("key is empty: leave --key out or give a value")]
    EmptyKey,
    /// The workdir is not an absolute path.
    #[error("workdir `{0}` must be an absolute path")]
    RelativeWorkdir(String),
}

/// Bidirectional embedding, override and isolate controls, and the marks:
/// they make text display in another order than it is stored.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_controls(field: &'static str, text: &str) -> Result<(), InputError> {
    for (offset, c) in text.char_indices() {
        let code = || format!("U+{:04X}", u32::from(c));
        if c.is_control() && c != '\n' && c != '\t' {
            return Err(InputError::ControlCharacter {
                field,
                code: code(),
                offset,
            });
        }
        if is_bidi_control(c) {
            return Err(InputError::BidiControl {
                field,
                code: code(),
                offset,
            });
        }
    }
    Ok(())
}

/// The one check for free text a person sends to a worker (`nudge`, a
/// reply): not empty, at most the task text's size, no control characters
/// but newline and tab, no bidirectional controls. Returns it trimmed.
pub fn validate_message<'a>(field: &'static str, text: &'a str) -> Result<&'a str, InputError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InputError::Empty { field });
    }
    if text.len() > MAX_DESCRIPTION_BYTES {
        return Err(InputError::TooLong {
            field,
            len: text.len(),
            max: MAX_DESCRIPTION_BYTES,
        });
    }
    check_controls(field, text)?;
    Ok(text)
}

/// The longest check command accepted.
pub const MAX_VERIFY_BYTES: usize = 4096;

/// Validates a submission against the task types the experts declare: the
/// first problem (`submission_problems` gives them all).
pub fn validate_submission(
    req: &SubmitRequest,
    known_types: &BTreeSet<String>,
) -> Result<ValidSubmission, InputError> {
    let description = text_of(req)?;
    let priority = priority_of(req)?;
    let task_type = type_of(req, known_types)?;
    let key = key_of(req)?;
    let workdir = workdir_of(req)?;
    let verify = verify_of(req)?;
    Ok(ValidSubmission {
        description,
        task_type,
        priority,
        key,
        workdir,
        worktree: req.worktree,
        verify,
    })
}

/// Every problem of a submission, one per field, in the order of its
/// fields (a plan's task says them all at once).
pub fn submission_problems(req: &SubmitRequest, known_types: &BTreeSet<String>) -> Vec<InputError> {
    [
        text_of(req).err(),
        priority_of(req).err(),
        type_of(req, known_types).err(),
        key_of(req).err(),
        workdir_of(req).err(),
        verify_of(req).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A field, checked.
type Field<T> = Result<T, InputError>;

fn text_of(req: &SubmitRequest) -> Field<String> {
    task_text(&req.description)
}

/// A task's text as a submission takes it (trimmed), or why it is refused:
/// the same for `route`, which must not explain a text `submit` refuses.
pub fn task_text(text: &str) -> Result<String, InputError> {
    let description = text.trim();
    if description.is_empty() {
        return Err(InputError::EmptyText);
    }
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(InputError::TextTooLong {
            len: description.len(),
            max: MAX_DESCRIPTION_BYTES,
        });
    }
    check_controls("task text", description)?;
    Ok(description.to_string())
}

fn priority_of(req: &SubmitRequest) -> Field<Priority> {
    match req.priority.as_deref() {
        None => Ok(Priority::default()),
        Some(p) => p.parse().map_err(InputError::UnknownPriority),
    }
}

fn type_of(req: &SubmitRequest, known_types: &BTreeSet<String>) -> Field<Option<String>> {
    match req.task_type.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            if !known_types.contains(&lower) {
                return Err(InputError::UnknownType {
                    given: t.to_string(),
                    known: known_types.iter().cloned().collect(),
                });
            }
            Ok(Some(lower))
        }
    }
}

fn key_of(req: &SubmitRequest) -> Field<Option<String>> {
    match req.key.as_deref() {
        None => Ok(None),
        Some(k) if k.trim().is_empty() => Err(InputError::EmptyKey),
        Some(k) if k.len() > MAX_KEY_BYTES => Err(InputError::KeyTooLong {
            len: k.len(),
            max: MAX_KEY_BYTES,
        }),
        Some(k) => {
            check_controls("key", k)?;
            Ok(Some(k.to_string()))
        }
    }
}

fn workdir_of(req: &SubmitRequest) -> Field<Option<String>> {
    match req.workdir.as_deref() {
        None => Ok(None),
        Some(w) if !w.starts_with('/') => Err(InputError::RelativeWorkdir(w.to_string())),
        Some(w) => {
            check_controls("workdir", w)?;
            Ok(Some(w.trim_end_matches('/').to_string())
                .filter(|w| !w.is_empty())
                .or(Some("/".into())))
        }
    }
}

fn verify_of(req: &SubmitRequest) -> Field<Option<String>> {
    match req.verify.as_deref().map(str::trim) {
        None => Ok(None),
        // Asked for, but empty: no check would run while one was asked.
        Some("") => Err(InputError::Empty {
            field: "the verify command (--verify, `verify`)",
        }),
        Some(v) if v.len() > MAX_VERIFY_BYTES => Err(InputError::TooLong {
            field: "the verify command",
            len: v.len(),
            max: MAX_VERIFY_BYTES,
        }),
        Some(v) => {
            check_controls("the verify command", v)?;
            Ok(Some(v.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> BTreeSet<String> {
        ["feature", "security-audit"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn bidirectional_controls_are_refused_in_tasks_and_messages() {
        let e = validate_submission(&req("fix the \u{202E}gnp.exe parser"), &types()).unwrap_err();
        assert!(matches!(e, InputError::BidiControl { code, .. } if code == "U+202E"));
        assert!(validate_message("the nudge text", "go on\u{2066}").is_err());
        let e = validate_message("the nudge text", "go on \u{7}").unwrap_err();
        assert!(e.to_string().contains("control character (U+0007)"), "{e}");
        assert!(validate_message("the nudge text", "  ").is_err());
        assert_eq!(
            validate_message("the nudge text", " go on\n ").unwrap(),
            "go on"
        );
        assert!(validate_submission(&req("résumé 日本語 ok"), &types()).is_ok());
    }

    fn req(text: &str) -> SubmitRequest {
        SubmitRequest {
            description: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_plain_task_with_defaults() {
        let v = validate_submission(&req("  add a login page \n"), &types()).unwrap();
        assert_eq!(v.description, "add a login page");
        assert_eq!(v.priority, Priority::Medium);
        assert_eq!(v.task_type, None);
    }

    #[test]
    fn rejects_bad_input_with_a_message_that_names_the_problem() {
        let cases: Vec<(SubmitRequest, &str)> = vec![
            (req(""), "empty"),
            (req(" \n\t "), "empty"),
            (
                req(&"x".repeat(MAX_DESCRIPTION_BYTES + 1)),
                "over the limit",
            ),
            (req("fix\u{7}bell"), "U+0007"),
            (req("fix\rthis"), "U+000D"),
            (
                SubmitRequest {
                    priority: Some("urgent".into()),
                    ..req("x")
                },
                "unknown priority `urgent`",
            ),
            (
                SubmitRequest {
                    task_type: Some("dance".into()),
                    ..req("x")
                },
                "expected one of: feature, security-audit",
            ),
            (
                SubmitRequest {
                    key: Some(" ".into()),
                    ..req("x")
                },
                "key is empty",
            ),
            (
                SubmitRequest {
                    workdir: Some("rel/dir".into()),
                    ..req("x")
                },
                "absolute path",
            ),
        ];
        for (r, needle) in cases {
            let err = validate_submission(&r, &types()).unwrap_err().to_string();
            assert!(
                err.contains(needle),
                "error `{err}` should contain `{needle}`"
            );
        }
    }

    #[test]
    fn type_is_case_insensitive_and_tabs_newlines_are_allowed() {
        let r = SubmitRequest {
            task_type: Some("Feature".into()),
            ..req("line one\n\tline two")
        };
        let v = validate_submission(&r, &types()).unwrap();
        assert_eq!(v.task_type.as_deref(), Some("feature"));
    }

    #[test]
    fn text_exactly_at_the_limit_is_accepted() {
        let r = req(&"y".repeat(MAX_DESCRIPTION_BYTES));
        assert!(validate_submission(&r, &types()).is_ok());
    }
}
