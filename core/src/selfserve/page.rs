//! The managers' portal page, `{API_PREFIX}/portal/`: the files in `portal/` (embedded by
//! the adapter), its settings as `config.json`, and the headers that hold it to itself — a
//! Content-Security-Policy allowing only the Worker and the OpenID provider, no framing, no
//! referrer.

use crate::config::Config;
use crate::http::ApiResponse;
use crate::problem;

/// One embedded file of the page.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name under `portal/`, e.g. `portal.js`; `""` for the page itself.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

/// The origin (`scheme://host[:port]`) of a URL, for the CSP.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains([' ', ';', '\'', '"']))
        .then(|| format!("{scheme}://{host}"))
}

/// The Content-Security-Policy of the page: scripts, styles and requests to the Worker only,
/// plus the OpenID provider for discovery and the token exchange.
pub fn content_security_policy(config: &Config) -> String {
    let provider = config
        .portal
        .oidc_issuer
        .as_deref()
        .and_then(origin_of)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{provider}; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'; object-src 'none'"
    )
}

fn secured(mut r: ApiResponse, config: &Config) -> ApiResponse {
    r.headers.extend([
        (
            "content-security-policy".into(),
            content_security_policy(config),
        ),
        ("x-frame-options".into(), "DENY".into()),
        // Another page of this host (the upstream's, behind the same origin) that opens
        // the portal gets no handle on its window, so cannot read the token in it.
        ("cross-origin-opener-policy".into(), "same-origin".into()),
        ("referrer-policy".into(), "no-referrer".into()),
        ("x-content-type-options".into(), "nosniff".into()),
        ("cache-control".into(), "no-store".into()),
    ]);
    r
}

/// What the page reads at start: where to sign in and where the API is.
fn settings(config: &Config, access: bool) -> ApiResponse {
    let p = &config.portal;
    ApiResponse::json(
        200,
        &serde_json::json!({
            "issuer": p.oidc_issuer,
            "clientId": p.oidc_client_id,
            "tokenKind": if p.oidc_use_access_token { "access" } else { "id" },
            "scope": "openid email profile",
            "api": format!("{}/v1/me", config.api_prefix),
            // Behind Cloudflare Access: signed in already, the cookie goes with each call.
            "access": access,
        }),
    )
}

/// The answer for `rest` (the path below the API prefix) when it is the page's, else `None`.
/// `access`: the request came through Cloudflare Access (`Cf-Access-Jwt-Assertion`).
pub fn answer(
    rest: &str,
    method: &str,
    config: &Config,
    assets: &[Asset],
    access: bool,
) -> Option<ApiResponse> {
    let name = match rest.strip_prefix("/portal") {
        Some("") => {
            // Relative asset URLs need the trailing slash.
            let mut r = ApiResponse::empty(308);
            r.headers
                .push(("location".into(), format!("{}/portal/", config.api_prefix)));
            return Some(r);
        }
        Some(tail) => tail.strip_prefix('/')?,
        None => return None,
    };
    if !matches!(method, "GET" | "HEAD") {
        return Some(problem::response(405, None));
    }
    if name == "config.json" {
        return Some(secured(settings(config, access), config));
    }
    let response = match assets.iter().find(|a| a.name == name) {
        Some(a) => ApiResponse {
            status: 200,
            headers: Vec::new(),
            content_type: Some(a.content_type),
            body: a.body.as_bytes().to_vec(),
        },
        None => problem::response(404, None),
    };
    Some(secured(response, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSETS: &[Asset] = &[
        Asset {
            name: "",
            content_type: "text/html; charset=utf-8",
            body: "<!doctype html>",
        },
        Asset {
            name: "portal.js",
            content_type: "text/javascript; charset=utf-8",
            body: "start()",
        },
    ];

    #[test]
    fn serves_the_page_its_files_and_settings_with_a_strict_policy() {
        let mut config = Config::default();
        config.portal.oidc_issuer = Some("https://idp.example/realms/x/".into());
        config.portal.oidc_client_id = Some("portal".into());
        let page = answer("/portal/", "GET", &config, ASSETS, false).unwrap();
        assert_eq!(
            (page.status, page.content_type),
            (200, Some("text/html; charset=utf-8"))
        );
        let csp = &page
            .headers
            .iter()
            .find(|(n, _)| n == "content-security-policy")
            .unwrap()
            .1;
        assert!(
            csp.contains("connect-src 'self' https://idp.example;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
        assert!(page
            .headers
            .contains(&("x-frame-options".into(), "DENY".into())));
        assert!(page
            .headers
            .contains(&("referrer-policy".into(), "no-referrer".into())));
        let redirect = answer("/portal", "GET", &config, ASSETS, false).unwrap();
        assert_eq!(redirect.status, 308);
        assert!(redirect
            .headers
            .contains(&("location".into(), "/_keyward/portal/".into())));
        let settings = answer("/portal/config.json", "GET", &config, ASSETS, true).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&settings.body).unwrap();
        assert_eq!(json["clientId"], "portal");
        assert_eq!(json["api"], "/_keyward/v1/me");
        assert_eq!(json["access"], true);
        assert_eq!(
            answer("/portal/nope.js", "GET", &config, ASSETS, false)
                .unwrap()
                .status,
            404
        );
        assert_eq!(
            answer("/portal/", "POST", &config, ASSETS, false)
                .unwrap()
                .status,
            405
        );
        assert!(answer("/portalx", "GET", &config, ASSETS, false).is_none());
        assert!(answer("/v1/me", "GET", &config, ASSETS, false).is_none());
    }

    #[test]
    fn an_odd_issuer_cannot_widen_the_policy() {
        let mut config = Config::default();
        config.portal.oidc_issuer = Some("https://a.example; script-src *".into());
        let csp = content_security_policy(&config);
        assert!(!csp.contains('*'), "{csp}");
    }
}
