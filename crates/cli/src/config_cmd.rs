//! `cortex config check`: every settings file read with the rules an owner
//! uses, every problem reported at its key, and, for a cluster, whether it
//! answers.

use cortex_core::config::{Config, ExpertProfile, ExpertSet};
use cortex_engine::Home;
use serde::Serialize;

use crate::commands::{print_json, require_initialized};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

#[derive(Serialize)]
struct CheckReport {
    ok: bool,
    files: Vec<String>,
    errors: Vec<CheckError>,
    /// For workers on a cluster: whether it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    launcher_check: Option<cortex_engine::views::LauncherCheck>,
}

#[derive(Serialize)]
struct CheckError {
    file: String,
    key: Option<String>,
    message: String,
}

/// Every problem of an error, each at its key (one error carries the others
/// found in its file), with its secrets hidden: a message quotes the text
/// it refused, which may be a token (`agent.env`).
fn check_errors(mut e: cortex_core::config::ConfigError) -> Vec<CheckError> {
    let also = std::mem::take(&mut e.also);
    std::iter::once(e)
        .chain(also)
        .map(|one| CheckError {
            file: one.file,
            key: one.key,
            message: cortex_core::redact::redact(&one.message),
        })
        .collect()
}

/// A problem on its line, its control characters escaped: a message quotes
/// the value it refused, which may hold an escape sequence.
fn error_line(e: &CheckError) -> String {
    let line = match &e.key {
        Some(k) => format!("{}: key `{k}`: {}", e.file, e.message),
        None => format!("{}: {}", e.file, e.message),
    };
    cortex_core::terminal::one_line(&line).into_owned()
}

/// Checks each file on its own so one run reports every problem.
pub(crate) fn config_check(home: &Home, json: bool) -> Result<()> {
    require_initialized(home)?;
    let mut errors = Vec::new();
    let mut files = vec!["config.json".to_string()];
    let push = |errors: &mut Vec<CheckError>, e: cortex_core::config::ConfigError| {
        errors.extend(check_errors(e));
    };
    let config = match std::fs::read_to_string(home.config_file()) {
        Ok(t) => {
            // Read around its problems, so the rules that span files
            // (the fallback expert) are checked too.
            let (config, problems) = Config::parse_all(&t);
            // Read around a problem, a default stands in for its key: the
            // rule across files (the fallback expert) judges the file's own
            // value only when that key was read.
            let fallback_read = !problems.iter().any(|p| {
                p.key
                    .as_deref()
                    .is_none_or(|k| k == "routing" || k.starts_with("routing.fallback_expert"))
            });
            for e in problems {
                push(&mut errors, e);
            }
            config.filter(|_| fallback_read)
        }
        Err(e) => {
            push(
                &mut errors,
                cortex_core::config::ConfigError::new("config.json", None, e.to_string()),
            );
            None
        }
    };
    let mut profiles = Vec::new();
    let entries = cortex_engine::home::expert_files(&home.experts_dir()).map_err(|e| {
        Failure::runtime(
            "io",
            format!("cannot list {}: {e}", home.experts_dir().display()),
        )
    })?;
    for f in entries {
        let rel = f.rel;
        files.push(rel.clone());
        match f.text {
            Ok(t) => match ExpertProfile::parse(&rel, &t) {
                Ok(e) => profiles.push((rel, e)),
                Err(e) => push(&mut errors, e),
            },
            Err(e) => push(
                &mut errors,
                cortex_core::config::ConfigError::new(&rel, None, e.to_string()),
            ),
        }
    }
    // With an expert file unread, the set is not whole: a fallback naming
    // it would be refused wrongly.
    if profiles.len() + 1 == files.len() {
        match ExpertSet::new(profiles) {
            Ok(set) => {
                if let Some(c) = &config {
                    if let Err(e) = c.validate_against(&set) {
                        push(&mut errors, e);
                    }
                }
            }
            Err(e) => push(&mut errors, e),
        }
    }
    let ok = errors.is_empty();
    let count = errors.len();
    // A valid configuration that puts workers on a cluster: does it answer?
    let launcher_check = config
        .as_ref()
        .filter(|_| ok)
        .and_then(|c| cortex_engine::views::launcher_check(home, &c.launcher));
    let unreachable = launcher_check.as_ref().filter(|c| !c.reachable).cloned();
    if json {
        print_json(&CheckReport {
            ok,
            files,
            errors,
            launcher_check,
        });
    } else if ok {
        println!(
            "ok: {} files checked in {}",
            files.len(),
            home.root().display()
        );
        match &launcher_check {
            Some(c) if c.reachable => {
                println!("workers run on slurm: the cluster answers ({})", c.detail)
            }
            Some(c) => eprintln!(
                "workers run on slurm, and it CANNOT RUN WORKERS: {}",
                c.detail
            ),
            None => {}
        }
    } else {
        for e in &errors {
            eprintln!("{}", error_line(e));
        }
    }
    if let (true, Some(c)) = (ok, unreachable) {
        return Err(Failure {
            printed: true,
            ..Failure::runtime(
                "cluster_unreachable",
                format!(
                    "the configuration is valid; the Slurm cluster does not answer: {}",
                    c.detail
                ),
            )
        });
    }
    if ok {
        Ok(())
    } else {
        Err(Failure {
            printed: json,
            ..Failure::bad_input(
                "bad_config",
                format!("{count} problem(s) in the configuration"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_secrets_hidden() {
        let mut e = cortex_core::config::ConfigError::new(
            "config.json",
            Some("agent.env"),
            "invalid type: string \"GITHUB_TOKEN=ghp_LIVEEDITSECRET0123456789abcdef\"",
        );
        e.also.push(cortex_core::config::ConfigError::new(
            "config.json",
            Some("agent.command"),
            "`API_KEY=abcdef123456zz` is not a program",
        ));
        let errors = check_errors(e);
        assert_eq!(errors.len(), 2);
        for e in errors {
            assert!(e.message.contains("=[redacted]"), "{}", e.message);
        }
    }

    #[test]
    fn a_problem_is_said_with_its_control_characters_escaped() {
        let e = CheckError {
            file: "experts/ops.json".into(),
            key: Some("name".into()),
            message: "`ops\u{1b}]0;PWNED\u{7}\n` is not a valid expert name".into(),
        };
        assert_eq!(
            error_line(&e),
            "experts/ops.json: key `name`: `ops\\u{1b}]0;PWNED\\u{7}\\u{a}` is not a valid expert name"
        );
    }
}
