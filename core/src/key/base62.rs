//! Base62 with the alphabet `0-9A-Za-z`, in that order ('0' = 0, 'A' = 10, 'a' = 36).
//!
//! keyward uses it for key bodies, key checksums and resource ids: the characters are
//! URL-safe, survive a double click, and match `[0-9A-Za-z]` in a scanner's regex.

use crate::entropy::Entropy;
use crate::error::Error;

/// The 62 digits, in value order.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The value of a base62 digit, or `None` for any other byte.
pub fn digit_value(byte: u8) -> Option<u32> {
    match byte {
        b'0'..=b'9' => Some(u32::from(byte - b'0')),
        b'A'..=b'Z' => Some(u32::from(byte - b'A') + 10),
        b'a'..=b'z' => Some(u32::from(byte - b'a') + 36),
        _ => None,
    }
}

/// Whether every byte of `s` is a base62 digit.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| digit_value(b).is_some())
}

/// Writes `value` in base62, big-endian, left-padded with '0' to `width` digits.
///
/// `width` must be large enough for `value` (6 digits hold any `u32`).
///
/// ```
/// assert_eq!(keyward_core::key::base62::encode_u32(61, 3), "00z");
/// assert_eq!(keyward_core::key::base62::encode_u32(u32::MAX, 6), "4gfFC3");
/// ```
pub fn encode_u32(mut value: u32, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    debug_assert_eq!(value, 0, "width too small for the value");
    String::from_utf8(digits).unwrap_or_default()
}

/// `len` base62 digits, each uniformly random.
///
/// Rejection sampling: a random byte below 248 (= 4 × 62) maps to `byte % 62`; the 8 larger
/// values are thrown away, so no digit is more likely than another.
pub fn random(entropy: &dyn Entropy, len: usize) -> Result<String, Error> {
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        entropy.fill(&mut pool)?;
        for &byte in &pool {
            if byte < 248 {
                out.push(ALPHABET[(byte % 62) as usize] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_values_follow_the_alphabet() {
        for (i, &b) in ALPHABET.iter().enumerate() {
            assert_eq!(digit_value(b), Some(i as u32));
        }
        assert_eq!(digit_value(b'_'), None);
        assert_eq!(digit_value(b'-'), None);
    }

    #[test]
    fn encodes_big_endian_with_padding() {
        assert_eq!(encode_u32(0, 6), "000000");
        assert_eq!(encode_u32(10, 2), "0A");
        assert_eq!(encode_u32(36, 1), "a");
        assert_eq!(encode_u32(62, 2), "10");
    }
}
