//! Words, for matching: tokens are lowercase runs of letters and digits, each
//! reduced by a small, deliberate suffix stemmer so that plurals and simple
//! inflections match ("tests", "testing", "tested" -> "test") while words
//! only ever match whole ("ap" never matches inside "api").

/// Splits text into stemmed tokens.
pub fn tokens(text: &str) -> Vec<String> {
    let mut t = Tokens::default();
    t.push_text(text);
    t.iter().map(str::to_string).collect()
}

/// The stemmed tokens of a text in one buffer: no allocation per token, and
/// the buffers can be reused from one text to the next (`clear`).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// Every token's bytes, back to back.
    buf: String,
    /// Where each token ends in `buf` (the next one starts there).
    ends: Vec<usize>,
}

impl Tokens {
    /// Empties the buffer, keeping its memory for the next text.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held by the buffers.
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    /// The `i`-th token.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// The tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let t = &self.buf[start..end];
            start = end;
            t
        })
    }

    /// Appends the tokens of `text`: lowercase runs of letters and digits,
    /// each stemmed.
    pub fn push_text(&mut self, text: &str) {
        self.buf.reserve(text.len());
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let (alnum, width) = char_at(text, i);
            if !alnum {
                i += width;
                continue;
            }
            let start = i;
            let mut ascii = width == 1;
            i += width;
            while let Some(&b) = bytes.get(i) {
                if b.is_ascii_alphanumeric() {
                    i += 1;
                } else if b.is_ascii() {
                    break;
                } else {
                    let (alnum, width) = char_at(text, i);
                    if !alnum {
                        break;
                    }
                    ascii = false;
                    i += width;
                }
            }
            // The views' mark for a hidden secret is not a word the text
            // says: nothing is matched, learned or explained by it.
            let mark = start > 0
                && bytes[start - 1] == b'['
                && bytes.get(i) == Some(&b']')
                && &text[start..i] == "redacted";
            if !mark {
                self.push_word(&text[start..i], ascii);
            }
        }
    }

    fn push_word(&mut self, word: &str, ascii: bool) {
        let start = self.buf.len();
        if ascii {
            self.buf.push_str(word);
            self.buf[start..].make_ascii_lowercase();
        } else {
            // Whole-string lowercasing: a final sigma depends on its place.
            self.buf.push_str(&word.to_lowercase());
        }
        let (keep, tail) = stem_parts(&self.buf.as_bytes()[start..]);
        self.buf.truncate(start + keep);
        if let Some(t) = tail {
            self.buf.push(char::from(t));
        }
        self.ends.push(self.buf.len());
    }
}

/// Whether the character at byte `i` of `text` is a letter or digit, and
/// its width in bytes.
#[inline]
fn char_at(text: &str, i: usize) -> (bool, usize) {
    let b = text.as_bytes()[i];
    if b.is_ascii() {
        (b.is_ascii_alphanumeric(), 1)
    } else {
        match text[i..].chars().next() {
            Some(c) => (c.is_alphanumeric(), c.len_utf8()),
            None => (false, 1),
        }
    }
}

fn has_vowel(s: &[u8]) -> bool {
    s.iter()
        .any(|c| matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y'))
}

fn is_consonant(c: u8) -> bool {
    c.is_ascii_alphabetic() && !matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Reduces a lowercase word to its stem. Both sides of a match go through
/// the same function, so the stem only has to be consistent, not a word.
///
/// Rules, in order: `-ies`/`-ied` -> `-y`; `-ing`, `-ed` (when a vowel stays
/// and not after `e`: "speed" stays); `-es` after s/x/z/ch/sh; a plural `-s`
/// (not `-ss`, `-us`, `-is`, and only on words longer than 3); then a final
/// `-e` and a doubled final consonant are dropped. Words with digits are
/// left alone (`cve-2024` splits into `cve`, `2024`; `k8s` stays `k8s`).
pub fn stem(word: &str) -> String {
    let (keep, tail) = stem_parts(word.as_bytes());
    let mut s = String::with_capacity(keep + 1);
    s.push_str(&word[..keep]);
    if let Some(t) = tail {
        s.push(char::from(t));
    }
    s
}

/// `stem`, reusing the word's own allocation.
pub fn stem_owned(mut word: String) -> String {
    let (keep, tail) = stem_parts(word.as_bytes());
    word.truncate(keep);
    if let Some(t) = tail {
        word.push(char::from(t));
    }
    word
}

/// The stem of `w` as (length of the prefix of `w` to keep, a letter to
/// append: only `-ies`/`-ied` -> `-y` appends). See `stem` for the rules.
fn stem_parts(w: &[u8]) -> (usize, Option<u8>) {
    let n = w.len();
    if n <= 3 || w.iter().any(|c| !c.is_ascii_lowercase()) {
        return (n, None);
    }
    // The kept prefix `w[..k]`; `stripped` once a suffix rule applied.
    let (mut k, stripped) = if w.ends_with(b"ies") || w.ends_with(b"ied") {
        if n - 3 >= 2 {
            // base + "y": no final -e; a doubled final consonant is "yy".
            return if n - 2 > 3 && w[n - 4] == b'y' {
                (n - 3, None)
            } else {
                (n - 3, Some(b'y'))
            };
        }
        (n, true)
    } else if w.ends_with(b"ing") {
        let base = &w[..n - 3];
        (
            if base.len() >= 2 && has_vowel(base) {
                n - 3
            } else {
                n
            },
            true,
        )
    } else if w.ends_with(b"ed") {
        let base = &w[..n - 2];
        (
            if base.len() >= 2 && has_vowel(base) && !base.ends_with(b"e") {
                n - 2
            } else {
                n
            },
            true,
        )
    } else if w.ends_with(b"es") {
        let base = &w[..n - 2];
        let sibilant = [&b"s"[..], b"x", b"z", b"ch", b"sh"]
            .iter()
            .any(|x| base.ends_with(x));
        // After a sibilant the whole "es" goes, otherwise only the "s".
        (
            if sibilant && base.len() >= 3 {
                n - 2
            } else {
                n - 1
            },
            true,
        )
    } else {
        (n, false)
    };
    // A plural -s, only when no other suffix was taken off.
    if !stripped && k > 3 && w[k - 1] == b's' && !matches!(w[k - 2], b's' | b'u' | b'i') {
        k -= 1;
    }
    if k > 3 && w[k - 1] == b'e' {
        k -= 1;
    }
    if k > 3 && w[k - 2] == w[k - 1] && is_consonant(w[k - 1]) {
        k -= 1;
    }
    (k, None)
}

/// A phrase as a token sequence, for matching against `tokens(text)`.
pub fn phrase(p: &str) -> Vec<String> {
    tokens(p)
}

/// Positions where `needle` occurs as a whole token sequence in `hay`.
pub fn find_phrase(hay: &[String], needle: &[String]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflections_meet_at_one_stem() {
        for group in [
            &["test", "tests", "testing", "tested"][..],
            &["fix", "fixes", "fixed", "fixing"],
            &["release", "releases", "released", "releasing"],
            &["dependency", "dependencies"],
            &["vulnerability", "vulnerabilities"],
            &["code", "codes", "coding", "coded"],
            &["plan", "plans", "planning", "planned"],
            &["deploy", "deploys", "deployed", "deploying"],
            &["audit", "audits", "auditing", "audited"],
            &["update", "updates", "updating", "updated"],
            &["crash", "crashes", "crashed"],
            &["document", "documents", "documenting"],
        ] {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(
                stems.windows(2).all(|p| p[0] == p[1]),
                "{group:?} -> {stems:?}"
            );
        }
    }

    #[test]
    fn words_that_only_look_inflected_stay_whole() {
        for w in [
            "status", "analysis", "access", "string", "speed", "need", "api", "ci", "tls", "aws",
            "k8s",
        ] {
            let s = stem(w);
            assert!(w.starts_with(&s) && s.len() + 1 >= w.len(), "{w} -> {s}");
        }
        assert_ne!(stem("string"), stem("str"));
    }

    #[test]
    fn the_mark_of_a_hidden_secret_is_no_word() {
        assert_eq!(tokens("key [redacted] here"), tokens("key here"));
        assert_eq!(tokens("we redacted it"), tokens("we redacted it"));
        assert_eq!(tokens("we redacted it").len(), 3);
        assert_eq!(tokens("[redacted]"), Vec::<String>::new());
    }

    #[test]
    fn a_reused_buffer_gives_the_same_tokens() {
        let mut t = Tokens::default();
        t.push_text("A long first text, with Unicode: Straße, naïve, ΌΣΟΣ; tested");
        for text in ["Testing the CI/CD Pipelines", "", "ΌΣΟΣ k8s", "x"] {
            t.clear();
            t.push_text(text);
            let got: Vec<&str> = t.iter().collect();
            assert_eq!(got, tokens(text), "{text}");
        }
        assert_eq!(tokens("ΌΣΟΣ Straße"), ["όσος", "straße"]);
    }

    #[test]
    fn matching_is_whole_word_and_whole_phrase() {
        let t = tokens("Update the API docs for CI/CD and GitHub Actions workflows");
        assert!(find_phrase(&t, &phrase("api")).is_some());
        assert!(
            find_phrase(&t, &phrase("ap")).is_none(),
            "no substring matches"
        );
        assert!(find_phrase(&t, &phrase("CI/CD")).is_some());
        assert!(
            find_phrase(&t, &phrase("github action")).is_some(),
            "plural of a phrase"
        );
        assert!(find_phrase(&t, &phrase("workflow")).is_some());
        assert!(
            find_phrase(&t, &phrase("actions github")).is_none(),
            "order matters"
        );
        assert!(find_phrase(&tokens("apiary"), &phrase("api")).is_none());
    }
}
