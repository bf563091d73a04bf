//! The per-expert maps a decision carries: `ExpertScores` (one number per
//! expert), `MatchedTerms` (the terms each expert matched) and `Term` (one
//! matched term). They share the router's expert names instead of copying
//! them, and read and serialize as maps keyed by expert name.
//!
//! May depend on: serde, std.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Expert names in name order, shared by a router and its decisions.
pub(super) type Names = Arc<[String]>;

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
    pub(super) fn new(names: Names, values: Vec<f64>) -> Self {
        debug_assert_eq!(names.len(), values.len());
        Self { names, values }
    }

    /// The number of experts.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no experts.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value for `expert`, if the router knows it.
    pub fn get(&self, expert: &str) -> Option<&f64> {
        self.names
            .iter()
            .position(|n| n == expert)
            .map(|i| &self.values[i])
    }

    /// True when the router knows `expert`.
    pub fn contains_key(&self, expert: &str) -> bool {
        self.get(expert).is_some()
    }

    /// (expert, value) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &f64)> + '_ {
        self.names.iter().map(String::as_str).zip(&self.values)
    }

    /// The experts' names, in name order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    /// The values, in name order.
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
    /// The term as a string slice.
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
    pub(super) names: Names,
    /// (index into `names`, end of its terms in `terms`), in name order.
    pub(super) experts: Vec<(usize, usize)>,
    pub(super) terms: Vec<Term>,
}

impl MatchedTerms {
    /// The number of experts that matched something.
    pub fn len(&self) -> usize {
        self.experts.len()
    }

    /// True when no expert matched anything.
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

    /// The terms `expert` matched, if it matched any.
    pub fn get(&self, expert: &str) -> Option<&[Term]> {
        self.iter().find(|(n, _)| *n == expert).map(|(_, t)| t)
    }

    /// True when `expert` matched something.
    pub fn contains_key(&self, expert: &str) -> bool {
        self.get(expert).is_some()
    }

    /// The experts that matched something, in name order.
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
