//! The learned primary scorer: a one-vs-rest logistic model over hashed
//! features of the task text, plus the keyword scores of every expert.
//!
//! Features: stemmed words, adjacent word pairs, and character 3- and
//! 4-grams of every word with its boundaries (`<word>`), hashed (FNV-1a)
//! into `BUCKETS` buckets; every feature weighs `1 / sqrt(n)` for a text of
//! `n` features, so a text's feature vector has unit length. The keyword
//! score of each expert (0..1) is a dense input of every class. Each expert's
//! probability is `sigmoid(bias + weights . x)` on its own, so two experts can
//! both be likely (parallel work) and none can be (low confidence).
//!
//! Training (`train`) is plain stochastic gradient descent on the log loss
//! with a seeded, fixed order: the same data gives the same bytes. The
//! shipped model is trained by `cortex router train` from the data in
//! `tests/data/routing/` and embedded in the binary (`shipped`).

use std::sync::{Arc, OnceLock};

use crate::text::Tokens;

mod form;
mod weights;

pub use form::BUCKETS;
use form::{quantize, MAGIC};
pub use weights::Quantized;
use weights::{Packed, Rows, Weights};
const MASK: u64 = BUCKETS as u64 - 1;
/// Words of a text that count; the rest of a very long text is ignored.
pub const MAX_TOKENS: usize = 400;

/// The model as trained and shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// Class (expert) names, in the model's order.
    pub classes: Vec<String>,
    /// Per class.
    pub bias: Vec<f32>,
    /// `kw[c * k + e]`: weight of expert `e`'s keyword score for class `c`.
    pub kw: Vec<f32>,
    /// Weight of bucket `b` for class `c`, at `b * k + c`.
    weights: Weights,
    /// The weights as 16-bit integers, made on first use for a model built
    /// in memory (routing reads half the memory; training uses `weights`).
    /// The shipped model was quantized when the binary was built.
    packed: OnceLock<Packed>,
}

/// One hashed feature of a text, with where it came from (for explanations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The hash bucket the feature falls into.
    pub bucket: u32,
    /// The token it starts at.
    pub token: u16,
    /// 0: word, 1: word pair, 3 or 4: that many characters of `<token>`.
    pub kind: u8,
    /// For character n-grams, the offset in `<token>`.
    pub offset: u8,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

#[inline]
fn bucket(h: u64) -> u32 {
    // Mix the high bits in: FNV's low bits alone spread short keys poorly.
    ((h ^ (h >> 29) ^ (h >> 47)) & MASK) as u32
}

/// How a text is written, as bits (`style`). Commit subjects ("fix css
/// leaking into emitted js") are written differently from the requests
/// people give a fleet, and the two have different shares of each expert
/// (most commit subjects are development work); features for a
/// subject-like text let the model keep the two priors apart.
pub type Style = u8;
/// The first letter is lowercase.
pub const STYLE_LOWER: Style = 1;
/// It does not end as a sentence does (`.`, `!`, `?`).
pub const STYLE_OPEN: Style = 2;
/// At most `SHORT_WORDS` words.
pub const STYLE_SHORT: Style = 4;
/// It starts with a scope: one word and a colon (`deps: bump lodash`).
pub const STYLE_SCOPE: Style = 8;
const SHORT_WORDS: usize = 8;
/// The kind of a style feature.
pub const KIND_STYLE: u8 = 5;

/// How `text` is written (`STYLE_*` bits).
pub fn style(text: &str) -> Style {
    let text = crate::text::normal(text);
    let t = text.trim();
    let mut bits = 0;
    if t.chars()
        .find(|c| c.is_alphabetic())
        .is_some_and(char::is_lowercase)
    {
        bits |= STYLE_LOWER;
    }
    if !t.ends_with(['.', '!', '?']) {
        bits |= STYLE_OPEN;
    }
    if t.split_whitespace().count() <= SHORT_WORDS {
        bits |= STYLE_SHORT;
    }
    let head = t.split_whitespace().next().unwrap_or("");
    if let Some(scope) = head.strip_suffix(':') {
        if !scope.is_empty()
            && scope
                .chars()
                .all(|c| c.is_alphanumeric() || "-_/.".contains(c))
        {
            bits |= STYLE_SCOPE;
        }
    }
    bits
}

/// True when a text of this style reads as a commit subject: lowercase,
/// not a sentence, and short or with a scope.
pub fn subject_like(style: Style) -> bool {
    style & (STYLE_LOWER | STYLE_OPEN) == STYLE_LOWER | STYLE_OPEN
        && style & (STYLE_SHORT | STYLE_SCOPE) != 0
}

/// The features of a text's tokens and, for a subject-like text, of its
/// style (one per bit and one for the combination, after the text's own),
/// appended to `out`; returns the value of each feature (`1 / sqrt(n)`, 0
/// for none). Other texts get no style feature: measured, style features
/// on every text ran fewer two-expert requests in parallel.
pub fn features_styled(toks: &Tokens, style: Style, out: &mut Vec<Feature>) -> f32 {
    features(toks, out);
    if !out.is_empty() && subject_like(style) {
        let base = fnv(FNV_OFFSET, b"style:");
        for bit in 0..4u8 {
            if style & (1 << bit) != 0 {
                out.push(Feature {
                    bucket: bucket(fnv(base, &[b'b', bit])),
                    token: 0,
                    kind: KIND_STYLE,
                    offset: bit,
                });
            }
        }
        out.push(Feature {
            bucket: bucket(fnv(base, &[b'c', style])),
            token: 0,
            kind: KIND_STYLE,
            offset: 16 + style,
        });
    }
    if out.is_empty() {
        0.0
    } else {
        1.0 / (out.len() as f32).sqrt()
    }
}

/// A text's own features, without the style features after them (what a
/// correction teaches, and what an explanation shows).
pub fn content(feats: &[Feature]) -> &[Feature] {
    let n = feats
        .iter()
        .rposition(|f| f.kind != KIND_STYLE)
        .map_or(0, |i| i + 1);
    &feats[..n]
}

/// The features of tokenized text, appended to `out`; returns the value of
/// each feature (`1 / sqrt(n)`, 0 for no features). Private: the model is
/// trained and read on `features_styled`, and features without the style
/// would not be what it learned.
fn features(toks: &Tokens, out: &mut Vec<Feature>) -> f32 {
    let n = toks.len().min(MAX_TOKENS);
    let mut prev: Option<u64> = None;
    for i in 0..n {
        let t = toks.get(i).as_bytes();
        let tok = i as u16;
        let hw = fnv(fnv(FNV_OFFSET, b"w"), t);
        out.push(Feature {
            bucket: bucket(hw),
            token: tok,
            kind: 0,
            offset: 0,
        });
        if let Some(hp) = prev {
            let hpair = fnv(fnv(hp ^ 0x5bd1_e995, b" "), t);
            out.push(Feature {
                bucket: bucket(hpair),
                token: tok - 1,
                kind: 1,
                offset: 0,
            });
        }
        prev = Some(hw);
        // Character n-grams of `<t>`; long words only up to 32 bytes.
        let len = t.len().min(32) + 2;
        let at = |j: usize| -> u8 {
            if j == 0 {
                b'<'
            } else if j == len - 1 {
                b'>'
            } else {
                t[j - 1]
            }
        };
        for g in 3..=4usize {
            if len < g {
                break;
            }
            for s in 0..=(len - g) {
                let mut h = FNV_OFFSET ^ (g as u64);
                for j in s..s + g {
                    h ^= u64::from(at(j));
                    h = h.wrapping_mul(FNV_PRIME);
                }
                out.push(Feature {
                    bucket: bucket(h),
                    token: tok,
                    kind: g as u8,
                    offset: s as u8,
                });
            }
        }
    }
    if out.is_empty() {
        0.0
    } else {
        1.0 / (out.len() as f32).sqrt()
    }
}

/// A feature as a person reads it: the word, the pair, or the characters
/// (`<` and `>` mark a word's start and end).
pub fn describe(toks: &Tokens, f: &Feature) -> String {
    let t = toks.get(usize::from(f.token));
    match f.kind {
        KIND_STYLE => "(written as a commit subject)".to_string(),
        0 => t.to_string(),
        1 => format!("{t} {}", toks.get(usize::from(f.token) + 1)),
        g => {
            // The n-gram is of bytes: shown as the whole characters those
            // bytes are part of, every one of them in the text.
            let padded = format!("<{}>", &t[..floor_char(t, 32)]);
            let s = floor_char(&padded, usize::from(f.offset));
            let mut e = (usize::from(f.offset) + usize::from(g)).min(padded.len());
            while !padded.is_char_boundary(e) {
                e += 1;
            }
            padded[s..e].to_string()
        }
    }
}

fn floor_char(t: &str, max: usize) -> usize {
    let mut i = max.min(t.len());
    while !t.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The logistic function: a logit as a probability.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl LinearModel {
    /// The number of classes (experts).
    pub fn k(&self) -> usize {
        self.classes.len()
    }

    /// A model that knows `classes` and nothing else.
    pub fn empty(classes: Vec<String>) -> Self {
        let k = classes.len();
        Self {
            classes,
            bias: vec![0.0; k],
            kw: vec![0.0; k * k],
            weights: Weights::Owned(vec![0.0; BUCKETS * k]),
            packed: OnceLock::new(),
        }
    }

    /// The quantized weights and their scale: `weight ~ q * scale`. A model
    /// built in memory quantizes its weights on first use, once.
    pub fn quantized(&self) -> Quantized<'_> {
        let (rows, scale) = match &self.weights {
            Weights::Shipped { q, scale, .. } => (Rows::Bytes(q), *scale),
            Weights::Owned(w) => {
                let p = self.packed.get_or_init(|| {
                    let scale = form::scale_of(w.iter().copied());
                    Packed {
                        q: w.iter().map(|&w| quantize(w, scale)).collect(),
                        scale,
                    }
                });
                (Rows::Ints(&p.q), p.scale)
            }
        };
        Quantized {
            rows,
            k: self.k(),
            scale,
        }
    }

    /// Makes the model ready for routing (quantized, when built in memory).
    pub fn prepare(&self) {
        let _ = self.quantized();
    }

    /// `logits` on the quantized weights: what routing uses.
    pub fn logits_packed(&self, feats: &[Feature], value: f32, kw_scores: &[f32], out: &mut [f32]) {
        let k = self.k();
        let mut acc = [0i32; 16];
        let acc = &mut acc[..k.min(16)];
        if k > 16 {
            return self.logits(feats, value, kw_scores, out);
        }
        let q = self.quantized();
        for f in feats {
            q.add_row(f.bucket, acc);
        }
        let unit = q.scale * value;
        for (c, o) in out.iter_mut().enumerate().take(k) {
            let row = &self.kw[c * k..][..k];
            *o = self.bias[c]
                + acc[c] as f32 * unit
                + row.iter().zip(kw_scores).map(|(w, s)| w * s).sum::<f32>();
        }
    }

    /// Logits per class (model order) into `out`: `kw_scores` in model order.
    pub fn logits(&self, feats: &[Feature], value: f32, kw_scores: &[f32], out: &mut [f32]) {
        let k = self.k();
        out[..k].copy_from_slice(&self.bias);
        for f in feats {
            let at = f.bucket as usize * k;
            for (c, o) in out.iter_mut().enumerate().take(k) {
                *o += self.weights.get(at + c) * value;
            }
        }
        for (c, o) in out.iter_mut().enumerate().take(k) {
            let row = &self.kw[c * k..][..k];
            *o += row.iter().zip(kw_scores).map(|(w, s)| w * s).sum::<f32>();
        }
    }

    /// The compact little-endian binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.weights.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.k() as u32).to_le_bytes());
        out.extend_from_slice(&(BUCKETS as u32).to_le_bytes());
        for c in &self.classes {
            out.push(c.len() as u8);
            out.extend_from_slice(c.as_bytes());
        }
        for x in self.bias.iter().chain(&self.kw) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for i in 0..self.weights.len() {
            out.extend_from_slice(&self.weights.get(i).to_le_bytes());
        }
        out
    }

    /// Reads the form `to_bytes` writes; `None` if it is malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let (classes, bias, kw, weights) = parts(b)?;
        let weights: Vec<f32> = form::floats(weights).collect();
        // A weight that is not a number routes nothing truthfully.
        if !bias
            .iter()
            .chain(&kw)
            .chain(&weights)
            .all(|w| w.is_finite())
        {
            return None;
        }
        Some(Self {
            classes,
            bias,
            kw,
            weights: Weights::Owned(weights),
            packed: OnceLock::new(),
        })
    }
}

/// The parts of the form `to_bytes` writes: classes, biases, keyword
/// weights, and the bucket weights still as bytes; `None` if it is malformed.
type Parts<'a> = (Vec<String>, Vec<f32>, Vec<f32>, &'a [u8]);

fn parts(b: &[u8]) -> Option<Parts<'_>> {
    let form::Split {
        classes,
        dense,
        weights,
    } = form::split(b)?;
    let k = classes.len();
    let dense: Vec<f32> = form::floats(dense).collect();
    Some((classes, dense[..k].to_vec(), dense[k..].to_vec(), weights))
}

static SHIPPED_BYTES: &[u8] = include_bytes!("../data/router-model.bin");
/// The shipped model's bucket weights quantized by the build script.
static SHIPPED_Q16: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/router-model.q16"));
/// Their scale.
const SHIPPED_SCALE: f32 = include!(concat!(env!("OUT_DIR"), "/router-model-scale.rs"));

/// The model shipped in the binary, if it is present and well-formed. Its
/// bucket weights are read in place.
pub fn shipped() -> Option<Arc<LinearModel>> {
    static SHIPPED: OnceLock<Option<Arc<LinearModel>>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            let (classes, bias, kw, bytes) = parts(SHIPPED_BYTES)?;
            Some(Arc::new(LinearModel {
                classes,
                bias,
                kw,
                weights: Weights::Shipped {
                    bytes,
                    q: SHIPPED_Q16,
                    scale: SHIPPED_SCALE,
                },
                packed: OnceLock::new(),
            }))
        })
        .clone()
}

/// Makes the shipped model ready for routing (checked and its small parts
/// decoded), so the first decision does not pay for it: a long-running
/// owner calls this when it starts.
pub fn warm() {
    if let Some(m) = shipped() {
        m.prepare();
    }
}

/// One training example: a text, its keyword scores (model order), the
/// classes it belongs to, and how much it counts.
#[derive(Debug, Clone)]
pub struct TrainItem {
    /// The task text.
    pub text: String,
    /// Keyword score per class, 0..1, in the model's order.
    pub kw_scores: Vec<f32>,
    /// The classes (indices into the model's classes) the text belongs to.
    pub labels: Vec<usize>,
    /// How much the item counts in training.
    pub weight: f32,
}

/// Settings of one training run.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Passes over the training items.
    pub epochs: usize,
    /// Learning rate of the first epoch; epoch `e` uses `rate / (1 + e/2)`.
    pub rate: f32,
    /// Weight decay per epoch (L2), as a share of the weight.
    pub decay: f32,
    /// Seed of the order the items are visited in.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 10,
            rate: 2.0,
            decay: 0.01,
            seed: 18,
        }
    }
}

/// Trains a model (deterministic: the same items in the same order and the
/// same options give the same model, bit for bit).
pub fn train(classes: Vec<String>, items: &[TrainItem], opts: TrainOptions) -> LinearModel {
    let k = classes.len();
    let mut m = LinearModel::empty(classes);
    let mut weights = vec![0.0f32; BUCKETS * k];
    let mut toks = Tokens::default();
    let prepared: Vec<(Vec<u32>, f32)> = items
        .iter()
        .map(|it| {
            toks.clear();
            toks.push_text(&it.text);
            let mut f = Vec::new();
            let v = features_styled(&toks, style(&it.text), &mut f);
            (f.iter().map(|f| f.bucket).collect(), v)
        })
        .collect();
    let mut order: Vec<usize> = (0..items.len()).collect();
    let mut rng = opts.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut z = vec![0.0f32; k];
    let mut g = vec![0.0f32; k];
    for epoch in 0..opts.epochs {
        // Fisher-Yates with xorshift64.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let rate = opts.rate / (1.0 + epoch as f32 / 2.0);
        for &i in &order {
            let it = &items[i];
            let (buckets, v) = &prepared[i];
            z.copy_from_slice(&m.bias);
            for &b in buckets {
                for (zc, w) in z.iter_mut().zip(&weights[b as usize * k..][..k]) {
                    *zc += w * v;
                }
            }
            for c in 0..k {
                z[c] += m.kw[c * k..][..k]
                    .iter()
                    .zip(&it.kw_scores)
                    .map(|(w, s)| w * s)
                    .sum::<f32>();
                let y = if it.labels.contains(&c) { 1.0 } else { 0.0 };
                g[c] = rate * it.weight * (y - sigmoid(z[c]));
            }
            for (c, &gc) in g.iter().enumerate() {
                m.bias[c] += gc * 0.1;
                for (w, s) in m.kw[c * k..][..k].iter_mut().zip(&it.kw_scores) {
                    *w += gc * s;
                }
            }
            for &b in buckets {
                for (w, gc) in weights[b as usize * k..][..k].iter_mut().zip(&g) {
                    *w += gc * v;
                }
            }
        }
        let keep = 1.0 - opts.decay;
        for w in weights.iter_mut().chain(m.kw.iter_mut()) {
            *w *= keep;
        }
    }
    m.weights = Weights::Owned(weights);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Tokens {
        let mut t = Tokens::default();
        t.push_text(s);
        t
    }

    #[test]
    fn features_have_unit_length_and_read_back() {
        let t = toks("fix sql");
        let mut f = Vec::new();
        let v = features(&t, &mut f);
        // 2 words, 1 pair, "<fix>" 3+2, "<sql>" 3+2
        assert_eq!(f.len(), 2 + 1 + 5 + 5);
        assert!((v * v * f.len() as f32 - 1.0).abs() < 1e-5);
        let shown: Vec<String> = f.iter().map(|x| describe(&t, x)).collect();
        assert!(shown.contains(&"fix sql".to_string()), "{shown:?}");
        assert!(shown.contains(&"<sql".to_string()), "{shown:?}");
        assert!(shown.contains(&"fix>".to_string()), "{shown:?}");
        // Bytes of letters of several bytes are shown as those letters,
        // each of them in the text, never as a broken character.
        let text = "修复搜索查询中的SQL注入";
        let t = toks(text);
        let mut f = Vec::new();
        features(&t, &mut f);
        for x in &f {
            let shown = describe(&t, x);
            assert!(!shown.contains('\u{fffd}'), "{shown}");
            let bare = shown.trim_start_matches('<').trim_end_matches('>');
            assert!(
                text.to_lowercase().contains(bare),
                "{shown} not in the text"
            );
        }
    }

    #[test]
    fn how_a_text_is_written() {
        let all = STYLE_LOWER | STYLE_OPEN | STYLE_SHORT | STYLE_SCOPE;
        assert_eq!(style("deps: bump lodash to 4.17.21"), all);
        assert_eq!(style("plugin-legacy: fix the csp hash"), all);
        assert_eq!(style("fix css leaking into emitted js"), all & !STYLE_SCOPE);
        assert_eq!(style("Fix the login bug."), STYLE_SHORT);
        assert_eq!(
            style("  `sync` drops the last record  "),
            STYLE_LOWER | STYLE_OPEN | STYLE_SHORT
        );
        assert_eq!(
            style("Rotate the AWS keys that leaked in the build log and check who used them"),
            STYLE_OPEN
        );
        assert_eq!(
            style("Note: the cache is cold"),
            STYLE_OPEN | STYLE_SHORT | STYLE_SCOPE
        );
        assert_eq!(style("a: b"), all);
        assert_eq!(
            style(": nothing"),
            all & !STYLE_SCOPE,
            "no scope before the colon"
        );
        assert!(subject_like(style("fix css leaking into emitted js")));
        assert!(!subject_like(style("Fix the login bug.")));
        assert!(!subject_like(style(
            "fix the login bug, it drops the session."
        )));
        assert!(!subject_like(style(
            "fix the login bug that drops the session when the token is refreshed twice"
        )));
    }

    #[test]
    fn only_subject_like_texts_get_style_features_and_they_come_last() {
        for (text, styled) in [
            ("fix css leaking into emitted js", true),
            (
                "deps: update all non-major dependencies of the workspace and the docs",
                true,
            ),
            ("Fix the CSS that leaks into the emitted JavaScript.", false),
        ] {
            let t = toks(text);
            let mut plain = Vec::new();
            let v0 = features(&t, &mut plain);
            let mut f = Vec::new();
            let v = features_styled(&t, style(text), &mut f);
            let extra = f.iter().filter(|x| x.kind == KIND_STYLE).count();
            assert_eq!(extra > 0, styled, "{text}");
            assert_eq!(content(&f), &plain[..], "{text}");
            assert_eq!(f.len(), plain.len() + extra);
            assert!((v * v * f.len() as f32 - 1.0).abs() < 1e-5);
            assert!(v <= v0);
            assert!(f.iter().all(|x| !describe(&t, x).is_empty()));
        }
        let mut f = Vec::new();
        assert_eq!(features_styled(&toks(""), style(""), &mut f), 0.0);
        assert!(f.is_empty(), "no words, no style");
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let items: Vec<TrainItem> = (0..40)
            .map(|i| TrainItem {
                text: if i % 2 == 0 {
                    format!("alpha thing {i}")
                } else {
                    format!("beta stuff {i}")
                },
                kw_scores: vec![0.0, 0.0],
                labels: vec![i % 2],
                weight: 1.0,
            })
            .collect();
        let m1 = train(classes.clone(), &items, TrainOptions::default());
        let m2 = train(classes, &items, TrainOptions::default());
        assert_eq!(m1.to_bytes(), m2.to_bytes());
        assert_eq!(LinearModel::from_bytes(&m1.to_bytes()).as_ref(), Some(&m1));
        let t = toks("alpha again");
        let mut f = Vec::new();
        let v = features(&t, &mut f);
        let mut z = [0.0; 2];
        m1.logits(&f, v, &[0.0, 0.0], &mut z);
        assert!(z[0] > z[1], "{z:?}");
    }

    #[test]
    fn the_shipped_model_is_present_and_knows_the_five_experts() {
        let m = shipped().expect("shipped model");
        let mut c = m.classes.clone();
        c.sort();
        assert_eq!(
            c,
            [
                "cicd",
                "coordinator",
                "development",
                "inventory",
                "security"
            ]
        );
    }

    #[test]
    fn the_shipped_model_read_in_place_routes_as_its_decoded_copy() {
        let in_place = shipped().expect("shipped model");
        let decoded = LinearModel::from_bytes(SHIPPED_BYTES).expect("well-formed");
        assert!(matches!(in_place.weights, Weights::Shipped { .. }));
        assert_eq!(*in_place, decoded);
        assert_eq!(in_place.to_bytes(), SHIPPED_BYTES);
        // The build script quantized the shipped weights as a decoded copy
        // does, so every quantized row is the same.
        let (qa, qb) = (in_place.quantized(), decoded.quantized());
        assert_eq!(qa.scale.to_bits(), qb.scale.to_bits());
        let k = decoded.k();
        let (mut a, mut b) = (vec![0i16; k], vec![0i16; k]);
        for bucket in 0..BUCKETS as u32 {
            qa.row(bucket, &mut a);
            qb.row(bucket, &mut b);
            assert_eq!(a, b, "bucket {bucket}");
        }
        for text in [
            "fix the flaky login test in CI",
            "audit the dependency tree for CVEs",
            "",
        ] {
            let mut f = Vec::new();
            let v = features_styled(&toks(text), style(text), &mut f);
            let kw = vec![0.25; k];
            let (mut za, mut zb) = (vec![0.0; k], vec![0.0; k]);
            in_place.logits_packed(&f, v, &kw, &mut za);
            decoded.logits_packed(&f, v, &kw, &mut zb);
            assert_eq!(za, zb, "{text}");
            in_place.logits(&f, v, &kw, &mut za);
            decoded.logits(&f, v, &kw, &mut zb);
            assert_eq!(za, zb, "{text}");
        }
    }
}
