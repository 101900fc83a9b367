//! How keys are stored: `HMAC-SHA256(KEY_HASH_SECRET, key)`, base64url without padding.
//!
//! Only the hash reaches KV; it is also the lookup key of the verification record, so a
//! verification is one read. The HMAC secret means a stolen KV dump cannot be brute-forced
//! offline without the Worker's secret as well.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of a key hash as text (43 base64url characters for 32 bytes).
pub const HASH_LEN: usize = 43;

/// Hashes keys with a fixed secret. The HMAC key schedule runs once, in [`KeyHasher::new`].
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl KeyHasher {
    /// A hasher for `secret` (the `KEY_HASH_SECRET` of the deployment).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        KeyHasher { mac }
    }

    /// The stored form of `key`.
    pub fn hash(&self, key: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_hmac_sha256_in_base64url() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = KeyHasher::new(b"Jefe").hash("what do ya want for nothing?");
        assert_eq!(h, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM");
        assert_eq!(h.len(), HASH_LEN);
    }

    #[test]
    fn depends_on_the_secret() {
        assert_ne!(
            KeyHasher::new(b"a").hash("k"),
            KeyHasher::new(b"b").hash("k")
        );
    }
}
