//! Retrievable buckets: a key kept encrypted beside its hash, so that it can be shown again
//! (`key-format=visible`).
//!
//! The hash stays the key's only form the edge knows: verification is unchanged. The
//! encrypted copy lives only in the bucket's tables, never in KV. It is AES-256-GCM under a
//! key derived with HKDF-SHA256 from `KEY_ENCRYPTION_SECRET`, with a random 96-bit nonce per
//! key and the key's id as associated data, so that a ciphertext moved to another key's row
//! does not open.
//!
//! Written form: `v1.{secret id}.{base64url(nonce ‖ ciphertext ‖ tag)}`. The secret id (8
//! characters, derived separately from the secret; it reveals nothing about the key) names
//! the secret a key was sealed under, so a changed secret is a clear error instead of a
//! failed tag check.

use crate::entropy::Entropy;
use crate::error::{Error, ErrorKind};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt;

/// The shortest `KEY_ENCRYPTION_SECRET` accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Seals and opens keys with the key derived from `KEY_ENCRYPTION_SECRET`.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
    id: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault({})", self.id)
    }
}

impl PartialEq for Vault {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Vault {
    /// The vault of `secret`; `Err` says why the secret is refused (without quoting it).
    pub fn new(secret: &[u8]) -> Result<Vault, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "is {} bytes; use at least {MIN_SECRET_LEN} random bytes (e.g. `openssl rand -base64 32`)",
                secret.len()
            ));
        }
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"keyward"), secret);
        let mut key = [0u8; 32];
        let mut id = [0u8; 6];
        // Both lengths are far below HKDF-SHA256's limit (8160 bytes): expand cannot fail.
        let _ = hk.expand(b"keyward key encryption v1", &mut key);
        let _ = hk.expand(b"keyward key encryption v1 id", &mut id);
        let cipher = Aes256Gcm::new(&key.into());
        Ok(Vault {
            cipher,
            id: URL_SAFE_NO_PAD.encode(id),
        })
    }

    /// Names the secret (8 characters): which secret a sealed key needs.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext`, the key whose id is `key_id`.
    pub fn seal(
        &self,
        key_id: &str,
        plaintext: &str,
        entropy: &dyn Entropy,
    ) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        entropy.fill(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| Error::new(ErrorKind::Config, "sealing a key failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{VERSION}.{}.{}",
            self.id,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Decrypts a key sealed for `key_id`. The errors name the key id, never the key.
    pub fn open(&self, key_id: &str, sealed: &str) -> Result<String, Error> {
        let corrupt = |why: &str| {
            Error::new(
                ErrorKind::Corrupt,
                format!("the encrypted copy of key '{key_id}' {why}"),
            )
        };
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("is not in a known format"));
        };
        if id != self.id {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "key '{key_id}' was encrypted under another KEY_ENCRYPTION_SECRET (id {id}; this one is {}); set the secret it was stored with",
                    self.id
                ),
            ));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| corrupt("is not base64url"))?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(corrupt("is too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| corrupt("does not decrypt (altered, or moved from another key)"))?;
        String::from_utf8(plain).map_err(|_| corrupt("is not text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const KEY: &str = "kw_00000000000000000000000000000000_1vXtxm";

    /// Counts up, so nonces differ as a CSPRNG's would.
    struct Counter(Cell<u8>);

    impl Entropy for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
            for b in buf.iter_mut() {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
            Ok(())
        }
    }

    #[test]
    fn a_sealed_key_opens_for_its_id_only() {
        let v = Vault::new(SECRET).unwrap();
        let rng = Counter(Cell::new(0));
        let sealed = v.seal("key_a", KEY, &rng).unwrap();
        assert!(sealed.starts_with(&format!("v1.{}.", v.id())));
        assert!(!sealed.contains(&KEY[3..35]));
        assert_eq!(v.open("key_a", &sealed).unwrap(), KEY);
        let moved = v.open("key_b", &sealed).unwrap_err();
        assert_eq!(moved.kind(), ErrorKind::Corrupt);
        assert!(!moved.to_string().contains(KEY));
        // A fresh nonce each time: the same key seals differently.
        assert_ne!(v.seal("key_a", KEY, &rng).unwrap(), sealed);
    }

    #[test]
    fn altered_or_foreign_copies_are_refused_with_a_reason() {
        let v = Vault::new(SECRET).unwrap();
        let sealed = v.seal("key_a", KEY, &Counter(Cell::new(7))).unwrap();
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            v.open("key_a", &altered).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        let other = Vault::new(b"another secret of at least 32 bytes!").unwrap();
        let e = other.open("key_a", &sealed).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.to_string().contains("another KEY_ENCRYPTION_SECRET"),
            "{e}"
        );
        for junk in ["", "v1", "v2.x.y", "v1.abc", &format!("v1.{}.!!", v.id())] {
            assert!(v.open("key_a", junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        let e = Vault::new(b"short").unwrap_err();
        assert!(e.contains("at least 32"), "{e}");
        assert!(!e.contains("short"));
        assert_eq!(Vault::new(SECRET).unwrap(), Vault::new(SECRET).unwrap());
    }
}
