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

/// Checks each file on its own so one run reports every problem.
pub(crate) fn config_check(home: &Home, json: bool) -> Result<()> {
    require_initialized(home)?;
    let mut errors = Vec::new();
    let mut files = vec!["config.json".to_string()];
    // Every problem, each at its key: one error carries the others found
    // in its file.
    let push = |errors: &mut Vec<CheckError>, e: cortex_core::config::ConfigError| {
        let mut e = e;
        let also = std::mem::take(&mut e.also);
        for one in std::iter::once(e).chain(also) {
            errors.push(CheckError {
                file: one.file,
                key: one.key,
                message: one.message,
            });
        }
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
            match &e.key {
                Some(k) => eprintln!("{}: key `{k}`: {}", e.file, e.message),
                None => eprintln!("{}: {}", e.file, e.message),
            }
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
