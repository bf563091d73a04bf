//! Time arithmetic that cannot panic. Durations come from configuration
//! and from what agents print; `chrono` panics when a duration or a date
//! leaves its range, so every conversion and sum here saturates instead:
//! a duration too long to represent is "for ever", a date past the end of
//! the calendar is its last instant.

use chrono::{DateTime, TimeDelta, Utc};

/// `s` seconds, or the longest duration when that does not fit.
pub fn secs(s: u64) -> TimeDelta {
    i64::try_from(s)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX)
}

/// `ms` milliseconds, or the longest duration when that does not fit.
pub fn millis(ms: u64) -> TimeDelta {
    i64::try_from(ms)
        .ok()
        .and_then(TimeDelta::try_milliseconds)
        .unwrap_or(TimeDelta::MAX)
}

/// `t + d`, at most the calendar's last instant.
pub fn later(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, at least the calendar's first instant.
pub fn earlier(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_sums_saturate() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(secs(90), TimeDelta::seconds(90));
        assert_eq!(millis(1500), TimeDelta::milliseconds(1500));
        for huge in [u64::MAX, u64::MAX / 2, u64::MAX / 1000] {
            assert_eq!(secs(huge), TimeDelta::MAX);
            assert_eq!(later(now, secs(huge)), DateTime::<Utc>::MAX_UTC);
            assert_eq!(earlier(now, secs(huge)), DateTime::<Utc>::MIN_UTC);
        }
        assert_eq!(millis(u64::MAX), TimeDelta::MAX);
        assert_eq!(later(now, secs(60)), now + TimeDelta::seconds(60));
        assert_eq!(earlier(now, millis(60)), now - TimeDelta::milliseconds(60));
    }
}
