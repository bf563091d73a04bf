//! Identifiers that are unique by construction.
//!
//! The original system numbered workers `worker-<type>-NNN` from a count and
//! 33 ids collided. Ours are 48 bits of milliseconds followed by 80 random
//! bits, written in Crockford base32 (26 characters), so they sort by creation
//! time and two processes never need to agree on a counter.

use std::fmt;

use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Encodes a time-ordered id body from its parts: `millis` since the Unix
/// epoch (low 48 bits used) and 10 random bytes.
pub fn encode_ordered(millis: u64, random: [u8; 10]) -> String {
    let mut value: u128 = u128::from(millis & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    out.iter().map(|&c| c as char).collect()
}

fn is_body(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| ALPHABET.contains(&b))
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("Identifier of a ", $what, ": `", $prefix, "` + 26 base32 characters.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Builds a new id from the time and random bytes the caller supplies.
            pub fn new(millis: u64, random: [u8; 10]) -> Self {
                Self(format!("{}{}", $prefix, encode_ordered(millis, random)))
            }

            /// Accepts the full id or, for convenience on the command line, its
            /// body without the prefix.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                let body = s.strip_prefix($prefix).unwrap_or(s);
                is_body(body).then(|| Self(format!("{}{}", $prefix, body)))
            }

            /// The full id, prefix included.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(TaskId, "t-", "task");
prefixed_id!(WorkerId, "w-", "worker");
prefixed_id!(RequestId, "r-", "inbox request");
prefixed_id!(PlanId, "p-", "plan");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_then_randomness() {
        let a = TaskId::new(1_000, [255; 10]);
        let b = TaskId::new(1_001, [0; 10]);
        assert!(a < b, "{a} should sort before {b}");
        let c = TaskId::new(1_001, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(b < c);
    }

    #[test]
    fn parse_round_trips_and_accepts_the_bare_body() {
        let id = WorkerId::new(1_732_000_000_000, [7; 10]);
        assert_eq!(WorkerId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(WorkerId::parse(&id.as_str()[2..]), Some(id));
        assert_eq!(WorkerId::parse("w-short"), None);
        assert_eq!(
            WorkerId::parse("w-0000000000000000000000000U"),
            None,
            "U is not in the alphabet"
        );
    }

    #[test]
    fn distinct_random_bytes_give_distinct_ids_in_the_same_millisecond() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..=255u8 {
            let mut r = [0u8; 10];
            r[9] = i;
            assert!(seen.insert(TaskId::new(5, r)));
        }
    }
}
