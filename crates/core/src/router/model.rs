//! The linear model's say in a decision: its probability per expert (with
//! what a person's corrections taught it), the terms that pushed the first
//! expert most, and a clause of the text that clearly belongs to another
//! expert ("do A and then do B" is two jobs).
//!
//! May depend on: the router (`super`), the matching buffers
//! (`super::matching`), linear, learned (the overlay).

use std::sync::Arc;

use crate::learned::LearnedModel;
use crate::linear::{self, LinearModel};

use super::matching::Scratch;
use super::Router;

/// Below this probability of its first expert, the model's decision is low
/// confidence (a person should confirm).
pub const MODEL_MIN_CONFIDENCE: f64 = 0.5;

/// The probability of the model at which an expert also gets the task
/// (parallel work), chosen by cross-validation on the training tasks.
pub const MODEL_PARALLEL: f64 = 0.6;

/// The linear model and, per expert of the router, its class in the model.
#[derive(Debug, Clone)]
pub(super) struct ModelLink {
    pub(super) model: Arc<LinearModel>,
    pub(super) class_of: Vec<usize>,
}

/// What the model says about one text.
pub(super) struct ModelOut {
    /// Probability per expert (router order).
    pub(super) probs: Vec<f64>,
    /// The terms that pushed the first expert most.
    pub(super) terms: Vec<String>,
    /// An expert that a clause of the text clearly belongs to (not the
    /// first), with the clause's probability.
    pub(super) clause: Option<(usize, f64)>,
}

/// Model terms shown in an explanation.
const SHOWN_TERMS: usize = 3;
/// Words and word pairs that favour the first expert are shown before any
/// character n-gram (they read better).
const WORD_BONUS: f32 = 1.0e6;
/// A clause shorter than this (in words) is not a job of its own.
const CLAUSE_MIN_WORDS: usize = 3;
/// The probability at which a clause's own expert joins the task.
pub const CLAUSE_PROBABILITY: f64 = 0.7;
/// The whole text's probability an expert needs for a clause to add it.
pub const CLAUSE_SUPPORT: f64 = 0.1;

/// Words that join two jobs in one request ("do A and do B", "then").
const CLAUSE_JOINERS: [&str; 4] = ["and", "then", "also", "plus"];

impl Router {
    /// The model's probabilities (router order) and the terms that pushed
    /// the top expert most, from the tokens in `s`.
    pub(super) fn model_scores(
        &self,
        link: &ModelLink,
        s: &mut Scratch,
        keyword: &[f64],
        learned: Option<&LearnedModel>,
    ) -> ModelOut {
        let m = &link.model;
        let k = m.k();
        let mut kw = vec![0.0f32; k];
        for (i, &c) in link.class_of.iter().enumerate() {
            kw[c] = keyword[i] as f32;
        }
        s.feats.clear();
        let v = linear::features(&s.toks, &mut s.feats);
        let mut z = vec![0.0f32; k];
        m.logits_packed(&s.feats, v, &kw, &mut z);
        let overlay = learned.filter(|l| l.has_overlay());
        if let Some(l) = overlay {
            let mut extra = vec![0.0f32; k];
            l.overlay_logits(&s.feats, v, &mut extra);
            for (a, b) in z.iter_mut().zip(&extra) {
                *a += b;
            }
        }
        let clause = self.clause_expert(link, s, &z, overlay);
        let probs: Vec<f64> = link
            .class_of
            .iter()
            .map(|&c| f64::from(linear::sigmoid(z[c])))
            .collect();
        // The features that pushed the top class most, over the others
        // (words and word pairs first: they read better).
        let packed = m.packed();
        let top = (0..k).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap_or(0);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(SHOWN_TERMS + 1);
        for (i, f) in s.feats.iter().enumerate() {
            // What a feature says for the top class over the best other.
            let row = &packed.q[f.bucket as usize * k..][..k];
            let other = (0..k)
                .filter(|&c| c != top)
                .map(|c| row[c])
                .max()
                .unwrap_or(0);
            let diff = f32::from(row[top]) - f32::from(other);
            if diff <= 0.0 || best.iter().any(|&(_, j)| s.feats[j].bucket == f.bucket) {
                continue;
            }
            let w = diff + if f.kind <= 1 { WORD_BONUS } else { 0.0 };
            if best.len() < SHOWN_TERMS || w > best[best.len() - 1].0 {
                best.push((w, i));
                best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                best.truncate(SHOWN_TERMS);
            }
        }
        let terms = best
            .iter()
            .map(|&(_, i)| linear::describe(&s.toks, &s.feats[i]))
            .collect();
        ModelOut {
            probs,
            terms,
            clause,
        }
    }

    /// The expert (router order) that a clause of the text clearly belongs
    /// to, other than the whole text's first, if any: a request that reads
    /// "do A and then do B" with A and B for different experts is two jobs.
    /// Clauses are the runs of words between joining words; a clause's
    /// logits come from the features already found (no second pass over the
    /// text): its own features' weights, scaled to its own length.
    fn clause_expert(
        &self,
        link: &ModelLink,
        s: &mut Scratch,
        z: &[f32],
        overlay: Option<&LearnedModel>,
    ) -> Option<(usize, f64)> {
        let m = &link.model;
        let k = m.k();
        let n = s.toks.len().min(linear::MAX_TOKENS);
        s.clause_of.clear();
        let mut clauses: u16 = 0;
        let mut words = 0;
        let mut long = 0;
        for i in 0..n {
            if CLAUSE_JOINERS.contains(&s.toks.get(i)) {
                s.clause_of.push(u16::MAX);
                if words > 0 {
                    long += usize::from(words >= CLAUSE_MIN_WORDS);
                    clauses += 1;
                    words = 0;
                }
            } else {
                s.clause_of.push(clauses);
                words += 1;
            }
        }
        if words > 0 {
            long += usize::from(words >= CLAUSE_MIN_WORDS);
            clauses += 1;
        }
        if long < 2 {
            return None;
        }
        let stride = k + 1;
        let packed = m.packed();
        s.clause_sums.clear();
        s.clause_sums.resize(usize::from(clauses) * stride, 0.0);
        for f in &s.feats {
            let t = usize::from(f.token);
            let c = s.clause_of[t];
            if c == u16::MAX || (f.kind == 1 && s.clause_of.get(t + 1) != Some(&c)) {
                continue;
            }
            let acc = &mut s.clause_sums[usize::from(c) * stride..][..stride];
            for (a, &w) in acc.iter_mut().zip(&packed.q[f.bucket as usize * k..][..k]) {
                *a += f32::from(w) * packed.scale;
            }
            if let Some(l) = overlay {
                l.overlay_add(f.bucket, &mut acc[..k]);
            }
            acc[k] += 1.0;
        }
        let top = (0..k).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap_or(0);
        let mut best: Option<(usize, f64)> = None;
        for acc in s.clause_sums.chunks_exact(stride) {
            let count = acc[k];
            if count < 1.0 {
                continue;
            }
            let scale = 1.0 / count.sqrt();
            let (c, zc) = (0..k)
                .map(|c| (c, m.bias[c] + acc[c] * scale))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
            let p = f64::from(linear::sigmoid(zc));
            if c != top && p >= CLAUSE_PROBABILITY && best.is_none_or(|(_, q)| p > q) {
                best = link.class_of.iter().position(|&x| x == c).map(|i| (i, p));
            }
        }
        best
    }
}
