//! Text from agents and repositories made safe to print on a terminal.
//!
//! An agent's output, a result, a reason or a file name can hold escape
//! sequences (move the cursor, erase or hide lines, set the window title or
//! the clipboard) and bidirectional overrides that make a terminal show
//! something other than what is there. Printed through these functions,
//! each such character is shown escaped (`\u{1b}`) instead of sent.
//!
//! May depend on: std only.

use std::borrow::Cow;

/// True for a character a terminal would act on rather than show: control
/// characters (C0, DEL, C1) and the bidirectional embeddings, overrides and
/// isolates.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escaped(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text of several lines: newlines and tabs kept, every other control
/// character and bidirectional override escaped.
pub fn lines(s: &str) -> Cow<'_, str> {
    escaped(s, |c| c == '\n' || c == '\t')
}

/// Text that must stay on one line (a file name in a listing, a reason in a
/// table cell): newlines and tabs escaped too, so no name can forge a line.
pub fn one_line(s: &str) -> Cow<'_, str> {
    escaped(s, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_overrides_are_shown_not_sent() {
        let forged = "evil\u{1b}[2K\r    fake-out.txt  +0 -0 (merged)\u{1b}[8m.txt";
        assert_eq!(
            one_line(forged),
            "evil\\u{1b}[2K\\u{d}    fake-out.txt  +0 -0 (merged)\\u{1b}[8m.txt"
        );
        assert_eq!(one_line("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(lines("a\nb\tc\u{7}"), "a\nb\tc\\u{7}");
        assert_eq!(lines("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(lines("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        for s in ["", "fix the parser", "naïve café 日本語 → ✓", "two\nlines"] {
            assert!(matches!(lines(s), Cow::Borrowed(_)), "{s}");
        }
        assert!(matches!(one_line("src/main.rs"), Cow::Borrowed(_)));
    }
}
