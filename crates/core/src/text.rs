//! Words, for matching: tokens are casefolded runs of letters and digits,
//! each reduced by a small, deliberate suffix stemmer so that plurals and
//! simple inflections match ("tests", "testing", "tested" -> "test") while
//! words only ever match whole ("ap" never matches inside "api").
//!
//! Every text is read in one form first (`normal`, Unicode NFKC), whoever
//! reads it: a task, an expert's keyword, a learned example, a training
//! text. NFKC rather than NFC because the compatibility forms are the same
//! words to a reader: full-width "ＣＩ" is "CI", the ligature "ﬁ" is "fi",
//! while NFC alone only joins "e" and a combining accent into "é". Words are
//! then casefolded: lowercase, plus the two full foldings lowercase leaves
//! out ("ß" is "ss", a final "ς" is "σ"), so "STRASSE" and "Straße" match.
//!
//! A technical term keeps the symbols that make it one: `+` and `#` ending a
//! word that starts with a letter ("c++", "c#", "g++", "f#"; not before a
//! letter or digit: "n+1" and "issue#12" are two words each), and a dot
//! starting a word (".net", ".env": not after a letter or digit, so
//! "asp.net" and "README.md" are two words each, and a name with a dot
//! inside, "node.js", is matched as the phrase it is). So a keyword "c"
//! never matches "c++", "net" never matches ".net", and "c++" matches
//! "C++" only.

use std::borrow::Cow;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// `text` in NFKC, the one form every text is read in (see the module's
/// documentation). ASCII is its own normal form and is never copied.
pub fn normal(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    }
}

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

    /// Appends the tokens of `text` (in its normal form): casefolded runs of
    /// letters and digits, with the symbols of a technical term, each
    /// stemmed.
    pub fn push_text(&mut self, text: &str) {
        let text = &*normal(text);
        self.buf.reserve(text.len());
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let (alnum, width) = char_at(text, i);
            if !alnum {
                i += width;
                continue;
            }
            let mut start = i;
            let mut ascii = width == 1;
            let letter = text[i..].chars().next().is_some_and(char::is_alphabetic);
            i += width;
            while let Some(&b) = bytes.get(i) {
                if b.is_ascii_alphanumeric() {
                    i += 1;
                } else if b.is_ascii() {
                    break;
                } else {
                    let (alnum, width) = char_at(text, i);
                    let c = text[i..].chars().next().unwrap_or(' ');
                    if !alnum && !is_combining_mark(c) {
                        break;
                    }
                    ascii = false;
                    i += width;
                }
            }
            if letter {
                i = term_end(text, i);
                start = term_start(text, start);
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
            // Casefolding: lowercase, then the full foldings it leaves out.
            for c in word.to_lowercase().chars() {
                match c {
                    'ß' => self.buf.push_str("ss"),
                    'ς' => self.buf.push('σ'),
                    c => self.buf.push(c),
                }
            }
        }
        let (keep, tail) = stem_parts(&self.buf.as_bytes()[start..]);
        self.buf.truncate(start + keep);
        if let Some(t) = tail {
            self.buf.push(char::from(t));
        }
        self.ends.push(self.buf.len());
    }
}

/// Where a word that starts with a letter and ends at byte `end` ends with
/// its closing `+` and `#` ("c++", "c#"): the symbols count when no letter or
/// digit follows them.
fn term_end(text: &str, end: usize) -> usize {
    let bytes = text.as_bytes();
    let mut j = end;
    while matches!(bytes.get(j), Some(b'+' | b'#')) {
        j += 1;
    }
    if j == end || (j < bytes.len() && char_at(text, j).0) {
        end
    } else {
        j
    }
}

/// Where a word that starts with a letter at byte `start` starts with its
/// leading dot (".net"): the dot counts when no letter, digit or dot comes
/// before it.
fn term_start(text: &str, start: usize) -> usize {
    if start == 0 || text.as_bytes()[start - 1] != b'.' {
        return start;
    }
    match text[..start - 1].chars().next_back() {
        Some(c) if c.is_alphanumeric() || c == '.' => start,
        _ => start - 1,
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
        // Casefolded: a final sigma and a sharp s read as their other forms.
        assert_eq!(tokens("ΌΣΟΣ Straße"), tokens("όσοσ STRASSE"));
        assert_eq!(tokens("ΌΣΟΣ"), ["όσοσ"]);
    }

    #[test]
    fn every_form_of_a_word_is_one_token() {
        let one = tokens("café ﬁx CI");
        for text in [
            "cafe\u{301} fix ci",
            "CAFÉ FIX ci",
            "ｃａｆé ｆｉｘ ＣＩ",
            "CAFE\u{301} \u{fb01}x C\u{ff29}",
        ] {
            assert_eq!(tokens(text), one, "{text}");
        }
        assert_eq!(
            normal("plain ascii"),
            std::borrow::Cow::Borrowed("plain ascii")
        );
        // A combining mark with no composed form stays in its word.
        assert_eq!(tokens("q\u{301}x y"), ["q\u{301}x", "y"]);
    }

    #[test]
    fn a_technical_term_keeps_its_symbols() {
        assert_eq!(
            tokens("Port C++ and C# to .NET"),
            ["port", "c++", "and", "c#", "to", ".net"]
        );
        assert_eq!(tokens("c++/cli (g++), f#."), ["c++", "cli", "g++", "f#"]);
        // Not before a letter or digit, and not on a number.
        assert_eq!(
            tokens("n+1 issue#12 c++17 16+"),
            tokens("n 1 issue 12 c 17 16")
        );
        // A dot inside a name or after one splits it; a leading one stays.
        assert_eq!(
            tokens("README.md node.js asp.net"),
            tokens("readme md node js asp net")
        );
        assert_eq!(
            tokens("see ./.env and .github/"),
            ["see", ".env", "and", ".github"]
        );
        assert_eq!(tokens("the end.Next"), ["the", "end", "next"]);
        assert!(find_phrase(&tokens("Rewrite it in C++"), &phrase("c")).is_none());
        assert!(find_phrase(&tokens("Rewrite it in C++"), &phrase("C++")).is_some());
        assert!(find_phrase(&tokens("Rewrite it in C"), &phrase("c++")).is_none());
        assert!(find_phrase(&tokens("hosted on .NET"), &phrase("net")).is_none());
        assert!(find_phrase(&tokens("Upgrade Node.js"), &phrase("node.js")).is_some());
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
