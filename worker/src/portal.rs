//! `/v1/me` in the Worker's front: CORS, the end user's token (from `Cf-Access-Jwt-Assertion`
//! or `Authorization: Bearer`), the JWKS fetched when core's `KeyCache` says so (from
//! `PORTAL_JWKS_URL`, or the discovery document of `PORTAL_OIDC_ISSUER`), then the request
//! goes to the gateway bucket's object with the verified e-mail. Deciding is core's
//! (`selfserve::jwt`, `selfserve::cors`); this fetches and converts.

use crate::app::{content_length, forget_written, js, read_body, refuse, respond, to_object};
use crate::state::{now, Settings, State};
use keyward_core::http::{ApiRequest, ApiResponse};
use keyward_core::selfserve::jwt::{alg_of, kid_of, KeySet, KeysNeeded, Rules};
use keyward_core::selfserve::{cors, header_value, EMAIL_HEADER, ISSUER_HEADER};
use keyward_core::{problem, Error, ErrorKind};
use std::rc::Rc;
use worker::{console_warn, Env, Fetch, Request, Response};

/// The one answer to every refused token (the reason goes to the log).
fn invalid_token() -> ApiResponse {
    let mut r = problem::response(
        401,
        Some("a valid sign-in token is required: Authorization: Bearer <token>".into()),
    );
    r.headers.push((
        "www-authenticate".into(),
        "Bearer error=\"invalid_token\"".into(),
    ));
    r
}

fn with_cors(mut r: ApiResponse, settings: &Settings, origin: Option<&str>) -> ApiResponse {
    r.headers.extend(cors::headers(
        &settings.config.portal.allowed_origins,
        origin,
    ));
    r
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let mut response = Fetch::Url(url.parse().map_err(|e| format!("{url}: {e}"))?)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status_code() != 200 {
        return Err(format!("{url}: status {}", response.status_code()));
    }
    response.text().await.map_err(|e| format!("{url}: {e}"))
}

/// Where the JWKS is: configured, or named by the issuer's discovery document (looked up
/// once per isolate).
async fn jwks_url(settings: &Settings) -> Result<Option<String>, String> {
    let portal = &settings.config.portal;
    if let Some(url) = &portal.jwks_url {
        return Ok(Some(url.clone()));
    }
    let Some(issuer) = &portal.oidc_issuer else {
        return Ok(None);
    };
    if let Some(url) = settings.discovered_jwks_url.borrow().clone() {
        return Ok(Some(url));
    }
    let issuer = issuer.trim_end_matches('/');
    let text = fetch_text(&format!("{issuer}/.well-known/openid-configuration")).await?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("discovery document: {e}"))?;
    let url = doc
        .get("jwks_uri")
        .and_then(|u| u.as_str())
        .ok_or("the discovery document has no jwks_uri")?
        .to_owned();
    *settings.discovered_jwks_url.borrow_mut() = Some(url.clone());
    Ok(Some(url))
}

/// The JWKS's keys for a token with `kid`, fetched when the cache says so; on a failed fetch
/// the keys held before (however old), else none.
async fn key_set(settings: &Settings, kid: Option<&str>) -> Option<Rc<KeySet>> {
    let portal = &settings.config.portal;
    if portal.jwks_url.is_none() && portal.oidc_issuer.is_none() {
        return None;
    }
    match settings.jwks.needed(kid, now()) {
        KeysNeeded::Use(set) => Some(set),
        KeysNeeded::Unavailable => None,
        KeysNeeded::Fetch => {
            let fetched = match jwks_url(settings).await {
                Ok(Some(url)) => fetch_text(&url).await.and_then(|t| KeySet::parse(&t)),
                Ok(None) => return None,
                Err(e) => Err(format!("finding the JWKS: {e}")),
            };
            match fetched {
                Ok(set) => Some(settings.jwks.store(set, now())),
                Err(e) => {
                    // Once per backoff period (the cache does not ask again before).
                    console_warn!("keyward: /v1/me: fetching the JWKS: {e}");
                    settings.jwks.failed(now())
                }
            }
        }
    }
}

/// Answers a `/v1/me` request (`path` below the API prefix).
pub async fn me(
    mut req: Request,
    state: &State,
    env: &Env,
    path: String,
    query: &str,
) -> Result<Response, Error> {
    let settings = &state.settings;
    let portal = &settings.config.portal;
    let origin = req.headers().get("origin").ok().flatten();
    let method = req.inner().method().to_ascii_uppercase();
    if method == "OPTIONS" {
        return respond(cors::preflight(&portal.allowed_origins, origin.as_deref())).map_err(js);
    }
    if !keyward_core::http::is_known_method(&method) {
        let refused = problem::response(405, None);
        return refuse(&req, with_cors(refused, settings, origin.as_deref())).await;
    }
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if content_length(&req).is_some_and(|n| n > keyward_core::http::MAX_BODY_BYTES) {
        let refused = problem::from_error(&keyward_core::http::body_too_large());
        return refuse(&req, with_cors(refused, settings, origin.as_deref())).await;
    }
    let token = header("cf-access-jwt-assertion").or_else(|| {
        header("authorization").and_then(|a| {
            a.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim().to_owned())
        })
    });
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return refuse(
            &req,
            with_cors(invalid_token(), settings, origin.as_deref()),
        )
        .await;
    };
    // The deployment's own HS256 tokens need no JWKS (and must not make the Worker fetch one),
    // and keep to the explicit PORTAL_JWT_ISSUER/AUDIENCE: the OIDC defaults are the
    // provider's.
    let hs256 = alg_of(&token).as_deref() == Some("HS256");
    let key_set = if hs256 {
        None
    } else {
        key_set(settings, kid_of(&token).as_deref()).await
    };
    let (issuer, audience) = if hs256 {
        (portal.issuer.as_deref(), portal.audience.as_deref())
    } else {
        (portal.jwks_issuer(), portal.jwks_audience())
    };
    let rules = Rules {
        hs256_secret: settings.portal_secret.as_deref(),
        key_set: key_set.as_deref(),
        issuer,
        audience,
        email_claim: &portal.email_claim,
    };
    let who = match rules.verify(&token, now()) {
        Ok(who) => who,
        Err(why) => {
            console_warn!("keyward: /v1/me: token refused: {why}");
            return refuse(
                &req,
                with_cors(invalid_token(), settings, origin.as_deref()),
            )
            .await;
        }
    };
    // A change from a browser must come from an allowed origin (or the Worker's own) and as
    // JSON: a cross-site form or text/plain request, which needs no preflight, is refused
    // even when the browser attaches a Cloudflare Access cookie.
    if !matches!(method.as_str(), "GET" | "HEAD") {
        let own = req.url().ok().map(|u| u.origin().ascii_serialization());
        let foreign = origin.as_deref().is_some_and(|o| {
            !cors::allowed(&portal.allowed_origins, o) && Some(o) != own.as_deref()
        });
        let json = header("content-type").is_some_and(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
        if foreign || (method != "DELETE" && !json) {
            let why = if foreign {
                "this origin may not change keys (PORTAL_ALLOWED_ORIGINS)"
            } else {
                "send the body as Content-Type: application/json"
            };
            let refused = problem::response(if foreign { 403 } else { 415 }, Some(why.into()));
            return refuse(&req, with_cors(refused, settings, origin.as_deref())).await;
        }
    }
    let body = if matches!(method.as_str(), "GET" | "HEAD" | "DELETE") {
        Vec::new()
    } else {
        match read_body(&mut req).await {
            Ok(body) => body,
            Err(e) if e.kind() == ErrorKind::TooLarge || e.kind() == ErrorKind::Invalid => {
                return respond(with_cors(
                    problem::from_error(&e),
                    settings,
                    origin.as_deref(),
                ))
                .map_err(js)
            }
            Err(e) => return Err(e),
        }
    };
    let api_req = ApiRequest {
        method,
        path,
        query: query.to_owned(),
        authorization: None,
        prefer: None,
        body,
    };
    let email = header_value(&who.email);
    let issuer = who.issuer.as_deref().map(header_value);
    let mut identity = vec![(EMAIL_HEADER, email.as_str())];
    if let Some(iss) = issuer.as_deref() {
        identity.push((ISSUER_HEADER, iss));
    }
    let response = to_object(env, &settings.config.bucket, &api_req, &identity).await?;
    let response = forget_written(response, settings)?;
    let headers = response.headers().clone();
    for (name, value) in cors::headers(&portal.allowed_origins, origin.as_deref()) {
        headers.set(&name, &value).map_err(js)?;
    }
    Ok(response.with_headers(headers))
}
