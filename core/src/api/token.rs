//! Management tokens: who may call the developer API, and what they may do.
//!
//! - `MANAGEMENT_TOKEN` (secret): one read-write token for every bucket.
//! - `MANAGEMENT_TOKENS` (secret, JSON): scoped tokens, stored as SHA-256 hex digests:
//!   `[{"name": "ci", "sha256": "<64 hex>", "access": "read" | "write", "buckets": ["prod"]}]`;
//!   `buckets` absent = all buckets. Read tokens may call GET/HEAD and `POST /v1/verify`.
//!
//! Presented tokens are hashed and compared with every configured digest in constant time,
//! so neither content nor length leaks through timing. Generate an entry with
//! `printf %s "$TOKEN" | sha256sum`.

use crate::error::{Error, ErrorKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    Write,
}

/// The rights of one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Name for logs and errors.
    pub name: String,
    /// Read or write.
    pub access: Access,
    /// Buckets it may touch; `None` = all.
    pub buckets: Option<BTreeSet<String>>,
}

impl Grant {
    /// Whether this token may see bucket `bucket` at all.
    pub fn sees(&self, bucket: &str) -> bool {
        self.buckets.as_ref().is_none_or(|b| b.contains(bucket))
    }

    /// Checks access to `bucket` (`None` = not bucket-specific) for a read or a write.
    pub fn check(&self, bucket: Option<&str>, write: bool) -> Result<(), Error> {
        if write && self.access == Access::Read {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "token '{}' is read-only; use a token with write access",
                    self.name
                ),
            ));
        }
        match bucket {
            Some(b) if !self.sees(b) => Err(Error::new(
                ErrorKind::Forbidden,
                format!("token '{}' may not access bucket '{b}'", self.name),
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopedToken {
    name: String,
    sha256: String,
    access: Access,
    #[serde(default)]
    buckets: Option<BTreeSet<String>>,
}

/// The configured management credentials.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<([u8; 64], Grant)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.entries.len())
    }
}

/// Lower-case hex of the SHA-256 of `token`.
fn digest_hex(token: &str) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = Sha256::digest(token.as_bytes());
    let mut out = [0u8; 64];
    for (i, b) in d.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    out
}

impl Tokens {
    /// Accepts `token` (the `MANAGEMENT_TOKEN` secret) as read-write on all buckets; an empty
    /// or absent secret accepts nothing.
    pub fn new(token: Option<&str>) -> Self {
        let entries = token
            .filter(|t| !t.is_empty())
            .map(|t| {
                let grant = Grant {
                    name: "MANAGEMENT_TOKEN".into(),
                    access: Access::Write,
                    buckets: None,
                };
                (digest_hex(t), grant)
            })
            .into_iter()
            .collect();
        Tokens { entries }
    }

    /// `MANAGEMENT_TOKEN` plus the scoped tokens of `MANAGEMENT_TOKENS` (JSON, see module docs).
    pub fn from_secrets(token: Option<&str>, scoped: Option<&str>) -> Result<Self, Error> {
        let mut tokens = Tokens::new(token);
        let Some(json) = scoped.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(tokens);
        };
        let bad = |why: String| {
            Error::new(
                ErrorKind::Config,
                format!("secret MANAGEMENT_TOKENS: {why}"),
            )
        };
        let list: Vec<ScopedToken> = serde_json::from_str(json).map_err(|e| {
            // Not serde's message: it can quote the value, and this one is a secret.
            bad(format!(
                "not a JSON list of {{name, sha256, access, buckets}} ({} at line {} column {})",
                match e.classify() {
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof =>
                        "invalid JSON",
                    _ => "unexpected or missing field",
                },
                e.line(),
                e.column()
            ))
        })?;
        for t in list {
            let hex = t.sha256.to_ascii_lowercase();
            let bytes: [u8; 64] = hex
                .as_bytes()
                .try_into()
                .ok()
                .filter(|b: &[u8; 64]| b.iter().all(u8::is_ascii_hexdigit))
                .ok_or_else(|| bad(format!("token '{}': sha256 must be 64 hex digits", t.name)))?;
            tokens.entries.push((
                bytes,
                Grant {
                    name: t.name,
                    access: t.access,
                    buckets: t.buckets,
                },
            ));
        }
        Ok(tokens)
    }

    /// The grant of `presented`, if it is a configured token. Compares with every entry.
    pub fn authenticate(&self, presented: &str) -> Option<&Grant> {
        let d = digest_hex(presented);
        let mut found = None;
        for (known, grant) in &self.entries {
            if bool::from(known.ct_eq(&d)) && found.is_none() {
                found = Some(grant);
            }
        }
        found
    }

    /// Whether `presented` is a configured token.
    pub fn accepts(&self, presented: &str) -> bool {
        self.authenticate(presented).is_some()
    }

    /// Whether any token is configured.
    pub fn is_configured(&self) -> bool {
        !self.entries.is_empty()
    }
}

/// The token in an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(t: &str) -> String {
        String::from_utf8(digest_hex(t).to_vec()).unwrap()
    }

    #[test]
    fn a_malformed_secret_is_named_without_quoting_it() {
        for bad in [
            r#"[{"name":"ci","sha256":"plaintext-token-1","access":"admin"}]"#,
            r#"[{"name":"ci","token":"plaintext-token-1"}]"#,
            r#"plaintext-token-1"#,
            r#"{"plaintext-token-1": 1}"#,
        ] {
            let e = Tokens::from_secrets(None, Some(bad)).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("MANAGEMENT_TOKENS"), "{text}");
            assert!(!text.contains("plaintext"), "{text}");
        }
    }

    #[test]
    fn accepts_only_the_configured_token() {
        let t = Tokens::new(Some("s3cret"));
        assert!(t.accepts("s3cret"));
        assert!(!t.accepts("s3cre"));
        assert!(!t.accepts(""));
        assert!(!Tokens::new(Some("")).accepts(""));
        assert!(!Tokens::new(None).is_configured());
    }

    #[test]
    fn scoped_tokens() {
        let json = format!(
            r#"[{{"name":"ro","sha256":"{}","access":"read"}},{{"name":"a-only","sha256":"{}","access":"write","buckets":["bucket-a"]}}]"#,
            hex_of("read-token"),
            hex_of("a-token").to_uppercase()
        );
        let t = Tokens::from_secrets(Some("root"), Some(&json)).unwrap();
        let ro = t.authenticate("read-token").unwrap();
        assert!(ro.check(Some("x-bucket"), false).is_ok());
        assert_eq!(
            ro.check(Some("x-bucket"), true).unwrap_err().kind(),
            ErrorKind::Forbidden
        );
        let a = t.authenticate("a-token").unwrap();
        assert!(a.check(Some("bucket-a"), true).is_ok());
        assert_eq!(
            a.check(Some("bucket-b"), false).unwrap_err().kind(),
            ErrorKind::Forbidden
        );
        assert_eq!(t.authenticate("root").unwrap().access, Access::Write);
        assert!(t.authenticate("nope").is_none());
        let bad = Tokens::from_secrets(
            None,
            Some(r#"[{"name":"x","sha256":"abc","access":"read"}]"#),
        );
        assert!(bad.unwrap_err().message().contains("64 hex"));
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
