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
                l.example.text = cortex_core::redact::redact(&l.example.text);
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
    example.text = cortex_core::redact::redact(&example.text);
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
