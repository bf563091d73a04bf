//! The compiled keyword index and matching a text against it: the
//! keywords (by expert and kind), the FNV hasher of the vocabulary, what a
//! text matched (`Hits`, with its keyword points per expert), and the
//! per-thread buffers one decision works in (`Scratch`).
//!
//! May depend on: the router (`super`), the per-expert maps
//! (`super::scores`), text (tokens), linear (the feature type the buffers
//! hold).

use crate::linear::Feature;
use crate::text::Tokens;

use super::scores::{MatchedTerms, Term};
use super::{Router, ACTIVATION_POINTS, BOOSTER_POINTS, NEGATIVE_POINTS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Activation,
    Booster,
    Negative,
}

#[derive(Debug, Clone)]
pub(super) struct Keyword {
    pub(super) expert: usize,
    pub(super) kind: Kind,
    /// The term as shown: as written in the expert file, negatives with a
    /// leading `-`.
    pub(super) shown: Term,
    /// Vocabulary ids of the stemmed tokens after the first.
    pub(super) rest: Box<[u32]>,
}

/// FNV-1a for the keyword index: short keys, no adversary (the keys are the
/// expert files' own words), several times cheaper than SipHash here.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FnvBuild;

#[derive(Debug, Clone, Copy)]
pub(super) struct Fnv(u64);

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

/// What a text matched: the keywords in the order they were first found,
/// the counts per expert and kind, and the keywords grouped as shown.
#[derive(Default)]
pub(super) struct Hits {
    found: Vec<u32>,
    /// Per expert: activation, booster, negative matches.
    pub(super) counts: Vec<[i32; 3]>,
    /// `found` grouped by expert (in name order), then kind (activation,
    /// booster, negative), then the order found.
    grouped: Vec<u32>,
    /// Per expert, where its keywords end in `grouped`.
    ends: Vec<usize>,
    /// Per expert and kind, the next free place in `grouped` while grouping.
    slots: Vec<[usize; 3]>,
}

impl Hits {
    pub(super) fn points(&self, expert: usize) -> i32 {
        let [a, b, n] = self.counts[expert];
        (ACTIVATION_POINTS * a + BOOSTER_POINTS * b + NEGATIVE_POINTS * n).clamp(0, 100)
    }

    /// One expert's matched keywords, as shown.
    pub(super) fn of(&self, expert: usize) -> &[u32] {
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
pub(super) struct Scratch {
    pub(super) toks: Tokens,
    ids: Vec<u32>,
    pub(super) hits: Hits,
    pub(super) feats: Vec<Feature>,
    /// Byte ranges of the text's clauses (see `clauses`).
    pub(super) clauses: Vec<(usize, usize)>,
    /// The buffers a clause is routed in (made on first use).
    pub(super) clause: Option<Box<Scratch>>,
}

/// Buffers larger than this (bytes) are not kept after a decision.
pub(super) const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    pub(super) static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Router {
    /// Tokenizes `text` and finds the terms it matches, into `s`.
    pub(super) fn matches(&self, text: &str, s: &mut Scratch) {
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

    pub(super) fn matched_terms(&self, hits: &Hits) -> MatchedTerms {
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
}
