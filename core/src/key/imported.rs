//! Keys imported from another system (migration off Zuplo): the rules a client-supplied key
//! must meet, and `IMPORTED_KEY_PATTERN`, the regular expression that admits foreign keys.
//!
//! A supplied key is stored like every key — as its HMAC, never in plaintext — when it is a
//! valid keyward key of the deployment's prefix or when it matches the pattern. At the edge a
//! key matching the pattern skips the checksum (it has none keyward knows) and costs one KV
//! read, like any key; anything matching neither is still refused without a read.
//!
//! The regular-expression engine is not compiled in here: the Worker must not carry the
//! `regex` crate (bundle size), so an adapter installs a [`Compiler`] once
//! ([`set_compiler`]; the Worker passes `regex-lite`, linear-time), and native builds with the
//! `regex` feature (the CLI, tests) fall back to the `regex` crate. The pattern is compiled
//! once, when the configuration is read, into a [`Pattern`] that holds its matcher.
//!
//! The whole key must match: the pattern is used as `^(?:pattern)$` (anchoring it yourself
//! changes nothing). It must be a valid expression on its own, so `a)|(b` cannot undo the
//! anchors. Write it in the subset JavaScript and Rust agree on (classes, repetitions,
//! alternation); the Worker runs it with JavaScript's semantics.

use std::fmt;
use std::rc::Rc;
use std::sync::OnceLock;

/// The longest key a client may supply, in bytes.
pub const MAX_SUPPLIED_LEN: usize = 256;

/// A compiled matcher: whether a key matches the whole pattern.
pub type Matcher = Rc<dyn Fn(&str) -> bool>;

/// Compiles a regular expression into a [`Matcher`], or says why it is not one.
pub type Compiler = fn(&str) -> Result<Matcher, String>;

static COMPILER: OnceLock<Compiler> = OnceLock::new();

/// Installs the adapter's regular-expression engine, once per process or isolate (later
/// calls are ignored). The Worker passes `regex-lite`.
pub fn set_compiler(compile: Compiler) {
    let _ = COMPILER.set(compile);
}

#[cfg(feature = "regex")]
fn native(source: &str) -> Result<Matcher, String> {
    let re = regex::Regex::new(source).map_err(|e| e.to_string())?;
    Ok(Rc::new(move |key: &str| re.is_match(key)))
}

#[cfg(feature = "regex")]
const NATIVE: Option<Compiler> = Some(native);

#[cfg(not(feature = "regex"))]
const NATIVE: Option<Compiler> = None;

/// Why a supplied key is refused before any pattern is tried. Never carries the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppliedError {
    /// The empty string.
    Empty,
    /// Longer than [`MAX_SUPPLIED_LEN`] bytes.
    TooLong,
    /// A space, a control character or anything outside visible ASCII.
    Characters,
}

impl fmt::Display for SuppliedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuppliedError::Empty => f.write_str("is empty"),
            SuppliedError::TooLong => write!(f, "is longer than {MAX_SUPPLIED_LEN} bytes"),
            SuppliedError::Characters => f.write_str(
                "may hold only visible ASCII characters (no spaces, control characters or non-ASCII), since keys travel in HTTP headers",
            ),
        }
    }
}

/// Checks what every supplied key must be, whatever its kind: non-empty, at most
/// [`MAX_SUPPLIED_LEN`] bytes, visible ASCII only.
pub fn check_supplied(key: &str) -> Result<(), SuppliedError> {
    if key.is_empty() {
        return Err(SuppliedError::Empty);
    }
    if key.len() > MAX_SUPPLIED_LEN {
        return Err(SuppliedError::TooLong);
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SuppliedError::Characters);
    }
    Ok(())
}

/// `IMPORTED_KEY_PATTERN`, compiled: which foreign keys are accepted.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    matcher: Matcher,
}

impl Pattern {
    /// Compiles `source` with the installed engine (or the `regex` crate natively), anchored
    /// as `^(?:source)$`. The error says why, without naming the variable.
    pub fn compile(source: &str) -> Result<Pattern, String> {
        let compile = COMPILER
            .get()
            .copied()
            .or(NATIVE)
            .ok_or("this build has no regular-expression engine")?;
        let invalid = |e: String| {
            let why = e.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("not a valid regular expression: {why}")
        };
        // On its own first, so that the anchors around it cannot be undone (`a)|(b`).
        compile(source).map_err(invalid)?;
        let matcher = compile(&format!("^(?:{source})$")).map_err(invalid)?;
        Ok(Pattern {
            source: source.to_owned(),
            matcher,
        })
    }

    /// A pattern over any matcher (tests, other engines).
    pub fn with_matcher(source: &str, matcher: Matcher) -> Pattern {
        Pattern {
            source: source.to_owned(),
            matcher,
        }
    }

    /// The pattern as configured.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `key` is a supplied-key candidate ([`check_supplied`]) that matches the whole
    /// pattern. Costs no I/O; a long or odd string is refused before the expression runs.
    pub fn matches(&self, key: &str) -> bool {
        check_supplied(key).is_ok() && (self.matcher)(key)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The masked form of an imported key, as stored and listed: `****` and its last 6
/// characters when it has 32 or more, none below (a short key would give away too much of
/// itself).
pub fn mask(key: &str) -> String {
    let n = key.chars().count();
    let shown = if n >= 32 { 6 } else { 0 };
    let tail: String = key.chars().skip(n - shown).collect();
    format!("****{tail}")
}

#[cfg(all(test, feature = "regex"))]
mod tests {
    use super::*;

    const ZUPLO: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";
    const KEY: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";

    #[test]
    fn the_whole_key_must_match() {
        let p = Pattern::compile(ZUPLO).unwrap();
        assert!(p.matches(KEY));
        assert!(!p.matches(&format!("{KEY}x")));
        assert!(!p.matches(&format!("x{KEY}")));
        let unanchored = Pattern::compile("zpka_[0-9a-f]{32}_[0-9a-f]{8}").unwrap();
        assert!(unanchored.matches(KEY));
        assert!(!unanchored.matches(&format!("{KEY}x")));
        assert!(!unanchored.matches(&format!("x{KEY}")));
        let alternation = Pattern::compile("a|b").unwrap();
        assert!(alternation.matches("a") && alternation.matches("b"));
        assert!(!alternation.matches("ab") && !alternation.matches("xa"));
    }

    #[test]
    fn anchors_cannot_be_undone() {
        let e = Pattern::compile("x)|(.*").unwrap_err();
        assert!(e.starts_with("not a valid regular expression"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(Pattern::compile("[").is_err());
    }

    #[test]
    fn odd_strings_never_reach_the_expression() {
        let any = Pattern::compile(".*").unwrap();
        assert!(any.matches("abc"));
        for bad in ["", "a b", "a\tb", "a\nb", "é", "a\u{7f}"] {
            assert!(!any.matches(bad), "{bad:?}");
        }
        assert!(any.matches(&"a".repeat(MAX_SUPPLIED_LEN)));
        assert!(!any.matches(&"a".repeat(MAX_SUPPLIED_LEN + 1)));
        assert_eq!(check_supplied(""), Err(SuppliedError::Empty));
        assert_eq!(check_supplied("a b"), Err(SuppliedError::Characters));
        assert_eq!(
            check_supplied(&"a".repeat(257)),
            Err(SuppliedError::TooLong)
        );
    }

    #[test]
    fn masks_show_less_of_short_keys() {
        assert_eq!(mask(KEY), "****fb7009");
        assert_eq!(mask("abcdefghijklmnopqrst"), "****");
        assert_eq!(mask("secret"), "****");
    }
}
