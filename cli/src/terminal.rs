//! Text from the Worker made safe to print: the one place that decides how.
//!
//! Names, descriptions, metadata, error details and keys come from a server the CLI does
//! not control. Printed raw, a hostile or compromised Worker could send terminal escape
//! sequences (move the cursor, rewrite earlier lines, set the window title, on some
//! terminals write files) or bidi overrides that make text read differently from what it
//! is. Every print of server text goes through one of three functions, chosen by what is
//! printed:
//!
//! - [`field`]: one value in a line or a table cell. Every control is escaped, line breaks
//!   and tabs too, so a value cannot start a line or a column of its own.
//! - [`text`]: lines the CLI laid out itself (a plan, the summary around it): as [`field`],
//!   but `\n` and `\t` pass, since the renderer makes them.
//! - [`json`]: JSON text. serde_json already escapes C0 controls in strings; DEL, C1 and the
//!   bidi controls it leaves raw become `\uXXXX` escapes, which read back as the same value,
//!   so the output stays valid JSON of the same document.
//!
//! The escapes (`\x1b`, `\u{9b}`, `\u{202e}`) are for a reader, not a parser: a backslash
//! from the server is left as it is, so `--json` is the form to read exact values from.
//! Escaping twice changes nothing (an escape is printable ASCII), so a string escaped where
//! it is built and again where it is printed reads the same.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw: C0 controls, DEL and C1 controls (`Cc`), the
/// bidi embeddings, overrides, isolates and marks, and the Unicode line and paragraph
/// separators (some renderers break lines at them).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// One value for a line or a table cell: every unsafe character escaped, `\n` and `\t`
/// included.
pub fn field(s: &str) -> Cow<'_, str> {
    escape(s, |_| false, visible)
}

/// Lines the CLI laid out: as [`field`], but line breaks and tabs are kept.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t', visible)
}

/// JSON text (as serde_json writes it): DEL, C1 controls and the other unsafe characters
/// escaped as `\uXXXX`. They can only occur inside strings in valid JSON, where such an
/// escape means the same character; C0 controls are left to serde_json (escaped in strings,
/// whitespace between tokens).
pub fn json(s: &str) -> Cow<'_, str> {
    escape(
        s,
        |c| (c as u32) < 0x20,
        |out, c| {
            // Every unsafe character outside the C0 range is in the Basic Multilingual Plane:
            // one `\uXXXX`, no surrogate pair.
            let _ = write!(out, "\\u{:04x}", c as u32);
        },
    )
}

/// `\n`, `\t`, `\r`, `\x1b` for ASCII controls; `\u{9b}`, `\u{202e}` for the rest.
fn visible(out: &mut String, c: char) {
    let _ = match c {
        '\n' => out.write_str("\\n"),
        '\t' => out.write_str("\\t"),
        '\r' => out.write_str("\\r"),
        c if c.is_ascii() => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

/// `s` with each unsafe character that `keep` does not keep written by `write`; borrowed
/// when nothing changes (the common case).
fn escape(s: &str, keep: impl Fn(char) -> bool, write: impl Fn(&mut String, char)) -> Cow<'_, str> {
    let needs = |c: char| is_unsafe(c) && !keep(c);
    let Some(first) = s.find(needs) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if needs(c) {
            write(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every class of unsafe character, escaped visibly; safe text (accents, emoji with
    /// zero-width joiners, backslashes) passes unchanged and unallocated.
    #[test]
    fn field_escapes_every_control_and_bidi_character() {
        let cases = [
            ("\u{1b}]0;owned\u{7}", "\\x1b]0;owned\\x07"),
            ("a\nb\tc\rd\0", "a\\nb\\tc\\rd\\x00"),
            ("del\u{7f}", "del\\x7f"),
            ("csi\u{9b}31m nel\u{85}", "csi\\u{9b}31m nel\\u{85}"),
            ("\u{202e}txt.exe", "\\u{202e}txt.exe"),
            ("\u{2066}\u{2069}\u{202a}", "\\u{2066}\\u{2069}\\u{202a}"),
            ("\u{200e}\u{200f}\u{61c}", "\\u{200e}\\u{200f}\\u{61c}"),
            ("line\u{2028}sep\u{2029}", "line\\u{2028}sep\\u{2029}"),
        ];
        for (raw, shown) in cases {
            assert_eq!(field(raw), shown, "{raw:?}");
        }
        for safe in [
            "",
            "acme-corp",
            "Zürich café",
            "👨\u{200d}👩\u{200d}👧",
            "a\\x1b",
        ] {
            assert!(matches!(field(safe), Cow::Borrowed(_)), "{safe:?}");
        }
    }

    #[test]
    fn text_keeps_line_breaks_and_tabs_only() {
        assert_eq!(
            text("+ consumer b/x\u{1b}[2J\n    description:\t\"\u{202e}\"\r\n"),
            "+ consumer b/x\\x1b[2J\n    description:\t\"\\u{202e}\"\\r\n"
        );
    }

    /// JSON stays valid and reads back as the same value, with nothing unsafe left raw.
    #[test]
    fn json_stays_the_same_document() {
        let value = serde_json::json!({
            "name\u{202e}": "esc \u{1b} del \u{7f} csi \u{9b} rlo \u{202e} lri \u{2066} ls \u{2028} é",
            "list": ["\n", "\u{85}"],
        });
        for written in [
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let safe = json(&written);
            assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            assert_eq!(back, value);
        }
    }

    /// An escape is printable ASCII: escaping again changes nothing.
    #[test]
    fn escaping_twice_is_escaping_once() {
        let raw = "\u{1b}[31m\u{9b}\u{202e}\n\t\u{7f}";
        for f in [field, text, json] {
            let once = f(raw).into_owned();
            assert_eq!(f(&once), once);
        }
        assert_eq!(field(&text(raw)), field(raw));
    }
}
