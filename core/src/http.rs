//! The HTTP shapes core handles: a request reduced to what the developer API needs, and a
//! response the adapter turns into a real one.

/// An incoming request to keyward's own routes, with the path prefix already removed.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path below the prefix, e.g. `/v1/accounts/local/key-buckets`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The `Authorization` header, if present.
    pub authorization: Option<String>,
    /// The `Prefer` header (RFC 7240), if present: `return=representation` asks roll-key for
    /// the new key.
    pub prefer: Option<String>,
    /// The body bytes (already bounded by the adapter, see [`MAX_BODY_BYTES`]).
    pub body: Vec<u8>,
}

/// Whether any route of keyward's answers `method` (upper case): the others (QUERY,
/// PROPFIND, …) are 405 before a token, a body or an object is involved.
pub fn is_known_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE")
}

/// Largest request body the developer API accepts; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The error for a body over [`MAX_BODY_BYTES`]: the adapter raises it from
/// `Content-Length` before reading, the API after reading a body sent without one.
pub fn body_too_large() -> crate::Error {
    crate::Error::new(
        crate::ErrorKind::TooLarge,
        format!("request body is over {MAX_BODY_BYTES} bytes"),
    )
}

/// Collects a body read in chunks, refusing it as soon as it passes [`MAX_BODY_BYTES`]
/// whatever the headers said (a chunked body has no `Content-Length`).
#[derive(Debug, Default)]
pub struct BodyCollector {
    bytes: Vec<u8>,
}

impl BodyCollector {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `chunk`; [`body_too_large`] once the body is over the limit (stop reading then).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), crate::Error> {
        if self.bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(body_too_large());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The body.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// A response to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers (the content type is in `content_type`).
    pub headers: Vec<(String, String)>,
    /// Value of `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response, never stored by a cache: answers hold keys (created, or shown with
    /// `key-format=visible`), and the rest is no one else's either.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        ApiResponse {
            status,
            headers: vec![("cache-control".into(), "no-store".into())],
            content_type: Some("application/json"),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// A response without a body, e.g. 204.
    pub fn empty(status: u16) -> Self {
        ApiResponse {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// The body as JSON, for tests.
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_refused_at_the_first_chunk_over_the_limit() {
        let mut body = BodyCollector::new();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..16 {
            body.push(&chunk).unwrap();
        }
        let e = body.push(b"y").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::TooLarge);
        assert_eq!(body.finish().len(), MAX_BODY_BYTES);
    }
}
