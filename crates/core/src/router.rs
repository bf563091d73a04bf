//! The router: which expert (or experts) should take a task, and why.
//!
//! Keyword scoring per expert: +25 per activation keyword, +12 per booster,
//! -30 per negative, clamped to 0..100; confidence = score / 100. Matching is
//! on whole stemmed tokens and whole phrases (see `text`). An explicit task
//! type goes to the expert that declares it at 0.95. A learned layer (see
//! `learned`) can be blended in. Every decision carries the per-expert scores,
//! the terms that matched and a one-line explanation.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::{ExpertSet, RoutingConfig};
use crate::learned::LearnedModel;
use crate::text::{phrase, tokens};

pub const ACTIVATION_POINTS: i32 = 25;
pub const BOOSTER_POINTS: i32 = 12;
pub const NEGATIVE_POINTS: i32 = -30;
/// Confidence given to the expert that owns an explicit task type.
pub const TYPE_CONFIDENCE: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    SingleExpert,
    MultiExpertParallel,
    /// No expert reached the minimum: a person should confirm.
    SingleExpertLowConfidence,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SingleExpert => "single_expert",
            Self::MultiExpertParallel => "multi_expert_parallel",
            Self::SingleExpertLowConfidence => "single_expert_low_confidence",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// An explicit task type decided.
    Type,
    Keywords,
    /// Keyword scores blended with the learned layer.
    KeywordsLearned,
    /// A person chose the expert (`cortex reroute`).
    Person,
}

/// The terms that matched for one expert, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    pub activation: Vec<String>,
    pub boosters: Vec<String>,
    pub negatives: Vec<String>,
}

impl Matched {
    pub fn is_empty(&self) -> bool {
        self.activation.is_empty() && self.boosters.is_empty() && self.negatives.is_empty()
    }

    /// All matched terms, negatives marked with a leading `-`.
    pub fn terms(&self) -> Vec<String> {
        self.activation
            .iter()
            .chain(&self.boosters)
            .cloned()
            .chain(self.negatives.iter().map(|n| format!("-{n}")))
            .collect()
    }
}

/// A routing decision, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub primary_expert: String,
    pub confidence: f64,
    pub strategy: Strategy,
    /// Every expert that gets an assignment (the primary first).
    pub parallel_experts: Vec<String>,
    /// Final confidence per expert, 0..1.
    pub scores: BTreeMap<String, f64>,
    /// Keyword-only confidence per expert, 0..1.
    pub keyword_scores: BTreeMap<String, f64>,
    /// The learned layer's probability per expert, when it had a say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_scores: Option<BTreeMap<String, f64>>,
    /// Matched terms per expert (negatives prefixed with `-`).
    pub matched: BTreeMap<String, Vec<String>>,
    pub method: Method,
    /// True when a person should confirm the choice.
    pub needs_confirmation: bool,
    pub explanation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Activation,
    Booster,
    Negative,
}

#[derive(Debug, Clone)]
struct Term {
    expert: usize,
    kind: Kind,
    /// The term as written in the expert file.
    label: String,
    /// Stemmed tokens after the first.
    rest: Vec<String>,
}

/// Compiled keyword lists, indexed by first token for fast matching.
#[derive(Debug, Clone)]
pub struct Router {
    names: Vec<String>,
    index: HashMap<String, Vec<Term>, FnvBuild>,
    types: HashMap<String, usize>,
    config: RoutingConfig,
    fallback: usize,
}

/// FNV-1a for the keyword index: short keys, no adversary (the keys are the
/// expert files' own words), several times cheaper than SipHash here.
#[derive(Debug, Clone, Copy, Default)]
struct FnvBuild;

#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl std::hash::BuildHasher for FnvBuild {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

/// Examples at which the learned layer reaches half its configured weight.
pub const LEARNING_HALF_EXAMPLES: f64 = 50.0;

/// How much the learned layer counts in one decision: the configured
/// weight, scaled down when the keywords are already confident (a clear
/// keyword match is rarely wrong, and a model trained mostly on corrections
/// is biased against keywords) and while the model has seen few examples.
pub fn blend_weight(weight: f64, keyword_top: f64, examples: u64) -> f64 {
    let evidence = examples as f64 / (examples as f64 + LEARNING_HALF_EXAMPLES);
    (weight * (1.0 - keyword_top.clamp(0.0, 1.0)) * evidence).clamp(0.0, 1.0)
}

impl Decision {
    /// A person's choice, replacing the router's.
    pub fn by_person(expert: &str, previous: Option<&str>) -> Self {
        Decision {
            primary_expert: expert.to_string(),
            confidence: 1.0,
            strategy: Strategy::SingleExpert,
            parallel_experts: vec![expert.to_string()],
            scores: BTreeMap::from([(expert.to_string(), 1.0)]),
            keyword_scores: BTreeMap::new(),
            learned_scores: None,
            matched: BTreeMap::new(),
            method: Method::Person,
            needs_confirmation: false,
            explanation: match previous {
                Some(p) if p != expert => format!("a person moved the task from {p} to {expert}"),
                _ => format!("a person confirmed {expert}"),
            },
        }
    }

    pub fn summary(&self) -> crate::task::RoutingSummary {
        crate::task::RoutingSummary {
            primary_expert: self.primary_expert.clone(),
            confidence: self.confidence,
            strategy: self.strategy,
            method: self.method,
            needs_confirmation: self.needs_confirmation,
            explanation: self.explanation.clone(),
        }
    }
}

impl Router {
    pub fn new(config: &RoutingConfig, experts: &ExpertSet) -> Self {
        let names = experts.names();
        let mut index: HashMap<String, Vec<Term>, FnvBuild> = HashMap::default();
        let mut types = HashMap::new();
        for (i, e) in experts.iter().enumerate() {
            for (kind, list) in [
                (Kind::Activation, &e.activation_keywords),
                (Kind::Booster, &e.boosters),
                (Kind::Negative, &e.negatives),
            ] {
                for label in list {
                    let toks = phrase(label);
                    let Some((first, rest)) = toks.split_first() else {
                        continue;
                    };
                    let entry = index.entry(first.clone()).or_default();
                    // The same phrase twice in one list counts once.
                    if !entry
                        .iter()
                        .any(|t| t.expert == i && t.kind == kind && t.rest == rest)
                    {
                        entry.push(Term {
                            expert: i,
                            kind,
                            label: label.clone(),
                            rest: rest.to_vec(),
                        });
                    }
                }
            }
            for t in &e.task_types {
                types.insert(t.to_ascii_lowercase(), i);
            }
        }
        let fallback = names
            .iter()
            .position(|n| *n == config.fallback_expert)
            .unwrap_or(0);
        Self {
            names,
            index,
            types,
            config: config.clone(),
            fallback,
        }
    }

    pub fn expert_names(&self) -> &[String] {
        &self.names
    }

    /// Raw keyword points and matched terms per expert.
    fn keyword_points(&self, toks: &[String]) -> (Vec<i32>, Vec<Matched>) {
        let n = self.names.len();
        let mut matched = vec![Matched::default(); n];
        for (pos, tok) in toks.iter().enumerate() {
            let Some(terms) = self.index.get(tok) else {
                continue;
            };
            for term in terms {
                let end = pos + 1 + term.rest.len();
                if end > toks.len() || toks[pos + 1..end] != term.rest[..] {
                    continue;
                }
                let m = &mut matched[term.expert];
                let list = match term.kind {
                    Kind::Activation => &mut m.activation,
                    Kind::Booster => &mut m.boosters,
                    Kind::Negative => &mut m.negatives,
                };
                if !list.contains(&term.label) {
                    list.push(term.label.clone());
                }
            }
        }
        let points = matched
            .iter()
            .map(|m| {
                let raw = ACTIVATION_POINTS * m.activation.len() as i32
                    + BOOSTER_POINTS * m.boosters.len() as i32
                    + NEGATIVE_POINTS * m.negatives.len() as i32;
                raw.clamp(0, 100)
            })
            .collect();
        (points, matched)
    }

    /// Routes a task. `learned` is blended in when it has enough examples.
    pub fn route(
        &self,
        text: &str,
        task_type: Option<&str>,
        learned: Option<&LearnedModel>,
    ) -> Decision {
        let toks = tokens(text);
        let (points, matched) = self.keyword_points(&toks);
        let keyword: Vec<f64> = points.iter().map(|p| f64::from(*p) / 100.0).collect();
        let learning = &self.config.learning;
        let learned_probs = learned
            .filter(|m| learning.enabled && m.examples() >= u64::from(learning.min_examples))
            .map(|m| m.probabilities(&toks, &self.names));
        let mut final_scores = keyword.clone();
        let mut blend = 0.0;
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
        let by_name = |v: &[f64]| -> BTreeMap<String, f64> {
            self.names
                .iter()
                .cloned()
                .zip(v.iter().map(|x| (x * 1000.0).round() / 1000.0))
                .collect()
        };
        let matched_map: BTreeMap<String, Vec<String>> = self
            .names
            .iter()
            .zip(&matched)
            .filter(|(_, m)| !m.is_empty())
            .map(|(n, m)| (n.clone(), m.terms()))
            .collect();
        let method = if learned_probs.is_some() {
            Method::KeywordsLearned
        } else {
            Method::Keywords
        };

        if let Some(&i) = task_type.and_then(|t| self.types.get(&t.to_ascii_lowercase())) {
            let mut scores = final_scores.clone();
            scores[i] = scores[i].max(TYPE_CONFIDENCE);
            return Decision {
                primary_expert: self.names[i].clone(),
                confidence: TYPE_CONFIDENCE.max(final_scores[i]),
                strategy: Strategy::SingleExpert,
                parallel_experts: vec![self.names[i].clone()],
                scores: by_name(&scores),
                keyword_scores: by_name(&keyword),
                learned_scores: learned_probs.as_deref().map(by_name),
                matched: matched_map,
                method: Method::Type,
                needs_confirmation: false,
                explanation: format!(
                    "type `{}` belongs to {} (confidence {TYPE_CONFIDENCE:.2})",
                    task_type.unwrap_or_default(),
                    self.names[i]
                ),
            };
        }

        // Rank: final score, then activation matches, then the fallback
        // expert, then name order (deterministic).
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_by(|&a, &b| {
            final_scores[b]
                .total_cmp(&final_scores[a])
                .then(
                    matched[b]
                        .activation
                        .len()
                        .cmp(&matched[a].activation.len()),
                )
                .then((b == self.fallback).cmp(&(a == self.fallback)))
                .then(a.cmp(&b))
        });
        let top = order[0];
        let top_score = final_scores[top];
        let cfg = &self.config;
        let parallel: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| final_scores[i] >= cfg.multi_threshold)
            .collect();
        let (strategy, primary, experts) = if top_score < cfg.min_activation {
            let primary = if top_score > 0.0 { top } else { self.fallback };
            (Strategy::SingleExpertLowConfidence, primary, vec![primary])
        } else if parallel.len() >= 2 {
            (Strategy::MultiExpertParallel, top, parallel)
        } else {
            (Strategy::SingleExpert, top, vec![top])
        };
        let describe = |i: usize| {
            let terms = matched[i].terms();
            if terms.is_empty() {
                format!("{} {:.2}", self.names[i], final_scores[i])
            } else {
                format!(
                    "{} {:.2} ({})",
                    self.names[i],
                    final_scores[i],
                    terms.join(", ")
                )
            }
        };
        let runner_up = order.get(1).copied().filter(|&i| final_scores[i] > 0.0);
        let mut explanation = match strategy {
            Strategy::SingleExpertLowConfidence if top_score <= 0.0 => format!(
                "no expert matched; fallback {} needs a person to confirm",
                self.names[primary]
            ),
            Strategy::SingleExpertLowConfidence => format!(
                "{} is below the minimum {:.2}; a person should confirm",
                describe(primary),
                cfg.min_activation
            ),
            Strategy::MultiExpertParallel => format!(
                "{} all reach {:.2}: parallel",
                experts
                    .iter()
                    .map(|&i| describe(i))
                    .collect::<Vec<_>>()
                    .join(" + "),
                cfg.multi_threshold
            ),
            Strategy::SingleExpert => match runner_up {
                Some(r) => format!("{} over {}", describe(primary), describe(r)),
                None => describe(primary),
            },
        };
        if let (Some(p), Some(m)) = (&learned_probs, learned) {
            let best = (0..p.len())
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(primary);
            explanation.push_str(&format!(
                "; learned layer ({} examples, blended at {:.2}) favours {} at {:.2}",
                m.examples(),
                blend,
                self.names[best],
                p[best]
            ));
        }
        Decision {
            primary_expert: self.names[primary].clone(),
            confidence: (final_scores[primary] * 1000.0).round() / 1000.0,
            strategy,
            parallel_experts: experts.iter().map(|&i| self.names[i].clone()).collect(),
            scores: by_name(&final_scores),
            keyword_scores: by_name(&keyword),
            learned_scores: learned_probs.as_deref().map(by_name),
            matched: matched_map,
            method,
            needs_confirmation: strategy == Strategy::SingleExpertLowConfidence,
            explanation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExpertProfile;

    fn expert(
        name: &str,
        act: &[&str],
        boost: &[&str],
        neg: &[&str],
        types: &[&str],
    ) -> (String, ExpertProfile) {
        let json = serde_json::json!({
            "name": name, "activation_keywords": act, "boosters": boost, "negatives": neg,
            "task_types": types, "preamble": "p"
        });
        let file = format!("experts/{name}.json");
        let p = ExpertProfile::parse(&file, &json.to_string()).unwrap();
        (file, p)
    }

    fn router() -> Router {
        let set = ExpertSet::new(vec![
            expert(
                "development",
                &["fix", "implement", "refactor"],
                &["api", "endpoint"],
                &["document only"],
                &["feature"],
            ),
            expert(
                "security",
                &["security", "audit", "vulnerability"],
                &["payment", "injection"],
                &[],
                &["security-audit"],
            ),
            expert(
                "inventory",
                &["document", "catalog"],
                &["finding", "readme"],
                &["implement"],
                &["documentation"],
            ),
            expert(
                "cicd",
                &["pipeline", "deploy", "ci"],
                &["github action"],
                &[],
                &["deploy"],
            ),
            expert(
                "coordinator",
                &["orchestrate", "split"],
                &["agent"],
                &[],
                &["coordination"],
            ),
        ])
        .unwrap();
        Router::new(&RoutingConfig::default(), &set)
    }

    #[test]
    fn scores_follow_the_points_and_clamp() {
        let r = router();
        let d = r.route("fix the api endpoint", None, None);
        assert_eq!(d.keyword_scores["development"], 0.49);
        let d = r.route("implement and document the catalog", None, None);
        // inventory: 2 activation (50) - 1 negative (30) = 20
        assert_eq!(d.keyword_scores["inventory"], 0.2);
        assert_eq!(
            d.matched["inventory"],
            vec!["document", "catalog", "-implement"]
        );
        let d = r.route(
            "security audit vulnerability security audit payment injection",
            None,
            None,
        );
        assert_eq!(d.keyword_scores["security"], 0.99);
    }

    #[test]
    fn every_strategy_is_reachable() {
        let r = router();
        let d = r.route(
            "security audit of the payment flow for injection, and document the catalog finding",
            None,
            None,
        );
        assert_eq!(
            d.strategy,
            Strategy::MultiExpertParallel,
            "{}",
            d.explanation
        );
        assert_eq!(d.parallel_experts, vec!["security", "inventory"]);
        let d = r.route("fix and refactor the api endpoint", None, None);
        assert_eq!(
            (d.strategy, d.primary_expert.as_str()),
            (Strategy::SingleExpert, "development")
        );
        let d = r.route("water the plants", None, None);
        assert_eq!(d.strategy, Strategy::SingleExpertLowConfidence);
        assert_eq!(d.primary_expert, "development", "fallback");
        assert!(d.needs_confirmation);
        assert!(
            d.explanation.contains("no expert matched"),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn every_expert_is_routable() {
        let r = router();
        for (text, want) in [
            ("fix the endpoint and refactor it", "development"),
            ("security audit for injection", "security"),
            ("document and catalog the readme", "inventory"),
            ("deploy the ci pipeline with github actions", "cicd"),
            ("orchestrate agents and split the work", "coordinator"),
        ] {
            assert_eq!(r.route(text, None, None).primary_expert, want, "{text}");
        }
    }

    #[test]
    fn explicit_type_wins_at_095() {
        let d = router().route("anything at all", Some("Security-Audit"), None);
        assert_eq!(
            (d.primary_expert.as_str(), d.confidence, d.method),
            ("security", 0.95, Method::Type)
        );
    }

    #[test]
    fn the_learned_layer_counts_less_when_keywords_are_sure_and_more_with_evidence() {
        assert_eq!(blend_weight(0.5, 1.0, 1000), 0.0);
        assert!(blend_weight(0.5, 0.0, 50) - 0.25 < 1e-9);
        assert!(blend_weight(0.5, 0.2, 10) < blend_weight(0.5, 0.2, 500));
        assert!(blend_weight(0.5, 0.8, 500) < blend_weight(0.5, 0.2, 500));
    }

    #[test]
    fn corrections_teach_the_router_a_new_word() {
        use crate::learned::{Example, LearnedModel, Source};
        let r = router();
        let text = "tidy the flux capacitor";
        assert_eq!(
            r.route(text, None, None).strategy,
            Strategy::SingleExpertLowConfidence
        );
        let mut m = LearnedModel::default();
        for i in 0..30 {
            m.learn(&Example {
                text: format!("flux capacitor chores number {i}"),
                expert: "cicd".into(),
                source: Source::Correction,
            });
            m.learn(&Example {
                text: format!("implement feature {i}"),
                expert: "development".into(),
                source: Source::Correction,
            });
        }
        let d = r.route(text, None, Some(&m));
        assert_eq!(d.primary_expert, "cicd", "{}", d.explanation);
        assert_eq!(d.method, Method::KeywordsLearned);
        assert!(d.explanation.contains("learned layer"), "{}", d.explanation);
        // A clear keyword decision stands.
        assert_eq!(
            r.route("fix and refactor the api endpoint", None, Some(&m))
                .primary_expert,
            "development"
        );
    }

    #[test]
    fn substrings_never_match() {
        let d = router().route("the apiary deployment cicada", None, None);
        assert!(!d.matched.contains_key("development"), "{:?}", d.matched);
        assert!(
            !d.matched.contains_key("cicd"),
            "`deploy` is a word of its own: {:?}",
            d.matched
        );
    }
}
