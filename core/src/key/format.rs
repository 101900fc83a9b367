//! The API key format: `{prefix}_{body}_{check}`.
//!
//! - `prefix`: lowercase letters, digits and inner underscores, starting with a letter, at most
//!   [`MAX_PREFIX_LEN`] characters; one per deployment (`KEY_PREFIX`, default `kw`).
//! - `body`: [`BODY_LEN`] base62 digits, each uniformly random (~190 bits).
//! - `check`: the CRC-32 (zlib/IEEE) of the ASCII bytes of `{prefix}_{body}`, in base62,
//!   big-endian, left-padded with '0' to [`CHECK_LEN`] digits.
//!
//! The checksum lets the edge reject typos and garbage without any storage read, and lets a
//! scanner keep only real keys among look-alikes: [`KEY_PATTERN`] finds candidates, [`parse`]
//! confirms them.
//!
//! ```
//! use keyward_core::key::format as key_format;
//! let key = key_format::parse("kw_00000000000000000000000000000000_1vXtxm").unwrap();
//! assert_eq!(key.prefix(), "kw");
//! assert!(key_format::parse("kw_00000000000000000000000000000000_1vXtxn").is_err());
//! ```

use crate::entropy::Entropy;
use crate::error::Error;
use crate::key::base62;
use std::fmt;

/// Number of base62 digits in a key body.
pub const BODY_LEN: usize = 32;
/// Number of base62 digits in a key checksum.
pub const CHECK_LEN: usize = 6;
/// Longest allowed prefix.
pub const MAX_PREFIX_LEN: usize = 20;
/// The prefix used when a deployment configures none.
pub const DEFAULT_PREFIX: &str = "kw";
/// Shortest and longest possible key.
pub const MIN_KEY_LEN: usize = 1 + 1 + BODY_LEN + 1 + CHECK_LEN;
/// Longest possible key.
pub const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + 1 + BODY_LEN + 1 + CHECK_LEN;

/// The published regular expression that finds every keyward key (of any prefix).
///
/// Use it with non-word boundaries on both sides (`\b…\b` in most engines), then confirm
/// each match with [`parse`] to drop look-alikes whose checksum does not hold.
pub const KEY_PATTERN: &str = r"[a-z][a-z0-9_]{0,19}_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}";

/// Why a string is not a valid key. Never carries the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Wrong length or underscores in the wrong places.
    Shape,
    /// The prefix breaks the prefix rules.
    Prefix,
    /// Body or checksum has a character outside base62.
    Alphabet,
    /// The checksum does not match the prefix and body.
    Checksum,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatError::Shape => "not shaped like {prefix}_{32 base62}_{6 base62}",
            FormatError::Prefix => "prefix must be lowercase letters, digits and inner underscores, at most 20 characters",
            FormatError::Alphabet => "body and checksum must be base62 (0-9A-Za-z)",
            FormatError::Checksum => "checksum does not match",
        })
    }
}

/// A key that passed every format check, borrowed from its string.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    text: &'a str,
    prefix_len: usize,
}

impl<'a> ParsedKey<'a> {
    /// The deployment prefix, e.g. `kw`.
    pub fn prefix(&self) -> &'a str {
        &self.text[..self.prefix_len]
    }

    /// The whole key.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
}

impl fmt::Debug for ParsedKey<'_> {
    // Keys are secrets: debug output shows only the masked form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedKey({})", mask(self.text))
    }
}

/// Whether `prefix` is a valid key prefix.
pub fn is_valid_prefix(prefix: &str) -> bool {
    let bytes = prefix.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_PREFIX_LEN || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    if bytes[bytes.len() - 1] == b'_' {
        return false;
    }
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => previous_underscore = false,
            b'_' if !previous_underscore => previous_underscore = true,
            _ => return false,
        }
    }
    true
}

/// Checks that `prefix` may be configured, with a message that says why not.
pub fn validate_prefix(prefix: &str) -> Result<(), Error> {
    if is_valid_prefix(prefix) {
        Ok(())
    } else {
        Err(Error::new(
            crate::ErrorKind::Config,
            format!("key prefix '{prefix}' is invalid; use lowercase letters, digits and inner underscores, starting with a letter, at most {MAX_PREFIX_LEN} characters"),
        ))
    }
}

/// The checksum of `{prefix}_{body}` as it appears in a key.
pub fn checksum(prefix_and_body: &str) -> String {
    base62::encode_u32(crc32fast::hash(prefix_and_body.as_bytes()), CHECK_LEN)
}

/// Parses and checks a key: shape, prefix, alphabet and checksum. Costs no I/O.
pub fn parse(text: &str) -> Result<ParsedKey<'_>, FormatError> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&n) {
        return Err(FormatError::Shape);
    }
    let check_sep = n - CHECK_LEN - 1;
    let body_sep = check_sep - BODY_LEN - 1;
    if bytes[check_sep] != b'_' || bytes[body_sep] != b'_' {
        return Err(FormatError::Shape);
    }
    if !is_valid_prefix(&text[..body_sep]) {
        return Err(FormatError::Prefix);
    }
    let body = &text[body_sep + 1..check_sep];
    let check = &text[check_sep + 1..];
    if !base62::is_base62(body) || !base62::is_base62(check) {
        return Err(FormatError::Alphabet);
    }
    let expected = base62::encode_u32(crc32fast::hash(&bytes[..check_sep]), CHECK_LEN);
    if expected != check {
        return Err(FormatError::Checksum);
    }
    Ok(ParsedKey {
        text,
        prefix_len: body_sep,
    })
}

/// Makes a new key with `prefix` and a fresh random body.
pub fn generate(prefix: &str, entropy: &dyn Entropy) -> Result<String, Error> {
    validate_prefix(prefix)?;
    let body = base62::random(entropy, BODY_LEN)?;
    let mut key = format!("{prefix}_{body}");
    let check = checksum(&key);
    key.push('_');
    key.push_str(&check);
    Ok(key)
}

/// The masked form of a key for lists and logs: the prefix and the last 6 characters.
///
/// ```
/// let masked = keyward_core::key::format::mask("kw_00000000000000000000000000000000_1vXtxm");
/// assert_eq!(masked, "kw_****1vXtxm");
/// ```
pub fn mask(key: &str) -> String {
    let tail_start = key.len().saturating_sub(CHECK_LEN);
    let tail = key.get(tail_start..).unwrap_or("");
    match key.get(..key.len().saturating_sub(CHECK_LEN + BODY_LEN + 2)) {
        Some(prefix) if is_valid_prefix(prefix) => format!("{prefix}_****{tail}"),
        _ => format!("****{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_by_shape_prefix_and_alphabet() {
        assert_eq!(parse(""), Err(FormatError::Shape));
        assert_eq!(
            parse("kw_0000000000000000000000000000000_1vXtxm"),
            Err(FormatError::Shape)
        );
        assert_eq!(
            parse("KW_00000000000000000000000000000000_1vXtxm"),
            Err(FormatError::Prefix)
        );
        assert_eq!(
            parse("k__00000000000000000000000000000000_1vXtxm"),
            Err(FormatError::Prefix)
        );
        assert_eq!(
            parse("kw_0000000000000000000000000000000-_1vXtxm"),
            Err(FormatError::Alphabet)
        );
        assert_eq!(
            parse("kw_00000000000000000000000000000000_1vXtx-"),
            Err(FormatError::Alphabet)
        );
    }

    #[test]
    fn prefix_rules() {
        for ok in ["kw", "acme_live", "x1", "a", "abcdefghijklmnopqrst"] {
            assert!(is_valid_prefix(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "_a",
            "a_",
            "a__b",
            "A",
            "abcdefghijklmnopqrstu",
            "a-b",
        ] {
            assert!(!is_valid_prefix(bad), "{bad}");
        }
    }

    #[test]
    fn masks_without_the_body() {
        assert_eq!(
            mask("acme_live_Q2xvdWRmbGFyZVdvcmtlcnNLVlJ1c3Qx_3Dz7BZ"),
            "acme_live_****3Dz7BZ"
        );
        assert_eq!(mask("xyz"), "****xyz");
    }
}
