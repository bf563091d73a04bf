//! `cortex status`: counts, health, paused experts and who supervises the
//! home; and the word a submission gets when nobody does.

use std::collections::BTreeMap;

use cortex_engine::engine::view;
use cortex_engine::Home;

use crate::commands::{print_json, require_initialized};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

pub(crate) fn status(home: &Home, json: bool) -> Result<()> {
    require_initialized(home)?;
    let s = secrets_hidden(view::status(home)?);
    if json {
        print_json(&s);
        return Ok(());
    }
    let line = |m: &BTreeMap<String, usize>| {
        m.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = line(&s.tasks);
    let w = line(&s.workers);
    let h = line(&s.health);
    println!("tasks:   {}", if t.is_empty() { "none".into() } else { t });
    println!("workers: {}", if w.is_empty() { "none".into() } else { w });
    if !h.is_empty() {
        println!("health:  {h}");
    }
    if s.spawning_paused {
        println!("paused:  spawning, by a person: no new worker starts until `cortex resume`");
    }
    if let Some(line) = settings_line(&s) {
        println!("{line}");
    }
    for p in &s.paused_experts {
        println!(
            "paused:  {} by its circuit breaker until {} (`cortex resume {}` closes it)",
            p.expert,
            p.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            p.expert
        );
    }
    println!("owner:   {}", owner_line(&s));
    Ok(())
}

/// Why the settings on disk are not used, on one line: the problem quotes
/// the file, whose values may hold an escape sequence.
fn settings_line(s: &cortex_engine::StatusDto) -> Option<String> {
    let line = match (&s.settings_refused, &s.owner) {
        (Some(why), Some(_)) => format!(
            "settings: a file edited on disk was not read, the owner keeps the ones in use: {why}"
        ),
        (Some(why), None) => format!(
            "settings: the files on disk are not valid, so what is shown uses the settings an owner last read, and no owner starts until they are fixed: {why}"
        ),
        (None, _) => return None,
    };
    Some(cortex_core::terminal::one_line(&line).into_owned())
}

/// The status with the refusal of the settings redacted: it quotes the
/// file's text, which may hold a token (`agent.env`).
fn secrets_hidden(mut s: cortex_engine::StatusDto) -> cortex_engine::StatusDto {
    s.settings_refused = s
        .settings_refused
        .map(|why| cortex_core::redact::redact(&why));
    s
}

/// Who supervises the home, in words; with none, what that means for the
/// tasks and workers there are.
fn owner_line(s: &cortex_engine::StatusDto) -> String {
    if let Some(o) = &s.owner {
        let since = chrono::DateTime::parse_from_rfc3339(&o.since).map_or_else(
            |_| o.since.clone(),
            |t| {
                t.to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            },
        );
        return format!("{} (pid {}, since {since})", o.kind.as_str(), o.pid);
    }
    // The same counts as the lines above: a process no owner watches is
    // `unwatched`; a worker between attempts runs nothing and waits.
    let count = |m: &BTreeMap<String, usize>, keys: &[&str]| -> usize {
        keys.iter().filter_map(|k| m.get(*k)).sum()
    };
    let unwatched = count(&s.health, &["unwatched"]);
    let between = count(&s.workers, &["waiting"]);
    let to_start = count(&s.tasks, &["routed", "queued"]);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut what = Vec::new();
    if unwatched > 0 {
        what.push(format!(
            "{} unwatched (no hang detection, restarts or time limits)",
            plural(unwatched, "live worker runs", "live workers run")
        ));
    }
    if between > 0 {
        what.push(plural(
            between,
            "worker waits for its next attempt",
            "workers wait for their next attempt",
        ));
    }
    if to_start > 0 {
        what.push(format!(
            "{} to start",
            plural(to_start, "task waits", "tasks wait")
        ));
    }
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(": {}", what.join("; "))
    };
    format!("none{what}; `cortex run` or the desktop app takes over")
}

/// After a restart, nudge or reply this command carried out itself: with
/// nobody supervising the home, the new attempt runs with nobody watching.
pub(crate) fn note_if_unwatched(home: &Home) {
    if cortex_engine::lock::supervising_owner(&home.lock_file()).is_none() {
        eprintln!(
            "cortex: no owner runs for this home: the new attempt runs unwatched (no hang detection, restarts or time limits) until `cortex run` or the desktop app runs"
        );
    }
}

/// After a submission: with nobody supervising the home, says that nothing
/// starts until `cortex run` or the app runs (the original's tasks sat in
/// `pending` forever without a word).
pub(crate) fn note_if_unsupervised(home: &Home) {
    if cortex_engine::lock::supervising_owner(&home.lock_file()).is_none() {
        eprintln!(
            "cortex: no owner runs for this home: nothing starts until `cortex run` or the desktop app runs (`cortex status` shows the owner)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_the_settings_is_shown_with_its_secrets_hidden() {
        let s: cortex_engine::StatusDto = serde_json::from_value(serde_json::json!({
            "tasks": {}, "workers": {},
            "settings_refused": "config.json: key `agent.env`: \"GITHUB_TOKEN=ghp_LIVEEDITSECRET0123456789abcdef\""
        }))
        .expect("a status");
        let why = secrets_hidden(s).settings_refused.expect("refused");
        assert!(why.contains("GITHUB_TOKEN=[redacted]"), "{why}");
    }

    #[test]
    fn a_refusal_of_the_settings_is_said_with_its_control_characters_escaped() {
        let s: cortex_engine::StatusDto = serde_json::from_value(serde_json::json!({
            "tasks": {}, "workers": {},
            "settings_refused": "key `name`: `ops\u{1b}[2J` is not a valid expert name"
        }))
        .expect("a status");
        let line = settings_line(&s).expect("a line");
        assert!(
            line.ends_with("`ops\\u{1b}[2J` is not a valid expert name"),
            "{line}"
        );
    }
}
