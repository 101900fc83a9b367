//! Leak scanning: finding keyward keys in text, with zero false positives.
//!
//! A candidate is anything shaped like a key ([`crate::key::format::KEY_PATTERN`]); it
//! counts only when its CRC-32 checksum holds ([`crate::key::format::parse`]), so random
//! look-alikes, typos and truncated keys are never reported. Keys are found wherever they
//! sit, with word characters on both sides too (`xkw_…_1vXtxmA`): the checksum, not a word
//! boundary, decides where a key starts. Only for the CLI (`keyward scan`), behind the
//! `scan` feature: the Worker never compiles the regex engine.
//!
//! - [`Finder`]: the keys in a byte buffer, with their byte ranges.
//! - [`Lines`]: a byte offset's line and column (columns count Unicode code points).
//! - [`diff`]: the lines a unified diff adds (`git diff`, pull requests, pre-commit).
//! - [`history`]: the blobs a `git log --raw` listing introduces, with their commits.
//! - [`rules`]: the key rule for other scanners (gitleaks, GitHub, trufflehog, a regex).

pub mod diff;
pub mod history;
pub mod rules;

use crate::key::format::{self, BODY_LEN, CHECK_LEN, MAX_PREFIX_LEN};
use regex::bytes::Regex;

/// Bytes from a key's first `_` (after its prefix) to its end: `_{body}_{check}`.
const TAIL_LEN: usize = 1 + BODY_LEN + 1 + CHECK_LEN;

/// A key found in a buffer: its byte range. The key itself is `&buffer[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Offset of the key's first byte.
    pub start: usize,
    /// Offset just past its last byte.
    pub end: usize,
}

/// Finds keys in bytes: for one prefix (a literal the regex engine searches for with
/// SIMD), or for any prefix.
#[derive(Debug, Clone)]
pub struct Finder {
    /// `{prefix}_{32}_{6}` for one prefix, `_{32}_{6}` (the part after the prefix) for any.
    pattern: Regex,
    /// Bytes of the match before the key's tail: the prefix's length, or 0 for any prefix.
    prefix_len: usize,
}

/// A prefix that `--prefix` cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPrefix(pub String);

impl std::fmt::Display for BadPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "'{}' is not a key prefix: use lowercase letters, digits and inner underscores, starting with a letter, at most {MAX_PREFIX_LEN} characters",
            self.0
        )
    }
}

impl std::error::Error for BadPrefix {}

impl Finder {
    /// A finder for keys of `prefix`, or of any prefix when `None`.
    pub fn new(prefix: Option<&str>) -> Result<Finder, BadPrefix> {
        let tail = format!("_[0-9A-Za-z]{{{BODY_LEN}}}_[0-9A-Za-z]{{{CHECK_LEN}}}");
        let (source, prefix_len) = match prefix {
            Some(p) if format::is_valid_prefix(p) => (format!("{p}{tail}"), p.len()),
            Some(p) => return Err(BadPrefix(p.to_owned())),
            None => (tail, 0),
        };
        // ASCII-only classes over bytes: no Unicode tables, and non-UTF-8 input is fine.
        let pattern = Regex::new(&format!("(?-u){source}")).expect("the key pattern compiles");
        Ok(Finder {
            pattern,
            prefix_len,
        })
    }

    /// Every key in `haystack`, in order, appended to `out`.
    pub fn find_all(&self, haystack: &[u8], out: &mut Vec<Found>) {
        let mut at = 0;
        while let Some(m) = self.pattern.find_at(haystack, at) {
            match self.confirm(haystack, m.start()) {
                Some(found) => {
                    out.push(found);
                    at = found.end;
                }
                // Overlapping candidates: a look-alike may end inside a real key (its
                // "checksum" being the key's first characters), so look again one byte on.
                None => at = m.start() + 1,
            }
        }
    }

    /// The keys in `haystack`, in order.
    pub fn find(&self, haystack: &[u8]) -> Vec<Found> {
        let mut out = Vec::new();
        self.find_all(haystack, &mut out);
        out
    }

    /// The key whose match starts at `start`, if its checksum holds.
    fn confirm(&self, haystack: &[u8], start: usize) -> Option<Found> {
        if self.prefix_len > 0 {
            let end = start + self.prefix_len + TAIL_LEN;
            return valid(haystack, start, end).then_some(Found { start, end });
        }
        // Any prefix: `start` is the `_` after it. Try each run of prefix characters that
        // ends there, shortest first; the checksum covers the prefix, so at most one holds
        // (but for a 2^-32 chance).
        let end = start + TAIL_LEN;
        for len in 1..=MAX_PREFIX_LEN.min(start) {
            let b = haystack[start - len];
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                break;
            }
            if b.is_ascii_lowercase() && valid(haystack, start - len, end) {
                return Some(Found {
                    start: start - len,
                    end,
                });
            }
        }
        None
    }
}

/// Whether `haystack[start..end]` is a key whose checksum holds.
fn valid(haystack: &[u8], start: usize, end: usize) -> bool {
    haystack
        .get(start..end)
        .and_then(|b| std::str::from_utf8(b).ok())
        .is_some_and(|s| format::parse(s).is_ok())
}

/// A position in a buffer: 1-based line, and 1-based column in Unicode code points (each
/// UTF-8 sequence counts once; a byte that is not UTF-8 counts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column in code points, from 1.
    pub column: u64,
}

/// Turns byte offsets into positions, for offsets asked in increasing order: lines are
/// counted once, from the previous offset on (a file with hits costs one pass more, a file
/// without none).
#[derive(Debug)]
pub struct Lines<'a> {
    haystack: &'a [u8],
    /// Offset up to which newlines are counted, and the line there.
    counted: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    /// Positions in `haystack`.
    pub fn new(haystack: &'a [u8]) -> Lines<'a> {
        Lines {
            haystack,
            counted: 0,
            line: 1,
        }
    }

    /// The position of byte `offset`; offsets must not decrease between calls.
    pub fn position(&mut self, offset: usize) -> Position {
        let offset = offset.min(self.haystack.len());
        if offset < self.counted {
            // Asked out of order: count again from the start rather than answer wrong.
            self.counted = 0;
            self.line = 1;
        }
        self.line +=
            memchr::memchr_iter(b'\n', &self.haystack[self.counted..offset]).count() as u64;
        self.counted = offset;
        let line_start = memchr::memrchr(b'\n', &self.haystack[..offset]).map_or(0, |i| i + 1);
        let column = 1 + self.haystack[line_start..offset]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count() as u64;
        Position {
            line: self.line,
            column,
        }
    }
}

/// The text of a UTF-16 file that starts with its byte-order mark (as Windows tools write
/// them: PowerShell 5's `>`), as UTF-8 without the mark; `None` for anything else.
/// Unpaired surrogates become U+FFFD.
pub fn utf16_text(bytes: &[u8]) -> Option<String> {
    let decode = |unit: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| unit([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    };
    match bytes.get(..2)? {
        [0xFF, 0xFE] => Some(decode(u16::from_le_bytes)),
        [0xFE, 0xFF] => Some(decode(u16::from_be_bytes)),
        _ => None,
    }
}

/// Whether `head` (a file's first bytes) looks binary: a NUL byte, as git and ripgrep judge.
pub fn looks_binary(head: &[u8]) -> bool {
    memchr::memchr(0, head).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::format::{checksum, mask};

    /// A valid key of `prefix` whose body is `fill` repeated.
    pub(crate) fn key(prefix: &str, fill: char) -> String {
        let head = format!("{prefix}_{}", fill.to_string().repeat(BODY_LEN));
        let check = checksum(&head);
        format!("{head}_{check}")
    }

    fn texts(finder: &Finder, haystack: &str) -> Vec<String> {
        finder
            .find(haystack.as_bytes())
            .into_iter()
            .map(|f| haystack[f.start..f.end].to_owned())
            .collect()
    }

    #[test]
    fn finds_keys_of_any_prefix_and_only_those_whose_checksum_holds() {
        let any = Finder::new(None).unwrap();
        let a = key("kw", 'a');
        let b = key("acme_live", 'B');
        let mut bad = a.clone();
        bad.replace_range(a.len() - 1.., "x");
        let text = format!("a={a} b=\"{b}\" bad={bad} short={}", &a[..a.len() - 1]);
        assert_eq!(texts(&any, &text), vec![a.clone(), b.clone()]);
        let kw = Finder::new(Some("kw")).unwrap();
        assert_eq!(texts(&kw, &text), vec![a]);
    }

    #[test]
    fn word_characters_on_both_sides_do_not_hide_a_key() {
        let any = Finder::new(None).unwrap();
        let k = key("kw", '7');
        // Letters before it would make a longer prefix; the checksum says where it starts.
        for text in [
            format!("xyz{k}QRS"),
            format!("__{k}__"),
            format!("9{k}9"),
            format!("a_b{k}"),
        ] {
            assert_eq!(texts(&any, &text), vec![k.clone()], "{text}");
        }
    }

    #[test]
    fn a_look_alike_ending_inside_a_key_does_not_hide_it() {
        // `_` + 32 base62 + `_` + 6 base62 that ends in the real key's body.
        let k = key("kw", 'Q');
        let text = format!("_{}kw{}", "A".repeat(30), &k[2..]);
        let any = Finder::new(None).unwrap();
        assert_eq!(texts(&any, &text), vec![k.clone()]);
        assert_eq!(texts(&Finder::new(Some("kw")).unwrap(), &text), vec![k]);
    }

    #[test]
    fn a_key_of_a_longer_prefix_is_not_one_of_its_suffix() {
        let k = key("xkw", 'c');
        assert_eq!(
            texts(&Finder::new(Some("kw")).unwrap(), &k),
            Vec::<String>::new()
        );
        assert_eq!(texts(&Finder::new(None).unwrap(), &k), vec![k]);
    }

    #[test]
    fn bad_prefixes_are_refused_by_name() {
        let e = Finder::new(Some("KW")).unwrap_err();
        assert!(e.to_string().contains("'KW'"), "{e}");
        assert!(Finder::new(Some("kw_")).is_err());
    }

    #[test]
    fn positions_count_lines_and_code_points() {
        let k = key("kw", 'z');
        let text = format!("one\r\nzwei: é€😀{k}\nthree {k}");
        let found = Finder::new(None).unwrap().find(text.as_bytes());
        let mut lines = Lines::new(text.as_bytes());
        let got: Vec<Position> = found.iter().map(|f| lines.position(f.start)).collect();
        assert_eq!(
            got,
            vec![
                Position {
                    line: 2,
                    column: 10
                },
                Position { line: 3, column: 7 }
            ]
        );
        // Out of order still answers right.
        assert_eq!(lines.position(0), Position { line: 1, column: 1 });
    }

    #[test]
    fn masked_output_never_holds_the_key() {
        let k = key("kw", 'm');
        assert!(!mask(&k).contains(&k[3..20]));
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_text() {
        let k = key("kw", 'u');
        let text = format!("é {k}\r\n");
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(utf16_text(&le).as_deref(), Some(text.as_str()));
        assert_eq!(utf16_text(&be).as_deref(), Some(text.as_str()));
        assert!(looks_binary(&le), "why it needs decoding first");
        assert_eq!(utf16_text(b"plain"), None);
    }

    #[test]
    fn binary_means_a_nul_byte() {
        assert!(looks_binary(b"PK\x03\x04\x00"));
        assert!(!looks_binary("plain é".as_bytes()));
    }
}
