//! Persistence of the router's learned layer: `router-examples.jsonl`, one
//! example per line (corrections and outcomes), folded into a model on load.
//! Resetting moves the file aside; nothing is deleted.

use std::fs;
use std::io::Write;

use chrono::{DateTime, Utc};
use cortex_core::learned::{Example, LearnedModel};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::EngineError;
use crate::home::Home;

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    v: u32,
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_id: Option<String>,
    #[serde(flatten)]
    example: Example,
}

/// A text as the router reads it (its normal form, `text::normal`), with
/// its secrets hidden: a secret in full-width letters is the secret it
/// reads as.
fn hidden(text: &str) -> String {
    cortex_core::redact::redact(&cortex_core::text::normal(text))
}

/// Loads the model; unreadable lines are skipped with a warning.
pub fn load(home: &Home) -> LearnedModel {
    let mut model = LearnedModel::default();
    let Ok(text) = fs::read_to_string(home.router_examples()) else {
        return model;
    };
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str::<Line>(line) {
            // Hidden again as it is read: lines kept by an earlier version
            // may hold a secret a person typed in a task.
            Ok(mut l) => {
                l.example.text = hidden(&l.example.text);
                model.learn(&l.example);
            }
            Err(e) => warn!(
                line = n + 1,
                "router-examples.jsonl: unreadable line skipped: {e}"
            ),
        }
    }
    model
}

/// The expert a person's last kept correction of `task_id` names, if any:
/// the same correction again would teach the learned layer the same twice,
/// while going back on it is a correction of its own.
pub fn last_correction(home: &Home, task_id: &str) -> Option<String> {
    let text = fs::read_to_string(home.router_examples()).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .find(|l| {
            l.task_id.as_deref() == Some(task_id)
                && l.example.source == cortex_core::learned::Source::Correction
        })
        .map(|l| l.example.expert)
}

/// Appends an example durably.
pub fn append(
    home: &Home,
    example: &Example,
    task_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), EngineError> {
    let path = home.router_examples();
    // Kept as the router reads it: with its secrets hidden.
    let mut example = example.clone();
    example.text = hidden(&example.text);
    let line = Line {
        v: 1,
        at,
        task_id: task_id.map(str::to_string),
        example,
    };
    let mut bytes =
        serde_json::to_vec(&line).map_err(|e| EngineError::encode("a learning record", &e))?;
    bytes.push(b'\n');
    let mut f = crate::files::options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| EngineError::io("cannot open", &path, e))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_data())
        .map_err(|e| EngineError::io("cannot append to", &path, e))
}

/// Moves the examples aside (`router-examples.jsonl.reset-<stamp>`).
pub fn reset(home: &Home, at: DateTime<Utc>) -> Result<Option<std::path::PathBuf>, EngineError> {
    let path = home.router_examples();
    if !path.exists() {
        return Ok(None);
    }
    let to = home.root().join(format!(
        "router-examples.jsonl.reset-{}",
        crate::clock::file_stamp(at)
    ));
    fs::rename(&path, &to).map_err(|e| EngineError::io("cannot move aside", &path, e))?;
    Ok(Some(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::learned::Source;

    const WIDE: &str = "login uses \u{ff50}\u{ff41}\u{ff53}\u{ff53}\u{ff57}\u{ff4f}\u{ff52}\u{ff44}=\u{ff48}\u{ff55}\u{ff4e}\u{ff54}\u{ff45}\u{ff52}2";

    #[test]
    fn a_secret_in_full_width_letters_is_hidden_as_the_same_secret_in_ascii_is() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let example = Example {
            text: WIDE.into(),
            expert: "security".into(),
            source: Source::Correction,
        };
        append(&home, &example, Some("t-1"), at).unwrap();
        let kept = fs::read_to_string(home.router_examples()).unwrap();
        assert!(
            !kept.contains("hunter2") && !kept.contains('\u{ff48}'),
            "{kept}"
        );
        // A line an earlier version kept with the secret is hidden as read.
        let old = serde_json::json!({
            "v": 1, "at": at, "text": WIDE, "expert": "security", "source": "correction"
        });
        fs::write(home.router_examples(), format!("{old}\n")).unwrap();
        let model = load(&home);
        assert_eq!(
            model.corrected_expert("login uses password"),
            Some("security")
        );
        assert_eq!(model.corrected_expert("login uses password hunter2"), None);
    }
}
