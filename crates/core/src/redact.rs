//! Hiding secrets in what the UI and logs show: API keys, tokens,
//! passwords, bearer headers.

/// What a hidden secret is replaced with.
const MARK: &str = "[redacted]";

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
        // Only where a secret's first byte is can one start (most of a
        // text is passed over without looking further). Those bytes are
        // ASCII, so `i` is then at a character's start.
        let maybe = matches!(
            bytes[i].to_ascii_lowercase(),
            b's' | b'g' | b'x' | b'a' | b't' | b'p' | b'b' | b'r' | b'h' | b'n' | b'-' | b':'
        );
        // After a letter or digit a short prefix is inside a word
        // ("ask-"), unless an escape (`\n`, `\t`) puts it at a line's start.
        let word_start =
            i == 0 || !bytes[i - 1].is_ascii_alphanumeric() || (i >= 2 && bytes[i - 2] == b'\\');
        if let Some((len, keep)) = maybe.then(|| secret_at(&text[i..], word_start)).flatten() {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i + keep]);
            o.push_str(MARK);
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

/// The length of a key-like token: letters, digits and `-_./+=`.
fn token_len(s: &str) -> usize {
    s.bytes()
        .take_while(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+' | b'=')
        })
        .count()
}

/// The length of a named secret's value: anything up to a space or a
/// quote, escaped (`\"`) or not (a password may hold `@`, `!` or `#`),
/// without the punctuation that ends a sentence or closes a bracket after
/// it.
fn value_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let quote = |b: &u8| matches!(b, b'"' | b'\'' | b'`');
    let n = (0..bytes.len())
        .find(|&i| {
            let b = bytes[i];
            b.is_ascii_whitespace()
                || quote(&b)
                || (b == b'\\' && bytes.get(i + 1).is_some_and(quote))
        })
        .unwrap_or(bytes.len());
    let trailing = s.as_bytes()[..n]
        .iter()
        .rev()
        .take_while(|b| matches!(b, b'.' | b',' | b';' | b':' | b')' | b']' | b'}'))
        .count();
    n - trailing
}

/// True for a value that looks like a secret rather than a word: a digit
/// or a sign among letters ("hunter2", "p@ss!"), not "stored" or "rotated".
fn looks_secret(v: &str) -> bool {
    v.len() >= 6 && v.bytes().any(|b| !b.is_ascii_alphabetic())
}

/// One word of letters in lower case or capitalized (`enabled`,
/// `invalid`, `Required`, `letmein`): a value with a digit, a sign, a space
/// or a second capital is not one.
fn plain_word(v: &str) -> bool {
    v.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && v.bytes().skip(1).all(|b| b.is_ascii_lowercase())
}

/// A shell variable that holds the secret elsewhere (`$DB_PASSWORD`,
/// `${CI_TOKEN}`), not the secret.
fn shell_variable(v: &str) -> bool {
    let name = |n: &str| {
        n.bytes().next().is_some_and(|b| !b.is_ascii_digit())
            && n.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    // Its closing brace may have been taken for a sentence's end.
    v.strip_prefix('$').is_some_and(|r| {
        let r = r
            .strip_prefix('{')
            .map_or(r, |r| r.strip_suffix('}').unwrap_or(r));
        name(r)
    })
}

/// Words a schema or a setting gives a password field (`"password":
/// "Required"`, `password: optional`), not a password.
const SETTING_WORDS: &[&str] = &[
    "required", "optional", "missing", "invalid", "enabled", "disabled", "none", "null", "true",
    "false", "string", "empty", "unset", "changed", "expired", "hidden",
];

/// Whether a named value reads as a setting, not a secret: a shell
/// variable; after a colon (a schema, a setting, prose), one plain word,
/// which for a password's name must be one of `SETTING_WORDS`
/// (`POSTGRES_PASSWORD: postgres` is a password). Assigned with `=`, a
/// plain word is a secret (`TOKEN=Sunshine`, `password=letmein`).
fn reads_as_setting(v: &str, assigned: bool, password: bool) -> bool {
    if shell_variable(v) {
        return true;
    }
    if assigned || !plain_word(v) {
        return false;
    }
    !password || SETTING_WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// True for letters and digits as a service draws them at random: a
/// digit among letters, or both cases.
fn mixed(run: &str) -> bool {
    let has = |f: fn(&u8) -> bool| run.as_bytes().iter().any(f);
    (has(u8::is_ascii_digit) && has(u8::is_ascii_alphabetic))
        || (has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase))
}

/// The length of a key after a short prefix, 0 when what follows is no key
/// of that service but a name that begins the same way (`hf_hub_download`,
/// `npm_config_registry`, `sk-learn-compatible`).
fn short_key_len(prefix: &str, rest: &str) -> usize {
    if prefix == "sk-" {
        // An OpenAI key: `sk-` and 48 letters and digits, or a project's
        // or a service account's (`sk-proj-...`), whose long random part
        // has `-` or `_` here and there. Words joined by `-` have no such
        // run.
        let n = token_len(rest);
        let random = rest[..n]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|run| run.len() >= 16 && mixed(run));
        return if random { n } else { 0 };
    }
    // `hf_` and 34 letters, `npm_` and 36 letters and digits: one run, not
    // a name going on with `_` or `-`.
    let n = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let goes_on = matches!(rest.as_bytes().get(n), Some(b'_' | b'-'));
    if n >= 30 && !goes_on && mixed(&rest[..n]) {
        n
    } else {
        0
    }
}

/// Key prefixes of well-known services (each followed by 12 or more key
/// characters, at the start of a word).
const KEY_PREFIXES: [&str; 21] = [
    "sk-ant-",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "AKIA",
    "AIza",
    "hf_",
    "npm_",
];

/// Prefixes short or common enough to begin ordinary words and names
/// ("ask-me", "npm_config_registry", "hf_hub_download"): taken as a key's
/// only at a word's start, and only before a body shaped as that service's
/// keys are (see `short_key_len`).
const SHORT_PREFIXES: [&str; 3] = ["sk-", "hf_", "npm_"];

/// At the start of `s`: a secret's total length and how many leading bytes
/// to keep visible (the label). `word_start`: `s` does not continue a word.
fn secret_at(s: &str, word_start: bool) -> Option<(usize, usize)> {
    for prefix in KEY_PREFIXES {
        let Some(rest) = s.strip_prefix(prefix) else {
            continue;
        };
        // A distinctive prefix is a key wherever it stands (after an
        // escape, in a URL's query); a short one only at a word's start.
        let n = if !SHORT_PREFIXES.contains(&prefix) {
            token_len(rest)
        } else if word_start {
            short_key_len(prefix, rest)
        } else {
            0
        };
        if n >= 12 {
            return Some((prefix.len() + n, 0));
        }
    }
    if let Some(found) = private_key_at(s).or_else(|| url_password_at(s)) {
        return Some(found);
    }
    if let Some(found) = named_at(s, word_start) {
        return Some(found);
    }
    let bearer = s
        .get(..7)
        .is_some_and(|h| h.eq_ignore_ascii_case("bearer "));
    if word_start && bearer {
        let n = token_len(&s[7..]);
        // `Bearer authentication` names a scheme, it holds no token.
        if n >= 12 && !plain_word(&s[7..7 + n]) {
            return Some((7 + n, 7));
        }
    }
    None
}

/// A PEM private key: its first line is kept, the rest up to and with its
/// last line is hidden (to the end of the text when that line is missing).
fn private_key_at(s: &str) -> Option<(usize, usize)> {
    let label = s.strip_prefix("-----BEGIN ")?;
    // `PRIVATE KEY-----` right after the label (`RSA `, `EC `, `OPENSSH `),
    // whatever follows it: a line end, or an escaped one in a log line.
    let close = label.get(..40).unwrap_or(label).find("PRIVATE KEY-----")?;
    if label[..close]
        .bytes()
        .any(|b| !(b.is_ascii_uppercase() || b == b' '))
    {
        return None;
    }
    let first_line = "-----BEGIN ".len() + close + "PRIVATE KEY-----".len();
    // Hidden already: its key and last line are gone.
    if s[first_line..].starts_with(MARK) {
        return None;
    }
    let end = match s[first_line..].find("-----END ") {
        Some(at) => {
            let from = first_line + at + "-----END ".len();
            s[from..]
                .find("-----")
                .map_or(s.len(), |close| from + close + "-----".len())
        }
        None => s.len(),
    };
    Some((end, first_line))
}

/// A password in a URL (`postgres://user:PASSWORD@host`), at its `://`:
/// the scheme and user are kept.
fn url_password_at(s: &str) -> Option<(usize, usize)> {
    let rest = s.strip_prefix("://")?;
    let authority = &rest[..rest
        .bytes()
        .position(|b| b == b'/' || b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'`'))
        .unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    let password = &authority[colon + 1..at];
    if password.is_empty() {
        return None;
    }
    let keep = 3 + colon + 1;
    Some((keep + password.len(), keep))
}

/// Names short enough to end ordinary words ("bypass", "OLDPWD") or to be
/// said in passing ("pass it on"): a secret's name only at a word's or a
/// name's part's start (`DB_PASS`, `MYSQL_PWD`), and only before `=` or `:`.
const SHORT_NAMES: [&str; 2] = ["pass", "pwd"];

/// `NAME=value`, `"name": "value"`, `name is: value` for secret-looking
/// names (in any case, the separator within the first 40 characters), and
/// `secret VALUE` where the value is plainly a key. `word_start`: `s` does
/// not continue a word.
fn named_at(s: &str, word_start: bool) -> Option<(usize, usize)> {
    const HEAD: usize = 40;
    let bytes = s.as_bytes();
    // Every name begins so: most places in a text are passed at once.
    if !matches!(
        bytes.first().map(u8::to_ascii_lowercase),
        Some(b'a' | b'p' | b't' | b's')
    ) {
        return None;
    }
    for name in [
        "api_key",
        "apikey",
        "api-key",
        "private_key",
        "private-key",
        "privatekey",
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "authorization",
    ] {
        let named = bytes
            .get(..name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(name.as_bytes()));
        let short = SHORT_NAMES.contains(&name);
        if !named || (short && !word_start) {
            continue;
        }
        let name_len = name.len() + secret_suffix(s, name.len(), HEAD);
        let after = &s[name_len..];
        let skip = after
            .bytes()
            .take(HEAD.saturating_sub(name_len))
            .take_while(|b| matches!(b, b'"' | b'\'' | b'\\' | b':' | b'=' | b' ' | b'\t'))
            .count();
        let separated = after.as_bytes()[..skip]
            .iter()
            .any(|b| *b == b':' || *b == b'=');
        let (start, plain) = if separated {
            (name_len + skip, false)
        } else if short {
            continue;
        } else if let Some(v) = ["is: ", "is ", "IS ", "Is "]
            .iter()
            .find_map(|is| after.strip_prefix(' ')?.strip_prefix(is))
        {
            (s.len() - v.len(), true)
        } else if skip == 1 && (after.starts_with(' ') || after.starts_with('\t')) {
            // `secret wJalrXUtnFEMI/K7MDENG`: a key, not a word.
            let v = &after[1..];
            let n = token_len(v);
            let keyish = n >= 12
                && v.bytes().take(n).any(|b| b.is_ascii_digit())
                && v.bytes().take(n).any(|b| b.is_ascii_alphabetic());
            if keyish {
                return Some((name_len + 1 + n, name_len + 1));
            }
            continue;
        } else {
            continue;
        };
        let value = &s[start..];
        // An `Authorization` header's scheme is kept, its credentials hidden
        // (whatever they look like: the scheme says they are credentials).
        let scheme = ["bearer ", "basic "].iter().find(|scheme| {
            value
                .get(..scheme.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(scheme))
        });
        let value = scheme.map_or(value, |scheme| &value[scheme.len()..]);
        // A PEM key is hidden by its own rule, from its first line to its
        // last (or is hidden already): taken as a value, only its first
        // word would be.
        if value.starts_with("-----BEGIN ") {
            continue;
        }
        // `PWD` holding a path is the shell's working directory.
        if name == "pwd" && value.starts_with(['/', '~']) {
            continue;
        }
        // Hidden already (text read back from a view or a record and shown
        // again): left as it is, not hidden a second time.
        if value.starts_with(MARK) {
            continue;
        }
        let offset = s.len() - value.len();
        // A quoted value runs to its closing quote, spaces and all
        // (`'correct horse battery staple'`). A quote escaped with a
        // backslash (`\"`, as in a JSON string or a log's field) is closed
        // by one escaped the same way.
        let quote = s[..start]
            .bytes()
            .last()
            .filter(|b| matches!(b, b'"' | b'\''));
        let escaped = s[..start].ends_with("\\\"") || s[..start].ends_with("\\'");
        let closing = |q: u8| {
            let head = &value.as_bytes()[..value.len().min(256)];
            if escaped {
                head.windows(2).position(|w| w == [b'\\', q])
            } else {
                head.iter().position(|&b| b == q)
            }
        };
        let n = match quote.and_then(closing) {
            Some(end) => end,
            None => value_len(value),
        };
        let v = &value[..n];
        let password = matches!(name, "password" | "passwd" | "passphrase" | "pass" | "pwd");
        let assigned = after.as_bytes()[..skip].contains(&b'=');
        let word = scheme.is_none() && reads_as_setting(v, assigned, password);
        if n >= 6 && (!plain || looks_secret(v)) && !word {
            return Some((offset + n, offset));
        }
    }
    None
}

/// How many bytes after a secret's name at `s[..at]` belong to a longer
/// name that ends as a secret's does: `SECRET_ACCESS_KEY`, `token_secret`
/// (not `token_count`, `TOKEN_LIMIT`, `secret_scanning`: those name no
/// secret).
fn secret_suffix(s: &str, at: usize, head: usize) -> usize {
    let bytes = s.as_bytes();
    if !matches!(bytes.get(at), Some(b'_' | b'-')) {
        return 0;
    }
    let n = bytes[at..]
        .iter()
        .take(head.saturating_sub(at))
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        .count();
    let whole = &s[..at + n];
    let secret_end = ["key", "token", "secret", "password", "passwd"]
        .iter()
        .any(|end| {
            whole.len() > end.len()
                && whole[whole.len() - end.len()..].eq_ignore_ascii_case(end)
                && matches!(whole.as_bytes()[whole.len() - end.len() - 1], b'_' | b'-')
        });
    if secret_end {
        n
    } else {
        0
    }
}

/// A writer that hides secrets in what it writes, for logs: each write is
/// taken as whole lines (a log line is written at once), so a secret is
/// never split between two writes.
#[derive(Debug)]
pub struct RedactingWrite<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redacted(text).as_bytes())?,
            Err(_) => self
                .0
                .write_all(redact(&String::from_utf8_lossy(buf)).as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
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
            // Values with signs, said in words, in URLs, lower-case bearers.
            (
                "Deploy with password=p@ss!w0rd#2024 to prod",
                "Deploy with password=[redacted] to prod",
            ),
            ("the password is: p@ss!w0rd#2024", "the password is: [redacted]"),
            ("the password is hunter2hunter2.", "the password is [redacted]."),
            ("the password is stored in vault", "the password is stored in vault"),
            (
                "Connect to postgres://admin:Hunter2SuperSecret@db.example.com/prod now",
                "Connect to postgres://admin:[redacted]@db.example.com/prod now",
            ),
            ("see https://example.com/a:b@c", "see https://example.com/a:b@c"),
            (
                "Authorization: bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123 and",
                "Authorization: bearer [redacted] and",
            ),
            (
                "PGPASSWORD='p@ss!w0rd#2024' psql",
                "PGPASSWORD='[redacted]' psql",
            ),
            (
                "and secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here",
                "and secret [redacted] here",
            ),
            ("keep the secret sauce secret", "keep the secret sauce secret"),
            // Keys of more services, only at a word's start.
            ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [redacted]"),
            ("gitlab glpat-xxxxxxxxxxxxxxxxxxxx", "gitlab [redacted]"),
            (
                "google key AIzaSyA1234567890abcdefghijklmnopqrstu in",
                "google key [redacted] in",
            ),
            ("ghs_0123456789abcdefghij", "[redacted]"),
            (
                "ask-questions-about-everything first",
                "ask-questions-about-everything first",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY----- done",
                "-----BEGIN RSA PRIVATE KEY-----[redacted] done",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            ),
            // Escaped or encoded, as logs and stream lines carry them.
            (
                r"here it is:\nsk-ant-api03-abcdefghijklmnop",
                r"here it is:\n[redacted]",
            ),
            (r"line\nghp_0123456789abcdefghij", r"line\n[redacted]"),
            ("key%3Dsk-ant-api03-abcdefghijklmnop", "key%3D[redacted]"),
            (
                r"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
                "-----BEGIN OPENSSH PRIVATE KEY-----[redacted]",
            ),
            // A quoted value runs to its quote.
            (
                "password: 'correct horse battery staple' ok",
                "password: '[redacted]' ok",
            ),
        ];
        // A log's writer hides them too.
        let mut log = RedactingWrite(Vec::new());
        std::io::Write::write_all(&mut log, b"INFO API_KEY=abcdef123456zz sh -c 'exit 1'\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(log.0).unwrap(),
            "INFO API_KEY=[redacted] sh -c 'exit 1'\n"
        );
        // Nothing to hide: the text is borrowed, not copied.
        assert!(matches!(
            redacted("no secrets here"),
            std::borrow::Cow::Borrowed(_)
        ));
        hidden_as(&cases);
    }

    /// Each text redacted as expected, and its redaction left as it is.
    fn hidden_as(cases: &[(&str, &str)]) {
        for (input, want) in cases {
            assert_eq!(redact(input), *want, "{input}");
            // Hidden once is hidden: text read back from a view or a record
            // and shown again is not changed a second time.
            assert_eq!(redact(want), *want, "{want}");
        }
    }

    #[test]
    fn basic_credentials_tab_separators_and_more_names_of_secrets_are_hidden() {
        hidden_as(&[
            (
                "curl -H 'Authorization: Basic YWRtaW46U3VwZXJTZWNyZXQxMjM=' https://api.example.com",
                "curl -H 'Authorization: Basic [redacted]' https://api.example.com",
            ),
            (
                "password:\tTabSeparated99 for the db",
                "password:\t[redacted] for the db",
            ),
            (
                "API_KEY\t=\tabcdef123456zz",
                "API_KEY\t=\t[redacted]",
            ),
            (
                "export MYSQL_PWD=Sup3rS3cretPw9 and DB_PASS=Sup3rS3cretPw9 and PRIVATE_KEY=abcdefghij0123456789xyz",
                "export MYSQL_PWD=[redacted] and DB_PASS=[redacted] and PRIVATE_KEY=[redacted]",
            ),
            (
                "SMTP_PASS: Zx9!kq2Lm, GPG_PASSPHRASE='two words 42', ssh_private_key=AAAAC3NzaC1lZDI1NTE5",
                "SMTP_PASS: [redacted], GPG_PASSPHRASE='[redacted]', ssh_private_key=[redacted]",
            ),
            // A word that ends so is no name of a secret; nor is the
            // shell's working directory.
            (
                "bypass=route66a compass: N45E012 PASSES=123456 --pass-through=/usr/bin",
                "bypass=route66a compass: N45E012 PASSES=123456 --pass-through=/usr/bin",
            ),
            (
                "PWD=/home/alice/project OLDPWD=/tmp/build1",
                "PWD=/home/alice/project OLDPWD=/tmp/build1",
            ),
        ]);
    }

    #[test]
    fn identifiers_and_words_are_kept_and_keys_of_their_shape_hidden() {
        hidden_as(&[
            // Names that begin as keys do, bodies no service makes.
            (
                "use hf_hub_download to fetch the model",
                "use hf_hub_download to fetch the model",
            ),
            (
                "read npm_config_registry and npm_package_version in the script",
                "read npm_config_registry and npm_package_version in the script",
            ),
            (
                "fix the sk-learn-compatible-estimator wrapper",
                "fix the sk-learn-compatible-estimator wrapper",
            ),
            (
                "sk-learn-v2-compatible-estimator-0123",
                "sk-learn-v2-compatible-estimator-0123",
            ),
            (
                "it uses Bearer authentication",
                "it uses Bearer authentication",
            ),
            // Keys as the services make them.
            (
                "log in with hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh ok",
                "log in with [redacted] ok",
            ),
            (
                "npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 in .npmrc",
                "[redacted] in .npmrc",
            ),
            (
                "key sk-Zq9xLm2Np7Rt4Vw8Yb3Kd6Hf1Jg5Sc0Ae9Ui2Oo7Pl4Mn8Bv now",
                "key [redacted] now",
            ),
            (
                "sk-proj-Zq9xLm2Np7Rt4Vw8Yb3Kd6_Hf1Jg5Sc0Ae9Ui2-Oo7Pl4Mn8Bv3Cx6Dz1Qw5",
                "[redacted]",
            ),
            // A named value that is a word or a setting, not a secret.
            (
                "set secret: enabled and token: invalid in the yaml schema docs",
                "set secret: enabled and token: invalid in the yaml schema docs",
            ),
            (
                r#"{"password": "Required", "api_key": "missing"}"#,
                r#"{"password": "Required", "api_key": "missing"}"#,
            ),
            (
                "export PGPASSWORD=$DB_PASSWORD API_TOKEN=${CI_TOKEN}",
                "export PGPASSWORD=$DB_PASSWORD API_TOKEN=${CI_TOKEN}",
            ),
            // A secret with a digit, a sign or a second case is hidden.
            (
                "secret: enab1ed token: Invalid!x password=HunterHunter",
                "secret: [redacted] token: [redacted] password=[redacted]",
            ),
            // Assigned, a plain word is a secret, whatever its name.
            (
                "mysql -u app PGPASSWORD=letmein password=Sunshine",
                "mysql -u app PGPASSWORD=[redacted] password=[redacted]",
            ),
            (
                "GITHUB_TOKEN=Sunshine SECRET_KEY=changeme API_KEY=abcdefghijklmnop",
                "GITHUB_TOKEN=[redacted] SECRET_KEY=[redacted] API_KEY=[redacted]",
            ),
            // After a colon, a password's value is a password unless a
            // schema's or a setting's word.
            (
                "POSTGRES_PASSWORD: postgres and {\"password\": \"letmein\"}",
                "POSTGRES_PASSWORD: [redacted] and {\"password\": \"[redacted]\"}",
            ),
        ]);
    }

    #[test]
    fn a_pem_key_after_a_secrets_name_is_hidden_whole() {
        hidden_as(&[
            (
                "SSH_PRIVATE_KEY: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY----- done",
                "SSH_PRIVATE_KEY: -----BEGIN OPENSSH PRIVATE KEY-----[redacted] done",
            ),
            (
                r#"{"secret": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"}"#,
                r#"{"secret": "-----BEGIN RSA PRIVATE KEY-----[redacted]"}"#,
            ),
        ]);
    }

    #[test]
    fn a_backslash_escaped_quote_holds_a_value_as_a_quote_does() {
        hidden_as(&[
            // Quotes escaped with a backslash, as JSON strings and log
            // fields carry them.
            (
                r#"printf %s 'with PGPASSWORD=\"Hunter2Hunter2xyz\" and'"#,
                r#"printf %s 'with PGPASSWORD=\"[redacted]\" and'"#,
            ),
            (
                r#"{\"api_key\": \"abcd1234efgh5678\"} next"#,
                r#"{\"api_key\": \"[redacted]\"} next"#,
            ),
            (
                r#"reason="failed: PGPASSWORD=\"Verify Pw12345\" psql -c \"select 1\"""#,
                r#"reason="failed: PGPASSWORD=\"[redacted]\" psql -c \"select 1\"""#,
            ),
            (
                r#"echo \"password=hunter2hunter2\" done"#,
                r#"echo \"password=[redacted]\" done"#,
            ),
        ]);
    }
}
