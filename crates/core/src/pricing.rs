//! What tokens cost: a per-model price table and the live estimate made
//! from a stream's token counts. The agent's own `total_cost_usd` replaces
//! the estimate when its result line arrives, if it is credible
//! (`stream::credible_cost`); until then (and for an attempt killed before
//! it) the estimate is all there is, and it is shown as an estimate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stream::Tokens;

/// Prices of one model family, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Price of input tokens.
    pub input_per_mtok: f64,
    /// Price of output tokens.
    pub output_per_mtok: f64,
    /// Price of tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_per_mtok: f64,
    /// Price of tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write_per_mtok: f64,
}

impl ModelPrice {
    const fn new(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Self {
        Self {
            input_per_mtok: input,
            output_per_mtok: output,
            cache_read_per_mtok: cache_read,
            cache_write_per_mtok: cache_write,
        }
    }

    /// The cost of these tokens at this price.
    pub fn cost(&self, t: &Tokens) -> f64 {
        let m = |n: u64, per: f64| n as f64 * per / 1_000_000.0;
        m(t.input, self.input_per_mtok)
            + m(t.output, self.output_per_mtok)
            + m(t.cache_read, self.cache_read_per_mtok)
            + m(t.cache_creation, self.cache_write_per_mtok)
    }
}

/// The key of the entry used for a model no other key matches.
pub const DEFAULT_KEY: &str = "default";

/// The shipped table: a key matches a model whose name contains it, the
/// longest key first (`claude-opus-4-1-20250805` matches `opus-4-1`, a
/// newer `claude-opus-4-5-…` only `opus`). A family's bare key is its
/// current price; the older models priced otherwise have keys of their
/// own (Opus 4.0 and 4.1 and Claude 3 Opus at 15/75, Claude 3.5 and 3
/// Haiku below Haiku 4.5). Overridable per key in config.json.
pub fn shipped() -> BTreeMap<String, ModelPrice> {
    let old_opus = ModelPrice::new(15.0, 75.0, 1.5, 18.75);
    [
        ("opus", ModelPrice::new(5.0, 25.0, 0.5, 6.25)),
        ("opus-4-1", old_opus),
        ("opus-4-0", old_opus),
        ("opus-4-20250514", old_opus),
        ("opus-4@", old_opus),
        ("3-opus", old_opus),
        ("sonnet", ModelPrice::new(3.0, 15.0, 0.3, 3.75)),
        ("haiku", ModelPrice::new(1.0, 5.0, 0.1, 1.25)),
        ("3-5-haiku", ModelPrice::new(0.8, 4.0, 0.08, 1.0)),
        ("3-haiku", ModelPrice::new(0.25, 1.25, 0.03, 0.3)),
        (DEFAULT_KEY, ModelPrice::new(3.0, 15.0, 0.3, 3.75)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The price for a model: the longest key its name contains (a key that
/// ends in a digit only where no digit follows: `opus-4-1` is not in
/// `opus-4-10`), else the `default` entry, else none (then there is no
/// estimate).
pub fn price_for<'a>(
    table: &'a BTreeMap<String, ModelPrice>,
    model: Option<&str>,
) -> Option<&'a ModelPrice> {
    let model = model.unwrap_or("").to_ascii_lowercase();
    table
        .iter()
        .filter(|(k, _)| k.as_str() != DEFAULT_KEY && names(&model, &k.to_ascii_lowercase()))
        .max_by_key(|(k, _)| k.len())
        .map(|(_, v)| v)
        .or_else(|| table.get(DEFAULT_KEY))
}

/// True when `key` stands in `model` whole: a key ending in a digit is
/// not followed by another.
fn names(model: &str, key: &str) -> bool {
    let digit_end = key.ends_with(|c: char| c.is_ascii_digit());
    model.match_indices(key).any(|(at, _)| {
        !digit_end || !model[at + key.len()..].starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Cortex's estimate of what these tokens cost on this model.
pub fn estimate(
    table: &BTreeMap<String, ModelPrice>,
    model: Option<&str>,
    tokens: &Tokens,
) -> Option<f64> {
    price_for(table, model).map(|p| p.cost(tokens))
}

/// The table in force: the shipped one with the configured entries on top.
/// A configured key covers every shipped key that contains it (a price set
/// for `opus` is the price of every Opus, unless a longer key is set too).
pub fn merged(overrides: &BTreeMap<String, ModelPrice>) -> BTreeMap<String, ModelPrice> {
    let mut t = shipped();
    t.retain(|k, _| {
        k == DEFAULT_KEY
            || !overrides
                .keys()
                .any(|o| o != k && o != DEFAULT_KEY && k.contains(o.as_str()))
    });
    t.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: u64, output: u64) -> Tokens {
        Tokens {
            input,
            output,
            cache_read: 0,
            cache_creation: 0,
        }
    }

    #[test]
    fn a_model_takes_the_longest_matching_key_else_the_default() {
        let t = shipped();
        let opus = estimate(&t, Some("claude-opus-4-1-20250805"), &tokens(1_000_000, 0));
        assert_eq!(opus, Some(15.0));
        // The current Opus at the CLI's own price, the older ones at theirs.
        for (model, input) in [
            ("claude-opus-4-5-20251101", 5.0),
            ("claude-opus-4-8", 5.0),
            ("claude-opus-4-20250514", 15.0),
            ("claude-opus-4@20250514", 15.0),
            ("claude-opus-4-0", 15.0),
            ("claude-opus-4-10", 5.0),
            ("claude-3-opus-20240229", 15.0),
            ("claude-haiku-4-5-20251001", 1.0),
            ("claude-3-5-haiku-20241022", 0.8),
            ("claude-3-haiku-20240307", 0.25),
        ] {
            assert_eq!(
                estimate(&t, Some(model), &tokens(1_000_000, 0)),
                Some(input),
                "{model}"
            );
        }
        let sonnet = estimate(&t, Some("Claude-Sonnet-4"), &tokens(0, 1_000_000));
        assert_eq!(sonnet, Some(15.0));
        let unknown = estimate(&t, Some("fake-model"), &tokens(81_000, 0));
        assert!((unknown.unwrap() - 0.243).abs() < 1e-9, "{unknown:?}");
        let mut no_default = t.clone();
        no_default.remove(DEFAULT_KEY);
        assert_eq!(estimate(&no_default, None, &tokens(1, 1)), None);
    }

    #[test]
    fn configured_entries_override_the_shipped_ones() {
        let mut o = BTreeMap::new();
        o.insert("opus".to_string(), ModelPrice::new(1.0, 2.0, 0.0, 0.0));
        let t = merged(&o);
        assert_eq!(
            estimate(&t, Some("opus"), &tokens(1_000_000, 1_000_000)),
            Some(3.0)
        );
        // It is every Opus's price, older ones included.
        assert_eq!(
            estimate(
                &t,
                Some("claude-opus-4-1-20250805"),
                &tokens(1_000_000, 1_000_000)
            ),
            Some(3.0)
        );
        assert!(t.contains_key("haiku"));
    }
}
