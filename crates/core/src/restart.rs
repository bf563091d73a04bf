//! Restart policy: backoff and the per-expert circuit breaker.

use chrono::{DateTime, Utc};

use crate::stream::OutcomeKind;

/// Backoff before restart number `n` (1-based): `base * 2^(n-1)`, capped.
pub fn backoff_secs(base: u64, max: u64, n: u32) -> u64 {
    let exp = n.saturating_sub(1).min(32);
    base.saturating_mul(1u64 << exp).min(max)
}

/// Seconds before restart number `n` (1-based) of a worker whose attempt
/// ended as `kind`. A crash (or a process that vanished) is most often a
/// one-off, so the first restart after one is immediate, and later ones
/// back off from `base`: 0, base, 2 base, ... An API error or a rate limit
/// would meet the same answer again at once, so those back off from the
/// first: base, 2 base, ... Both are capped at `max`.
pub fn restart_delay_secs(base: u64, max: u64, n: u32, kind: OutcomeKind) -> u64 {
    match kind {
        OutcomeKind::Crashed | OutcomeKind::Lost if n <= 1 => 0,
        OutcomeKind::Crashed | OutcomeKind::Lost => backoff_secs(base, max, n - 1),
        _ => backoff_secs(base, max, n),
    }
}

/// True when `failures` (times of failed attempts of one expert) hold at
/// least `limit` within the `window` ending at `now`.
pub fn circuit_open(
    failures: &[DateTime<Utc>],
    limit: u32,
    window_secs: u64,
    now: DateTime<Utc>,
) -> bool {
    if limit == 0 {
        return false;
    }
    let since = crate::duration::earlier(now, crate::duration::secs(window_secs));
    failures
        .iter()
        .filter(|t| **t > since && **t <= now)
        .count()
        >= limit as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let v: Vec<u64> = (1..=6).map(|n| backoff_secs(30, 300, n)).collect();
        assert_eq!(v, vec![30, 60, 120, 240, 300, 300]);
        assert_eq!(backoff_secs(1, 10, 100), 10, "no overflow");
    }

    #[test]
    fn the_first_restart_after_a_crash_is_immediate_and_later_ones_back_off() {
        use crate::stream::OutcomeKind::{ApiError, Crashed, Lost, RateLimited};
        let crash: Vec<u64> = (1..=6)
            .map(|n| restart_delay_secs(30, 300, n, Crashed))
            .collect();
        assert_eq!(crash, vec![0, 30, 60, 120, 240, 300]);
        assert_eq!(
            restart_delay_secs(30, 300, 1, Lost),
            0,
            "a lost process died too"
        );
        // An API error or a rate limit would meet the same answer at once.
        assert_eq!(restart_delay_secs(30, 300, 1, ApiError), 30);
        assert_eq!(restart_delay_secs(30, 300, 2, RateLimited), 60);
        assert_eq!(
            restart_delay_secs(0, 0, 3, ApiError),
            0,
            "no backoff at all"
        );
        assert_eq!(
            restart_delay_secs(u64::MAX, u64::MAX, u32::MAX, Crashed),
            u64::MAX
        );
    }

    #[test]
    fn a_window_beyond_the_calendar_does_not_panic() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert!(circuit_open(&[now], 1, u64::MAX, now));
        assert!(circuit_open(&[now], 1, u64::MAX / 1000, now));
    }

    #[test]
    fn the_circuit_opens_on_n_failures_inside_the_window() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let f = [t(0), t(100), t(200), t(300), t(400)];
        assert!(circuit_open(&f, 5, 900, t(450)));
        assert!(
            !circuit_open(&f, 5, 900, t(950)),
            "the first failure left the window"
        );
        assert!(!circuit_open(&f[..4], 5, 900, t(450)));
        assert!(!circuit_open(&f, 0, 900, t(450)), "0 disables the breaker");
    }
}
