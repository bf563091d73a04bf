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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{ExpertSet, RoutingConfig};
use crate::learned::LearnedModel;
use crate::linear::{self, Feature, LinearModel};
use crate::text::{phrase, Tokens};

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

/// Expert names in name order, shared by a router and its decisions.
type Names = Arc<[String]>;

fn no_names() -> Names {
    Arc::from(Vec::new())
}

/// Equality, `Debug` and serialization as a map of expert name to value,
/// through the type's `iter()` of `(name, value)` pairs.
macro_rules! map_like {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.iter().eq(other.iter())
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_map().entries(self.iter()).finish()
            }
        }

        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.iter())
            }
        }
    };
}

/// One number per expert, in name order: a map from expert name to value
/// that shares the names with the router (a decision copies no names), and
/// is serialized as the JSON object `{"expert": value, ...}`.
#[derive(Clone)]
pub struct ExpertScores {
    names: Names,
    values: Vec<f64>,
}

impl ExpertScores {
    fn new(names: Names, values: Vec<f64>) -> Self {
        debug_assert_eq!(names.len(), values.len());
        Self { names, values }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, expert: &str) -> Option<&f64> {
        self.names
            .iter()
            .position(|n| n == expert)
            .map(|i| &self.values[i])
    }

    pub fn contains_key(&self, expert: &str) -> bool {
        self.get(expert).is_some()
    }

    /// (expert, value) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &f64)> + '_ {
        self.names.iter().map(String::as_str).zip(&self.values)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    pub fn values(&self) -> impl Iterator<Item = &f64> + '_ {
        self.values.iter()
    }
}

impl Default for ExpertScores {
    fn default() -> Self {
        Self::new(no_names(), Vec::new())
    }
}

impl std::ops::Index<&str> for ExpertScores {
    type Output = f64;
    fn index(&self, expert: &str) -> &f64 {
        match self.get(expert) {
            Some(v) => v,
            None => panic!("no score for expert `{expert}`"),
        }
    }
}

impl<'a> IntoIterator for &'a ExpertScores {
    type Item = (&'a str, &'a f64);
    type IntoIter = std::iter::Zip<
        std::iter::Map<std::slice::Iter<'a, String>, fn(&String) -> &str>,
        std::slice::Iter<'a, f64>,
    >;
    fn into_iter(self) -> Self::IntoIter {
        let name: fn(&String) -> &str = String::as_str;
        self.names.iter().map(name).zip(self.values.iter())
    }
}

map_like!(ExpertScores);

impl<'de> Deserialize<'de> for ExpertScores {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, f64>::deserialize(d)?;
        let (names, values): (Vec<String>, Vec<f64>) = map.into_iter().unzip();
        Ok(Self::new(names.into(), values))
    }
}

impl<const N: usize> From<[(&str, f64); N]> for ExpertScores {
    fn from(pairs: [(&str, f64); N]) -> Self {
        let map: BTreeMap<String, f64> =
            pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        let (names, values): (Vec<String>, Vec<f64>) = map.into_iter().unzip();
        Self::new(names.into(), values)
    }
}

/// One matched term as shown (negatives with a leading `-`). Shared with
/// the router, so a decision copies no text; reads as a `str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(Arc<str>);

impl Term {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Term {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Term {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Term {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Term {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for Term {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Term {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Term {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Serialize for Term {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(Arc::from(String::deserialize(d)?)))
    }
}

/// The matched terms per expert, only for experts that matched something,
/// in name order; serialized as the JSON object `{"expert": [terms], ...}`.
/// Reads like a map: `matched["security"]` is a slice of terms.
#[derive(Clone)]
pub struct MatchedTerms {
    names: Names,
    /// (index into `names`, end of its terms in `terms`), in name order.
    experts: Vec<(usize, usize)>,
    terms: Vec<Term>,
}

impl MatchedTerms {
    pub fn len(&self) -> usize {
        self.experts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.experts.is_empty()
    }

    /// (expert, terms) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Term])> + '_ {
        self.experts.iter().enumerate().map(|(k, &(name, end))| {
            let start = if k == 0 { 0 } else { self.experts[k - 1].1 };
            (self.names[name].as_str(), &self.terms[start..end])
        })
    }

    pub fn get(&self, expert: &str) -> Option<&[Term]> {
        self.iter().find(|(n, _)| *n == expert).map(|(_, t)| t)
    }

    pub fn contains_key(&self, expert: &str) -> bool {
        self.get(expert).is_some()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(n, _)| n)
    }
}

impl Default for MatchedTerms {
    fn default() -> Self {
        Self {
            names: no_names(),
            experts: Vec::new(),
            terms: Vec::new(),
        }
    }
}

impl std::ops::Index<&str> for MatchedTerms {
    type Output = [Term];
    fn index(&self, expert: &str) -> &[Term] {
        match self.get(expert) {
            Some(t) => t,
            None => panic!("no matched terms for expert `{expert}`"),
        }
    }
}

map_like!(MatchedTerms);

impl<'de> Deserialize<'de> for MatchedTerms {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Vec<Term>>::deserialize(d)?;
        let mut names = Vec::with_capacity(map.len());
        let mut experts = Vec::with_capacity(map.len());
        let mut terms = Vec::new();
        for (name, list) in map {
            terms.extend(list);
            experts.push((names.len(), terms.len()));
            names.push(name);
        }
        Ok(Self {
            names: names.into(),
            experts,
            terms,
        })
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
struct Keyword {
    expert: usize,
    kind: Kind,
    /// The term as shown: as written in the expert file, negatives with a
    /// leading `-`.
    shown: Term,
    /// Vocabulary ids of the stemmed tokens after the first.
    rest: Box<[u32]>,
}

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

/// Below this probability of its first expert, the model's decision is low
/// confidence (a person should confirm).
pub const MODEL_MIN_CONFIDENCE: f64 = 0.5;

/// The probability of the model at which an expert also gets the task
/// (parallel work), chosen by cross-validation on the training tasks.
pub const MODEL_PARALLEL: f64 = 0.6;

/// The linear model and, per expert of the router, its class in the model.
#[derive(Debug, Clone)]
struct ModelLink {
    model: Arc<LinearModel>,
    class_of: Vec<usize>,
}

/// What the model says about one text.
struct ModelOut {
    /// Probability per expert (router order).
    probs: Vec<f64>,
    /// The terms that pushed the first expert most.
    terms: Vec<String>,
    /// An expert that a clause of the text clearly belongs to (not the
    /// first), with the clause's probability.
    clause: Option<(usize, f64)>,
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

/// Appends `x` as `format!("{x:.2}")` would, without the general float
/// formatter in the common case (a value clearly on one side of a rounding
/// tie); ties and odd values take the general path, so the text is the same.
fn push_2dp(out: &mut String, x: f64) {
    let y = x * 100.0;
    if x.is_sign_positive() && y < 1e9 {
        let floor = y.floor();
        let frac = y - floor;
        if (frac - 0.5).abs() > 1e-6 {
            let n = floor as u64 + u64::from(frac > 0.5);
            push_u64(out, n / 100);
            out.push('.');
            let cents = (n % 100) as u8;
            out.push(char::from(b'0' + cents / 10));
            out.push(char::from(b'0' + cents % 10));
            return;
        }
    }
    use std::fmt::Write;
    let _ = write!(out, "{x:.2}");
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

/// What a text matched: the keywords in the order they were first found,
/// the counts per expert and kind, and the keywords grouped as shown.
#[derive(Default)]
struct Hits {
    found: Vec<u32>,
    /// Per expert: activation, booster, negative matches.
    counts: Vec<[i32; 3]>,
    /// `found` grouped by expert (in name order), then kind (activation,
    /// booster, negative), then the order found.
    grouped: Vec<u32>,
    /// Per expert, where its keywords end in `grouped`.
    ends: Vec<usize>,
    /// Per expert and kind, the next free place in `grouped` while grouping.
    slots: Vec<[usize; 3]>,
}

impl Hits {
    fn points(&self, expert: usize) -> i32 {
        let [a, b, n] = self.counts[expert];
        (ACTIVATION_POINTS * a + BOOSTER_POINTS * b + NEGATIVE_POINTS * n).clamp(0, 100)
    }

    /// One expert's matched keywords, as shown.
    fn of(&self, expert: usize) -> &[u32] {
        let start = if expert == 0 {
            0
        } else {
            self.ends[expert - 1]
        };
        &self.grouped[start..self.ends[expert]]
    }
}

/// Buffers one decision works in, kept per thread so that routing a text
/// allocates only what the decision itself holds.
#[derive(Default)]
struct Scratch {
    toks: Tokens,
    ids: Vec<u32>,
    hits: Hits,
    feats: Vec<Feature>,
    /// Per token, its clause (`u16::MAX`: a joining word).
    clause_of: Vec<u16>,
    /// Per clause: the summed weights per class, then the feature count.
    clause_sums: Vec<f32>,
}

/// Buffers larger than this (bytes) are not kept after a decision.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Examples at which the learned layer reaches half its configured weight.
pub const LEARNING_HALF_EXAMPLES: f64 = 50.0;

/// The learned layer's posterior is calibrated before it is blended: its
/// log-probabilities are divided by this and renormalized. Naive Bayes
/// counts every word in its own feature and again in the word pairs it
/// forms, so it sees the same evidence about twice and is overconfident;
/// uncalibrated, a near-certain model drowns a keyword score wherever the
/// blend gives it a say. The model's first choice does not change.
pub const LEARNED_TEMPERATURE: f64 = 2.0;

/// `p` with its log-probabilities divided by `LEARNED_TEMPERATURE`,
/// renormalized.
pub fn calibrate(p: &[f64]) -> Vec<f64> {
    let scaled: Vec<f64> = p
        .iter()
        .map(|x| x.powf(1.0 / LEARNED_TEMPERATURE))
        .collect();
    let sum: f64 = scaled.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        scaled.iter().map(|x| x / sum).collect()
    } else {
        p.to_vec()
    }
}

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

    /// The model's probabilities (router order) and the terms that pushed
    /// the top expert most, from the tokens in `s`.
    fn model_scores(
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

    /// Tokenizes `text` and finds the terms it matches, into `s`.
    fn matches(&self, text: &str, s: &mut Scratch) {
        s.toks.clear();
        s.toks.push_text(text);
        s.ids.clear();
        s.ids.extend(
            s.toks
                .iter()
                .map(|t| self.vocab.get(t).copied().unwrap_or(u32::MAX)),
        );
        let hits = &mut s.hits;
        hits.found.clear();
        hits.counts.clear();
        hits.counts.resize(self.names.len(), [0; 3]);
        let ids = &s.ids;
        for (pos, &id) in ids.iter().enumerate() {
            let Some(starting) = self.starts.get(id as usize) else {
                continue;
            };
            for &k in starting {
                let kw = &self.keywords[k as usize];
                let end = pos + 1 + kw.rest.len();
                if end > ids.len() || ids[pos + 1..end] != *kw.rest {
                    continue;
                }
                if !hits.found.contains(&k) {
                    hits.found.push(k);
                    hits.counts[kw.expert][kw.kind as usize] += 1;
                }
            }
        }
        // Group what was found: a counting sort by (expert, kind), stable.
        let mut next: [usize; 3] = [0; 3];
        hits.slots.clear();
        hits.ends.clear();
        let mut at = 0;
        for c in &hits.counts {
            for (kind, n) in c.iter().enumerate() {
                next[kind] = at;
                at += *n as usize;
            }
            hits.slots.push(next);
            hits.ends.push(at);
        }
        hits.grouped.clear();
        hits.grouped.resize(hits.found.len(), 0);
        for &k in &hits.found {
            let kw = &self.keywords[k as usize];
            let slot = &mut hits.slots[kw.expert][kw.kind as usize];
            hits.grouped[*slot] = k;
            *slot += 1;
        }
    }

    fn matched_terms(&self, hits: &Hits) -> MatchedTerms {
        let experts = (0..self.names.len())
            .filter(|&i| hits.counts[i] != [0; 3])
            .map(|i| (i, hits.ends[i]))
            .collect();
        let terms = hits
            .grouped
            .iter()
            .map(|&k| self.keywords[k as usize].shown.clone())
            .collect();
        MatchedTerms {
            names: self.names.clone(),
            experts,
            terms,
        }
    }

    /// Routes a task. `learned` is blended in when it has enough examples.
    pub fn route(
        &self,
        text: &str,
        task_type: Option<&str>,
        learned: Option<&LearnedModel>,
    ) -> Decision {
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
            .map(|link| self.model_scores(link, s, &keyword, learned.filter(enabled)));
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
                learned_scores: model_out
                    .as_ref()
                    .map(|o| o.probs.as_slice())
                    .or(learned_probs.as_deref())
                    .map(by_name),
                matched: self.matched_terms(hits),
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
        let mut parallel: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| final_scores[i] >= multi)
            .collect();
        if parallel.len() < 2 && top_score >= MODEL_MIN_CONFIDENCE {
            if let Some((i, _)) = model_out.as_ref().and_then(|o| o.clause) {
                if i != top && final_scores[i] >= CLAUSE_SUPPORT {
                    parallel = vec![top, i];
                }
            }
        }
        let hits = &s.hits;
        let min = if model_out.is_some() {
            MODEL_MIN_CONFIDENCE
        } else {
            cfg.min_activation
        };
        let (strategy, primary, experts) = if top_score < min {
            let primary = if top_score > 0.0 { top } else { self.fallback };
            (Strategy::SingleExpertLowConfidence, primary, vec![primary])
        } else if parallel.len() >= 2 {
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
                explanation.push_str(" all reach ");
                if model_out.is_some() {
                    push_2dp(&mut explanation, multi);
                } else {
                    explanation.push_str(&self.multi_shown);
                }
                explanation.push_str(": parallel");
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
            confidence: (final_scores[primary] * 1000.0).round() / 1000.0,
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
    fn scores_in_the_explanation_read_as_the_formatter_would_write_them() {
        let mut values: Vec<f64> = (0..=2000).map(|i| f64::from(i) / 2000.0).collect();
        values.extend([
            0.125, 0.375, 0.005, 0.015, 0.035, 1e-12, 0.999_999, 1.0, 12.345,
        ]);
        values.extend((0..1000u32).map(|i| blend_weight(0.5, f64::from(i) / 1000.0, u64::from(i))));
        for x in values {
            let mut s = String::new();
            push_2dp(&mut s, x);
            assert_eq!(s, format!("{x:.2}"), "{x:e}");
        }
    }
}
