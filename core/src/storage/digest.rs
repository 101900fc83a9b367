//! The digest of a consumer's file-managed state: description, metadata, tags and managers.
//!
//! `keys.yaml` and the live consumer compute it the same way; the live one is a column of the
//! bucket's consumers table, so `keyward plan` compares digests from `$index` pages and reads
//! full records only for consumers whose digest differs.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Hex digits kept of the SHA-256 (64 bits: ample to detect a change, small in every `$index` entry).
const DIGEST_HEX: usize = 16;

/// The digest of the four file-managed fields. Managers are compared as a set of lower-cased
/// e-mails; an absent description equals an empty one.
///
/// ```
/// use keyward_core::storage::digest::consumer_digest;
/// let a = consumer_digest(None, &Default::default(), &Default::default(), &["b@x.io", "a@x.io"]);
/// let b = consumer_digest(Some(""), &Default::default(), &Default::default(), &["a@x.io", "b@x.io"]);
/// assert_eq!(a, b);
/// assert_eq!(a.len(), 16);
/// ```
pub fn consumer_digest(
    description: Option<&str>,
    metadata: &Map<String, Value>,
    tags: &BTreeMap<String, String>,
    managers: &[&str],
) -> String {
    let mut emails: Vec<String> = managers
        .iter()
        .map(|m| crate::validate::email_key(m))
        .collect();
    emails.sort();
    emails.dedup();
    // serde_json's Map is ordered by key (no preserve_order feature), so this is canonical.
    let canonical = serde_json::json!({
        "description": description.unwrap_or(""),
        "metadata": metadata,
        "tags": tags,
        "managers": emails,
    });
    let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    let mut out = String::with_capacity(DIGEST_HEX);
    for b in hash.iter().take(DIGEST_HEX / 2) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
