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

/// The same for a text that matches no keyword of any expert.
pub const MODEL_MIN_CONFIDENCE_UNMATCHED: f64 = 0.7;

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
    /// A clause of the text that clearly belongs to another expert than
    /// the first.
    pub(super) clause: Option<Clause>,
    /// How many clauses the text has (`clauses`): one job or several.
    pub(super) clauses: usize,
}

/// A clause of a request that is another expert's job.
pub(super) struct Clause {
    /// The expert (router order).
    pub(super) expert: usize,
    /// The clause's own probability of that expert.
    pub(super) probability: f64,
    /// Where the clause is in the text (bytes).
    pub(super) span: (usize, usize),
}

/// Model terms shown in an explanation.
const SHOWN_TERMS: usize = 3;
/// Words and word pairs that favour the first expert are shown before any
/// character n-gram (they read better).
const WORD_BONUS: f32 = 1.0e6;
/// A clause shorter than this (in words) is not a job of its own.
const CLAUSE_MIN_WORDS: usize = 3;
/// The probability at which a clause's own expert joins the task.
pub const CLAUSE_PROBABILITY: f64 = 0.8;
/// The whole text's probability an expert needs for a clause to add it.
pub const CLAUSE_SUPPORT: f64 = 0.1;

/// Words that join two jobs in one request ("do A and do B", "then").
const CLAUSE_JOINERS: [&str; 4] = ["and", "then", "also", "plus"];

impl Router {
    /// The model's logits per class (model order) for the text matched
    /// into `s`: its keyword points, its features, the corrections learned.
    /// The whole text and each clause are scored alike.
    fn logits(
        link: &ModelLink,
        s: &mut Scratch,
        style: linear::Style,
        overlay: Option<&LearnedModel>,
        kw: &mut [f32],
        z: &mut [f32],
    ) {
        let m = &link.model;
        for (i, &c) in link.class_of.iter().enumerate() {
            kw[c] = (f64::from(s.hits.points(i)) / 100.0) as f32;
        }
        s.feats.clear();
        let v = linear::features_styled(&s.toks, style, &mut s.feats);
        m.logits_packed(&s.feats, v, kw, z);
        if let Some(l) = overlay {
            let mut extra = vec![0.0f32; m.k()];
            l.overlay_logits(&s.toks, &s.feats, v, &mut extra);
            for (a, b) in z.iter_mut().zip(&extra) {
                *a += b;
            }
        }
    }

    /// The model's probabilities (router order) and the terms that pushed
    /// the top expert most, from the text matched into `s`.
    pub(super) fn model_scores(
        &self,
        link: &ModelLink,
        text: &str,
        s: &mut Scratch,
        learned: Option<&LearnedModel>,
    ) -> ModelOut {
        let m = &link.model;
        let k = m.k();
        let overlay = learned.filter(|l| l.has_overlay());
        let mut z = vec![0.0f32; k];
        let style = linear::style(text);
        Self::logits(link, s, style, overlay, &mut vec![0.0f32; k], &mut z);
        let probs: Vec<f64> = link
            .class_of
            .iter()
            .map(|&c| f64::from(linear::sigmoid(z[c])))
            .collect();
        clauses(text, &mut s.clauses);
        // Clauses are routed only when one could add an expert: the text
        // has two, its first expert is confident, no other expert has a
        // job of its own already, and one has the support a clause needs.
        let first = probs.iter().copied().fold(0.0, f64::max);
        let others = || probs.iter().copied().filter(|&p| p < first);
        let clause_may_add = s.clauses.len() >= 2
            && first >= MODEL_MIN_CONFIDENCE
            && others().all(|p| p < self.model_parallel)
            && others().any(|p| p >= CLAUSE_SUPPORT);
        let clause = if clause_may_add {
            self.clause_expert(link, (text, style), s, &z, &probs, overlay)
        } else {
            None
        };
        // The features that pushed the top class most, over the others
        // (words and word pairs first: they read better).
        let quantized = m.quantized();
        let mut row = vec![0i16; k];
        let top = (0..k).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap_or(0);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(SHOWN_TERMS + 1);
        for (i, f) in linear::content(&s.feats).iter().enumerate() {
            // What a feature says for the top class over the best other.
            quantized.row(f.bucket, &mut row);
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
            clauses: s.clauses.len(),
        }
    }

    /// The expert (router order) that a clause of the text clearly belongs
    /// to, other than the whole text's first, if any: a request that reads
    /// "do A and then do B" with A and B for different experts is two jobs.
    /// Each clause of at least `CLAUSE_MIN_WORDS` words (`s.clauses`) is
    /// routed as a text of its own (its keywords, its features, the
    /// corrections learned); its expert needs `CLAUSE_SUPPORT` from the
    /// whole text (`probs`, router order). `request` is the whole text and
    /// how it is written: a clause is scored as written in its request.
    fn clause_expert(
        &self,
        link: &ModelLink,
        request: (&str, linear::Style),
        s: &mut Scratch,
        z: &[f32],
        probs: &[f64],
        overlay: Option<&LearnedModel>,
    ) -> Option<Clause> {
        let (text, style) = request;
        let m = &link.model;
        let k = m.k();
        let top = (0..k).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap_or(0);
        let inner = s.clause.get_or_insert_with(Box::default);
        let mut kw = vec![0.0f32; k];
        let mut zc = vec![0.0f32; k];
        let mut best: Option<Clause> = None;
        for &(a, b) in &s.clauses {
            self.matches(&text[a..b], inner);
            Self::logits(link, inner, style, overlay, &mut kw, &mut zc);
            let c = (0..k).max_by(|&x, &y| zc[x].total_cmp(&zc[y])).unwrap_or(0);
            let p = f64::from(linear::sigmoid(zc[c]));
            let Some(i) = link.class_of.iter().position(|&x| x == c) else {
                continue;
            };
            if c != top
                && p >= CLAUSE_PROBABILITY
                && probs[i] >= CLAUSE_SUPPORT
                && best.as_ref().is_none_or(|b| p > b.probability)
            {
                best = Some(Clause {
                    expert: i,
                    probability: p,
                    span: (a, b),
                });
            }
        }
        best
    }
}

/// The byte ranges of `text`'s clauses of at least `CLAUSE_MIN_WORDS`
/// words, into `out`: a clause ends at a joining word (`CLAUSE_JOINERS`).
/// A word is a run of letters, digits and `_`, with `.`, `-`, `'` or `/`
/// inside it (`README.md`, `v2.1`, `don't`, `ci/release.py` are one word
/// each; `search_and_replace` has no joining word). Sentences are not
/// clauses of their own: a second sentence usually says more about the
/// same job ("... resolves external entities. Disable DTD processing"), and
/// counting sentences and list items as parts split more single jobs of the
/// golden and earlier hold-out sets (6.0% and 10.9% against 5.2% and 9.1%)
/// for a little more recall when cross-validated (0.575 against 0.545).
pub(super) fn clauses(text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let (mut start, mut words) = (0, 0);
    let mut chars = text.char_indices().peekable();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    while let Some((i, c)) = chars.next() {
        if !is_word(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            let inside = matches!(d, '.' | '-' | '\'' | '/') && {
                let mut ahead = chars.clone();
                ahead.next();
                ahead.peek().is_some_and(|&(_, e)| is_word(e))
            };
            if !is_word(d) && !inside {
                break;
            }
            chars.next();
            end = j + d.len_utf8();
        }
        if CLAUSE_JOINERS
            .iter()
            .any(|j| j.eq_ignore_ascii_case(&text[i..end]))
        {
            if words >= CLAUSE_MIN_WORDS {
                out.push((start, i));
            }
            (start, words) = (end, 0);
        } else {
            words += 1;
        }
    }
    if words >= CLAUSE_MIN_WORDS {
        out.push((start, text.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(t: &str) -> Vec<&str> {
        let mut v = Vec::new();
        clauses(t, &mut v);
        v.iter().map(|&(a, b)| t[a..b].trim()).collect()
    }

    #[test]
    fn clauses_end_at_joining_words_only() {
        assert_eq!(
            spans("Rotate the leaked keys and then write the incident report"),
            ["Rotate the leaked keys", "write the incident report"]
        );
        assert_eq!(
            spans("Update the README.md AND bump it to v2.1, plus tag the release"),
            [
                "Update the README.md",
                "bump it to v2.1,",
                "tag the release"
            ]
        );
        // A piece of fewer than three words is not a job: a name with dots
        // or a version is one word, a dash or a symbol none.
        assert!(spans("Fix it and ship").is_empty());
        assert!(spans("Update README.md and bump v2.1").is_empty());
        assert!(spans("Fix it — and ship it —").is_empty());
        // Joining words are whole words, whatever the spaces around them.
        assert!(spans("run search_and_replace over the whole tree").len() == 1);
        assert_eq!(
            spans("Rotate the leaked keys\u{a0}and\u{a0}then write the report"),
            ["Rotate the leaked keys", "write the report"]
        );
        // Sentences do not end a clause.
        assert_eq!(
            spans("The importer resolves external entities. Disable DTD processing."),
            ["The importer resolves external entities. Disable DTD processing."]
        );
        assert_eq!(
            spans("Überprüfe die Einträge und schreibe den Bericht"),
            ["Überprüfe die Einträge und schreibe den Bericht"]
        );
    }
}
