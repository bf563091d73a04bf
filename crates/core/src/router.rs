//! The router: which expert (or experts) should take a task, and why.
//!
//! Keyword scoring per expert: +25 per activation keyword, +12 per booster,
//! -30 per negative, clamped to 0..100. Matching is on whole stemmed tokens
//! and whole phrases (see `text`). The keyword scores feed the shipped linear
//! model (see `linear`), whose calibrated probability per expert is the
//! confidence; a person's corrections and verified outcomes adjust it through
//! the learned overlay (see `learned`). Without a model for the router's
//! experts, the keyword score / 100 is the confidence and the naive-Bayes
//! layer is blended in. An explicit task type goes to the expert that
//! declares it at 0.95. Every decision carries the per-expert scores, the
//! terms that matched and a one-line explanation.
//!
//! The parts: `scores` (the per-expert maps a decision carries), `decision`
//! (what a decision says), `matching` (the compiled keyword index, matching
//! a text against it), `model` (the linear model's say and clauses), `blend`
//! (the naive-Bayes layer's calibration and weight) and `decide` (routing
//! one text: ranking, strategy, explanation). Here: the router itself and
//! how it is built from the expert profiles.
//!
//! May depend on: config (experts, routing settings), text, linear,
//! learned, task (the routing summary).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{ExpertSet, RoutingConfig};
use crate::linear::{self, LinearModel};
use crate::text::phrase;

mod blend;
mod decide;
mod decision;
mod matching;
mod model;
mod scores;

pub use blend::{blend_weight, calibrate, LEARNED_TEMPERATURE, LEARNING_HALF_EXAMPLES};
pub use decide::two_places;
pub use decision::{Decision, Method, Strategy};
pub use model::{
    CLAUSE_PROBABILITY, CLAUSE_SUPPORT, MODEL_MIN_CONFIDENCE, MODEL_MIN_CONFIDENCE_UNMATCHED,
    MODEL_PARALLEL,
};
pub use scores::{ExpertScores, MatchedTerms, Term};

use decide::push_2dp;
use matching::{FnvBuild, Keyword, Kind, Scratch};
use model::ModelLink;
use scores::Names;

/// Keyword points for each activation keyword a text matches.
pub const ACTIVATION_POINTS: i32 = 25;
/// Keyword points for each booster a text matches.
pub const BOOSTER_POINTS: i32 = 12;
/// Keyword points for each negative a text matches.
pub const NEGATIVE_POINTS: i32 = -30;
/// Confidence given to the expert that owns an explicit task type.
pub const TYPE_CONFIDENCE: f64 = 0.95;

/// Compiled keyword lists. Every stemmed token of every term gets a
/// vocabulary id; a text's tokens are looked up once each, and terms are
/// found by their first token and compared by id.
#[derive(Debug, Clone)]
pub struct Router {
    names: Names,
    vocab: HashMap<Box<str>, u32, FnvBuild>,
    /// Per vocabulary id, the keywords that start with it (indices into
    /// `keywords`).
    starts: Vec<Vec<u32>>,
    keywords: Vec<Keyword>,
    types: HashMap<String, usize>,
    config: RoutingConfig,
    fallback: usize,
    /// `min_activation` and `multi_threshold` as the explanation shows them.
    min_shown: String,
    multi_shown: String,
    model: Option<ModelLink>,
    /// The probability at which the model gives an expert a parallel share.
    model_parallel: f64,
}

impl Router {
    /// A router with the shipped linear model (when it knows these experts).
    pub fn new(config: &RoutingConfig, experts: &ExpertSet) -> Self {
        Self::with_model(config, experts, linear::shipped())
    }

    /// A router on the keyword lists alone (and the naive-Bayes layer).
    pub fn keywords_only(config: &RoutingConfig, experts: &ExpertSet) -> Self {
        Self::with_model(config, experts, None)
    }

    /// A router with the given model; the model is used only when its
    /// classes are exactly the experts' names.
    pub fn with_model(
        config: &RoutingConfig,
        experts: &ExpertSet,
        model: Option<Arc<LinearModel>>,
    ) -> Self {
        let names: Names = experts.names().into();
        let mut vocab: HashMap<Box<str>, u32, FnvBuild> = HashMap::default();
        let mut starts: Vec<Vec<u32>> = Vec::new();
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut types = HashMap::new();
        for (i, e) in experts.iter().enumerate() {
            for (kind, list) in [
                (Kind::Activation, &e.activation_keywords),
                (Kind::Booster, &e.boosters),
                (Kind::Negative, &e.negatives),
            ] {
                for label in list {
                    let ids: Vec<u32> = phrase(label)
                        .into_iter()
                        .map(|tok| {
                            *vocab.entry(tok.into()).or_insert_with(|| {
                                starts.push(Vec::new());
                                (starts.len() - 1) as u32
                            })
                        })
                        .collect();
                    let Some((&first, rest)) = ids.split_first() else {
                        continue;
                    };
                    // The same phrase twice in one list counts once.
                    let dup = starts[first as usize].iter().any(|&k| {
                        let k = &keywords[k as usize];
                        k.expert == i && k.kind == kind && *k.rest == *rest
                    });
                    if !dup {
                        starts[first as usize].push(keywords.len() as u32);
                        let shown = if kind == Kind::Negative {
                            Term::from(format!("-{label}").as_str())
                        } else {
                            Term::from(label.as_str())
                        };
                        keywords.push(Keyword {
                            expert: i,
                            kind,
                            shown,
                            rest: rest.into(),
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
        let shown = |x: f64| {
            let mut s = String::new();
            push_2dp(&mut s, x);
            s
        };
        let model = model.and_then(|m| {
            let class_of: Option<Vec<usize>> = names
                .iter()
                .map(|n| m.classes.iter().position(|c| c == n))
                .collect();
            class_of
                .filter(|c| c.len() == m.k())
                .map(|class_of| ModelLink { model: m, class_of })
        });
        Self {
            model,
            model_parallel: MODEL_PARALLEL,
            names,
            vocab,
            starts,
            keywords,
            types,
            min_shown: shown(config.min_activation),
            multi_shown: shown(config.multi_threshold),
            config: config.clone(),
            fallback,
        }
    }

    /// The experts' names, in the router's (name) order.
    pub fn expert_names(&self) -> &[String] {
        &self.names
    }

    /// The same router with another parallel threshold for the model.
    pub fn with_model_parallel(mut self, p: f64) -> Self {
        self.model_parallel = p;
        self
    }

    /// True when the linear model decides (rather than the keywords alone).
    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// Keyword score per expert (0..1, the router's expert order).
    pub fn keyword_scores(&self, text: &str) -> Vec<f64> {
        let mut s = Scratch::default();
        self.matches(text, &mut s);
        (0..self.names.len())
            .map(|i| f64::from(s.hits.points(i)) / 100.0)
            .collect()
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

    fn model_router() -> Router {
        Router::with_model(&RoutingConfig::default(), &expert_set(), linear::shipped())
    }

    fn router() -> Router {
        Router::keywords_only(&RoutingConfig::default(), &expert_set())
    }

    fn expert_set() -> ExpertSet {
        ExpertSet::new(vec![
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
        .unwrap()
    }

    #[test]
    fn a_tie_for_the_top_is_stated_with_what_broke_it() {
        let r = router();
        let d = r.route("fix the pipeline", None, None);
        assert_eq!(d.strategy, Strategy::SingleExpertLowConfidence);
        assert!(
            d.explanation.contains(
                "tie between development and cicd at 0.25: development is the fallback expert"
            ),
            "{}",
            d.explanation
        );
        let d = r.route("refactor the security audit, fix it", None, None);
        assert!(
            d.explanation
                .contains("tie between development and security at 0.50"),
            "{}",
            d.explanation
        );
        let d = r.route("fix the api endpoint", None, None);
        assert!(!d.explanation.contains("tie"), "{}", d.explanation);
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
    fn a_keyword_router_gives_a_task_to_one_expert_alone_at_the_single_threshold() {
        let text =
            "security audit of the payment flow for injection, and document the catalog finding";
        let parallel = router().route(text, None, None);
        assert_eq!(parallel.strategy, Strategy::MultiExpertParallel);
        let top = parallel.scores["security"];
        let at = |single: f64| {
            let config = RoutingConfig {
                single_threshold: single,
                ..RoutingConfig::default()
            };
            Router::keywords_only(&config, &expert_set()).route(text, None, None)
        };
        let alone = at(top);
        assert_eq!(
            (alone.strategy, alone.parallel_experts.clone()),
            (Strategy::SingleExpert, vec!["security".to_string()]),
            "{}",
            alone.explanation
        );
        assert_eq!(at(1.0).strategy, Strategy::MultiExpertParallel);
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
    fn calibration_softens_the_learned_posterior_and_keeps_its_order() {
        let p = [0.97, 0.02, 0.01];
        let c = calibrate(&p);
        assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(c[0] < p[0] && c[1] > p[1] && c[2] > p[2], "{c:?}");
        assert!(c[0] > c[1] && c[1] > c[2]);
        // Twice the log-odds before, as the temperature says.
        let before = (p[0] / p[1]).ln();
        let after = (c[0] / c[1]).ln();
        assert!((before / after - LEARNED_TEMPERATURE).abs() < 1e-9);
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
    fn one_correction_changes_the_decision_for_the_text_and_its_paraphrases() {
        use crate::learned::{Example, LearnedModel, Source};
        let r = model_router();
        assert!(r.has_model());
        let text = "Tidy up the flux capacitor settings in the warp module";
        let paraphrases = [
            "tidy the flux capacitor settings",
            "Please tidy up the flux capacitors' settings in the warp module.",
        ];
        let unrelated = [
            ("Patch the SQL injection in the login form", "security"),
            ("Write the README for the billing service", "inventory"),
        ];
        let before = r.route(text, None, None).primary_expert;
        let target = if before == "cicd" { "security" } else { "cicd" };
        let mut m = LearnedModel::default();
        m.learn(&Example {
            text: text.into(),
            expert: target.into(),
            source: Source::Correction,
        });
        let d = r.route(text, None, Some(&m));
        assert_eq!(d.primary_expert, target, "{}", d.explanation);
        // The text itself goes where the person said, and says why.
        assert!(
            d.explanation.contains("a person corrected this text"),
            "{}",
            d.explanation
        );
        // A paraphrase of other words goes there through the learned layer.
        let d = r.route(paraphrases[0], None, Some(&m));
        assert!(
            d.explanation.contains("learned examples"),
            "{}",
            d.explanation
        );
        for p in paraphrases {
            let d = r.route(p, None, Some(&m));
            assert_eq!(d.primary_expert, target, "{p}: {}", d.explanation);
        }
        for (t, want) in unrelated {
            assert_eq!(r.route(t, None, Some(&m)).primary_expert, want, "{t}");
        }
    }

    /// One correction of a text leaves three texts that share only common
    /// words with it ("the", "in", "module", "settings") as they were, also
    /// when each of them succeeded before (`outcomes_first`: the outcomes
    /// taught every distinctive feature of theirs), and its near copies go
    /// where the person said.
    fn one_correction_leaves_tasks_that_share_only_common_words(outcomes_first: bool) {
        use crate::learned::{Example, LearnedModel, Source};
        let r = model_router();
        let text = "Tidy up the flux capacitor settings in the warp module";
        let target = if r.route(text, None, None).primary_expert == "cicd" {
            "security"
        } else {
            "cicd"
        };
        let unrelated = [
            "Fix the failing unit test in the parser module",
            "Add a retry to the upload in the storage module",
            "Rename the settings page in the admin module",
        ];
        let mut m = LearnedModel::default();
        if outcomes_first {
            for t in unrelated {
                m.learn(&Example {
                    text: t.into(),
                    expert: r.route(t, None, None).primary_expert,
                    source: Source::Success,
                });
            }
        }
        let before: Vec<Decision> = unrelated
            .iter()
            .map(|t| r.route(t, None, Some(&m)))
            .collect();
        m.learn(&Example {
            text: text.into(),
            expert: target.into(),
            source: Source::Correction,
        });
        for (t, b) in unrelated.iter().zip(&before) {
            let a = r.route(t, None, Some(&m));
            assert_eq!(
                (&a.primary_expert, a.strategy),
                (&b.primary_expert, b.strategy),
                "{t}: {}",
                a.explanation
            );
            assert!(
                (a.confidence - b.confidence).abs() < 0.05,
                "{t}: {} before, {} after",
                b.confidence,
                a.confidence
            );
        }
        for near in [
            "tidy up the flux capacitor settings in the warp module please",
            "Tidy the flux capacitor settings of the warp module",
        ] {
            let d = r.route(near, None, Some(&m));
            assert_eq!(d.primary_expert, target, "{near}: {}", d.explanation);
        }
    }

    #[test]
    fn one_correction_leaves_a_task_that_shares_only_common_words_as_it_was() {
        one_correction_leaves_tasks_that_share_only_common_words(false);
    }

    #[test]
    fn one_correction_leaves_a_task_that_shares_only_common_words_as_it_was_after_outcomes() {
        one_correction_leaves_tasks_that_share_only_common_words(true);
    }

    #[test]
    fn a_text_that_matches_no_keyword_needs_a_surer_model() {
        let r = model_router();
        let d = r.route("first", None, None);
        assert!(
            (&d.keyword_scores).into_iter().all(|(_, &k)| k == 0.0),
            "{d:?}"
        );
        assert!(
            d.confidence >= MODEL_MIN_CONFIDENCE && d.confidence < MODEL_MIN_CONFIDENCE_UNMATCHED,
            "the example no longer falls between the two minimums; pick another: {d:?}"
        );
        assert_eq!(d.strategy, Strategy::SingleExpertLowConfidence);
        assert!(d.needs_confirmation);
        assert!(
            d.explanation
                .contains("below the minimum 0.70 for a text that matches no keyword"),
            "{}",
            d.explanation
        );
        // The same confidence with a keyword behind it is a decision.
        let d = r.route("refactor the parser module", None, None);
        assert!(d.confidence < MODEL_MIN_CONFIDENCE_UNMATCHED, "{d:?}");
        assert_eq!(d.strategy, Strategy::SingleExpert, "{d:?}");
    }

    #[test]
    fn the_model_explains_itself_and_names_the_runner_up() {
        let r = model_router();
        let d = r.route(
            "Any logged-in user can read another tenant's invoices by changing the id",
            None,
            None,
        );
        assert_eq!(d.primary_expert, "security", "{}", d.explanation);
        assert_eq!(d.method, Method::KeywordsLearned);
        assert!(
            d.explanation.contains("model terms for security"),
            "{}",
            d.explanation
        );
        assert!(d.learned_scores.is_some());
    }

    #[test]
    fn a_secret_in_the_text_is_neither_routed_on_nor_shown_in_the_explanation() {
        let r = model_router();
        for text in [
            "fix the bug where login uses password=hunter2",
            "fix the login bug, call it with Authorization: Bearer eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
        ] {
            let d = r.route(text, None, None);
            let shown = format!("{} {:?}", d.explanation, d.matched);
            for secret in ["hunter2", "eyjzdwiioiixmjm0in0", "eyJzdWIiOiIxMjM0In0"] {
                assert!(!shown.contains(secret), "{text}: {shown}");
            }
        }
        // A secret written in full-width letters is the same secret.
        let ascii = r.route("fix the bug where login uses password=hunter2", None, None);
        let wide = r.route(
            "fix the bug where login uses \u{ff50}\u{ff41}\u{ff53}\u{ff53}\u{ff57}\u{ff4f}\u{ff52}\u{ff44}=\u{ff48}\u{ff55}\u{ff4e}\u{ff54}\u{ff45}\u{ff52}2",
            None,
            None,
        );
        assert_eq!(wide.scores, ascii.scores, "{}", wide.explanation);
    }

    #[test]
    fn the_same_words_in_any_unicode_form_route_alike() {
        let set = ExpertSet::new(vec![
            expert("development", &["café menu"], &[], &[], &[]),
            expert("cicd", &["ci", "pipeline"], &[], &[], &[]),
        ])
        .unwrap();
        let r = Router::keywords_only(&RoutingConfig::default(), &set);
        let composed = "Fix the caf\u{e9} menu";
        for text in [
            composed,
            "Fix the cafe\u{301} menu",
            "FIX THE CAF\u{c9} MENU",
            "Fix the \u{ff23}\u{ff21}\u{ff26}\u{c9} \u{ff2d}\u{ff45}\u{ff4e}\u{ff55}",
        ] {
            let d = r.route(text, None, None);
            assert!(
                d.matched.contains_key("development"),
                "{text}: {:?}",
                d.matched
            );
            assert_eq!(d.matched["development"], vec!["café menu"], "{text}");
        }
        let d = r.route(
            "\u{ff23}\u{ff29} \u{ff30}\u{ff49}\u{ff50}\u{ff45}\u{ff4c}\u{ff49}\u{ff4e}\u{ff45}",
            None,
            None,
        );
        assert_eq!(d.keyword_scores["cicd"], 0.5, "{:?}", d.matched);
        // A keyword written decomposed matches a text written composed.
        let set =
            ExpertSet::new(vec![expert("development", &["cafe\u{301}"], &[], &[], &[])]).unwrap();
        let r = Router::keywords_only(&RoutingConfig::default(), &set);
        assert_eq!(
            r.route(composed, None, None).keyword_scores["development"],
            0.25
        );
        // The model reads the same features in every form.
        let m = model_router();
        let a = m.route("Harden the caf\u{e9} login against brute force", None, None);
        let b = m.route(
            "Harden the cafe\u{301} login against brute force",
            None,
            None,
        );
        assert_eq!(a.scores, b.scores);
    }

    #[test]
    fn a_technical_term_with_symbols_is_a_word_of_its_own() {
        let set = ExpertSet::new(vec![
            expert("development", &["c"], &["net", "node"], &[], &[]),
            expert("cicd", &["c++", "c#"], &[".net"], &[], &[]),
        ])
        .unwrap();
        let r = Router::keywords_only(&RoutingConfig::default(), &set);
        let d = r.route("Port the C++ parser", None, None);
        assert!(d.matched.contains_key("cicd"), "{:?}", d.matched);
        assert_eq!(d.matched["cicd"], vec!["c++"]);
        assert!(!d.matched.contains_key("development"), "{:?}", d.matched);
        let d = r.route("rewrite it in C#, then ship the .NET build", None, None);
        assert!(d.matched.contains_key("cicd"), "{:?}", d.matched);
        assert_eq!(d.matched["cicd"], vec!["c#", ".net"]);
        assert!(!d.matched.contains_key("development"), "{:?}", d.matched);
        let d = r.route("a C library for the net, on every node", None, None);
        assert!(!d.matched.contains_key("cicd"), "{:?}", d.matched);
        assert_eq!(d.keyword_scores["development"], 0.49);
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

    #[test]
    fn a_decision_serializes_as_maps_keyed_by_expert_and_reads_back() {
        let r = router();
        let d = r.route("implement and document the catalog", None, None);
        let v = serde_json::to_value(&d).unwrap();
        let names = [
            "cicd",
            "coordinator",
            "development",
            "inventory",
            "security",
        ];
        let keys = |field: &str| -> Vec<String> {
            v[field].as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys("scores"), names);
        assert_eq!(keys("keyword_scores"), names);
        assert_eq!(v["keyword_scores"]["inventory"], 0.2);
        assert_eq!(keys("matched"), ["development", "inventory"]);
        assert_eq!(
            v["matched"]["inventory"],
            serde_json::json!(["document", "catalog", "-implement"])
        );
        assert!(v.get("learned_scores").is_none());
        let back: Decision = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
        let person = Decision::by_person("cicd", Some("security"));
        let v = serde_json::to_value(&person).unwrap();
        assert_eq!(v["scores"], serde_json::json!({"cicd": 1.0}));
        assert_eq!(v["matched"], serde_json::json!({}));
        assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), person);
    }

    #[test]
    fn scores_in_the_explanation_are_cut_to_two_places_so_they_never_cross_a_threshold() {
        let mut values: Vec<f64> = (0..=2000).map(|i| f64::from(i) / 2000.0).collect();
        values.extend([
            0.125, 0.375, 0.005, 0.015, 0.035, 1e-12, 0.999_999, 1.0, 12.345, 0.29, 0.4999,
        ]);
        values.extend((0..1000u32).map(|i| blend_weight(0.5, f64::from(i) / 1000.0, u64::from(i))));
        for x in values {
            let mut s = String::new();
            push_2dp(&mut s, x);
            let shown: f64 = s.parse().unwrap();
            assert!(shown <= x + 1e-9 && x < shown + 0.01, "{x:e} read {s}");
            // Against every threshold of two places: below reads below.
            for t in (0..=100).map(|i| f64::from(i) / 100.0) {
                assert_eq!(x < t - 1e-9, shown < t - 1e-9, "{x:e} read {s} against {t}");
            }
        }
        // A value on the grid reads as itself.
        for i in 0..=100 {
            let x = f64::from(i) / 100.0;
            assert_eq!(two_places(x), format!("{x:.2}"));
        }
        assert_eq!(two_places(0.4999), "0.49");
    }
}
