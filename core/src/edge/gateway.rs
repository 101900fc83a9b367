//! Edge requests: where the key is, what to do with the verdict, what goes upstream.
//!
//! The adapter asks [`decide`] with the request's auth header and query string, then either
//! forwards (removing the credential and every incoming `x-keyward-*` header, adding
//! [`identity_headers`]) or answers with the response it was given.

use crate::config::Config;
use crate::edge::throttle::{self, Gate};
use crate::edge::verify::{Step, Verdict, Verifier};
use crate::error::Error;
use crate::http::ApiResponse;
use crate::problem;
use crate::storage::kv::KeyRecord;
use crate::storage::store::Store;
use crate::timestamp::Millis;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::rc::Rc;

/// Forwarded header: the consumer name (the identity's `sub`).
pub const HEADER_CONSUMER: &str = "x-keyward-consumer";
/// Forwarded header: the id of the key used.
pub const HEADER_KEY_ID: &str = "x-keyward-key-id";
/// Forwarded header: the consumer's metadata, base64url (no padding) of its JSON.
pub const HEADER_METADATA: &str = "x-keyward-metadata";
/// Every header starting with this is keyward's; incoming ones are removed (no spoofing).
pub const IDENTITY_HEADER_PREFIX: &str = "x-keyward-";

/// Where a credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the configured header.
    Header,
    /// In the configured query parameter.
    Query,
}

/// What the request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing.
    Missing,
    /// The header is present but does not use the configured scheme.
    WrongScheme,
    /// A candidate key and where it was.
    Present(String, Location),
}

/// Finds the key in the header value (per the configured scheme) or the query parameter.
pub fn extract(config: &Config, header: Option<&str>, query: &str) -> Credential {
    if let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) {
        if config.auth_scheme.is_empty() {
            return Credential::Present(value.to_owned(), Location::Header);
        }
        return match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case(&config.auth_scheme) => {
                let key = rest.trim();
                if key.is_empty() {
                    Credential::Missing
                } else {
                    Credential::Present(key.to_owned(), Location::Header)
                }
            }
            _ => Credential::WrongScheme,
        };
    }
    if let Some(param) = &config.auth_query_param {
        if let Some((_, v)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == param) {
            if !v.is_empty() {
                return Credential::Present(v.into_owned(), Location::Query);
            }
        }
    }
    Credential::Missing
}

/// The query string with parameter `name` removed (to forward without the credential). The
/// other parameters go byte for byte as they came (signed URLs, `?flag`, `%20` vs `+`).
pub fn strip_query_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !form_urlencoded::parse(key.as_bytes()).any(|(k, v)| k == name && v.is_empty())
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether an incoming header must be dropped before forwarding.
pub fn is_identity_header(name: &str) -> bool {
    // Any ASCII punctuation read as `-`: upstreams that map header names to CGI
    // variables read `X-Keyward_Consumer` (WSGI, Go, Node) and even `X-Keyward.Consumer`
    // (lighttpd, Apache 2.2) as `HTTP_X_KEYWARD_CONSUMER`, the identity.
    name.len() >= IDENTITY_HEADER_PREFIX.len()
        && name
            .bytes()
            .zip(IDENTITY_HEADER_PREFIX.bytes())
            .all(|(a, b)| a.to_ascii_lowercase() == b || (b == b'-' && a.is_ascii_punctuation()))
}

/// The headers that carry a verified identity upstream.
pub fn identity_headers(record: &KeyRecord) -> Vec<(&'static str, String)> {
    let metadata = serde_json::to_vec(&record.metadata).unwrap_or_default();
    vec![
        (HEADER_CONSUMER, record.consumer.clone()),
        (HEADER_KEY_ID, record.key_id.clone()),
        (HEADER_METADATA, URL_SAFE_NO_PAD.encode(metadata)),
    ]
}

/// The identity as the JSON answer given when no upstream is configured.
pub fn identity_response(record: &KeyRecord) -> ApiResponse {
    ApiResponse::json(
        200,
        &serde_json::json!({
            "consumer": record.consumer,
            "keyId": record.key_id,
            "metadata": record.metadata,
        }),
    )
}

/// The answer when no upstream is configured: the identity, or nulls for a request let
/// through without one (`ALLOW_UNAUTHENTICATED`).
pub fn local_response(identity: Option<&KeyRecord>) -> ApiResponse {
    match identity {
        Some(record) => identity_response(record),
        None => ApiResponse::json(
            200,
            &serde_json::json!({"consumer": null, "keyId": null, "metadata": null}),
        ),
    }
}

/// The query string to forward: without the credential parameter whenever one is
/// configured — also when the key came in a header, so that a second key in the query never
/// reaches upstream logs.
pub fn forward_query(config: &Config, _credential: Option<Location>, query: &str) -> String {
    match &config.auth_query_param {
        Some(param) => strip_query_param(query, param),
        None => query.to_owned(),
    }
}

/// The headers to forward upstream: the incoming ones without the credential, without any
/// `x-keyward-*` (no spoofing, `_` read as `-`), without those named in
/// `FORWARD_DROP_HEADERS` and without `host`, plus the identity headers when verified.
pub fn forward_headers(
    config: &Config,
    credential: Option<Location>,
    incoming: impl IntoIterator<Item = (String, String)>,
    identity: Option<&KeyRecord>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = incoming
        .into_iter()
        .filter(|(name, _)| {
            let is_credential = credential == Some(Location::Header)
                && name.eq_ignore_ascii_case(&config.auth_header);
            let dropped = !config.forward_drop_headers.is_empty()
                && config
                    .forward_drop_headers
                    .contains(&crate::config::header_key(name));
            !(is_credential
                || dropped
                || is_identity_header(name)
                || name.eq_ignore_ascii_case("host"))
        })
        .collect();
    if let Some(record) = identity {
        out.extend(
            identity_headers(record)
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v)),
        );
    }
    out
}

/// The one 401 for every failure: missing, wrong scheme, malformed, unknown, expired.
pub fn unauthorized(config: &Config) -> ApiResponse {
    let mut r = problem::response(401, None);
    let scheme = if config.auth_scheme.is_empty() {
        "ApiKey"
    } else {
        config.auth_scheme.as_str()
    };
    let challenge = if config.auth_scheme.is_empty() {
        format!(
            "{scheme} realm=\"keyward\", header=\"{}\"",
            config.auth_header
        )
    } else {
        format!("{scheme} realm=\"keyward\"")
    };
    r.headers.push(("www-authenticate".into(), challenge));
    r
}

/// What the adapter does with an edge request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Forward upstream (or answer with the identity when none is configured); `None` =
    /// no identity (allowed without authentication).
    Pass {
        /// The verified identity, if any.
        identity: Option<Rc<KeyRecord>>,
        /// Where the credential was, to remove it.
        credential: Option<Location>,
    },
    /// Answer with this response.
    Reject(ApiResponse),
}

/// Verifies the request's credential and decides. `gate` limits the store reads that
/// unknown keys cause ([`throttle`]; [`throttle::Open`] when no limit is set).
pub async fn decide<S: Store>(
    config: &Config,
    verifier: &Verifier<'_, S>,
    gate: &impl Gate,
    header: Option<&str>,
    query: &str,
    now: Millis,
) -> Result<Decision, Error> {
    let (verdict, location) = match extract(config, header, query) {
        Credential::Present(key, location) => {
            let verdict = match verifier.start(&key, now) {
                Step::Done(verdict) => verdict,
                Step::Read(pending) => {
                    let Some(reading) = gate.begin(now) else {
                        return Ok(Decision::Reject(throttle::too_many_unknown_keys()));
                    };
                    let verdict = verifier.finish(pending, now).await?;
                    drop(reading);
                    if verdict == Verdict::NotFound && !gate.unknown(now).await {
                        return Ok(Decision::Reject(throttle::too_many_unknown_keys()));
                    }
                    verdict
                }
            };
            (verdict, Some(location))
        }
        Credential::Missing | Credential::WrongScheme => (Verdict::Malformed, None),
    };
    Ok(match verdict {
        Verdict::Valid(record) => Decision::Pass {
            identity: Some(record),
            credential: location,
        },
        _ if config.allow_unauthenticated => Decision::Pass {
            identity: None,
            credential: location,
        },
        _ => Decision::Reject(unauthorized(config)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_by_scheme_header_or_query() {
        let mut c = Config::default();
        assert_eq!(
            extract(&c, Some("Bearer k1"), ""),
            Credential::Present("k1".into(), Location::Header)
        );
        assert_eq!(
            extract(&c, Some("bearer k1"), ""),
            Credential::Present("k1".into(), Location::Header)
        );
        assert_eq!(extract(&c, Some("Basic k1"), ""), Credential::WrongScheme);
        assert_eq!(extract(&c, Some("k1"), ""), Credential::WrongScheme);
        assert_eq!(extract(&c, None, "api_key=k2"), Credential::Missing);
        c.auth_query_param = Some("api_key".into());
        assert_eq!(
            extract(&c, None, "a=1&api_key=k2"),
            Credential::Present("k2".into(), Location::Query)
        );
        c.auth_scheme = String::new();
        assert_eq!(
            extract(&c, Some("k3"), ""),
            Credential::Present("k3".into(), Location::Header)
        );
    }

    #[test]
    fn strips_the_credential_parameter() {
        assert_eq!(strip_query_param("a=1&api_key=k&b=2", "api_key"), "a=1&b=2");
        assert_eq!(strip_query_param("", "api_key"), "");
        assert_eq!(
            strip_query_param("q=a%20b&api%5Fkey=k&flag&x=1+2", "api_key"),
            "q=a%20b&flag&x=1+2"
        );
        assert_eq!(strip_query_param("api_key", "api_key"), "");
        assert_eq!(strip_query_param("&&a=1&", "api_key"), "&&a=1&");
    }

    #[test]
    fn forwarding_drops_the_credential_spoofed_identity_and_host() {
        let c = Config::default();
        let record = KeyRecord {
            v: 1,
            consumer: "acme".into(),
            key_id: "key_1".into(),
            metadata: Default::default(),
            expires_on: None,
        };
        let incoming = [
            ("Authorization", "Bearer kw_x"),
            ("X-Keyward-Consumer", "spoofed"),
            ("Host", "edge.example"),
            ("X-Trace", "t1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let out = forward_headers(&c, Some(Location::Header), incoming.clone(), Some(&record));
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["X-Trace", HEADER_CONSUMER, HEADER_KEY_ID, HEADER_METADATA]
        );
        assert_eq!(out[1].1, "acme");
        // Without identity (unauthenticated pass-through) nothing claims one.
        let anonymous = forward_headers(&c, None, incoming, None);
        assert!(anonymous.iter().all(|(n, _)| !is_identity_header(n)));
        assert!(
            anonymous.iter().any(|(n, _)| n == "Authorization"),
            "not a credential when unused"
        );
    }

    #[test]
    fn identity_headers_are_recognised() {
        assert!(is_identity_header("X-Keyward-Consumer"));
        assert!(!is_identity_header("x-key"));
        // What CGI/WSGI upstreams read as HTTP_X_KEYWARD_*.
        for spoof in [
            "X-Keyward_Consumer",
            "x_keyward_consumer",
            "X_KEYWARD-key-id",
        ] {
            assert!(is_identity_header(spoof), "{spoof}");
        }
        assert!(!is_identity_header("x_keywardconsumer"));
    }

    #[test]
    fn configured_headers_are_never_forwarded() {
        let c = Config::from_lookup(|name| {
            (name == crate::config::vars::FORWARD_DROP_HEADERS)
                .then(|| " Cookie, X-Internal_Auth ,".to_owned())
        })
        .unwrap();
        let incoming = [
            ("cookie", "session=1"),
            ("X-Internal-Auth", "x"),
            ("x_internal_auth", "y"),
            ("X-Keyward_Consumer", "spoofed"),
            ("Accept", "*/*"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let out = forward_headers(&c, None, incoming, None);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Accept"]);
    }

    #[test]
    fn the_query_credential_goes_whatever_else_the_request_carries() {
        let c = Config {
            auth_query_param: Some("api_key".into()),
            ..Config::default()
        };
        let q = "a=1&api_key=kw_plaintext&b=2";
        assert_eq!(forward_query(&c, Some(Location::Header), q), "a=1&b=2");
        assert_eq!(forward_query(&c, None, q), "a=1&b=2");
        assert_eq!(forward_query(&Config::default(), None, q), q);
        // Without the parameter, the query is not touched (no re-encoding).
        let untouched = "flag&sig=a%2Fb~c&x=%20";
        assert_eq!(
            forward_query(&c, Some(Location::Header), untouched),
            untouched
        );
    }

    #[test]
    fn unauthorized_has_a_challenge() {
        let r = unauthorized(&Config::default());
        assert_eq!(r.status, 401);
        assert_eq!(r.content_type, Some(problem::CONTENT_TYPE));
        assert_eq!(
            r.headers[0],
            (
                "www-authenticate".to_string(),
                "Bearer realm=\"keyward\"".to_string()
            )
        );
    }
}
