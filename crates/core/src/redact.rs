//! Hiding secrets in what the UI and logs show: API keys, tokens,
//! passwords, bearer headers.

/// Replaces anything that looks like a secret with `[redacted]`.
pub fn redact(text: &str) -> String {
    redacted(text).into_owned()
}

/// `redact`, borrowing the text when it holds no secret (most texts): the
/// router hides secrets from every text it routes.
pub fn redacted(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    // Bytes of `text` before this are in `out` already.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Only where a secret's first letter is can one start (most of a
        // text is passed over without looking further). Those letters are
        // ASCII, so `i` is then at a character's start.
        let maybe = matches!(
            bytes[i].to_ascii_lowercase(),
            b's' | b'g' | b'x' | b'a' | b't' | b'p' | b'b'
        );
        if let Some((len, keep)) = maybe.then(|| secret_at(&text[i..])).flatten() {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i + keep]);
            o.push_str("[redacted]");
            i += len;
            copied = i;
            continue;
        }
        i += 1;
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

fn token_len(s: &str) -> usize {
    s.bytes()
        .take_while(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+' | b'=')
        })
        .count()
}

/// At the start of `s`: a secret's total length and how many leading bytes
/// to keep visible (the label).
fn secret_at(s: &str) -> Option<(usize, usize)> {
    // Well-known key prefixes.
    for prefix in [
        "sk-ant-",
        "sk-",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "AKIA",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let n = token_len(rest);
            if n >= 12 {
                return Some((prefix.len() + n, 0));
            }
        }
    }
    // NAME=value and "name": "value" for secret-looking names, the name in
    // any case, its separator within the first 40 characters.
    const HEAD: usize = 40;
    let bytes = s.as_bytes();
    for name in [
        "api_key",
        "apikey",
        "api-key",
        "token",
        "secret",
        "password",
        "passwd",
        "authorization",
    ] {
        let named = bytes
            .get(..name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(name.as_bytes()));
        if named {
            // A longer name that starts so and ends as a secret's does:
            // `SECRET_ACCESS_KEY`, `token_secret` (not `token_count`,
            // `TOKEN_LIMIT`, `secret_scanning`: those name no secret).
            let suffix = match bytes.get(name.len()) {
                Some(b'_' | b'-') => {
                    let n = bytes[name.len()..]
                        .iter()
                        .take(HEAD - name.len())
                        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
                        .count();
                    let whole = &s[..name.len() + n];
                    let secret_end =
                        ["key", "token", "secret", "password", "passwd"]
                            .iter()
                            .any(|end| {
                                whole.len() > end.len()
                                    && whole[whole.len() - end.len()..].eq_ignore_ascii_case(end)
                                    && matches!(
                                        whole.as_bytes()[whole.len() - end.len() - 1],
                                        b'_' | b'-'
                                    )
                            });
                    if secret_end {
                        n
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            let name_len = name.len() + suffix;
            let after = &bytes[name_len..];
            let skip = after
                .iter()
                .take(HEAD.saturating_sub(name_len))
                .take_while(|b| matches!(b, b'"' | b'\'' | b':' | b'=' | b' '))
                .count();
            if skip == 0 || !after[..skip].iter().any(|b| *b == b':' || *b == b'=') {
                continue;
            }
            let start = name_len + skip;
            let value = &s[start..];
            let value = value.strip_prefix("Bearer ").map_or(value, |v| v);
            let offset = s.len() - value.len();
            let n = token_len(value);
            if n >= 6 {
                return Some((offset + n, offset));
            }
        }
    }
    if let Some(rest) = s.strip_prefix("Bearer ") {
        let n = token_len(rest);
        if n >= 12 {
            return Some((7 + n, 7));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_kept() {
        let cases = [
            (
                "export ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnop",
                "export ANTHROPIC_API_KEY=[redacted]",
            ),
            (r#"{"token": "abcdef123456"}"#, r#"{"token": "[redacted]"}"#),
            (
                "Authorization: Bearer abcdefghijklmnopqrst",
                "Authorization: Bearer [redacted]",
            ),
            ("password=hunter2hunter2 next", "password=[redacted] next"),
            ("push with ghp_0123456789abcdefghij", "push with [redacted]"),
            ("the token bucket is full", "the token bucket is full"),
            ("no secrets here", "no secrets here"),
            ("API_KEY: abcdef123456", "API_KEY: [redacted]"),
            ("Secret = 'abcdef123456'", "Secret = '[redacted]'"),
            ("été password=hunter2hunter2", "été password=[redacted]"),
            (
                "PASSWORD                                 =hunter2hunter2",
                "PASSWORD                                 =hunter2hunter2",
            ),
            // A longer name that starts with one of them.
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
                "AWS_SECRET_ACCESS_KEY=[redacted]",
            ),
            (
                "PASSWORD_SECRET: abcdef123456",
                "PASSWORD_SECRET: [redacted]",
            ),
            // Not a name of a secret: counts, limits, kinds, settings.
            ("\"output_tokens\": 123456", "\"output_tokens\": 123456"),
            ("tokens: 1234567 used", "tokens: 1234567 used"),
            ("\"token_count\": 123456", "\"token_count\": 123456"),
            ("TOKEN_LIMIT=200000", "TOKEN_LIMIT=200000"),
            ("max_token_length: 100000", "max_token_length: 100000"),
            ("secret_scanning: enabled", "secret_scanning: enabled"),
            (
                "token_expires_at: 2026-12-05T20:49:11Z",
                "token_expires_at: 2026-12-05T20:49:11Z",
            ),
        ];
        // Nothing to hide: the text is borrowed, not copied.
        assert!(matches!(
            redacted("no secrets here"),
            std::borrow::Cow::Borrowed(_)
        ));
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }
}
