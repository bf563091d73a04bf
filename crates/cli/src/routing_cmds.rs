//! `cortex route`, `cortex eval`, `cortex router ...`.

use cortex_core::config::{Config, ExpertSet};
use cortex_core::eval::{self, Labeled, Metrics};
use cortex_core::learned::LearnedModel;
use cortex_core::router::Router;
use cortex_engine::{home, learning, Home};
use serde::Serialize;

use crate::args::{EvalArgs, RouteArgs, RouterCommand};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

/// The home's settings and learned model, or the shipped defaults.
fn settings(home: &Home, defaults: bool) -> Result<(Config, ExpertSet, Option<LearnedModel>)> {
    if defaults || !home.is_initialized() {
        let (c, e) = home::default_settings();
        return Ok((c, e, None));
    }
    let s = home.settings_for_reading()?;
    Ok((s.config, s.experts, Some(learning::load(home))))
}

/// A text `route` explains is one `submit` takes (the same checks).
pub(crate) fn check_text(text: &str) -> std::result::Result<(), String> {
    cortex_core::input::task_text(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub(crate) fn check_type(experts: &ExpertSet, t: Option<&str>) -> std::result::Result<(), String> {
    match t {
        Some(t) if experts.expert_for_type(t).is_none() => Err(format!(
            "unknown task type `{t}`, expected one of: {}",
            experts
                .task_types()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Ok(()),
    }
}

/// The router with the shipped model, or with the weights in `model`.
fn full_router(
    config: &Config,
    experts: &ExpertSet,
    model: Option<&std::path::Path>,
) -> Result<Router> {
    let Some(path) = model else {
        return Ok(Router::new(&config.routing, experts));
    };
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::bad_input(
            "bad_input",
            format!("cannot read model {}: {e}", path.display()),
        )
    })?;
    let m = cortex_core::linear::LinearModel::from_bytes(&bytes).ok_or_else(|| {
        Failure::bad_input(
            "bad_input",
            format!(
                "{} is not router weights: expected the file `cortex router train --out` writes",
                path.display()
            ),
        )
    })?;
    let classes = m.classes.join(", ");
    let router = Router::with_model(&config.routing, experts, Some(std::sync::Arc::new(m)));
    if !router.has_model() {
        return Err(Failure::bad_input(
            "bad_input",
            format!(
                "{} is a model of the experts {classes}; expected a model of this router's experts: {}",
                path.display(),
                experts.names().join(", ")
            ),
        ));
    }
    Ok(router)
}

pub fn route(home: &Home, a: RouteArgs, json: bool) -> Result<()> {
    let (config, experts, model) = settings(home, false)?;
    let router = full_router(&config, &experts, a.model.as_deref())?;
    if let Some(path) = a.batch {
        return crate::route_batch::batch(&router, &experts, model.as_ref(), &path);
    }
    let text = a.text.unwrap_or_default();
    check_text(&text).map_err(|m| Failure::bad_input("bad_input", m))?;
    check_type(&experts, a.task_type.as_deref()).map_err(|m| Failure::bad_input("bad_input", m))?;
    let d = router.route(&text, a.task_type.as_deref(), model.as_ref());
    if json {
        println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
    } else {
        println!(
            "{} ({}, {})",
            d.primary_expert,
            cortex_core::router::two_places(d.confidence),
            d.strategy.as_str()
        );
        if d.parallel_experts.len() > 1 {
            println!("parallel: {}", d.parallel_experts.join(", "));
        }
        println!("why: {}", d.explanation);
        for (name, score) in &d.scores {
            let terms = d
                .matched
                .get(name)
                .map(|t| t.join(", "))
                .unwrap_or_default();
            println!(
                "  {name:<12} {}  {terms}",
                cortex_core::router::two_places(*score)
            );
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    /// The router with the linear model over the keyword scores: the
    /// shipped weights, or those of `model_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<Metrics>,
    /// The weights measured when they are not the shipped ones (`--model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    model_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel: Option<eval::ParallelStats>,
    keywords: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    cross_validated: Option<Metrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<StreamReport>,
}

#[derive(Serialize)]
struct StreamReport {
    stream_items: usize,
    corrections: usize,
    before: Metrics,
    after: Metrics,
}

/// Expert files from a folder, with the shipped config.
fn experts_from(dir: &std::path::Path) -> Result<(Config, ExpertSet)> {
    let files = home::expert_files(dir).map_err(|e| {
        Failure::bad_input("bad_input", format!("cannot list {}: {e}", dir.display()))
    })?;
    let mut profiles = Vec::new();
    for f in files {
        let (p, rel) = (f.path, f.rel);
        let text = f.text.map_err(|e| {
            Failure::bad_input("bad_input", format!("cannot read {}: {e}", p.display()))
        })?;
        profiles.push((
            rel.clone(),
            cortex_core::config::ExpertProfile::parse(&rel, &text)
                .map_err(cortex_engine::EngineError::from)?,
        ));
    }
    let experts = ExpertSet::new(profiles).map_err(cortex_engine::EngineError::from)?;
    Ok((home::default_settings().0, experts))
}

pub fn eval(home: &Home, a: EvalArgs, json: bool) -> Result<()> {
    let (config, experts) = match &a.experts {
        Some(dir) => experts_from(dir)?,
        None => {
            let (c, e, _) = settings(home, a.defaults)?;
            (c, e)
        }
    };
    let router = Router::keywords_only(&config.routing, &experts);
    let full = full_router(&config, &experts, a.model.as_deref())?;
    let full = full.has_model().then_some(full);
    let report = |file: String, items: &[Labeled], stream: bool| {
        let keywords = eval::evaluate(&router, None, items);
        let model = full.as_ref().map(|r| eval::evaluate(r, None, items));
        let parallel = full.as_ref().map(|r| eval::parallel_stats(r, items));
        let cross_validated = (a.folds > 1).then(|| eval::cross_validate(&router, items, a.folds));
        let stream = stream.then(|| {
            let (stream, held): (Vec<Labeled>, Vec<Labeled>) = items
                .iter()
                .cloned()
                .partition(|it| eval::fold_of(it, 2) == 0);
            let (before, after, corrections) =
                eval::correction_stream(full.as_ref().unwrap_or(&router), &stream, &held);
            StreamReport {
                stream_items: stream.len(),
                corrections,
                before,
                after,
            }
        });
        FileReport {
            file,
            model,
            model_file: a.model.as_ref().map(|p| p.display().to_string()),
            parallel,
            keywords,
            cross_validated,
            stream,
        }
    };
    let mut reports = Vec::new();
    let mut all = Vec::new();
    for path in &a.files {
        let items = crate::router_inputs::read_labeled(path, a.with_scope, &experts)?;
        if a.folds > items.len() {
            return Err(Failure::bad_input(
                "bad_input",
                format!(
                    "--folds {} is more folds than the {} items of {}, expected at most {} (or 0: off)",
                    a.folds,
                    items.len(),
                    path.display(),
                    items.len()
                ),
            ));
        }
        reports.push(report(path.display().to_string(), &items, a.stream));
        if a.pool {
            all.extend(items);
        }
    }
    if a.pool && a.files.len() > 1 {
        reports.push(report(
            format!("all {} files together", a.files.len()),
            &all,
            false,
        ));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
        return Ok(());
    }
    for r in &reports {
        println!("== {} ({} items)", r.file, r.keywords.n);
        if let Some(m) = &r.model {
            let title = match &a.model {
                Some(path) => format!("model ({})", path.display()),
                None => "model (shipped router)".to_string(),
            };
            print_metrics(&title, m);
        }
        if let Some(p) = &r.parallel {
            print_parallel(p);
        }
        print_metrics("keywords only", &r.keywords);
        if let Some(cv) = &r.cross_validated {
            print_metrics(
                &format!("keywords + learned, {}-fold cross-validated", a.folds),
                cv,
            );
        }
        if let Some(s) = &r.stream {
            println!(
                "correction stream: {} items streamed, {} corrected by a person; held-out half ({} items):",
                s.stream_items, s.corrections, s.after.n
            );
            println!(
                "  before: accuracy {:.3}  macro-F1 {:.3}   after: accuracy {:.3}  macro-F1 {:.3}",
                s.before.accuracy, s.before.macro_f1, s.after.accuracy, s.after.macro_f1
            );
        }
    }
    Ok(())
}

fn print_parallel(p: &eval::ParallelStats) {
    let n = p.single + p.two_expert;
    println!(
        "low confidence: {} of {} items ({:.1}%), {} of them routed right anyway",
        p.low_confidence,
        n,
        100.0 * p.low_confidence as f64 / n.max(1) as f64,
        p.low_confidence_right
    );
    if p.two_expert > 0 {
        println!(
            "parallel: {} of {} two-expert tasks run in parallel ({} with both experts); second expert precision {:.3} recall {:.3}; {} of {} single-expert tasks split ({:.1}%)",
            p.run_parallel,
            p.two_expert,
            p.both_found,
            p.second_precision,
            p.second_recall,
            p.single_split,
            p.single,
            100.0 * p.single_split as f64 / p.single.max(1) as f64
        );
    } else {
        println!(
            "parallel: {} of {} single-expert items split ({:.1}%)",
            p.single_split,
            p.single,
            100.0 * p.single_split as f64 / p.single.max(1) as f64
        );
    }
}

fn print_metrics(title: &str, m: &Metrics) {
    println!(
        "{title}: accuracy {:.3}  macro-F1 {:.3}",
        m.accuracy, m.macro_f1
    );
    let labels: Vec<&String> = m.confusion.keys().collect();
    let mut predicted: Vec<String> = m
        .confusion
        .values()
        .flat_map(|r| r.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    predicted.sort();
    print!("  {:<12}", "gold \\ got");
    for p in &predicted {
        print!(" {:>11}", p);
    }
    println!("   {:>6} {:>6} {:>6}", "P", "R", "F1");
    for g in labels {
        print!("  {g:<12}");
        for p in &predicted {
            print!(" {:>11}", m.confusion[g].get(p).copied().unwrap_or(0));
        }
        let c = &m.per_expert[g];
        println!("   {:>6.3} {:>6.3} {:>6.3}", c.precision, c.recall, c.f1);
    }
}

pub fn router(home: &Home, cmd: RouterCommand, json: bool) -> Result<()> {
    match cmd {
        RouterCommand::Reset => {
            let answer = crate::client::execute(
                home,
                cortex_engine::inbox::InboxOp::ResetLearning,
                std::time::Duration::from_secs(30),
            )?;
            let moved: Option<std::path::PathBuf> = match answer {
                crate::client::Answer::Ok(v) => {
                    serde_json::from_value(v["moved_to"].clone()).unwrap_or(None)
                }
                crate::client::Answer::Failed {
                    message, bad_input, ..
                } => {
                    return Err(Failure {
                        code: "failed".into(),
                        message,
                        bad_input,
                        printed: false,
                    })
                }
            };
            if json {
                println!("{}", serde_json::json!({"reset": true, "moved_to": moved}));
            } else {
                match moved {
                    Some(p) => println!("learned layer reset; examples kept in {}", p.display()),
                    None => println!("the learned layer had nothing to reset"),
                }
            }
        }
        RouterCommand::Train(a) => {
            let (config, experts) = home::default_settings();
            let router = Router::keywords_only(&config.routing, &experts);
            let tasks = crate::router_inputs::read_labeled(&a.tasks, false, &experts)?;
            let commits = crate::router_inputs::read_labeled(&a.commits, false, &experts)?;
            let (opts, cw) = crate::router_inputs::train_options(&a.opts)?;
            let model = eval::train_model_with(&router, &tasks, &commits, opts, cw);
            let bytes = model.to_bytes();
            std::fs::write(&a.out, &bytes).map_err(|e| {
                Failure::runtime("io", format!("cannot write {}: {e}", a.out.display()))
            })?;
            let digest = sha256_hex(&bytes);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"out": a.out, "bytes": bytes.len(), "sha256": digest, "tasks": tasks.len(), "commits": commits.len()})
                );
            } else {
                println!(
                    "trained on {} tasks and {} commit subjects; wrote {} ({} bytes, sha256 {digest})",
                    tasks.len(),
                    commits.len(),
                    a.out.display(),
                    bytes.len()
                );
            }
        }
        RouterCommand::Cv(a) => {
            let (config, experts) = home::default_settings();
            let router = Router::keywords_only(&config.routing, &experts);
            let tasks = crate::router_inputs::read_labeled(&a.tasks, false, &experts)?;
            let commits = crate::router_inputs::read_labeled(&a.commits, false, &experts)?;
            let parallel = a.parallel.unwrap_or(cortex_core::router::MODEL_PARALLEL);
            let rebuild = |m: cortex_core::linear::LinearModel| {
                Router::with_model(&config.routing, &experts, Some(std::sync::Arc::new(m)))
                    .with_model_parallel(parallel)
            };
            let (opts, cw) = crate::router_inputs::train_options(&a.opts)?;
            let most = tasks.len().min(commits.len());
            if !(2..=most).contains(&a.folds) {
                return Err(Failure::bad_input(
                    "bad_input",
                    format!(
                        "--folds {}, expected 2 to {most} (the items of the smaller file)",
                        a.folds
                    ),
                ));
            }
            let (t, p, c) =
                eval::cross_validate_model(&router, &rebuild, &tasks, &commits, a.folds, opts, cw);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"tasks": t, "parallel": p, "commits": c})
                    )
                    .unwrap_or_default()
                );
            } else {
                println!(
                    "== {}-fold cross-validation of the model on its training sets",
                    a.folds
                );
                print_metrics(&format!("{} ({} items)", a.tasks.display(), t.n), &t);
                print_parallel(&p);
                print_metrics(&format!("{} ({} items)", a.commits.display(), c.n), &c);
            }
        }
        RouterCommand::Show => {
            let model = learning::load(home);
            let experts = home.settings_for_reading()?.experts;
            let per: Vec<serde_json::Value> = experts
                .names()
                .iter()
                .map(|n| {
                    let (ok, failed) = model.outcomes.get(n).copied().unwrap_or((0, 0));
                    serde_json::json!({"expert": n, "successes": ok, "failures": failed, "top_words": model.top_words(n, 8)})
                })
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"examples": model.examples(), "experts": per})
                    )
                    .unwrap_or_default()
                );
            } else {
                println!("{} examples", model.examples());
                for p in per {
                    println!(
                        "  {:<12} {} ok / {} failed   {}",
                        p["expert"].as_str().unwrap_or_default(),
                        p["successes"],
                        p["failures"],
                        p["top_words"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(|w| w.as_str())
                                .collect::<Vec<_>>()
                                .join(" "))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
