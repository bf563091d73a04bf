//! `cortex route --batch`: one decision, or one refusal, per input line.

use std::io::{BufRead, Write};

use cortex_core::config::ExpertSet;
use cortex_core::learned::LearnedModel;
use cortex_core::router::Router;

use crate::routing_cmds::{check_text, check_type};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

#[derive(serde::Deserialize)]
struct BatchLine {
    #[serde(default)]
    id: serde_json::Value,
    text: String,
    #[serde(rename = "type", default)]
    task_type: Option<String>,
}

/// One decision (or error object) per input line; a bad line never stops
/// the batch.
pub(crate) fn batch(
    router: &Router,
    experts: &ExpertSet,
    model: Option<&LearnedModel>,
    path: &std::path::Path,
) -> Result<()> {
    let reader = crate::batch::open_lines(path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut refused = 0usize;
    // A refused line is said as `submit --batch` says it, with its line.
    let mut bad = |line_no: usize, id: Option<serde_json::Value>, message: String| {
        refused += 1;
        let mut v = crate::batch::error_body("bad_input", message, true);
        v["line"] = line_no.into();
        if let Some(id) = id {
            v["id"] = id;
        }
        v
    };
    for (n, raw) in reader.split(b'\n').enumerate() {
        let raw = raw.map_err(|e| Failure::runtime("io", format!("read error: {e}")))?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = n + 1;
        let value = match std::str::from_utf8(&raw) {
            Err(e) => bad(line_no, None, format!("line is not valid UTF-8: {e}")),
            Ok(s) => match serde_json::from_str::<BatchLine>(s) {
                Err(e) => bad(
                    line_no,
                    None,
                    format!(
                        "expected {{\"id\", \"text\", \"type\"?}}: {}",
                        crate::commands::json_line_error(&e)
                    ),
                ),
                Ok(l) => match check_text(&l.text)
                    .and_then(|()| check_type(experts, l.task_type.as_deref()))
                {
                    Err(m) => bad(line_no, Some(l.id), m),
                    Ok(()) => {
                        let d = router.route(&l.text, l.task_type.as_deref(), model);
                        let mut v = serde_json::to_value(&d).unwrap_or_default();
                        v["id"] = l.id;
                        v
                    }
                },
            },
        };
        writeln!(out, "{value}")
            .map_err(|e| Failure::runtime("io", format!("write error: {e}")))?;
    }
    let _ = out.flush();
    if refused == 0 {
        return Ok(());
    }
    Err(Failure {
        code: "bad_input".into(),
        message: format!("{refused} line(s) of the batch were not routed"),
        bad_input: true,
        printed: true,
    })
}
