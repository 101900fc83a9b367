//! Self-serve: the people who manage a consumer, signed in with their own identity provider,
//! see and change that consumer's keys through `/v1/me`.
//!
//! May use: [`crate::storage`], [`crate::api`]'s wire shapes and write path, and the shared
//! modules. Beside `api/`, not inside it: the developer API knows nothing of end users.

pub mod cors;
pub mod jwt;
pub mod me;
#[cfg(feature = "schema")]
pub mod openapi;
pub mod page;

/// Forwarded from the Worker's front to the bucket object: the verified end user's e-mail
/// (the object trusts it; only the front can reach the object).
pub const EMAIL_HEADER: &str = "x-keyward-me-email";
/// Forwarded likewise: the verified token's issuer, when it has one.
pub const ISSUER_HEADER: &str = "x-keyward-me-issuer";

/// The segments after `/v1/me` when `path` (below the API prefix) is a self-serve route.
pub fn me_segments(path: &str) -> Option<Vec<String>> {
    let segs = crate::api::router::segments(path);
    match segs.as_slice() {
        [v1, me, ..] if v1 == "v1" && me == "me" => Some(segs[2..].to_vec()),
        _ => None,
    }
}

/// A header value for [`EMAIL_HEADER`] or [`ISSUER_HEADER`]: percent-encoded, since header
/// values are Latin-1 and e-mails may not be.
pub fn header_value(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The text of a value made by [`header_value`].
pub fn from_header_value(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}
