//! GitHub's signature on secret-scanning alerts: how a leak report proves it comes from
//! GitHub without a management token.
//!
//! GitHub (secret scanning partner program) POSTs each alert with two headers:
//! `Github-Public-Key-Identifier`, naming one of the keys it publishes at
//! `https://api.github.com/meta/public_keys/secret_scanning`, and `Github-Public-Key-Signature`,
//! the base64 of a DER ECDSA P-256/SHA-256 signature over the raw body bytes. The deployment
//! keeps that document in `LEAK_REPORT_PUBLIC_KEYS`; [`PublicKeys`] parses it once per
//! isolate and [`PublicKeys::verify`] checks a request. Pure: no fetch, no clock.

use crate::config::vars;
use crate::error::{Error, ErrorKind};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// Longest signature header read: a DER P-256 signature is at most 72 bytes (96 in base64).
const SIGNATURE_MAX: usize = 256;

/// One entry of GitHub's document.
#[derive(Deserialize)]
struct Entry {
    key_identifier: String,
    key: String,
    // `is_current` is read and ignored: GitHub signs with any key it still lists.
    #[serde(default, rename = "is_current")]
    _is_current: Option<bool>,
}

/// The document: `{"public_keys": [...]}`, or the bare array.
#[derive(Deserialize)]
#[serde(untagged)]
enum Document {
    Wrapped { public_keys: Vec<Entry> },
    Bare(Vec<Entry>),
}

/// The public keys GitHub signs alerts with, by identifier. Empty when
/// `LEAK_REPORT_PUBLIC_KEYS` is not set: then no signed report is accepted.
#[derive(Clone, Default)]
pub struct PublicKeys {
    keys: Vec<(String, VerifyingKey)>,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "PublicKeys({ids:?})")
    }
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Config,
        format!(
            "variable {}: {why}; paste the JSON of https://api.github.com/meta/public_keys/secret_scanning",
            vars::LEAK_REPORT_PUBLIC_KEYS
        ),
    )
}

fn refused(why: &str) -> Error {
    Error::new(
        ErrorKind::Unauthorized,
        format!("the GitHub signature is refused: {why}; send a management token or a body signed by GitHub"),
    )
}

impl PublicKeys {
    /// The keys of `LEAK_REPORT_PUBLIC_KEYS` (`None` or blank: no keys, signed reports off).
    /// A value that is not GitHub's document, or holds a key that is not an ECDSA P-256
    /// public key in PEM, is a configuration error naming the variable.
    pub fn from_var(value: Option<&str>) -> Result<PublicKeys, Error> {
        let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(PublicKeys::default());
        };
        let doc: Document = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not GitHub's public-keys document ({} at line {} column {})",
                if e.is_syntax() || e.is_eof() {
                    "invalid JSON"
                } else {
                    "expected public_keys: [{key_identifier, key, is_current}]"
                },
                e.line(),
                e.column()
            ))
        })?;
        let entries = match doc {
            Document::Wrapped { public_keys } => public_keys,
            Document::Bare(list) => list,
        };
        if entries.is_empty() {
            return Err(bad("the document lists no key"));
        }
        let mut keys = Vec::with_capacity(entries.len());
        for e in entries {
            let key = VerifyingKey::from_public_key_pem(e.key.trim()).map_err(|_| {
                bad(format!(
                    "key '{}' is not an ECDSA P-256 public key in PEM",
                    e.key_identifier
                ))
            })?;
            keys.push((e.key_identifier, key));
        }
        Ok(PublicKeys { keys })
    }

    /// Whether any key is configured (signed reports are accepted at all).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks that `signature` (the `Github-Public-Key-Signature` header: base64 of a DER
    /// ECDSA signature) signs `body` with the key named `key_identifier`; an unknown
    /// identifier, a malformed or wrong signature, or a changed body is
    /// [`ErrorKind::Unauthorized`].
    pub fn verify(&self, key_identifier: &str, signature: &str, body: &[u8]) -> Result<(), Error> {
        let Some((_, key)) = self.keys.iter().find(|(id, _)| id == key_identifier.trim()) else {
            return Err(refused("unknown Github-Public-Key-Identifier"));
        };
        let text = signature.trim();
        if text.len() > SIGNATURE_MAX {
            return Err(refused("Github-Public-Key-Signature is too long"));
        }
        let der = STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .map_err(|_| refused("Github-Public-Key-Signature is not base64"))?;
        let signature = Signature::from_der(&der)
            .map_err(|_| refused("Github-Public-Key-Signature is not a DER ECDSA signature"))?;
        key.verify(body, &signature)
            .map_err(|_| refused("the signature does not match the body"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    /// A key pair from a fixed seed, and GitHub's document naming its public half `id`.
    fn pair(seed: u8, id: &str) -> (SigningKey, String) {
        let signing = SigningKey::from_slice(&[seed; 32]).unwrap();
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let doc = serde_json::json!({"public_keys": [
            {"key_identifier": id, "key": pem, "is_current": true},
        ]});
        (signing, doc.to_string())
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    const BODY: &[u8] =
        br#"[{"token":"kw_x","type":"keyward_api_key","url":"https://github.com/a/b","source":"content"}]"#;

    #[test]
    fn a_signed_body_verifies_and_nothing_else_does() {
        let (signing, doc) = pair(
            7,
            "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a",
        );
        let keys = PublicKeys::from_var(Some(&doc)).unwrap();
        let id = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
        let signature = sign(&signing, BODY);
        keys.verify(id, &signature, BODY).unwrap();
        // One byte changed, an unknown key, a signature by another key, garbage.
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        let (other, _) = pair(8, "other");
        for (id_used, sig, body) in [
            (id, signature.clone(), tampered.as_slice()),
            ("unknown", signature.clone(), BODY),
            (id, sign(&other, BODY), BODY),
            (id, "not base64!".to_owned(), BODY),
            (id, STANDARD.encode(b"not DER"), BODY),
            (id, String::new(), BODY),
            (id, "A".repeat(1000), BODY),
        ] {
            let e = keys.verify(id_used, &sig, body).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
        }
    }

    #[test]
    fn the_bare_array_and_several_keys_are_read() {
        let (a, doc_a) = pair(1, "a");
        let (b, doc_b) = pair(2, "b");
        let entry = |doc: &str| {
            serde_json::from_str::<serde_json::Value>(doc).unwrap()["public_keys"][0].clone()
        };
        let bare = serde_json::json!([entry(&doc_a), entry(&doc_b)]).to_string();
        let keys = PublicKeys::from_var(Some(&bare)).unwrap();
        keys.verify("a", &sign(&a, BODY), BODY).unwrap();
        keys.verify("b", &sign(&b, BODY), BODY).unwrap();
        assert!(keys.verify("a", &sign(&b, BODY), BODY).is_err());
    }

    #[test]
    fn unset_means_no_keys_and_a_bad_value_names_the_variable() {
        assert!(PublicKeys::from_var(None).unwrap().is_empty());
        assert!(PublicKeys::from_var(Some("  ")).unwrap().is_empty());
        for bad in [
            "{",
            r#"{"keys": []}"#,
            r#"{"public_keys": []}"#,
            r#"[{"key_identifier": "x", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}]"#,
        ] {
            let e = PublicKeys::from_var(Some(bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.message().contains("LEAK_REPORT_PUBLIC_KEYS"), "{e}");
        }
    }
}
