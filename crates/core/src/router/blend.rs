//! The naive-Bayes layer's part in a decision for a router without the
//! linear model: its posterior calibrated (`calibrate`) and the weight it
//! is blended in at (`blend_weight`).
//!
//! May depend on: nothing but std.

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
