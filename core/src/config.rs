//! The Worker's configuration, parsed from its variables and secrets.
//!
//! The adapter hands in a lookup function (wrangler `[vars]` and secrets); parsing and
//! defaults live here so they are tested natively. A bad value is an [`ErrorKind::Config`]
//! error naming the variable.

use crate::error::{Error, ErrorKind};
use crate::key;

/// Names of the variables and secrets the Worker reads.
pub mod vars {
    /// Header carrying the key.
    pub const AUTH_HEADER: &str = "AUTH_HEADER";
    /// Scheme before the key in that header; empty for a bare value.
    pub const AUTH_SCHEME: &str = "AUTH_SCHEME";
    /// Query parameter that may carry the key; unset = off.
    pub const AUTH_QUERY_PARAM: &str = "AUTH_QUERY_PARAM";
    /// Bucket the edge verifies against.
    pub const BUCKET: &str = "BUCKET";
    /// `true` lets requests without a valid key through, without identity.
    pub const ALLOW_UNAUTHENTICATED: &str = "ALLOW_UNAUTHENTICATED";
    /// Lifetime of cached verification results.
    pub const CACHE_TTL_SECONDS: &str = "CACHE_TTL_SECONDS";
    /// Where verified requests are forwarded; unset = answer with the identity.
    pub const UPSTREAM_URL: &str = "UPSTREAM_URL";
    /// Account name in developer-API paths.
    pub const ACCOUNT_NAME: &str = "ACCOUNT_NAME";
    /// Path prefix of keyward's own routes.
    pub const API_PREFIX: &str = "API_PREFIX";
    /// Prefix of generated keys.
    pub const KEY_PREFIX: &str = "KEY_PREFIX";
    /// Comma-separated header names never forwarded upstream (besides `x-keyward-*`).
    pub const FORWARD_DROP_HEADERS: &str = "FORWARD_DROP_HEADERS";
    /// Secret: HMAC key for key hashes.
    pub const KEY_HASH_SECRET: &str = "KEY_HASH_SECRET";
    /// Secret: the read-write management token.
    pub const MANAGEMENT_TOKEN: &str = "MANAGEMENT_TOKEN";
    /// Secret: scoped management tokens (JSON, see `token`).
    pub const MANAGEMENT_TOKENS: &str = "MANAGEMENT_TOKENS";
    /// Secret: HMAC key that signs forwarded requests (see `edge::signature`); unset = unsigned.
    pub const UPSTREAM_SIGNING_SECRET: &str = "UPSTREAM_SIGNING_SECRET";
    /// Secret: verifies HS256 end-user tokens on `/v1/me`.
    pub const PORTAL_JWT_SECRET: &str = "PORTAL_JWT_SECRET";
    /// JWKS URL for RS256/ES256 end-user tokens (Cloudflare Access: its certs URL).
    pub const PORTAL_JWKS_URL: &str = "PORTAL_JWKS_URL";
    /// OpenID issuer: its discovery document names the JWKS; also the required `iss`.
    pub const PORTAL_OIDC_ISSUER: &str = "PORTAL_OIDC_ISSUER";
    /// Required `iss` of end-user tokens.
    pub const PORTAL_JWT_ISSUER: &str = "PORTAL_JWT_ISSUER";
    /// Required `aud` of end-user tokens.
    pub const PORTAL_JWT_AUDIENCE: &str = "PORTAL_JWT_AUDIENCE";
    /// The claim holding the end user's e-mail (default `email`).
    pub const PORTAL_EMAIL_CLAIM: &str = "PORTAL_EMAIL_CLAIM";
    /// Grace of the old keys when a manager rolls without an expiry (default 86400).
    pub const PORTAL_ROLL_GRACE_SECONDS: &str = "PORTAL_ROLL_GRACE_SECONDS";
    /// `false` stops managers from creating keys (rolling stays).
    pub const PORTAL_ALLOW_CREATE: &str = "PORTAL_ALLOW_CREATE";
    /// Comma-separated origins allowed to call `/v1/me` from a browser (CORS).
    pub const PORTAL_ALLOWED_ORIGINS: &str = "PORTAL_ALLOWED_ORIGINS";
    /// How long a fetched JWKS is used (default 600).
    pub const PORTAL_JWKS_TTL_SECONDS: &str = "PORTAL_JWKS_TTL_SECONDS";
    /// The portal page's OpenID client id (public client, PKCE).
    pub const PORTAL_OIDC_CLIENT_ID: &str = "PORTAL_OIDC_CLIENT_ID";
    /// Which token the portal page sends to `/v1/me`: `id` (default) or `access`.
    pub const PORTAL_OIDC_TOKEN: &str = "PORTAL_OIDC_TOKEN";
    /// What a leak report does to a found key: `flag` (default) or `revoke`.
    pub const LEAK_POLICY: &str = "LEAK_POLICY";
    /// GitHub's secret-scanning public keys (JSON); set, GitHub-signed leak reports are
    /// accepted without a management token (see `api::leaks::github`).
    pub const LEAK_REPORT_PUBLIC_KEYS: &str = "LEAK_REPORT_PUBLIC_KEYS";
    /// A regular expression: keys matching it (whole) may be imported and verify at the
    /// edge without a keyward checksum (e.g. Zuplo's `^zpka_[0-9a-f]{32}_[0-9a-f]{8}$`);
    /// unset = no foreign keys.
    pub const IMPORTED_KEY_PATTERN: &str = "IMPORTED_KEY_PATTERN";
    /// Secret: encrypts the keys of retrievable buckets (`isRetrievable`; see
    /// `key::sealed`); unset = every bucket keeps keys hashed only.
    pub const KEY_ENCRYPTION_SECRET: &str = "KEY_ENCRYPTION_SECRET";
}

/// What `POST /v1/leaks` does to a key it finds (`LEAK_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeakPolicy {
    /// Record the report on the key (`leakedOn`, `leakedAt`); the key keeps working unless
    /// the report asks for `revoke`.
    #[default]
    Flag,
    /// Record the report and revoke the key at once.
    Revoke,
}

/// The Worker's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Header carrying the key (default `Authorization`).
    pub auth_header: String,
    /// Scheme before the key (default `Bearer`); empty = the raw header value.
    pub auth_scheme: String,
    /// Query parameter that may carry the key.
    pub auth_query_param: Option<String>,
    /// Bucket the edge verifies against (default `default`).
    pub bucket: String,
    /// Let requests without a valid key through, without identity.
    pub allow_unauthenticated: bool,
    /// Cache lifetime in seconds (default 60).
    pub cache_ttl_seconds: u32,
    /// Upstream base URL.
    pub upstream_url: Option<String>,
    /// Account name in developer-API paths (default `local`).
    pub account_name: String,
    /// Path prefix of keyward's routes (default `/_keyward`).
    pub api_prefix: String,
    /// Prefix of generated keys (default `kw`).
    pub key_prefix: String,
    /// Headers never forwarded upstream, lower-cased with `_` read as `-`.
    pub forward_drop_headers: Vec<String>,
    /// The self-serve API (`/v1/me`).
    pub portal: Portal,
    /// What a leak report does to a found key (default: flag it).
    pub leak_policy: LeakPolicy,
    /// Foreign keys that may be imported and verified (`IMPORTED_KEY_PATTERN`); `None` =
    /// only keyward keys of [`Config::key_prefix`].
    pub imported_key_pattern: Option<key::imported::Pattern>,
    /// Seals and opens the keys of retrievable buckets (`KEY_ENCRYPTION_SECRET`); `None` =
    /// no bucket may be created retrievable. Read it with [`Config::vault`].
    pub key_vault: Option<key::sealed::Vault>,
    /// Why `KEY_ENCRYPTION_SECRET` was refused: only what needs the vault fails (a 500 whose
    /// log names the secret), not the edge or hash-only buckets.
    pub key_vault_problem: Option<String>,
    /// `RATE_LIMIT_DEFAULT`, `QUOTA_DEFAULT`, `RATE_LIMIT_FAIL`.
    pub limits: crate::limits::settings::Settings,
}

/// Settings of the self-serve API (`/v1/me`); its HS256 secret is a secret, not here.
#[derive(Debug, Clone, PartialEq)]
pub struct Portal {
    /// Where the JWKS is (given, or from the OIDC discovery document when `None`).
    pub jwks_url: Option<String>,
    /// The OpenID issuer whose discovery document names the JWKS.
    pub oidc_issuer: Option<String>,
    /// Required `iss` of every token (`PORTAL_JWT_ISSUER`); JWKS tokens fall back to the
    /// OIDC issuer ([`Portal::jwks_issuer`]).
    pub issuer: Option<String>,
    /// Required `aud` of every token (`PORTAL_JWT_AUDIENCE`); JWKS tokens fall back to the
    /// portal's client id ([`Portal::jwks_audience`]).
    pub audience: Option<String>,
    /// The e-mail claim.
    pub email_claim: String,
    /// Grace of a manager's roll without an expiry.
    pub roll_grace_seconds: u32,
    /// Managers may create keys.
    pub allow_create: bool,
    /// Browser origins allowed on `/v1/me`.
    pub allowed_origins: Vec<String>,
    /// Lifetime of a fetched JWKS (default 600 s).
    pub jwks_ttl_seconds: u32,
    /// The portal page's OpenID client id.
    pub oidc_client_id: Option<String>,
    /// The portal page sends the access token instead of the ID token.
    pub oidc_use_access_token: bool,
}

impl Portal {
    /// The `iss` a JWKS-verified token must have: `PORTAL_JWT_ISSUER`, else the OIDC issuer.
    pub fn jwks_issuer(&self) -> Option<&str> {
        self.issuer.as_deref().or(self.oidc_issuer.as_deref())
    }

    /// The `aud` a JWKS-verified token must contain: `PORTAL_JWT_AUDIENCE`, else, when the
    /// portal page sends ID tokens, its client id (an ID token's `aud`). HS256 tokens from
    /// the deployment's own backend keep to `PORTAL_JWT_AUDIENCE` alone.
    pub fn jwks_audience(&self) -> Option<&str> {
        self.audience.as_deref().or(if self.oidc_use_access_token {
            None
        } else {
            self.oidc_client_id.as_deref()
        })
    }
}

impl Default for Portal {
    fn default() -> Self {
        Portal {
            jwks_url: None,
            oidc_issuer: None,
            issuer: None,
            audience: None,
            email_claim: "email".into(),
            roll_grace_seconds: 86_400,
            allow_create: true,
            allowed_origins: Vec::new(),
            jwks_ttl_seconds: 600,
            oidc_client_id: None,
            oidc_use_access_token: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            auth_header: "Authorization".into(),
            auth_scheme: "Bearer".into(),
            auth_query_param: None,
            bucket: "default".into(),
            allow_unauthenticated: false,
            cache_ttl_seconds: 60,
            upstream_url: None,
            account_name: "local".into(),
            api_prefix: "/_keyward".into(),
            key_prefix: key::format::DEFAULT_PREFIX.into(),
            forward_drop_headers: Vec::new(),
            portal: Portal::default(),
            leak_policy: LeakPolicy::Flag,
            imported_key_pattern: None,
            key_vault: None,
            key_vault_problem: None,
            limits: Default::default(),
        }
    }
}

impl Config {
    /// The vault of `KEY_ENCRYPTION_SECRET`: `None` when it is not set, an error (naming the
    /// secret, never quoting it) when it was refused.
    pub fn vault(&self) -> Result<Option<&key::sealed::Vault>, Error> {
        match &self.key_vault_problem {
            Some(why) => Err(Error::new(ErrorKind::Config, why.clone())),
            None => Ok(self.key_vault.as_ref()),
        }
    }
}

/// A header name as upstreams may read it: lower-cased, all ASCII punctuation as `-` (CGI
/// servers map `X-A_B`, `X-A-B` and even `X-A.B` to `HTTP_X_A_B`).
pub fn header_key(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_punctuation() {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn bad(var: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Config, format!("variable {var}: {why}"))
}

impl Config {
    /// The part of `path` below the API prefix, if `path` is one of keyward's own routes.
    ///
    /// ```
    /// let c = keyward_core::config::Config::default();
    /// assert_eq!(c.own_path("/_keyward/health"), Some("/health"));
    /// assert_eq!(c.own_path("/_keywardx"), None);
    /// assert_eq!(c.own_path("/api/users"), None);
    /// ```
    pub fn own_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(self.api_prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// Reads the settings through `lookup`; unset or empty variables take their default
    /// (except `AUTH_SCHEME`, where empty means "bare header value").
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mut c = Config::default();
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get(vars::AUTH_HEADER) {
            c.auth_header = v;
        }
        if let Some(v) = lookup(vars::AUTH_SCHEME) {
            c.auth_scheme = v.trim().to_owned();
        }
        c.auth_query_param = get(vars::AUTH_QUERY_PARAM);
        if let Some(v) = get(vars::FORWARD_DROP_HEADERS) {
            c.forward_drop_headers = v
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(header_key)
                .collect();
        }
        if let Some(v) = get(vars::BUCKET) {
            crate::validate::bucket_name(&v).map_err(|e| bad(vars::BUCKET, e))?;
            c.bucket = v;
        }
        let flag = |name: &str, value: &str| match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(bad(name, "use true or false")),
        };
        if let Some(v) = get(vars::ALLOW_UNAUTHENTICATED) {
            c.allow_unauthenticated = flag(vars::ALLOW_UNAUTHENTICATED, &v)?;
        }
        // Keys come from these URLs: https, or plain http only on this machine (tests, dev).
        let url = |name: &str, value: String| {
            let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|l| {
                    value
                        .strip_prefix(l)
                        .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
                });
            if value.starts_with("https://") || local {
                Ok(value)
            } else {
                Err(bad(
                    name,
                    "use an https:// URL (http:// only for 127.0.0.1 or localhost)",
                ))
            }
        };
        let p = &mut c.portal;
        p.jwks_url = get(vars::PORTAL_JWKS_URL)
            .map(|v| url(vars::PORTAL_JWKS_URL, v))
            .transpose()?;
        // Kept as written: it is also the required `iss`, which for some providers (Auth0)
        // ends in `/`.
        p.oidc_issuer = get(vars::PORTAL_OIDC_ISSUER)
            .map(|v| url(vars::PORTAL_OIDC_ISSUER, v))
            .transpose()?;
        p.issuer = get(vars::PORTAL_JWT_ISSUER);
        p.audience = get(vars::PORTAL_JWT_AUDIENCE);
        if let Some(v) = get(vars::PORTAL_EMAIL_CLAIM) {
            p.email_claim = v;
        }
        if let Some(v) = get(vars::PORTAL_ROLL_GRACE_SECONDS) {
            p.roll_grace_seconds = v.parse().map_err(|_| {
                bad(
                    vars::PORTAL_ROLL_GRACE_SECONDS,
                    "use a whole number of seconds",
                )
            })?;
        }
        if let Some(v) = get(vars::PORTAL_ALLOW_CREATE) {
            p.allow_create = flag(vars::PORTAL_ALLOW_CREATE, &v)?;
        }
        if let Some(v) = get(vars::PORTAL_ALLOWED_ORIGINS) {
            p.allowed_origins = v
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect();
        }
        p.oidc_client_id = get(vars::PORTAL_OIDC_CLIENT_ID);
        if let Some(v) = get(vars::PORTAL_OIDC_TOKEN) {
            p.oidc_use_access_token = match v.as_str() {
                "id" => false,
                "access" => true,
                _ => return Err(bad(vars::PORTAL_OIDC_TOKEN, "use id or access")),
            };
        }
        // An access token's audience is an API, which only PORTAL_JWT_AUDIENCE can name;
        // without it every such token would be refused, one sign-in after another.
        if p.oidc_use_access_token && p.audience.is_none() {
            return Err(bad(
                vars::PORTAL_OIDC_TOKEN,
                "access needs PORTAL_JWT_AUDIENCE, the API your provider issues access tokens for",
            ));
        }
        if let Some(v) = get(vars::PORTAL_JWKS_TTL_SECONDS) {
            p.jwks_ttl_seconds = v.parse().map_err(|_| {
                bad(
                    vars::PORTAL_JWKS_TTL_SECONDS,
                    "use a whole number of seconds",
                )
            })?;
        }
        if let Some(v) = get(vars::CACHE_TTL_SECONDS) {
            c.cache_ttl_seconds = v
                .parse()
                .map_err(|_| bad(vars::CACHE_TTL_SECONDS, "use a whole number of seconds"))?;
        }
        if let Some(v) = get(vars::UPSTREAM_URL) {
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                return Err(bad(vars::UPSTREAM_URL, "use an http:// or https:// URL"));
            }
            c.upstream_url = Some(v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = get(vars::ACCOUNT_NAME) {
            c.account_name = v;
        }
        if let Some(v) = get(vars::API_PREFIX) {
            if !v.starts_with('/') || v.len() < 2 {
                return Err(bad(vars::API_PREFIX, "use a path such as /_keyward"));
            }
            c.api_prefix = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = get(vars::KEY_PREFIX) {
            key::format::validate_prefix(&v).map_err(|e| bad(vars::KEY_PREFIX, e))?;
            c.key_prefix = v;
        }
        if let Some(v) = get(vars::LEAK_POLICY) {
            c.leak_policy = match v.as_str() {
                "flag" => LeakPolicy::Flag,
                "revoke" => LeakPolicy::Revoke,
                _ => return Err(bad(vars::LEAK_POLICY, "use flag or revoke")),
            };
        }
        if let Some(v) = get(vars::IMPORTED_KEY_PATTERN) {
            let pattern = key::imported::Pattern::compile(&v).map_err(|why| {
                bad(
                    vars::IMPORTED_KEY_PATTERN,
                    format!("{why}; use a regular expression such as ^zpka_[0-9a-f]{{32}}_[0-9a-f]{{8}}$"),
                )
            })?;
            c.imported_key_pattern = Some(pattern);
        }
        c.limits = crate::limits::settings::Settings::from_lookup(&lookup)?;
        // A secret: not trimmed, and never quoted in the error.
        if let Some(secret) = lookup(vars::KEY_ENCRYPTION_SECRET).filter(|s| !s.is_empty()) {
            match key::sealed::Vault::new(secret.as_bytes()) {
                Ok(vault) => c.key_vault = Some(vault),
                Err(why) => {
                    c.key_vault_problem =
                        Some(format!("secret {}: {why}", vars::KEY_ENCRYPTION_SECRET))
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn the_oidc_issuer_is_the_required_iss_as_written() {
        let c = from(&[("PORTAL_OIDC_ISSUER", "https://tenant.auth0.com/")]).unwrap();
        assert_eq!(c.portal.jwks_issuer(), Some("https://tenant.auth0.com/"));
        assert_eq!(
            c.portal.issuer, None,
            "HS256 tokens keep to PORTAL_JWT_ISSUER"
        );
        let local = from(&[("PORTAL_JWKS_URL", "http://127.0.0.1:9999/jwks.json")]).unwrap();
        assert!(local.portal.jwks_url.is_some());
    }

    #[test]
    fn the_portal_client_id_is_the_id_tokens_audience_unless_one_is_set() {
        let issuer = ("PORTAL_OIDC_ISSUER", "https://kc.example/realms/acme");
        let client = ("PORTAL_OIDC_CLIENT_ID", "keyward-portal");
        let id = from(&[issuer, client]).unwrap();
        assert_eq!(id.portal.jwks_audience(), Some("keyward-portal"));
        assert_eq!(
            id.portal.audience, None,
            "HS256 tokens keep to PORTAL_JWT_AUDIENCE"
        );
        let given = from(&[issuer, client, ("PORTAL_JWT_AUDIENCE", "api")]).unwrap();
        assert_eq!(given.portal.jwks_audience(), Some("api"));
        let access = ("PORTAL_OIDC_TOKEN", "access");
        let e = from(&[issuer, client, access]).unwrap_err();
        assert!(e.message().contains("PORTAL_JWT_AUDIENCE"), "{e}");
        let api = from(&[issuer, client, access, ("PORTAL_JWT_AUDIENCE", "api")]).unwrap();
        assert_eq!(api.portal.jwks_audience(), Some("api"));
    }

    #[test]
    fn defaults() {
        assert_eq!(from(&[]).unwrap(), Config::default());
    }

    #[test]
    fn empty_scheme_means_bare_header() {
        let c = from(&[("AUTH_HEADER", "X-API-Key"), ("AUTH_SCHEME", "")]).unwrap();
        assert_eq!(c.auth_scheme, "");
        assert_eq!(c.auth_header, "X-API-Key");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("CACHE_TTL_SECONDS", "soon"),
            ("UPSTREAM_URL", "ftp://x"),
            ("KEY_PREFIX", "KW"),
            ("ALLOW_UNAUTHENTICATED", "maybe"),
            ("API_PREFIX", "x"),
            ("PORTAL_JWKS_URL", "http://evil.example/jwks.json"),
            ("PORTAL_OIDC_ISSUER", "http://localhost.evil.example"),
            ("PORTAL_ALLOW_CREATE", "perhaps"),
            ("LEAK_POLICY", "delete"),
            ("LEAK_POLICY", "Revoke"),
            ("IMPORTED_KEY_PATTERN", "zpka_[0-9a-f"),
            ("IMPORTED_KEY_PATTERN", "x)|(.*"),
        ] {
            let e = from(&[(k, v)]).unwrap_err();
            assert!(e.message().contains(k), "{e}");
        }
    }

    #[test]
    fn the_leak_policy_flags_unless_told_to_revoke() {
        assert_eq!(from(&[]).unwrap().leak_policy, LeakPolicy::Flag);
        let revoke = from(&[("LEAK_POLICY", "revoke")]).unwrap();
        assert_eq!(revoke.leak_policy, LeakPolicy::Revoke);
        assert_eq!(
            from(&[("LEAK_POLICY", " flag ")]).unwrap().leak_policy,
            LeakPolicy::Flag
        );
    }

    #[test]
    fn the_imported_key_pattern_is_compiled_once_and_anchored() {
        assert_eq!(from(&[]).unwrap().imported_key_pattern, None);
        let c = from(&[("IMPORTED_KEY_PATTERN", " zpka_[0-9a-f]{32}_[0-9a-f]{8} ")]).unwrap();
        let p = c.imported_key_pattern.unwrap();
        assert_eq!(p.source(), "zpka_[0-9a-f]{32}_[0-9a-f]{8}");
        assert!(p.matches("zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009"));
        assert!(!p.matches("xzpka_d67b7e241bb948758f415b79aa8ec822_2efb7009"));
    }
}
