//! What a routing decision says: the strategy (one expert, several in
//! parallel, or a low-confidence choice a person should confirm), the
//! method that decided it, and the `Decision` itself as stored and shown,
//! including a person's choice (`Decision::by_person`).
//!
//! May depend on: the per-expert maps (`super::scores`), task (the summary
//! a task keeps), serde.

use serde::{Deserialize, Serialize};

use super::scores::{ExpertScores, MatchedTerms};

/// How the work of a task is shared among experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One expert takes the task.
    SingleExpert,
    /// Several experts take the task, each with an assignment of its own.
    MultiExpertParallel,
    /// No expert reached the minimum: a person should confirm.
    SingleExpertLowConfidence,
}

impl Strategy {
    /// The strategy as written in the journal and shown (`"single_expert"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SingleExpert => "single_expert",
            Self::MultiExpertParallel => "multi_expert_parallel",
            Self::SingleExpertLowConfidence => "single_expert_low_confidence",
        }
    }
}

/// What decided a routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// An explicit task type decided.
    Type,
    /// The keyword scores alone.
    Keywords,
    /// Keyword scores blended with the learned layer.
    KeywordsLearned,
    /// A person chose the expert (`cortex reroute`).
    Person,
}

/// A routing decision, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The expert that leads the task.
    pub primary_expert: String,
    /// The primary expert's confidence, 0..1.
    pub confidence: f64,
    /// How the work is shared among experts.
    pub strategy: Strategy,
    /// Every expert that gets an assignment (the primary first).
    pub parallel_experts: Vec<String>,
    /// Final confidence per expert, 0..1.
    pub scores: ExpertScores,
    /// Keyword-only confidence per expert, 0..1.
    pub keyword_scores: ExpertScores,
    /// The model's probability per expert (with what corrections taught
    /// it), or, for a router without the model, the naive-Bayes layer's
    /// (calibrated, as blended) when it had a say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_scores: Option<ExpertScores>,
    /// Matched terms per expert (negatives prefixed with `-`).
    pub matched: MatchedTerms,
    /// What decided.
    pub method: Method,
    /// True when a person should confirm the choice.
    pub needs_confirmation: bool,
    /// One line saying why, for a person.
    pub explanation: String,
}

impl Decision {
    /// A person's choice, replacing the router's.
    pub fn by_person(expert: &str, previous: Option<&str>) -> Self {
        Decision {
            primary_expert: expert.to_string(),
            confidence: 1.0,
            strategy: Strategy::SingleExpert,
            parallel_experts: vec![expert.to_string()],
            scores: ExpertScores::from([(expert, 1.0)]),
            keyword_scores: ExpertScores::default(),
            learned_scores: None,
            matched: MatchedTerms::default(),
            method: Method::Person,
            needs_confirmation: false,
            explanation: match previous {
                Some(p) if p != expert => format!("a person moved the task from {p} to {expert}"),
                _ => format!("a person confirmed {expert}"),
            },
        }
    }

    /// The part of the decision a task keeps.
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
