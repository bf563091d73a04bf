//! What `cortex eval` and `cortex router` read from a person: labeled
//! JSONL files and training options, each refused by name when it would
//! measure or train nothing true.

use cortex_core::config::ExpertSet;
use cortex_core::eval::{self, Labeled};

use crate::args::TrainOpts;
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

/// The labeled items of a JSONL file, each `{"id", "text", "label"}`: a
/// line that is not UTF-8 or JSON, has no text, or names an expert `experts`
/// does not have is refused with its line; a file with no item is too.
pub(crate) fn read_labeled(
    path: &std::path::Path,
    with_scope: bool,
    experts: &ExpertSet,
) -> Result<Vec<Labeled>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::bad_input("bad_input", format!("cannot read {}: {e}", path.display()))
    })?;
    let at = |n: usize, what: String| {
        Failure::bad_input(
            "bad_input",
            format!("{} line {}: {what}", path.display(), n + 1),
        )
    };
    let mut items = Vec::new();
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw).map_err(|_| at(n, "not valid UTF-8 text".into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            at(
                n,
                format!("not JSON: {}", crate::commands::json_line_error(&e)),
            )
        })?;
        let mut item: Labeled = serde_json::from_value(v.clone()).map_err(|e| {
            at(
                n,
                format!(
                    "expected {{\"id\", \"text\", \"label\"}}: {}",
                    crate::commands::json_line_error(&e)
                ),
            )
        })?;
        if item.text.trim().is_empty() {
            return Err(at(n, "the text is empty, expected a task to route".into()));
        }
        for label in std::iter::once(&item.label).chain(&item.labels) {
            if experts.get(label).is_none() {
                return Err(at(
                    n,
                    format!(
                        "label `{label}` is not an expert, expected one of {}",
                        experts.names().join(", ")
                    ),
                ));
            }
        }
        if with_scope {
            if let Some(scope) = v["scope"].as_str().filter(|s| !s.is_empty()) {
                item.text = format!("{scope}: {}", item.text);
            }
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(Failure::bad_input(
            "bad_input",
            format!(
                "{} holds no labeled item, expected JSONL lines {{\"id\", \"text\", \"label\"}}",
                path.display()
            ),
        ));
    }
    Ok(items)
}

/// The training options and commit weight: the shipped ones unless given;
/// a value no training can use (none, not a number) is refused by name.
pub(crate) fn train_options(a: &TrainOpts) -> Result<(cortex_core::linear::TrainOptions, f32)> {
    let d = cortex_core::linear::TrainOptions::default();
    let opts = cortex_core::linear::TrainOptions {
        epochs: a.epochs.unwrap_or(d.epochs),
        rate: a.rate.unwrap_or(d.rate),
        decay: a.decay.unwrap_or(d.decay),
        seed: d.seed,
    };
    let weight = a.commit_weight.unwrap_or(eval::COMMIT_WEIGHT);
    let bad = |what: &str, expected: &str| {
        Err(Failure::bad_input(
            "bad_input",
            format!("{what}, expected {expected}"),
        ))
    };
    if !(1..=1000).contains(&opts.epochs) {
        return bad(&format!("--epochs {}", opts.epochs), "1 to 1000 passes");
    }
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        return bad(&format!("--rate {}", opts.rate), "a positive number");
    }
    if !(opts.decay.is_finite() && (0.0..1.0).contains(&opts.decay)) {
        return bad(
            &format!("--decay {}", opts.decay),
            "a number from 0 to below 1",
        );
    }
    if !(weight.is_finite() && weight >= 0.0) {
        return bad(
            &format!("--commit-weight {weight}"),
            "a number of 0 or more",
        );
    }
    Ok((opts, weight))
}
