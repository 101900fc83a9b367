//! CORS for `/v1/me` only (`PORTAL_ALLOWED_ORIGINS`): a listed origin gets
//! `Access-Control-Allow-Origin` for itself, and its preflight is answered; any other origin
//! gets no CORS header at all, so browsers keep other sites' pages out. The developer API
//! never answers CORS: management tokens do not belong in browsers.

use crate::http::ApiResponse;

/// Methods `/v1/me` answers.
const METHODS: &str = "GET, POST, PATCH, DELETE";
/// Request headers a portal sends.
const HEADERS: &str = "authorization, content-type";

/// Whether `origin` is listed (exactly, without a trailing slash; `*` allows any).
pub fn allowed(list: &[String], origin: &str) -> bool {
    list.iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

/// The headers to add to a `/v1/me` answer for a request from `origin`.
pub fn headers(list: &[String], origin: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![("vary".to_owned(), "Origin".to_owned())];
    if let Some(origin) = origin.filter(|o| allowed(list, o)) {
        out.push(("access-control-allow-origin".into(), origin.to_owned()));
    }
    out
}

/// The answer to a preflight (`OPTIONS`) from `origin`: 204 with the allowances for a listed
/// origin, a bare 204 for any other (the browser then refuses the real request).
pub fn preflight(list: &[String], origin: Option<&str>) -> ApiResponse {
    let mut r = ApiResponse::empty(204);
    r.headers = headers(list, origin);
    if origin.is_some_and(|o| allowed(list, o)) {
        r.headers.extend([
            ("access-control-allow-methods".into(), METHODS.into()),
            ("access-control-allow-headers".into(), HEADERS.into()),
            ("access-control-max-age".into(), "600".into()),
        ]);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_get_cors_headers() {
        let list = vec!["https://portal.example".to_owned()];
        let ok = preflight(&list, Some("https://portal.example"));
        assert_eq!(ok.status, 204);
        assert!(ok.headers.contains(&(
            "access-control-allow-origin".into(),
            "https://portal.example".into()
        )));
        assert!(ok
            .headers
            .iter()
            .any(|(n, _)| n == "access-control-allow-methods"));
        let other = preflight(&list, Some("https://evil.example"));
        assert!(!other
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")));
        assert!(!headers(&list, None)
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")));
        assert!(!headers(&list, Some("https://portal.example.evil"))
            .iter()
            .any(|(n, _)| n.starts_with("access-control-")));
        assert!(allowed(&["*".to_owned()], "https://any.example"));
    }
}
