//! Routing one text: the keyword, model and learned scores put together,
//! the experts ranked, the strategy chosen, and the one-line explanation
//! written (with the number formatting it uses).
//!
//! May depend on: the router and its parts (`super`, `super::scores`,
//! `super::decision`, `super::matching`, `super::model`, `super::blend`),
//! learned.

use crate::learned::LearnedModel;

use super::blend::{blend_weight, calibrate};
use super::decision::{Decision, Method, Strategy};
use super::matching::{Scratch, SCRATCH, SCRATCH_KEEP};
use super::model::{ModelOut, MODEL_MIN_CONFIDENCE, MODEL_MIN_CONFIDENCE_UNMATCHED};
use super::scores::ExpertScores;
use super::{Router, TYPE_CONFIDENCE};

impl Router {
    /// Routes a task. `learned` is blended in when it has enough examples.
    pub fn route(
        &self,
        text: &str,
        task_type: Option<&str>,
        learned: Option<&LearnedModel>,
    ) -> Decision {
        // Read in the one form the words are (see `text::normal`), so that
        // its clauses and style are those of the words matched, and a
        // secret in full-width letters is the secret it reads as.
        let text = &*crate::text::normal(text);
        // A secret in the text (a key, a password) is not a term to route
        // on, and the decision's explanation would show it.
        let text = &*crate::redact::redacted(text);
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                let d = self.route_in(&mut s, text, task_type, learned);
                if s.toks.capacity() > SCRATCH_KEEP {
                    *s = Scratch::default();
                }
                d
            }
            Err(_) => self.route_in(&mut Scratch::default(), text, task_type, learned),
        })
    }

    fn route_in(
        &self,
        s: &mut Scratch,
        text: &str,
        task_type: Option<&str>,
        learned: Option<&LearnedModel>,
    ) -> Decision {
        self.matches(text, s);
        let n = self.names.len();
        let keyword: Vec<f64> = (0..n)
            .map(|i| f64::from(s.hits.points(i)) / 100.0)
            .collect();
        let learning = &self.config.learning;
        let enabled = |_: &&LearnedModel| learning.enabled;
        let model_out = self
            .model
            .as_ref()
            .map(|link| self.model_scores(link, text, s, learned.filter(enabled)));
        let (toks, hits) = (&s.toks, &s.hits);
        let learned_probs = learned
            .filter(|m| {
                model_out.is_none()
                    && learning.enabled
                    && m.examples() >= u64::from(learning.min_examples)
            })
            .map(|m| {
                let owned: Vec<String> = toks.iter().map(str::to_string).collect();
                calibrate(&m.probabilities(&owned, &self.names))
            });
        let mut final_scores = keyword.clone();
        let mut blend = 0.0;
        if let Some(out) = &model_out {
            final_scores.clone_from(&out.probs);
        }
        if let (Some(p), Some(m)) = (&learned_probs, learned) {
            blend = blend_weight(
                learning.weight,
                keyword.iter().copied().fold(0.0, f64::max),
                m.examples(),
            );
            for (s, lp) in final_scores.iter_mut().zip(p) {
                *s = (1.0 - blend) * *s + blend * lp;
            }
        }
        let by_name = |v: &[f64]| {
            ExpertScores::new(
                self.names.clone(),
                v.iter().map(|x| (x * 1000.0).round() / 1000.0).collect(),
            )
        };
        let method = if learned_probs.is_some() || model_out.is_some() {
            Method::KeywordsLearned
        } else {
            Method::Keywords
        };

        // An explicit task type decides; else a person's correction of this
        // very text: it goes where they said.
        let forced = match task_type.and_then(|t| self.types.get(&t.to_ascii_lowercase())) {
            Some(&i) => Some((i, Method::Type)),
            None => learned
                .filter(|_| learning.enabled)
                .and_then(|m| m.corrected_expert(text))
                .and_then(|e| self.names.iter().position(|n| n == e))
                .map(|i| (i, Method::KeywordsLearned)),
        };
        if let Some((i, how)) = forced {
            let confidence = TYPE_CONFIDENCE.max(final_scores[i]);
            let mut scores = final_scores.clone();
            scores[i] = confidence;
            let explanation = if how == Method::Type {
                format!(
                    "type `{}` belongs to {} (confidence {})",
                    task_type.unwrap_or_default(),
                    self.names[i],
                    two_places(confidence)
                )
            } else {
                format!(
                    "a person corrected this text to {} before (confidence {})",
                    self.names[i],
                    two_places(confidence)
                )
            };
            return Decision {
                primary_expert: self.names[i].clone(),
                confidence,
                strategy: Strategy::SingleExpert,
                parallel_experts: vec![self.names[i].clone()],
                scores: by_name(&scores),
                keyword_scores: by_name(&keyword),
                learned_scores: model_out
                    .as_ref()
                    .map(|o| o.probs.as_slice())
                    .or(learned_probs.as_deref())
                    .map(by_name),
                matched: self.matched_terms(hits),
                method: how,
                needs_confirmation: false,
                explanation,
            };
        }

        // Rank: final score, then activation matches, then the fallback
        // expert, then name order (deterministic).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            final_scores[b]
                .total_cmp(&final_scores[a])
                .then(hits.counts[b][0].cmp(&hits.counts[a][0]))
                .then((b == self.fallback).cmp(&(a == self.fallback)))
                .then(a.cmp(&b))
        });
        let top = order[0];
        let top_score = final_scores[top];
        let cfg = &self.config;
        // The model's probabilities are per expert (one-vs-rest): a second
        // expert this likely is a second job, whatever the first one's.
        let multi = if model_out.is_some() {
            self.model_parallel
        } else {
            cfg.multi_threshold
        };
        // A request of one clause is one job: its second expert, however
        // likely, is a word it shares with another expert's work ("add a
        // Deploy button to the admin UI").
        let one_job = model_out.as_ref().is_some_and(|o| o.clauses < 2);
        let mut parallel: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| final_scores[i] >= multi && !(one_job && i != top))
            .collect();
        // A clause's expert (found only when it could add one: see
        // `model_scores`).
        let by_clause = model_out
            .as_ref()
            .and_then(|o| o.clause.as_ref())
            .filter(|c| parallel.len() < 2 && c.expert != top);
        if let Some(c) = by_clause {
            parallel = vec![top, c.expert];
        }
        let hits = &s.hits;
        // A text that matches no keyword of any expert is off the map the
        // lists draw ("first", "tidy up the attic"): the model's
        // probability there says what its training data was like more than
        // what the text is, so it must be surer before a task starts
        // without a person.
        let unmatched = hits.counts.iter().all(|c| *c == [0; 3]);
        let min = if model_out.is_some() {
            if unmatched {
                MODEL_MIN_CONFIDENCE_UNMATCHED
            } else {
                MODEL_MIN_CONFIDENCE
            }
        } else {
            cfg.min_activation
        };
        // A keyword-only router gives the task to its top expert alone at
        // or above `single_threshold` (the model has its own rule: a
        // request of one clause is one job).
        let alone = model_out.is_none() && top_score >= cfg.single_threshold;
        let (strategy, primary, experts) = if top_score < min {
            let primary = if top_score > 0.0 { top } else { self.fallback };
            (Strategy::SingleExpertLowConfidence, primary, vec![primary])
        } else if parallel.len() >= 2 && !alone {
            (Strategy::MultiExpertParallel, top, parallel)
        } else {
            (Strategy::SingleExpert, top, vec![top])
        };
        let describe = |out: &mut String, i: usize| {
            out.push_str(&self.names[i]);
            out.push(' ');
            push_2dp(out, final_scores[i]);
            if hits.counts[i] != [0; 3] {
                out.push_str(" (");
                for (n, &k) in hits.of(i).iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&self.keywords[k as usize].shown);
                }
                out.push(')');
            }
        };
        let runner_up = order.get(1).copied().filter(|&i| final_scores[i] > 0.0);
        let mut explanation = String::with_capacity(256);
        match strategy {
            Strategy::SingleExpertLowConfidence if top_score <= 0.0 => {
                explanation.push_str("no expert matched; fallback ");
                explanation.push_str(&self.names[primary]);
                explanation.push_str(" needs a person to confirm");
            }
            Strategy::SingleExpertLowConfidence => {
                describe(&mut explanation, primary);
                explanation.push_str(" is below the minimum ");
                if model_out.is_some() {
                    push_2dp(&mut explanation, min);
                    if unmatched {
                        explanation.push_str(" for a text that matches no keyword");
                    }
                } else {
                    explanation.push_str(&self.min_shown);
                }
                explanation.push_str("; a person should confirm");
            }
            Strategy::MultiExpertParallel => {
                for (k, &i) in experts.iter().enumerate() {
                    if k > 0 {
                        explanation.push_str(" + ");
                    }
                    describe(&mut explanation, i);
                }
                if let Some(c) = by_clause {
                    // The second expert is there for one clause, not for
                    // the whole text's score: say which.
                    explanation.push_str(": parallel, the clause \"");
                    push_clipped(&mut explanation, text[c.span.0..c.span.1].trim(), 60);
                    explanation.push_str("\" is ");
                    explanation.push_str(&self.names[c.expert]);
                    explanation.push_str("'s at ");
                    push_2dp(&mut explanation, c.probability);
                } else {
                    explanation.push_str(" all reach ");
                    if model_out.is_some() {
                        push_2dp(&mut explanation, multi);
                    } else {
                        explanation.push_str(&self.multi_shown);
                    }
                    explanation.push_str(": parallel");
                }
            }
            Strategy::SingleExpert => {
                describe(&mut explanation, primary);
                if let Some(r) = runner_up {
                    explanation.push_str(" over ");
                    describe(&mut explanation, r);
                }
            }
        }
        // A tie for the top is said, with what broke it: the choice is not
        // the scores' but the rule's.
        if top_score > 0.0 && strategy != Strategy::MultiExpertParallel {
            let tied: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| (final_scores[i] - top_score).abs() < 1e-9)
                .collect();
            if tied.len() > 1 {
                explanation.push_str("; tie between ");
                for (k, &i) in tied.iter().enumerate() {
                    if k > 0 {
                        explanation.push_str(if k + 1 == tied.len() { " and " } else { ", " });
                    }
                    explanation.push_str(&self.names[i]);
                }
                explanation.push_str(" at ");
                push_2dp(&mut explanation, top_score);
                explanation.push_str(": ");
                explanation.push_str(&self.names[primary]);
                let second = tied[1];
                explanation.push_str(if hits.counts[primary][0] > hits.counts[second][0] {
                    " has more activation keywords"
                } else if primary == self.fallback {
                    " is the fallback expert"
                } else {
                    " comes first by name order"
                });
            }
        }
        if let Some(ModelOut { terms, .. }) = &model_out {
            if !terms.is_empty() {
                explanation.push_str("; model terms for ");
                explanation.push_str(&self.names[top]);
                explanation.push_str(": ");
                for (k, t) in terms.iter().enumerate() {
                    if k > 0 {
                        explanation.push_str(", ");
                    }
                    explanation.push('"');
                    explanation.push_str(t);
                    explanation.push('"');
                }
            }
            if learned.is_some_and(|l| learning.enabled && l.has_overlay()) {
                explanation.push_str("; adjusted by ");
                push_u64(&mut explanation, learned.map_or(0, LearnedModel::examples));
                explanation.push_str(" learned examples");
            }
        }
        if let (Some(p), Some(m)) = (&learned_probs, learned) {
            let best = (0..p.len())
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(primary);
            explanation.push_str("; learned layer (");
            push_u64(&mut explanation, m.examples());
            explanation.push_str(" examples, blended at ");
            push_2dp(&mut explanation, blend);
            explanation.push_str(") favours ");
            explanation.push_str(&self.names[best]);
            explanation.push_str(" at ");
            push_2dp(&mut explanation, p[best]);
        }
        Decision {
            primary_expert: self.names[primary].clone(),
            // Cut, not rounded, like every view of it (`push_2dp`).
            confidence: ((final_scores[primary] * 1000.0) + 1e-9).floor() / 1000.0,
            strategy,
            parallel_experts: experts.iter().map(|&i| self.names[i].clone()).collect(),
            scores: by_name(&final_scores),
            keyword_scores: by_name(&keyword),
            learned_scores: model_out
                .as_ref()
                .map(|o| o.probs.as_slice())
                .or(learned_probs.as_deref())
                .map(by_name),
            matched: self.matched_terms(hits),
            method,
            needs_confirmation: strategy == Strategy::SingleExpertLowConfidence,
            explanation,
        }
    }
}

/// Appends `x` with two decimals, cut rather than rounded (0.499 reads
/// 0.49): a score below a threshold of two decimals never reads as the
/// threshold ("0.50 is below the minimum 0.50"), and one at or above it
/// never reads below. Every view of a confidence uses it (`two_places`).
pub(super) fn push_2dp(out: &mut String, x: f64) {
    let y = x * 100.0;
    if x.is_sign_positive() && y < 1e9 {
        // The nudge keeps 0.29, stored as 0.28999..., at 0.29.
        let n = (y + 1e-9).floor() as u64;
        push_u64(out, n / 100);
        out.push('.');
        let cents = (n % 100) as u8;
        out.push(char::from(b'0' + cents / 10));
        out.push(char::from(b'0' + cents % 10));
        return;
    }
    use std::fmt::Write;
    let _ = write!(out, "{x:.2}");
}

/// A score or confidence as every view shows it: two decimals, cut (see
/// `push_2dp`).
pub fn two_places(x: f64) -> String {
    let mut s = String::with_capacity(6);
    push_2dp(&mut s, x);
    s
}

/// Appends `s`, cut to at most `max` characters with "..." when longer.
fn push_clipped(out: &mut String, s: &str, max: usize) {
    match s.char_indices().nth(max) {
        Some((cut, _)) => {
            out.push_str(&s[..cut]);
            out.push_str("...");
        }
        None => out.push_str(s),
    }
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}
