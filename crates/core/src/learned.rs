//! The learned layer: a multinomial naive Bayes model over the stemmed words
//! of past tasks, trained from people's corrections and from outcomes.
//!
//! Why naive Bayes: it learns from a handful of examples, updates in O(words)
//! per example, explains itself (the words that weigh most), and its state is
//! a table of counts that is cheap to persist and to rebuild from the list
//! of examples. Corrections weigh more than outcomes: a person said so.
//!
//! Beside the counts, every example also updates a sparse overlay of the
//! shipped linear model's weights (see `linear`): a few logistic steps on the
//! example's distinctive features (those of its words that are not common
//! words, `STOP`), so that a correction changes the decision for the same
//! text and, through the shared words and character n-grams, for close
//! paraphrases. Each correction keeps its weights apart from the others' and
//! from the outcomes', and a text takes a correction's say in proportion to
//! how much of the text that one correction covers (`coverage_weight`): one
//! that shares a word or two with it ("module", say) keeps its decision,
//! whatever else was learned from those words (an outcome of the text
//! itself, another correction), and a near copy follows it. The outcomes'
//! weights are one table, which a text takes in proportion to how much of
//! it the outcomes cover together: they are the work's own record, meant to
//! add up.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::linear::{self, Feature, LinearModel};
use crate::text::{tokens, Tokens};

/// Learning rate of an overlay step (a step moves the example's own logit by
/// about this much times the gradient, the feature vector being unit length).
pub const OVERLAY_RATE: f32 = 1.0;
/// Steps a correction may take to make its expert the clear first choice.
pub const CORRECTION_STEPS: usize = 40;
/// The margin (in logits) a correction leaves its expert ahead by.
pub const CORRECTION_MARGIN: f32 = 3.0;

/// Below this share of a text's distinctive features that the overlay holds,
/// the overlay says nothing about the text: it shares a word or two with
/// what was learned, not the request.
pub const COVERAGE_MIN: f32 = 0.5;
/// From this share on, the overlay has its full say (a near copy of a
/// corrected text, a few words added or left out, is at 0.85 or more).
pub const COVERAGE_FULL: f32 = 0.8;

/// The overlay's weight for a text of which `share` of the distinctive
/// features were learned from: 0 below `COVERAGE_MIN`, 1 from
/// `COVERAGE_FULL`, linear between.
pub fn coverage_weight(share: f32) -> f32 {
    ((share - COVERAGE_MIN) / (COVERAGE_FULL - COVERAGE_MIN)).clamp(0.0, 1.0)
}

/// Weight of a person's correction.
pub const CORRECTION_WEIGHT: f64 = 3.0;
/// Weight of a successful outcome.
pub const SUCCESS_WEIGHT: f64 = 1.0;
/// The share of the class prior that is uniform over the experts; the rest
/// follows how often each expert was seen. The examples are the tasks that
/// were corrected or succeeded, a skewed sample of the work, so an expert
/// seen rarely stays possible rather than being ruled out by its count.
pub const PRIOR_UNIFORM_SHARE: f64 = 0.5;

/// Where an example came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A person chose another expert for the task.
    Correction,
    /// The expert's work on the task succeeded.
    Success,
    /// The expert's work on the task failed (counted, teaches no words).
    Failure,
}

/// One labeled example, as persisted (`router-examples.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The task text.
    pub text: String,
    /// The expert the example is labeled with.
    pub expert: String,
    /// Where the label came from.
    pub source: Source,
}

/// Word counts per expert.
#[derive(Debug, Clone, Default)]
pub struct LearnedModel {
    word_counts: HashMap<String, HashMap<String, f64>>,
    totals: HashMap<String, f64>,
    doc_weight: HashMap<String, f64>,
    vocabulary: HashMap<String, ()>,
    examples: u64,
    /// Successes and failures per expert, for the routing view.
    pub outcomes: BTreeMap<String, (u64, u64)>,
    /// Weight deltas of the shipped linear model per bucket, in its class
    /// order, learned from outcomes.
    overlay: HashMap<u32, Vec<f32>>,
    /// Weight deltas learned from each correction, apart: a correction
    /// speaks for a text only as far as it covers it on its own.
    taught: Vec<HashMap<u32, Vec<f32>>>,
    /// The corrections (indices into `taught`) holding a row for a bucket.
    taught_by: HashMap<u32, Vec<u32>>,
    /// A person's corrections by the words of the text corrected, oldest
    /// first: the same text (near enough) goes where the person said.
    corrected: Vec<(std::collections::BTreeSet<String>, String)>,
}

/// How alike (Jaccard, over content words) a text must be to a corrected one
/// to go where the person said: the same request, not one on the same topic.
pub const SAME_TEXT: f64 = 0.8;

fn content_words(text: &str) -> std::collections::BTreeSet<String> {
    tokens(text)
        .into_iter()
        .filter(|t| !STOP.contains(&t.as_str()))
        .collect()
}

/// Words too common to carry any signal about an expert.
const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from", "is",
    "it", "be", "as", "that", "thi", "this", "we", "our", "so", "all", "into", "when", "then",
];

/// The features of `feats` (of the tokens `toks`) that do not come from a
/// common word: a word's own and its characters', and a pair's of two
/// words that are neither common.
pub fn distinctive<'a>(
    toks: &'a Tokens,
    feats: &'a [Feature],
) -> impl Iterator<Item = &'a Feature> + 'a {
    let common = |i: usize| i >= toks.len() || STOP.contains(&toks.get(i));
    feats.iter().filter(move |f| {
        let t = usize::from(f.token);
        f.kind != linear::KIND_STYLE && !common(t) && (f.kind != 1 || !common(t + 1))
    })
}

fn features(text: &str) -> Vec<String> {
    let toks = tokens(text);
    let mut out: Vec<String> = toks
        .iter()
        .filter(|t| !STOP.contains(&t.as_str()))
        .cloned()
        .collect();
    // Adjacent pairs carry phrases ("test suite", "security review").
    out.extend(toks.windows(2).map(|w| format!("{} {}", w[0], w[1])));
    out
}

impl LearnedModel {
    /// Examples learned from (failures not included: they teach no words).
    pub fn examples(&self) -> u64 {
        self.examples
    }

    /// Learns from one example. Failures are counted but teach no words:
    /// a failure says "not this expert" without saying which one instead.
    pub fn learn(&mut self, ex: &Example) {
        if ex.source == Source::Correction {
            let words = content_words(&ex.text);
            if !words.is_empty() {
                // The person's last word on a text is the one kept.
                self.corrected.retain(|(w, _)| *w != words);
                self.corrected.push((words, ex.expert.clone()));
            }
        }
        let weight = match ex.source {
            Source::Correction => CORRECTION_WEIGHT,
            Source::Success => SUCCESS_WEIGHT,
            Source::Failure => {
                self.outcomes.entry(ex.expert.clone()).or_default().1 += 1;
                return;
            }
        };
        if ex.source == Source::Success {
            self.outcomes.entry(ex.expert.clone()).or_default().0 += 1;
        }
        let counts = self.word_counts.entry(ex.expert.clone()).or_default();
        let mut n = 0.0;
        for f in features(&ex.text) {
            *counts.entry(f.clone()).or_default() += weight;
            self.vocabulary.insert(f, ());
            n += weight;
        }
        *self.totals.entry(ex.expert.clone()).or_default() += n;
        *self.doc_weight.entry(ex.expert.clone()).or_default() += weight;
        self.examples += 1;
        if let Some(base) = linear::shipped() {
            self.teach_overlay(&base, ex);
        }
    }

    /// Moves the overlay toward the example's expert. A success takes one
    /// logistic step (a decision already right moves little); a correction
    /// steps until its expert leads every other by `CORRECTION_MARGIN`
    /// logits and is likely on its own.
    fn teach_overlay(&mut self, base: &LinearModel, ex: &Example) {
        let Some(target) = base.classes.iter().position(|c| *c == ex.expert) else {
            return;
        };
        let k = base.k();
        let mut toks = Tokens::default();
        toks.push_text(&ex.text);
        let mut feats = Vec::new();
        let v = linear::features_styled(&toks, linear::style(&ex.text), &mut feats);
        if feats.is_empty() {
            return;
        }
        // The style is not the text's meaning, nor are its common words: a
        // correction teaches the text's distinctive features only.
        let own: Vec<Feature> = distinctive(&toks, linear::content(&feats))
            .copied()
            .collect();
        if own.is_empty() {
            return;
        }
        let steps = match ex.source {
            Source::Correction => CORRECTION_STEPS,
            _ => 1,
        };
        // A correction's own rows: those of an earlier correction of the
        // same text (the same features) when there is one.
        let slot = (ex.source == Source::Correction).then(|| self.correction_slot(&own));
        let zero = vec![0.0; k];
        let mut z = vec![0.0; k];
        let mut extra = vec![0.0; k];
        for _ in 0..steps {
            base.logits(&feats, v, &zero, &mut z);
            self.overlay_logits(&toks, &feats, v, &mut extra);
            for (a, b) in z.iter_mut().zip(&extra) {
                *a += b;
            }
            let rival = (0..k)
                .filter(|&c| c != target)
                .map(|c| z[c])
                .fold(f32::NEG_INFINITY, f32::max);
            if ex.source == Source::Correction
                && z[target] - rival >= CORRECTION_MARGIN
                && z[target] > 1.0
            {
                break;
            }
            let g: Vec<f32> = (0..k)
                .map(|c| {
                    let y = if c == target { 1.0 } else { 0.0 };
                    OVERLAY_RATE * (y - linear::sigmoid(z[c]))
                })
                .collect();
            let rows = match slot {
                Some(i) => &mut self.taught[i],
                None => &mut self.overlay,
            };
            for f in &own {
                let row = rows.entry(f.bucket).or_insert_with(|| vec![0.0; k]);
                for (w, gc) in row.iter_mut().zip(&g) {
                    *w += gc * v;
                }
            }
        }
    }

    /// The index in `taught` of the correction whose rows are exactly the
    /// buckets of `own`, made (with zero rows) when there is none.
    fn correction_slot(&mut self, own: &[Feature]) -> usize {
        let buckets: std::collections::BTreeSet<u32> = own.iter().map(|f| f.bucket).collect();
        let same = buckets
            .first()
            .and_then(|b| self.taught_by.get(b))
            .and_then(|ids| {
                ids.iter().map(|&i| i as usize).find(|&i| {
                    let rows = &self.taught[i];
                    rows.len() == buckets.len() && buckets.iter().all(|b| rows.contains_key(b))
                })
            });
        if let Some(i) = same {
            return i;
        }
        let i = self.taught.len();
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        for &b in &buckets {
            self.taught_by.entry(b).or_default().push(id);
        }
        self.taught.push(HashMap::new());
        i
    }

    /// The expert a person corrected this text (or one with nearly the
    /// same words, `SAME_TEXT`) to, the latest correction first.
    pub fn corrected_expert(&self, text: &str) -> Option<&str> {
        if self.corrected.is_empty() {
            return None;
        }
        let words = content_words(text);
        if words.is_empty() {
            return None;
        }
        self.corrected
            .iter()
            .rev()
            .find(|(w, _)| {
                let common = w.intersection(&words).count() as f64;
                let all = w.union(&words).count() as f64;
                common / all >= SAME_TEXT
            })
            .map(|(_, expert)| expert.as_str())
    }

    /// The overlay's logits per class of the shipped model (its order) for
    /// the features `feats` of the tokens `toks`, into `out` (zeros when
    /// nothing was learned): per correction, the weights it taught the
    /// text's distinctive features times `coverage_weight` of the share of
    /// them it taught; and the weights outcomes taught them times
    /// `coverage_weight` of the share the outcomes taught together.
    pub fn overlay_logits(&self, toks: &Tokens, feats: &[Feature], value: f32, out: &mut [f32]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        if !self.has_overlay() {
            return;
        }
        let (mut seen, mut all) = (0usize, 0usize);
        let mut by: HashMap<u32, usize> = HashMap::new();
        for f in distinctive(toks, feats) {
            all += 1;
            if let Some(row) = self.overlay.get(&f.bucket) {
                seen += 1;
                for (o, w) in out.iter_mut().zip(row) {
                    *o += w * value;
                }
            }
            for &i in self.taught_by.get(&f.bucket).into_iter().flatten() {
                *by.entry(i).or_default() += 1;
            }
        }
        if all == 0 {
            return;
        }
        let share = |n: usize| n as f32 / all as f32;
        let weight = coverage_weight(share(seen));
        out.iter_mut().for_each(|o| *o *= weight);
        // Only the corrections that cover the text enough to speak.
        let mut speak: Vec<(u32, f32)> = by
            .into_iter()
            .map(|(i, n)| (i, coverage_weight(share(n))))
            .filter(|&(_, w)| w > 0.0)
            .collect();
        speak.sort_unstable_by_key(|&(i, _)| i);
        for (i, weight) in speak {
            let rows = &self.taught[i as usize];
            for f in distinctive(toks, feats) {
                if let Some(row) = rows.get(&f.bucket) {
                    for (o, w) in out.iter_mut().zip(row) {
                        *o += w * value * weight;
                    }
                }
            }
        }
    }

    /// True when the overlay has learned anything.
    pub fn has_overlay(&self) -> bool {
        !self.overlay.is_empty() || !self.taught.is_empty()
    }

    /// Posterior probability per expert (in `names` order), from already
    /// stemmed tokens of the text. Experts never seen get only the prior
    /// smoothing, so they are possible but unlikely.
    pub fn probabilities(&self, toks: &[String], names: &[String]) -> Vec<f64> {
        let mut feats: Vec<String> = toks
            .iter()
            .filter(|t| !STOP.contains(&t.as_str()))
            .cloned()
            .collect();
        feats.extend(toks.windows(2).map(|w| format!("{} {}", w[0], w[1])));
        let v = self.vocabulary.len().max(1) as f64;
        let docs: f64 = self.doc_weight.values().sum::<f64>() + names.len() as f64;
        let uniform = 1.0 / names.len().max(1) as f64;
        let logs: Vec<f64> = names
            .iter()
            .map(|name| {
                let seen = (self.doc_weight.get(name).copied().unwrap_or(0.0) + 1.0) / docs;
                let prior = PRIOR_UNIFORM_SHARE * uniform + (1.0 - PRIOR_UNIFORM_SHARE) * seen;
                let total = self.totals.get(name).copied().unwrap_or(0.0);
                let counts = self.word_counts.get(name);
                let mut lp = prior.ln();
                for f in &feats {
                    // Words never seen by any expert say nothing.
                    if !self.vocabulary.contains_key(f) {
                        continue;
                    }
                    let c = counts.and_then(|m| m.get(f)).copied().unwrap_or(0.0);
                    lp += ((c + 1.0) / (total + v)).ln();
                }
                lp
            })
            .collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|e| e / sum).collect()
    }

    /// The words that most favour `expert`, for explanations.
    pub fn top_words(&self, expert: &str, n: usize) -> Vec<String> {
        let Some(counts) = self.word_counts.get(expert) else {
            return Vec::new();
        };
        let mut v: Vec<(&String, &f64)> = counts.iter().filter(|(w, _)| !w.contains(' ')).collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(n).map(|(w, _)| w.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["cicd", "development", "security"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn a_person_s_last_correction_of_a_text_is_where_it_and_its_near_copies_go() {
        let mut m = LearnedModel::default();
        let correct = |m: &mut LearnedModel, expert: &str| {
            m.learn(&Example {
                text: "Fix the SQL injection in the search query".into(),
                expert: expert.into(),
                source: Source::Correction,
            })
        };
        correct(&mut m, "inventory");
        assert_eq!(
            m.corrected_expert("fix the SQL injection in the search query."),
            Some("inventory")
        );
        correct(&mut m, "security");
        assert_eq!(
            m.corrected_expert("Fix the SQL injection in the search query"),
            Some("security")
        );
        // Another request on the same topic is not the same text.
        assert_eq!(
            m.corrected_expert("Fix the SQL injection in the login form"),
            None
        );
        // A success teaches words, not a person's word.
        m.learn(&Example {
            text: "Rotate the leaked keys".into(),
            expert: "security".into(),
            source: Source::Success,
        });
        assert_eq!(m.corrected_expert("Rotate the leaked keys"), None);
    }

    #[test]
    fn corrections_move_the_posterior_toward_the_corrected_expert() {
        let mut m = LearnedModel::default();
        for t in [
            "bump the node version in the workflow",
            "the workflow cache is cold",
            "pin the workflow runner",
        ] {
            m.learn(&Example {
                text: t.into(),
                expert: "cicd".into(),
                source: Source::Correction,
            });
        }
        m.learn(&Example {
            text: "add a parser for the config".into(),
            expert: "development".into(),
            source: Source::Success,
        });
        let p = m.probabilities(&tokens("workflow fails on the runner"), &names());
        assert!(p[0] > 0.8, "{p:?}");
        let sum: f64 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert_eq!(m.examples(), 4);
        assert_eq!(m.outcomes["development"], (1, 0));
    }

    #[test]
    fn a_correction_teaches_the_text_not_how_it_is_written() {
        let text = "bump the lockfile of the site";
        let mut toks = Tokens::default();
        toks.push_text(text);
        let mut feats = Vec::new();
        linear::features_styled(&toks, linear::style(text), &mut feats);
        let own: Vec<u32> = linear::content(&feats).iter().map(|f| f.bucket).collect();
        let style: Vec<u32> = feats
            .iter()
            .filter(|f| f.kind == linear::KIND_STYLE)
            .map(|f| f.bucket)
            .filter(|b| !own.contains(b))
            .collect();
        assert!(!style.is_empty(), "a commit-like text has style features");
        let mut m = LearnedModel::default();
        m.learn(&Example {
            text: text.into(),
            expert: "security".into(),
            source: Source::Correction,
        });
        let mine: Vec<u32> = distinctive(&toks, &feats).map(|f| f.bucket).collect();
        assert!(!mine.is_empty() && mine.iter().all(|b| m.taught[0].contains_key(b)));
        assert!(
            style
                .iter()
                .all(|b| !m.taught[0].contains_key(b) && !m.overlay.contains_key(b)),
            "every lowercase one-liner would lean to the corrected expert"
        );
    }

    #[test]
    fn a_text_two_corrections_cover_between_them_takes_neither_s_say() {
        let overlay = |m: &LearnedModel, text: &str| {
            let mut toks = Tokens::default();
            toks.push_text(text);
            let mut feats = Vec::new();
            let v = linear::features_styled(&toks, linear::style(text), &mut feats);
            let mut out = vec![0.0; 5];
            m.overlay_logits(&toks, &feats, v, &mut out);
            out
        };
        let mut m = LearnedModel::default();
        for (text, expert) in [
            ("Tidy up the flux capacitor in the warp core", "cicd"),
            (
                "Rename the parser module of the billing service",
                "security",
            ),
        ] {
            m.learn(&Example {
                text: text.into(),
                expert: expert.into(),
                source: Source::Correction,
            });
        }
        // Half its words from one, half from the other: together they
        // cover nine tenths of it, each less than half.
        let mixed = overlay(&m, "flux warp parser billing");
        assert!(mixed.iter().all(|&o| o == 0.0), "{mixed:?}");
        // A near copy of one takes that one's say.
        let near = overlay(&m, "Tidy up the flux capacitor in the warp core please");
        assert!(near.iter().any(|&o| o.abs() > 1.0), "{near:?}");
    }

    #[test]
    fn unknown_words_leave_the_prior() {
        let mut m = LearnedModel::default();
        m.learn(&Example {
            text: "alpha".into(),
            expert: "security".into(),
            source: Source::Correction,
        });
        let p = m.probabilities(&tokens("zeta omega"), &names());
        assert!(p[2] > p[0] && p[2] > p[1], "only the prior speaks: {p:?}");
    }

    #[test]
    fn failures_count_but_teach_no_words() {
        let mut m = LearnedModel::default();
        m.learn(&Example {
            text: "x y z".into(),
            expert: "cicd".into(),
            source: Source::Failure,
        });
        assert_eq!(m.examples(), 0);
        assert_eq!(m.outcomes["cicd"], (0, 1));
    }

    #[test]
    fn an_expert_seen_rarely_is_not_ruled_out_by_its_count() {
        let mut m = LearnedModel::default();
        for i in 0..200 {
            m.learn(&Example {
                text: format!("add option number {i} to the parser"),
                expert: "development".into(),
                source: Source::Success,
            });
        }
        for t in ["sanitize the filename", "sanitize user html"] {
            m.learn(&Example {
                text: t.into(),
                expert: "security".into(),
                source: Source::Success,
            });
        }
        let p = m.probabilities(&tokens("sanitize it"), &names());
        assert!(p[2] > p[1], "{p:?}");
    }
}
