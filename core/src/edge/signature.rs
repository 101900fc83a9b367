//! Upstream authenticity (`UPSTREAM_SIGNING_SECRET`): every forwarded request carries
//! `x-keyward-timestamp` and `x-keyward-signature`, an HMAC-SHA256 under the shared secret
//! of what keyward asserts about the request, so that an upstream reachable from elsewhere
//! can tell keyward's requests (and their identity headers) from anyone else's.
//!
//! The signed string is these lines joined by `\n` (no trailing newline):
//!
//! ```text
//! keyward-v1
//! {timestamp: Unix seconds, as in x-keyward-timestamp}
//! {method, upper case}
//! {request target as sent upstream: path, and `?query` when there is one}
//! {x-keyward-consumer, or empty}
//! {x-keyward-key-id, or empty}
//! {x-keyward-metadata, or empty}
//! ```
//!
//! The signature is the HMAC in lower-case hex. No field can hold a newline (consumer names
//! and key ids are validated, the metadata is base64url, a request target has none), so the
//! string is unambiguous. The body is not signed: it streams to the upstream untouched.
//! README.md shows the verification in Python and JavaScript; the e2e tests run both.

use crate::edge::gateway::identity_headers;
use crate::storage::kv::KeyRecord;
use crate::timestamp::Millis;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write;

/// Forwarded header: Unix seconds when keyward signed the request.
pub const HEADER_TIMESTAMP: &str = "x-keyward-timestamp";
/// Forwarded header: the HMAC-SHA256 (hex) of the signed string.
pub const HEADER_SIGNATURE: &str = "x-keyward-signature";
/// First line of the signed string; a future format changes it.
pub const VERSION: &str = "keyward-v1";

/// Signs forwarded requests with the deployment's `UPSTREAM_SIGNING_SECRET`.
#[derive(Clone)]
pub struct UpstreamSigner {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for UpstreamSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamSigner(<secret>)")
    }
}

/// The string the signature covers (see the module documentation).
pub fn signed_string(
    timestamp: i64,
    method: &str,
    target: &str,
    identity: Option<&KeyRecord>,
) -> String {
    let (consumer, key_id, metadata) = match identity {
        Some(record) => {
            let mut h = identity_headers(record).into_iter().map(|(_, v)| v);
            (
                h.next().unwrap_or_default(),
                h.next().unwrap_or_default(),
                h.next().unwrap_or_default(),
            )
        }
        None => Default::default(),
    };
    [
        VERSION,
        &timestamp.to_string(),
        &method.to_ascii_uppercase(),
        target,
        &consumer,
        &key_id,
        &metadata,
    ]
    .join("\n")
}

impl UpstreamSigner {
    /// A signer for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        UpstreamSigner { mac }
    }

    /// The signature of a request sent at `now` (hex).
    pub fn sign(
        &self,
        now: Millis,
        method: &str,
        target: &str,
        identity: Option<&KeyRecord>,
    ) -> String {
        let mut mac = self.mac.clone();
        mac.update(signed_string(now.div_euclid(1000), method, target, identity).as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// The two headers to add to a request forwarded at `now`.
    pub fn headers(
        &self,
        now: Millis,
        method: &str,
        target: &str,
        identity: Option<&KeyRecord>,
    ) -> [(&'static str, String); 2] {
        [
            (HEADER_TIMESTAMP, now.div_euclid(1000).to_string()),
            (HEADER_SIGNATURE, self.sign(now, method, target, identity)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            v: 1,
            consumer: "acme".into(),
            key_id: "key_1".into(),
            metadata: serde_json::from_str(r#"{"plan":"gold"}"#).unwrap(),
            expires_on: None,
        }
    }

    #[test]
    fn the_signed_string_is_one_field_per_line() {
        let s = signed_string(1_700_000_000, "post", "/orders?a=1", Some(&record()));
        assert_eq!(
            s,
            "keyward-v1\n1700000000\nPOST\n/orders?a=1\nacme\nkey_1\neyJwbGFuIjoiZ29sZCJ9"
        );
        let anonymous = signed_string(5, "GET", "/", None);
        assert_eq!(anonymous, "keyward-v1\n5\nGET\n/\n\n\n");
    }

    #[test]
    fn is_hmac_sha256_hex_of_the_signed_string() {
        // Cross-checked with: printf 'keyward-v1\n1\nGET\n/\n\n\n' |
        //   openssl dgst -sha256 -hmac s
        let sig = UpstreamSigner::new(b"s").sign(1_999, "GET", "/", None);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s").unwrap();
        mac.update(b"keyward-v1\n1\nGET\n/\n\n\n");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, expected);
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn every_field_changes_the_signature() {
        let s = UpstreamSigner::new(b"hunter2");
        let r = record();
        let base = s.sign(1_000_000, "GET", "/a", Some(&r));
        let mut other = r.clone();
        other.consumer = "acme2".into();
        let mut key = r.clone();
        key.key_id = "key_2".into();
        let mut meta = r.clone();
        meta.metadata = Default::default();
        for changed in [
            s.sign(2_000_000, "GET", "/a", Some(&r)),
            s.sign(1_000_000, "POST", "/a", Some(&r)),
            s.sign(1_000_000, "GET", "/a?x", Some(&r)),
            s.sign(1_000_000, "GET", "/a", Some(&other)),
            s.sign(1_000_000, "GET", "/a", Some(&key)),
            s.sign(1_000_000, "GET", "/a", Some(&meta)),
            s.sign(1_000_000, "GET", "/a", None),
            UpstreamSigner::new(b"other").sign(1_000_000, "GET", "/a", Some(&r)),
        ] {
            assert_ne!(changed, base);
        }
        assert_eq!(format!("{s:?}"), "UpstreamSigner(<secret>)");
    }
}
