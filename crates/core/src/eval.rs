//! Measuring the router on labeled data: accuracy, per-expert precision,
//! recall and F1, macro-F1 and the confusion matrix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::learned::{Example, LearnedModel, Source};
use crate::router::Router;

/// One labeled line: `{"id", "text", "label", "type"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labeled {
    #[serde(default)]
    pub id: String,
    pub text: String,
    pub label: String,
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClassScores {
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f64,
    /// Mean F1 over the labels present in the gold data.
    pub macro_f1: f64,
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
            (it.label.clone(), d.primary_expert)
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
