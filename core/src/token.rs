//! Management tokens: who may call the developer API.
//!
//! Tokens are compared as SHA-256 digests in constant time, so neither the content nor the
//! length of the configured token leaks through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured management credentials.
#[derive(Clone)]
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.digests.len())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Accepts `token` (the `MANAGEMENT_TOKEN` secret); an empty or absent secret accepts nothing.
    pub fn new(token: Option<&str>) -> Self {
        let digests = token
            .filter(|t| !t.is_empty())
            .map(digest)
            .into_iter()
            .collect();
        Tokens { digests }
    }

    /// Whether `presented` is a configured token. Checks every token, without early exit.
    pub fn accepts(&self, presented: &str) -> bool {
        let d = digest(presented);
        let mut ok = subtle::Choice::from(0);
        for known in &self.digests {
            ok |= known.ct_eq(&d);
        }
        bool::from(ok)
    }

    /// Whether any token is configured.
    pub fn is_configured(&self) -> bool {
        !self.digests.is_empty()
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
    fn parses_bearer() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
