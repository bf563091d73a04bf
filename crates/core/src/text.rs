//! Words, for matching: tokens are lowercase runs of letters and digits, each
//! reduced by a small, deliberate suffix stemmer so that plurals and simple
//! inflections match ("tests", "testing", "tested" -> "test") while words
//! only ever match whole ("ap" never matches inside "api").

/// Splits text into stemmed tokens.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            // One allocation per token: lowercase in place, stem in place.
            let lower = if w
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                w.to_string()
            } else {
                w.to_lowercase()
            };
            stem_owned(lower)
        })
        .collect()
}

fn has_vowel(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y'))
}

fn is_consonant(c: char) -> bool {
    c.is_ascii_alphabetic() && !matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
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
    stem_owned(word.to_string())
}

/// `stem`, reusing the word's own allocation.
pub fn stem_owned(word: String) -> String {
    if word.len() <= 3 || word.bytes().any(|c| !c.is_ascii_lowercase()) {
        return word;
    }
    let mut w = word;
    let mut stripped = true;
    if let Some(base) = w.strip_suffix("ies").or_else(|| w.strip_suffix("ied")) {
        if base.len() >= 2 {
            w = format!("{base}y");
        }
    } else if let Some(base) = w.strip_suffix("ing") {
        if base.len() >= 2 && has_vowel(base) {
            w = base.to_string();
        }
    } else if let Some(base) = w.strip_suffix("ed") {
        if base.len() >= 2 && has_vowel(base) && !base.ends_with('e') {
            w = base.to_string();
        }
    } else if let Some(base) = w.strip_suffix("es") {
        if ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|s| base.ends_with(s))
            && base.len() >= 3
        {
            w = base.to_string();
        } else {
            w = format!("{base}e");
        }
    } else {
        stripped = false;
    }
    // A plural -s, only when no other suffix was taken off.
    if !stripped
        && w.len() > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        w.pop();
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    let chars: Vec<char> = w.chars().collect();
    if let [.., a, b] = chars.as_slice() {
        if a == b && is_consonant(*a) && chars.len() > 3 {
            w.pop();
        }
    }
    w
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
