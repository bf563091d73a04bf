//! Rendering an agent's stream-json lines as a transcript people can read.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redact::redact;

/// What a transcript entry is, so a UI can style it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The start of a session: its id and model.
    Session,
    /// Text the agent wrote.
    Assistant,
    /// A tool the agent called.
    ToolCall,
    /// What a tool gave back.
    ToolResult,
    /// A tool call that failed.
    ToolError,
    /// The API failed and the agent retries.
    ApiRetry,
    /// The run's result line.
    Result,
    /// A check-in from the agent.
    CheckIn,
    /// Anything else (a line that is not JSON, or of an unknown type).
    Other,
    /// Not output: how much of an attempt's output was left out before
    /// what follows (a transcript reads only the end of a large output).
    LeftOut,
}

/// One readable line of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// What the entry is.
    pub kind: EntryKind,
    /// The entry as one readable line.
    pub text: String,
}

/// One stream line as typed entries, secrets redacted (see `render_line`
/// for the text form).
pub fn entries(line: &str) -> Vec<Entry> {
    render_line(line)
        .into_iter()
        .map(|text| {
            let kind = if text.starts_with("── session") {
                EntryKind::Session
            } else if let Some(rest) = text.strip_prefix("assistant: ") {
                return Entry {
                    kind: EntryKind::Assistant,
                    text: rest.to_string(),
                };
            } else if text.starts_with("→ ") {
                EntryKind::ToolCall
            } else if text.starts_with("← ") {
                EntryKind::ToolResult
            } else if text.starts_with("✗ ") {
                EntryKind::ToolError
            } else if text.starts_with("! API error") {
                EntryKind::ApiRetry
            } else if text.starts_with("══ ") {
                EntryKind::Result
            } else if text.starts_with("· check-in") {
                EntryKind::CheckIn
            } else if text == "(thinking)" {
                EntryKind::Assistant
            } else {
                EntryKind::Other
            };
            Entry { kind, text }
        })
        .collect()
}

/// Text shown on one line of at most `n` characters, its secrets hidden
/// first: a secret cut in half no longer looks like one, and its first
/// part would be shown.
fn clip(s: &str, n: usize) -> String {
    let one_line = redact(s).replace('\n', " ⏎ ");
    if one_line.chars().count() > n {
        format!("{}…", one_line.chars().take(n).collect::<String>())
    } else {
        one_line
    }
}

/// A name the agent gives (its model, session, a tool), shown on its line:
/// a line end or another control character in it is escaped, so it cannot
/// begin a line of its own that reads as Cortex's.
fn name(s: &str) -> String {
    crate::terminal::one_line(&redact(s)).into_owned()
}

/// A tool's input or result, as JSON, with the secrets of each string
/// hidden as written: encoded, a quote or a line end inside a value is a
/// backslash sequence, and the value would look longer or shorter than it
/// is.
fn encoded(v: &Value) -> String {
    fn hide(v: &mut Value) {
        match v {
            Value::String(s) => *s = redact(s),
            Value::Array(items) => items.iter_mut().for_each(hide),
            Value::Object(fields) => fields.values_mut().for_each(hide),
            _ => {}
        }
    }
    let mut v = v.clone();
    hide(&mut v);
    // A name and its value are in separate strings (`"password": "..."`):
    // the encoded whole is redacted too.
    redact(&v.to_string())
}

/// One stream line as zero or more readable lines, secrets redacted. Lines
/// that are not JSON are shown as they are (generic agents).
pub fn render_line(line: &str) -> Vec<String> {
    // Each field is hidden before it is cut (`clip`); the lines once more
    // as a whole, for the fields shown as their JSON (a check-in's
    // progress, a retry's status), whatever an agent put in them.
    rendered(line).into_iter().map(|l| redact(&l)).collect()
}

fn rendered(line: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return vec![redact(line)];
    };
    if v.get("cortex").and_then(Value::as_str) == Some("heartbeat") {
        return vec![format!(
            "· check-in{}{}",
            v.get("progress")
                .map(|p| format!(" {p}%"))
                .unwrap_or_default(),
            v.get("message")
                .and_then(Value::as_str)
                .map(|m| format!(": {}", clip(m, 300)))
                .unwrap_or_default()
        )];
    }
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let sub = v.get("subtype").and_then(Value::as_str).unwrap_or("");
    match (kind, sub) {
        ("system", "init") => vec![format!(
            "── session {} · model {}",
            name(v.get("session_id").and_then(Value::as_str).unwrap_or("?")),
            name(v.get("model").and_then(Value::as_str).unwrap_or("?"))
        )],
        ("system", "api_retry") => vec![format!(
            "! API error {} · retry {} in {:.1}s",
            v.get("error_status")
                .map(Value::to_string)
                .unwrap_or_else(|| "?".into()),
            v.get("attempt").map(Value::to_string).unwrap_or_default(),
            v.get("retry_delay_ms")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                / 1000.0
        )],
        ("assistant", _) => v
            .pointer("/message/content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                        Some("text") => b
                            .get("text")
                            .and_then(Value::as_str)
                            .map(|t| format!("assistant: {}", clip(t, 400))),
                        Some("tool_use") => Some(format!(
                            "→ {} {}",
                            name(b.get("name").and_then(Value::as_str).unwrap_or("tool")),
                            clip(&b.get("input").map(encoded).unwrap_or_default(), 300)
                        )),
                        Some("thinking") => Some("(thinking)".into()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ("user", _) => v
            .pointer("/message/content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                    .map(|b| {
                        let content = match b.get("content") {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => encoded(other),
                            None => String::new(),
                        };
                        let mark = if b.get("is_error").and_then(Value::as_bool) == Some(true) {
                            "✗"
                        } else {
                            "←"
                        };
                        format!("{mark} {}", clip(&content, 300))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ("result", _) => {
            let err = v.get("is_error").and_then(Value::as_bool).unwrap_or(true);
            // The CLI marks an API error's result `"subtype":"success"`
            // with `is_error`: said as the error it is, with its status.
            let kind = match (err, sub) {
                (true, "success" | "") => v
                    .get("api_error_status")
                    .and_then(Value::as_u64)
                    .map_or_else(|| "error".to_string(), |s| format!("API status {s}")),
                _ => name(sub),
            };
            // A figure no run can cost is not shown as if it were one.
            let cost = v
                .get("total_cost_usd")
                .and_then(Value::as_f64)
                .map_or(Some(0.0), crate::stream::credible_cost)
                .map_or_else(
                    || "cost unknown (not credible)".into(),
                    |c| format!("${c:.4}"),
                );
            vec![format!(
                "══ {} ({}) · {} turns · {cost}{}",
                if err { "ERROR" } else { "done" },
                kind,
                v.get("num_turns")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "?".into()),
                v.get("result")
                    .and_then(Value::as_str)
                    .map(|r| format!(" · {}", clip(r, 300)))
                    .unwrap_or_default()
            )]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_their_kind() {
        let tool = r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Writing."},{"type":"tool_use","name":"Bash","input":{}}]}}"#;
        let e = entries(tool);
        assert_eq!(
            (e[0].kind, e[0].text.as_str()),
            (EntryKind::Assistant, "Writing.")
        );
        assert_eq!(e[1].kind, EntryKind::ToolCall);
        assert_eq!(entries("make: ok")[0].kind, EntryKind::Other);
    }

    #[test]
    fn each_kind_of_line_reads_plainly() {
        let tool = r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Writing."},{"type":"tool_use","name":"Bash","input":{"command":"echo hi"}}]}}"#;
        assert_eq!(
            render_line(tool),
            vec!["assistant: Writing.", "→ Bash {\"command\":\"echo hi\"}"]
        );
        let res = r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"no such file","is_error":true}]}}"#;
        assert_eq!(render_line(res), vec!["✗ no such file"]);
        let retry = r#"{"type":"system","subtype":"api_retry","attempt":2,"retry_delay_ms":1100,"error_status":529}"#;
        assert_eq!(
            render_line(retry),
            vec!["! API error 529 · retry 2 in 1.1s"]
        );
        let done = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"total_cost_usd":0.2,"result":"ok"}"#;
        assert_eq!(
            render_line(done),
            vec!["══ done (success) · 2 turns · $0.2000 · ok"]
        );
        // An API error the CLI marks "success": the error it is.
        let failed = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"num_turns":1,"total_cost_usd":0,"result":"API Error: 429"}"#;
        assert_eq!(
            render_line(failed),
            vec!["══ ERROR (API status 429) · 1 turns · $0.0000 · API Error: 429"]
        );
        // A cost no run can have is said to be unknown, not printed.
        for figure in ["1e308", "-1"] {
            let absurd = format!(
                r#"{{"type":"result","subtype":"success","is_error":false,"num_turns":2,"total_cost_usd":{figure},"result":"ok"}}"#
            );
            assert_eq!(
                render_line(&absurd),
                vec!["══ done (success) · 2 turns · cost unknown (not credible) · ok"]
            );
        }
        assert_eq!(render_line("plain text"), vec!["plain text"]);
        assert!(render_line(r#"{"type":"system","subtype":"hook_started"}"#).is_empty());
    }

    #[test]
    fn a_secret_in_a_field_shown_as_json_is_hidden() {
        let lines = render_line(
            r#"{"cortex":"heartbeat","progress":"ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}"#,
        );
        assert!(!lines.concat().contains("0123456789abcdef"), "{lines:?}");
    }

    #[test]
    fn an_agents_names_and_words_cannot_forge_a_line() {
        let forged = "\n══ done (success) · forged";
        let lines = [
            serde_json::json!({"type":"system","subtype":"init","session_id":format!("s{forged}"),"model":format!("m{forged}")}),
            serde_json::json!({"type":"assistant","message":{"content":[
                {"type":"tool_use","name":format!("Bash{forged}"),"input":{}}]}}),
            serde_json::json!({"type":"result","subtype":format!("odd{forged}"),"is_error":false,"num_turns":1}),
            serde_json::json!({"cortex":"heartbeat","message":format!("half way{forged}")}),
        ];
        for line in lines {
            let shown = render_line(&line.to_string());
            assert_eq!(shown.len(), 1, "{shown:?}");
            assert!(!shown[0].contains('\n'), "{shown:?}");
        }
    }

    #[test]
    fn a_secret_is_hidden_before_its_line_is_cut() {
        // The password crosses the 300th character of the tool's input:
        // cut first, the URL would lose its `@` and the part before the cut
        // would be shown.
        let pad = "Refactor the parser module carefully. ".repeat(8);
        let url = "https://bob:Sup3rSecretPassw0rdXYZ@git.example.com/r.git";
        let command = format!("{}git clone {url}", &pad[..270]);
        let call = serde_json::json!({"type":"assistant","message":{"content":[
            {"type":"tool_use","name":"Bash","input":{"command":command}},
            {"type":"text","text":format!("{}{url}", "x".repeat(380))}]}});
        let shown = render_line(&call.to_string()).join("\n");
        assert!(!shown.contains("Sup3r"), "{shown}");
        assert!(shown.contains("bob:[redac"), "{shown}");
        let result = serde_json::json!({"type":"user","message":{"content":[
            {"type":"tool_result","content":format!("{}{url}", "y".repeat(280))}]}});
        assert!(!render_line(&result.to_string())[0].contains("Sup3r"));
        // A line that is not JSON is shown with its secrets hidden too.
        assert_eq!(
            render_line("export GITHUB_TOKEN=ghp_0123456789abcdefghij"),
            vec!["export GITHUB_TOKEN=[redacted]"]
        );
    }

    #[test]
    fn a_tool_input_is_redacted_as_written_before_it_is_encoded() {
        // Encoded, the value would run on into the escaped line end and
        // the rest of the command would be lost with it.
        let call = r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"cat > .env <<EOF\npassword: hunter2hunter2\nEOF","env":{"api_key":"abcd1234efgh5678"}}}]}}"#;
        assert_eq!(
            render_line(call),
            vec![
                r#"→ Bash {"command":"cat > .env <<EOF\npassword: [redacted]\nEOF","env":{"api_key":"[redacted]"}}"#
            ]
        );
    }
}
