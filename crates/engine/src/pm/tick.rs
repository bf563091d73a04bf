//! The PM's tick: every live attempt's signals sampled in place (store,
//! runtime, PM locked in that order), `health::decide` asked what they mean,
//! and its actions carried out (`apply_action`), each a line in
//! `pm-activity.jsonl`.
//!
//! May depend on: the PM's picture (`super`), the runtime's live table,
//! the launcher (CPU samples), cortex-core's health policy.
