//! Measuring the router on labeled data: accuracy, per-expert precision,
//! recall and F1, macro-F1 and the confusion matrix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::learned::{Example, LearnedModel, Source};
use crate::linear::{self, LinearModel, TrainItem, TrainOptions};
use crate::router::{Router, Strategy};

/// How much a hand-written training task counts.
pub const TASK_WEIGHT: f32 = 1.0;
/// How much a commit subject counts: its label comes from the commit type
/// (noisy), and there are thirteen times as many of them.
pub const COMMIT_WEIGHT: f32 = 0.2;

/// One labeled line: `{"id", "text", "label", "labels"?, "type"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labeled {
    /// A stable identifier of the item (folds are drawn from it).
    #[serde(default)]
    pub id: String,
    /// The task text to route.
    pub text: String,
    /// The expert that should take the task (the lead, for a two-expert task).
    pub label: String,
    /// For a task that needs two experts: both, the lead first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// An explicit task type given with the text, if any.
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
}

impl Labeled {
    /// The gold label against a prediction: a two-expert task is right when
    /// either of its experts leads.
    fn gold_for(&self, predicted: &str) -> String {
        if self.labels.iter().any(|l| l == predicted) {
            predicted.to_string()
        } else {
            self.label.clone()
        }
    }
}

/// How parallel (two-expert) routing fares on a labeled set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParallelStats {
    /// Items labeled with two experts.
    pub two_expert: usize,
    /// Of those, routed in parallel.
    pub run_parallel: usize,
    /// Of those, routed in parallel to both labeled experts.
    pub both_found: usize,
    /// Single-expert items.
    pub single: usize,
    /// Of those, split in parallel (wrongly).
    pub single_split: usize,
    /// Second experts proposed (parallel decisions on any item).
    pub second_proposed: usize,
    /// Of those, one of the item's labeled experts.
    pub second_correct: usize,
    /// `second_correct / second_proposed`.
    pub second_precision: f64,
    /// `both_found / two_expert`.
    pub second_recall: f64,
    /// Items routed with low confidence (a person should confirm).
    pub low_confidence: usize,
    /// Of those, where the router's choice was right anyway.
    pub low_confidence_right: usize,
}

/// Parallel routing measured on `items`.
pub fn parallel_stats(router: &Router, items: &[Labeled]) -> ParallelStats {
    let mut st = ParallelStats::default();
    for it in items {
        let d = router.route(&it.text, it.task_type.as_deref(), None);
        let parallel = d.strategy == Strategy::MultiExpertParallel;
        if d.strategy == Strategy::SingleExpertLowConfidence {
            st.low_confidence += 1;
            st.low_confidence_right +=
                usize::from(it.gold_for(&d.primary_expert) == d.primary_expert);
        }
        let gold: Vec<&str> = if it.labels.is_empty() {
            vec![it.label.as_str()]
        } else {
            it.labels.iter().map(String::as_str).collect()
        };
        if gold.len() >= 2 {
            st.two_expert += 1;
            if parallel {
                st.run_parallel += 1;
                if gold
                    .iter()
                    .all(|g| d.parallel_experts.iter().any(|p| p == g))
                {
                    st.both_found += 1;
                }
            }
        } else {
            st.single += 1;
            st.single_split += usize::from(parallel);
        }
        if parallel {
            for p in d.parallel_experts.iter().skip(1) {
                st.second_proposed += 1;
                st.second_correct += usize::from(gold.contains(&p.as_str()));
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    st.second_precision = ratio(st.second_correct, st.second_proposed);
    st.second_recall = ratio(st.both_found, st.two_expert);
    st
}

/// Training items for the linear model, in the router's expert order:
/// hand-written tasks, then commit subjects (the order is part of what makes
/// training reproducible). Items with a label the router does not know are
/// left out.
pub fn train_items(
    router: &Router,
    tasks: &[Labeled],
    commits: &[Labeled],
    commit_weight: f32,
) -> Vec<TrainItem> {
    let names = router.expert_names();
    let index = |l: &str| names.iter().position(|n| n == l);
    let mut out = Vec::with_capacity(tasks.len() + commits.len());
    let mut sets: Vec<(Vec<Labeled>, f32)> = vec![(tasks.to_vec(), TASK_WEIGHT)];
    sets.push((joined_pairs(tasks), JOINED_WEIGHT));
    sets.push((commits.to_vec(), commit_weight));
    for (set, weight) in &sets {
        let weight = *weight;
        for it in set {
            let gold: Vec<&String> = if it.labels.is_empty() {
                vec![&it.label]
            } else {
                it.labels.iter().collect()
            };
            let labels: Option<Vec<usize>> = gold.iter().map(|l| index(l)).collect();
            let Some(labels) = labels else { continue };
            out.push(TrainItem {
                kw_scores: router
                    .keyword_scores(&it.text)
                    .iter()
                    .map(|&x| x as f32)
                    .collect(),
                text: it.text.clone(),
                labels,
                weight,
            });
        }
    }
    out
}

/// How much a joined pair of tasks counts (see `joined_pairs`).
pub const JOINED_WEIGHT: f32 = 0.5;
/// One joined pair for every this many single-expert tasks.
pub const JOINED_EVERY: usize = 3;
const JOINERS: [&str; 4] = [" Then ", " and ", "; also: ", ". After that, "];

/// Two-expert examples made from single-expert tasks: a task of one expert
/// and a task of another, written as one request ("A. Then B") and labeled
/// with both. Real two-expert requests are rare in any data, and without
/// such examples a one-vs-rest model learns that one expert excludes the
/// others. Deterministic: pairs follow the order of `tasks`.
pub fn joined_pairs(tasks: &[Labeled]) -> Vec<Labeled> {
    let single: Vec<&Labeled> = tasks.iter().filter(|t| t.labels.is_empty()).collect();
    let n = single.len();
    let mut out = Vec::new();
    for (k, a) in single.iter().enumerate().step_by(JOINED_EVERY) {
        // The next task, at a stride, whose expert differs.
        let Some(b) = (1..n)
            .map(|d| single[(k + d * 7) % n])
            .find(|b| b.label != a.label)
        else {
            continue;
        };
        out.push(Labeled {
            id: format!("{}+{}", a.id, b.id),
            text: format!(
                "{}{}{}",
                a.text.trim_end_matches('.'),
                JOINERS[(k / JOINED_EVERY) % JOINERS.len()],
                b.text
            ),
            label: a.label.clone(),
            labels: vec![a.label.clone(), b.label.clone()],
            task_type: None,
        });
    }
    out
}

/// Trains the linear model for `router`'s experts.
pub fn train_model(router: &Router, tasks: &[Labeled], commits: &[Labeled]) -> LinearModel {
    train_model_with(
        router,
        tasks,
        commits,
        TrainOptions::default(),
        COMMIT_WEIGHT,
    )
}

/// Trains with other options (for cross-validation).
pub fn train_model_with(
    router: &Router,
    tasks: &[Labeled],
    commits: &[Labeled],
    opts: TrainOptions,
    commit_weight: f32,
) -> LinearModel {
    linear::train(
        router.expert_names().to_vec(),
        &train_items(router, tasks, commits, commit_weight),
        opts,
    )
}

/// Cross-validated measures of the linear model on its own training sets:
/// for each fold, a model is trained on the other folds of both sets and
/// routes the held-out fold. Returns the metrics and parallel statistics on
/// the tasks, and the metrics on the commits.
pub fn cross_validate_model(
    keyword_router: &Router,
    rebuild: &dyn Fn(LinearModel) -> Router,
    tasks: &[Labeled],
    commits: &[Labeled],
    folds: usize,
    opts: TrainOptions,
    commit_weight: f32,
) -> (Metrics, ParallelStats, Metrics) {
    let mut task_pairs = Vec::new();
    let mut commit_pairs = Vec::new();
    let mut par = ParallelStats::default();
    for k in 0..folds {
        let train_t: Vec<Labeled> = tasks
            .iter()
            .filter(|it| fold_of(it, folds) != k)
            .cloned()
            .collect();
        let train_c: Vec<Labeled> = commits
            .iter()
            .filter(|it| fold_of(it, folds) != k)
            .cloned()
            .collect();
        let router = rebuild(train_model_with(
            keyword_router,
            &train_t,
            &train_c,
            opts,
            commit_weight,
        ));
        let test_t: Vec<Labeled> = tasks
            .iter()
            .filter(|it| fold_of(it, folds) == k)
            .cloned()
            .collect();
        for it in &test_t {
            let d = router.route(&it.text, it.task_type.as_deref(), None);
            task_pairs.push((it.gold_for(&d.primary_expert), d.primary_expert));
        }
        for it in commits.iter().filter(|it| fold_of(it, folds) == k) {
            let d = router.route(&it.text, it.task_type.as_deref(), None);
            commit_pairs.push((it.gold_for(&d.primary_expert), d.primary_expert));
        }
        let p = parallel_stats(&router, &test_t);
        par.two_expert += p.two_expert;
        par.run_parallel += p.run_parallel;
        par.both_found += p.both_found;
        par.single += p.single;
        par.single_split += p.single_split;
        par.second_proposed += p.second_proposed;
        par.second_correct += p.second_correct;
        par.low_confidence += p.low_confidence;
        par.low_confidence_right += p.low_confidence_right;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    par.second_precision = ratio(par.second_correct, par.second_proposed);
    par.second_recall = ratio(par.both_found, par.two_expert);
    (metrics(&task_pairs), par, metrics(&commit_pairs))
}

/// How well the router does for one expert.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClassScores {
    /// Items labeled with this expert.
    pub support: usize,
    /// Share of the items routed to this expert that were labeled with it.
    pub precision: f64,
    /// Share of the items labeled with this expert that were routed to it.
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
}

/// How well the router does on a labeled set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Items scored.
    pub n: usize,
    /// Share of items whose primary expert was right.
    pub accuracy: f64,
    /// Mean F1 over the labels present in the gold data.
    pub macro_f1: f64,
    /// Precision, recall and F1 per labeled expert.
    pub per_expert: BTreeMap<String, ClassScores>,
    /// gold -> predicted -> count
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Computes metrics from (gold, predicted) pairs.
pub fn metrics(pairs: &[(String, String)]) -> Metrics {
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (g, p) in pairs {
        *confusion
            .entry(g.clone())
            .or_default()
            .entry(p.clone())
            .or_default() += 1;
    }
    let correct = pairs.iter().filter(|(g, p)| g == p).count();
    let mut per_expert = BTreeMap::new();
    for label in confusion.keys() {
        let tp = pairs
            .iter()
            .filter(|(g, p)| g == label && p == label)
            .count() as f64;
        let fp = pairs
            .iter()
            .filter(|(g, p)| g != label && p == label)
            .count() as f64;
        let fneg = pairs
            .iter()
            .filter(|(g, p)| g == label && p != label)
            .count() as f64;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if tp + fneg > 0.0 {
            tp / (tp + fneg)
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_expert.insert(
            label.clone(),
            ClassScores {
                support: (tp + fneg) as usize,
                precision,
                recall,
                f1,
            },
        );
    }
    let macro_f1 = if per_expert.is_empty() {
        0.0
    } else {
        per_expert.values().map(|c| c.f1).sum::<f64>() / per_expert.len() as f64
    };
    Metrics {
        n: pairs.len(),
        accuracy: if pairs.is_empty() {
            0.0
        } else {
            correct as f64 / pairs.len() as f64
        },
        macro_f1,
        per_expert,
        confusion,
    }
}

/// Routes every item and scores the primary expert against the label.
pub fn evaluate(router: &Router, model: Option<&LearnedModel>, items: &[Labeled]) -> Metrics {
    let pairs: Vec<(String, String)> = items
        .iter()
        .map(|it| {
            let d = router.route(&it.text, it.task_type.as_deref(), model);
            (it.gold_for(&d.primary_expert), d.primary_expert)
        })
        .collect();
    metrics(&pairs)
}

/// A stable fold assignment from the item's id (or text), so folds do not
/// depend on file order.
pub fn fold_of(item: &Labeled, folds: usize) -> usize {
    let key = if item.id.is_empty() {
        &item.text
    } else {
        &item.id
    };
    // FNV-1a: small, stable across platforms and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % folds.max(1) as u64) as usize
}

/// K-fold cross-validation of the learned layer: for each fold, a model is
/// trained on the other folds (each item a person's correction) and the
/// held-out fold is routed with it. No item is ever scored by a model that
/// saw it.
pub fn cross_validate(router: &Router, items: &[Labeled], folds: usize) -> Metrics {
    let mut pairs = Vec::with_capacity(items.len());
    for k in 0..folds {
        let mut model = LearnedModel::default();
        for it in items.iter().filter(|it| fold_of(it, folds) != k) {
            model.learn(&Example {
                text: it.text.clone(),
                expert: it.label.clone(),
                source: Source::Correction,
            });
        }
        for it in items.iter().filter(|it| fold_of(it, folds) == k) {
            let d = router.route(&it.text, it.task_type.as_deref(), Some(&model));
            pairs.push((it.label.clone(), d.primary_expert));
        }
    }
    metrics(&pairs)
}

/// The correction stream experiment: the items of `stream` arrive one by
/// one; whenever the router gets one wrong, a person corrects it and the
/// model learns. Returns the held-out metrics before and after, and the
/// number of corrections made.
pub fn correction_stream(
    router: &Router,
    stream: &[Labeled],
    held_out: &[Labeled],
) -> (Metrics, Metrics, usize) {
    let before = evaluate(router, None, held_out);
    let mut model = LearnedModel::default();
    let mut corrections = 0;
    for it in stream {
        let d = router.route(&it.text, it.task_type.as_deref(), Some(&model));
        if d.primary_expert != it.label {
            corrections += 1;
            model.learn(&Example {
                text: it.text.clone(),
                expert: it.label.clone(),
                source: Source::Correction,
            });
        } else {
            model.learn(&Example {
                text: it.text.clone(),
                expert: it.label.clone(),
                source: Source::Success,
            });
        }
    }
    let after = evaluate(router, Some(&model), held_out);
    (before, after, corrections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_a_hand_computed_case() {
        let p = |g: &str, q: &str| (g.to_string(), q.to_string());
        let m = metrics(&[
            p("a", "a"),
            p("a", "b"),
            p("b", "b"),
            p("b", "b"),
            p("c", "a"),
        ]);
        assert_eq!(m.n, 5);
        assert!((m.accuracy - 0.6).abs() < 1e-9);
        let a = &m.per_expert["a"];
        assert!((a.precision - 0.5).abs() < 1e-9 && (a.recall - 0.5).abs() < 1e-9);
        let b = &m.per_expert["b"];
        assert!((b.precision - 2.0 / 3.0).abs() < 1e-9 && (b.recall - 1.0).abs() < 1e-9);
        assert_eq!(m.per_expert["c"].f1, 0.0);
        assert!((m.macro_f1 - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-9);
        assert_eq!(m.confusion["c"]["a"], 1);
    }

    #[test]
    fn folds_are_stable_and_spread() {
        let items: Vec<Labeled> = (0..100)
            .map(|i| Labeled {
                id: format!("x-{i}"),
                text: String::new(),
                label: String::new(),
                labels: Vec::new(),
                task_type: None,
            })
            .collect();
        let mut counts = [0; 5];
        for it in &items {
            counts[fold_of(it, 5)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 5), "{counts:?}");
        assert_eq!(fold_of(&items[3], 5), fold_of(&items[3].clone(), 5));
    }
}
