//! Input rules shared by the developer API and `keys.yaml`: names, e-mails, metadata, tags.
//!
//! Each check returns an [`Error`] of kind `Invalid` whose message names the bad value and
//! says what would be accepted. The limits are chosen so that what list filters need fits
//! in KV's 1024-byte metadata (see ARCHITECTURE.md). Metadata is free-form but for the two
//! fields keyward reads as a consumer's limits, `rateLimit` and `quota`, whose rule is
//! [`crate::policy`]'s.

use crate::error::Error;
use crate::policy::{self, PolicyError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest consumer name.
pub const MAX_CONSUMER_NAME: usize = 128;
/// Shortest and longest bucket name (Zuplo's rule).
pub const BUCKET_NAME_LEN: std::ops::RangeInclusive<usize> = 5..=128;
/// Largest serialized metadata object, in bytes.
pub const MAX_METADATA_BYTES: usize = 1024;
/// Most tags on a consumer (Zuplo's limit).
pub const MAX_TAGS: usize = 5;
/// Longest tag key.
pub const MAX_TAG_KEY: usize = 32;
/// Longest tag value, in UTF-8 bytes.
pub const MAX_TAG_VALUE: usize = 64;
/// Largest serialized tag map: with the rest of the consumer index it stays under KV's
/// 1024-byte metadata limit whatever the characters (JSON escapes can grow a byte to six).
pub const MAX_TAGS_BYTES: usize = 640;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 1024;
/// Longest e-mail address: RFC 5321 allows 254, keyward 252 so that the manager index key
/// `m:{bucket}:{email}:{consumer}` stays within KV's 512 bytes with the longest names.
pub const MAX_EMAIL: usize = 252;
/// Most managers on a consumer.
pub const MAX_MANAGERS: usize = 50;
/// Most keys on a consumer.
pub const MAX_KEYS: usize = 100;

fn is_name_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// A consumer name: `^[a-z0-9-]{1,128}$`.
pub fn consumer_name(name: &str) -> Result<(), Error> {
    if !name.is_empty() && name.len() <= MAX_CONSUMER_NAME && name.bytes().all(is_name_char) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "consumer name '{}' is invalid; use 1 to {MAX_CONSUMER_NAME} lowercase letters, digits and '-'",
            shorten(name)
        )))
    }
}

/// A bucket name: `^[a-z0-9-]{5,128}$`.
pub fn bucket_name(name: &str) -> Result<(), Error> {
    if BUCKET_NAME_LEN.contains(&name.len()) && name.bytes().all(is_name_char) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "bucket name '{}' is invalid; use 5 to 128 lowercase letters, digits and '-'",
            shorten(name)
        )))
    }
}

/// Whether `c` is a character a reader cannot see or that changes how text around it is
/// shown: controls, format characters (zero-width, soft hyphen, BOM) and the bidi controls
/// (which are format characters too): an address carrying one can look like another's.
pub fn is_hidden(c: char) -> bool {
    let listed = |list: &[(u32, u32)]| list.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
    c.is_control() || (!c.is_ascii() && c.is_whitespace()) || listed(FORMAT) || listed(BLANK)
}

/// Characters that are not format characters but show as nothing (default-ignorable fillers
/// and variation selectors) or as a blank.
const BLANK: &[(u32, u32)] = &[
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180D),
    (0x180F, 0x180F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
];

/// Unicode's format characters (general category Cf), as ranges: a list, not a crate's
/// tables, to keep the Worker small; a test holds it equal to the Unicode data.
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// The form e-mail addresses are compared and stored in: NFC (one code point sequence per
/// visible address: `é` and `e` + U+0301 are the same address), then lower case by Unicode's
/// rules. The API, `keys.yaml` checks, plans and digests all use this one function.
pub fn email_key(address: &str) -> String {
    nfc(address).to_lowercase()
}

/// The adapter's NFC, for builds without the `nfc` feature (see [`set_nfc`]).
#[cfg(not(feature = "nfc"))]
static NFC: std::sync::OnceLock<fn(&str) -> String> = std::sync::OnceLock::new();

/// Supplies NFC to a build without the `nfc` feature. The Worker passes JavaScript's
/// `String.prototype.normalize` (Unicode's tables are in the runtime already; the crate's would
/// add about 60 KB gzipped to the bundle). Without either, non-ASCII addresses are compared
/// as typed.
#[cfg(not(feature = "nfc"))]
pub fn set_nfc(f: fn(&str) -> String) {
    let _ = NFC.set(f);
}

fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if s.is_ascii() {
        return Cow::Borrowed(s); // ASCII is always NFC
    }
    #[cfg(feature = "nfc")]
    {
        use unicode_normalization::UnicodeNormalization;
        Cow::Owned(s.nfc().collect())
    }
    #[cfg(not(feature = "nfc"))]
    match NFC.get() {
        Some(f) => Cow::Owned(f(s)),
        None => Cow::Borrowed(s),
    }
}

/// Normalizes an e-mail address ([`email_key`]: NFC, Unicode lower case) and checks its shape
/// (`local@domain.tld`). An address with a control, invisible or bidi character is refused
/// with its position: an address carrying one can look like another's.
pub fn email(raw: &str) -> Result<String, Error> {
    let trimmed = raw.trim();
    if let Some((at, c)) = trimmed.chars().enumerate().find(|(_, c)| is_hidden(*c)) {
        return Err(Error::invalid(format!(
            "manager e-mail has an invisible or control character (U+{:04X}) at character {}; \
             type the address again",
            c as u32,
            at + 1
        )));
    }
    let email = email_key(trimmed);
    let bad = || {
        Error::invalid(format!(
            "manager '{}' is not an e-mail address; use name@domain",
            shorten(raw)
        ))
    };
    if email.len() > MAX_EMAIL
        || email
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || !b.is_ascii())
        });
    if local.is_empty()
        || !domain_ok
        || email.contains(['<', '>', ',', ';', ':', '/', '"', '(', ')', '[', ']', '\\'])
    {
        return Err(bad());
    }
    Ok(email)
}

/// Metadata: a JSON object of at most [`MAX_METADATA_BYTES`] bytes serialized, whose
/// `rateLimit` and `quota`, when present, are limits keyward can read
/// ([`policy::check_metadata`]; the message is [`PolicyError`]'s, `metadata.rateLimit: …`,
/// both joined by `; ` when both are wrong).
pub fn metadata(value: &Value) -> Result<(), Error> {
    metadata_detail(value).map_err(Error::from)
}

/// Why [`metadata`] refuses a value, with a limit's fault kept apart: `keys.yaml` points at
/// the field at fault, and `keyward import zuplo` says why keyward reads that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// Not an object, or too large.
    Shape(Error),
    /// A `rateLimit` or a `quota` that is not one, or both (never empty).
    Limits(Vec<PolicyError>),
}

impl From<MetadataError> for Error {
    fn from(e: MetadataError) -> Error {
        match e {
            MetadataError::Shape(e) => e,
            MetadataError::Limits(errors) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Error::invalid(messages.join("; "))
            }
        }
    }
}

/// [`metadata`]'s rule, answering which part of it a value breaks.
pub fn metadata_detail(value: &Value) -> Result<(), MetadataError> {
    let Value::Object(map) = value else {
        return Err(MetadataError::Shape(Error::invalid(
            "metadata must be a JSON object, e.g. {\"plan\": \"gold\"}",
        )));
    };
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(MetadataError::Shape(Error::invalid(format!(
            "metadata is {size} bytes serialized, over the limit of {MAX_METADATA_BYTES}; keep only what the gateway needs"
        ))));
    }
    policy::check_metadata(map).map_err(MetadataError::Limits)
}

/// Metadata as an object, or an empty object when absent.
pub fn metadata_object(value: Option<Value>) -> Result<Map<String, Value>, Error> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(v) => {
            metadata(&v)?;
            match v {
                Value::Object(m) => Ok(m),
                _ => Err(Error::invalid("metadata must be a JSON object")),
            }
        }
    }
}

/// Tags: at most [`MAX_TAGS`], keys `[A-Za-z0-9_.-]{1,32}`, values at most 64 bytes, the whole
/// map at most [`MAX_TAGS_BYTES`] serialized.
pub fn tags(tags: &BTreeMap<String, String>) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(format!(
            "{} tags given, at most {MAX_TAGS} are allowed",
            tags.len()
        )));
    }
    for (k, v) in tags {
        let key_ok = !k.is_empty()
            && k.len() <= MAX_TAG_KEY
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !key_ok {
            return Err(Error::invalid(format!(
                "tag key '{}' is invalid; use 1 to {MAX_TAG_KEY} letters, digits, '_', '.' or '-'",
                shorten(k)
            )));
        }
        if v.len() > MAX_TAG_VALUE {
            return Err(Error::invalid(format!(
                "tag '{k}' has a value longer than {MAX_TAG_VALUE} bytes"
            )));
        }
    }
    let size = serde_json::to_vec(tags)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_TAGS_BYTES {
        return Err(Error::invalid(format!(
            "tags take {size} bytes serialized, over the limit of {MAX_TAGS_BYTES}; use shorter or plainer values"
        )));
    }
    Ok(())
}

/// A description: at most [`MAX_DESCRIPTION`] characters.
pub fn description(text: &str) -> Result<(), Error> {
    if text.chars().count() > MAX_DESCRIPTION {
        Err(Error::invalid(format!(
            "description is longer than {MAX_DESCRIPTION} characters"
        )))
    } else {
        Ok(())
    }
}

/// The first 64 characters of user input, for error messages.
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_are_nfc_then_lower_case() {
        // E + U+0301 (decomposed) and U+00C9 (composed) are one address.
        assert_eq!(
            email("E\u{301}lodie@Exemple.fr").unwrap(),
            "\u{e9}lodie@exemple.fr"
        );
        assert_eq!(
            email_key("\u{c9}LODIE@exemple.fr"),
            "\u{e9}lodie@exemple.fr"
        );
        assert_eq!(email_key("ANGSTROM\u{212B}@x.se"), "angstrom\u{e5}@x.se");
        assert_eq!(email_key("plain@example.com"), "plain@example.com");
    }

    #[test]
    fn names() {
        assert!(consumer_name("acme-corp-1").is_ok());
        assert!(consumer_name("").is_err());
        assert!(consumer_name("Acme").is_err());
        assert!(consumer_name(&"a".repeat(129)).is_err());
        assert!(bucket_name("default").is_ok());
        assert!(bucket_name("prod").is_err());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(email(" Bob@Example.COM ").unwrap(), "bob@example.com");
        for bad in [
            "bob@",
            "@x.com",
            "bob",
            "bob@localhost",
            "a@b@c.com",
            "a b@c.com",
            "a@-x.com",
        ] {
            let e = email(bad).unwrap_err();
            assert!(e.message().contains("not an e-mail address"), "{bad}");
        }
    }

    #[test]
    fn the_format_list_is_unicodes() {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let format = c.general_category() == GeneralCategory::Format;
            let listed = FORMAT
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
            assert_eq!(listed, format, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn emails_are_lowercased_by_unicode_and_hidden_characters_refused() {
        // Unicode lower case, not only ASCII.
        assert_eq!(email("ÉLODIE@Exemple.fr").unwrap(), "élodie@exemple.fr");
        for (spoof, at, code) in [
            ("bob\u{200B}@example.com", 4, "U+200B"),
            ("\u{202E}moc.elpmaxe@bob", 1, "U+202E"),
            ("bob@exam\u{00AD}ple.com", 9, "U+00AD"),
            ("bob@example.com\u{FEFF}", 16, "U+FEFF"),
            ("bo\u{7}b@example.com", 3, "U+0007"),
            ("bob\u{3164}@example.com", 4, "U+3164"),
            ("bob\u{FE0F}@example.com", 4, "U+FE0F"),
            ("bob\u{A0}x@example.com", 4, "U+00A0"),
        ] {
            let e = email(spoof).unwrap_err();
            assert!(e.message().contains(code), "{spoof:?}: {}", e.message());
            assert!(
                e.message().contains(&format!("at character {at}")),
                "{spoof:?}: {}",
                e.message()
            );
        }
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(metadata(&json!({"plan": "gold"})).is_ok());
        assert!(metadata(&json!([1])).is_err());
        let big = json!({ "x": "y".repeat(1100) });
        assert!(metadata(&big)
            .unwrap_err()
            .message()
            .contains("over the limit"));
    }

    #[test]
    fn metadata_limits_are_keywards_and_the_rest_is_free() {
        assert!(metadata(&json!({"plan": "gold", "ratelimit": 5, "limits": [1]})).is_ok());
        assert!(metadata(&json!({"rateLimit": {"requestsPerMinute": 600.0}})).is_ok());
        assert!(metadata(&json!({"quota": {"requests": 10, "period": "day"}})).is_ok());
        let e = metadata(&json!({"plan": "gold", "rateLimit": 600})).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Invalid);
        assert_eq!(
            e.message(),
            "metadata.rateLimit: must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}"
        );
        let e = metadata_detail(&json!({"quota": {"requests": 10, "period": "week"}}));
        assert!(
            matches!(&e, Err(MetadataError::Limits(p)) if p.len() == 1 && p[0].field == "quota"),
            "{e:?}"
        );
        let e = metadata(&json!({"quota": 5, "rateLimit": {"requestsPerMinute": 0}})).unwrap_err();
        assert_eq!(
            e.message(),
            "metadata.rateLimit: requestsPerMinute must be a whole number from 1 to 1000000000; \
             metadata.quota: must be an object: {requests: N, period: day} or {requests: N, period: month}"
        );
        assert!(matches!(
            metadata_detail(&json!([1])),
            Err(MetadataError::Shape(_))
        ));
    }

    #[test]
    fn tag_limits() {
        let mut t = BTreeMap::new();
        t.insert("team".to_owned(), "core".to_owned());
        assert!(tags(&t).is_ok());
        t.insert("bad key".to_owned(), "v".to_owned());
        assert!(tags(&t).is_err());
        let many: BTreeMap<_, _> = (0..6).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(tags(&many).is_err());
    }
}
