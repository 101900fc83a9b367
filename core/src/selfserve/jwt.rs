//! End users' tokens for `/v1/me`: JWTs from the customer's identity provider, verified with
//! the `jsonwebtoken` crate against keys and a clock given as arguments.
//!
//! - **Keys.** `PORTAL_JWT_SECRET` verifies HS256 tokens (a customer's backend minting them);
//!   a JWKS (`PORTAL_JWKS_URL`, or the `jwks_uri` of `PORTAL_OIDC_ISSUER`'s discovery
//!   document; Cloudflare Access's certs URL) verifies RS256/ES256/ES384/EdDSA tokens, the key
//!   chosen by `kid`. The algorithm is the configured key's: an RSA key only ever checks
//!   RS256, the secret only HS256 — a token's header picks among the configured keys, never
//!   the algorithm a key is used with (no `alg: none`, no HS256 over an RSA public key).
//! - **Claims.** `exp` required; `nbf` and `iat` honoured with [`SKEW_SECONDS`]; `iss` equal
//!   to the configured issuer and `aud` containing the configured audience when those are set;
//!   the e-mail from the configured claim (default `email`), normalized as managers' e-mails
//!   are; `email_verified: false` refused.
//! - **Failures** are [`Rejection`]s: the reason is for the log; the client always gets the
//!   same 401.
//!
//! The JWKS itself is fetched by the adapter; [`KeyCache`] decides when (TTL, and an unknown
//! `kid` refetches at most once a minute).

use crate::timestamp::Millis;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const SKEW_SECONDS: i64 = 60;
/// An unknown `kid` makes the adapter fetch the JWKS again at most this often.
pub const UNKNOWN_KID_REFETCH_MS: Millis = 60_000;

/// Why a token was refused (for the log only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not a JWT, or a header or algorithm keyward does not accept.
    Malformed(String),
    /// No configured key can check this token (e.g. HS256 without `PORTAL_JWT_SECRET`).
    NoKey(String),
    /// The JWKS has no key with this `kid`.
    UnknownKid(String),
    /// The signature does not verify.
    Signature,
    /// `exp` missing or past.
    Expired,
    /// `nbf` or `iat` in the future.
    NotYetValid,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not contain the configured audience.
    Audience,
    /// No usable e-mail in the configured claim.
    NoEmail,
    /// `email_verified` is false.
    EmailUnverified,
    /// A JWKS is configured without `PORTAL_JWT_AUDIENCE` or an issuer: a provider's keys sign
    /// tokens for every application and tenant, so they prove nothing alone.
    Misconfigured(&'static str),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Both may carry what the client sent: cut short for the log.
            Rejection::Malformed(why) => write!(f, "malformed token: {}", clip(why)),
            Rejection::NoKey(alg) => write!(f, "no configured key verifies {alg} tokens"),
            Rejection::UnknownKid(kid) => write!(f, "no JWKS key has kid {:?}", clip(kid)),
            Rejection::Signature => f.write_str("the signature does not verify"),
            Rejection::Expired => f.write_str("expired (or no exp claim)"),
            Rejection::NotYetValid => f.write_str("not valid yet (nbf or iat in the future)"),
            Rejection::Issuer => f.write_str("wrong issuer (iss)"),
            Rejection::Audience => f.write_str("wrong audience (aud)"),
            Rejection::NoEmail => f.write_str("no e-mail in the token"),
            Rejection::EmailUnverified => f.write_str("the e-mail is not verified"),
            Rejection::Misconfigured(what) => write!(f, "configuration: {what}"),
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// One signing key of a JWKS, with the algorithm it verifies.
struct SetKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The public keys of a JWKS that keyward can use.
pub struct KeySet {
    keys: Vec<SetKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, k.alg)).collect();
        f.debug_struct("KeySet").field("keys", &kids).finish()
    }
}

/// The algorithm a JWK verifies, decided by the key (its type and curve; its `alg` only to
/// choose among the RSA hashes). `None` for keys keyward does not use.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let declared = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match declared {
            Some(a @ (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)) => Some(a),
            Some(a @ (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)) => Some(a),
            None => Some(Algorithm::RS256),
            Some(_) => None,
        },
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(p) => {
            (p.curve == EllipticCurve::Ed25519).then_some(Algorithm::EdDSA)
        }
        // A symmetric key in a published key set is a mistake; never use one.
        AlgorithmParameters::OctetKey(_) => None,
    }
}

impl KeySet {
    /// The usable keys of a JWKS document (`{"keys": [...]}`); keys of other kinds (or that
    /// do not parse) are skipped, as providers publish encryption keys and certificates too.
    pub fn parse(json: &str) -> Result<KeySet, String> {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no \"keys\" list")?;
        let keys: Vec<SetKey> = list
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|jwk| {
                let alg = algorithm_of(&jwk)?;
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                Some(SetKey {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    key,
                })
            })
            .collect();
        if keys.is_empty() {
            return Err(
                "JWKS has no signing key keyward can use (RSA, EC P-256/P-384, Ed25519)".into(),
            );
        }
        Ok(KeySet { keys })
    }

    /// Whether a key has `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key for a token with `kid` (or, without one, the only key of that algorithm).
    fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<&SetKey, Rejection> {
        match kid {
            Some(kid) => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or_else(|| Rejection::UnknownKid(kid.to_owned()))?;
                if key.alg != alg {
                    return Err(Rejection::Malformed(format!(
                        "kid {kid:?} is a {:?} key; the token says {alg:?}",
                        key.alg
                    )));
                }
                Ok(key)
            }
            None => {
                let mut of_alg = self.keys.iter().filter(|k| k.alg == alg);
                match (of_alg.next(), of_alg.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(Rejection::NoKey(format!("{alg:?}"))),
                    (Some(_), Some(_)) => Err(Rejection::Malformed(
                        "no kid, and several keys could verify it".into(),
                    )),
                }
            }
        }
    }
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The e-mail, normalized as managers' e-mails are ([`crate::validate::email_key`]).
    pub email: String,
    /// `iss`, if the token has one.
    pub issuer: Option<String>,
}

/// What a token is checked against.
pub struct Rules<'a> {
    /// `PORTAL_JWT_SECRET`: verifies HS256 tokens.
    pub hs256_secret: Option<&'a [u8]>,
    /// The JWKS's keys, when one is configured.
    pub key_set: Option<&'a KeySet>,
    /// `iss` must equal this when set.
    pub issuer: Option<&'a str>,
    /// `aud` must contain this when set.
    pub audience: Option<&'a str>,
    /// The claim holding the e-mail.
    pub email_claim: &'a str,
}

/// The `kid` of a token's header, if it parses (the adapter uses it to decide whether to
/// fetch the JWKS again).
pub fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// The `alg` of a token's header, if it parses (the adapter skips the JWKS for HS256).
pub fn alg_of(token: &str) -> Option<String> {
    let alg = jsonwebtoken::decode_header(token).ok()?.alg;
    Some(format!("{alg:?}"))
}

fn seconds(claims: &Value, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

impl Rules<'_> {
    /// Verifies `token` at `now`.
    pub fn verify(&self, token: &str, now: Millis) -> Result<Identity, Rejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Rejection::Malformed(format!("header: {e}")))?;
        let (alg, key) = if header.alg == Algorithm::HS256 {
            let secret = self
                .hs256_secret
                .ok_or_else(|| Rejection::NoKey("HS256".into()))?;
            (Algorithm::HS256, DecodingKey::from_secret(secret))
        } else {
            let set = self
                .key_set
                .ok_or_else(|| Rejection::NoKey(format!("{:?}", header.alg)))?;
            if self.audience.is_none() || self.issuer.is_none() {
                return Err(Rejection::Misconfigured(
                    "a JWKS needs PORTAL_JWT_AUDIENCE and an issuer (PORTAL_JWT_ISSUER or PORTAL_OIDC_ISSUER); refusing its tokens",
                ));
            }
            let key = set.key_for(header.kid.as_deref(), header.alg)?;
            (key.alg, key.key.clone())
        };
        let mut validation = Validation::new(alg);
        // The claims are checked below against the clock given (the crate's own clock is
        // the system's, which the Worker does not have).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejection::Signature,
            _ => Rejection::Malformed(e.to_string()),
        })?;
        let claims = data.claims;
        let now_s = now.div_euclid(1000);
        match seconds(&claims, "exp") {
            Some(exp) if exp.saturating_add(SKEW_SECONDS) > now_s => {}
            _ => return Err(Rejection::Expired),
        }
        for name in ["nbf", "iat"] {
            if seconds(&claims, name).is_some_and(|t| t > now_s.saturating_add(SKEW_SECONDS)) {
                return Err(Rejection::NotYetValid);
            }
        }
        let issuer = claims.get("iss").and_then(Value::as_str).map(str::to_owned);
        if let Some(want) = self.issuer {
            if issuer.as_deref() != Some(want) {
                return Err(Rejection::Issuer);
            }
        }
        if let Some(want) = self.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => a == want,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
                _ => false,
            };
            if !ok {
                return Err(Rejection::Audience);
            }
        }
        // Present means it must say yes (some providers send it as a string).
        match claims.get("email_verified") {
            None | Some(Value::Bool(true)) => {}
            Some(Value::String(s)) if s == "true" => {}
            Some(_) => return Err(Rejection::EmailUnverified),
        }
        let email = claims
            .get(self.email_claim)
            .and_then(Value::as_str)
            .and_then(|e| crate::validate::email(e).ok())
            .ok_or(Rejection::NoEmail)?;
        Ok(Identity { email, issuer })
    }
}

/// What the adapter should do before verifying a token.
#[derive(Debug)]
pub enum KeysNeeded {
    /// Use these keys.
    Use(Rc<KeySet>),
    /// Fetch the JWKS (then [`KeyCache::store`] it, or [`KeyCache::failed`]), then verify.
    Fetch,
    /// No usable keys: a fetch failed a moment ago ([`FETCH_BACKOFF_MS`]) and what was held
    /// before is too old to trust.
    Unavailable,
}

/// After a failed fetch, the JWKS is not fetched again for this long.
pub const FETCH_BACKOFF_MS: Millis = 30_000;
/// Keys held are still used this long past their TTL while fetching fails (an outage of the
/// provider's endpoint); after that their tokens are refused, so a key removed from the JWKS
/// cannot stay valid for as long as the endpoint is down.
pub const STALE_GRACE_MS: Millis = 3_600_000;

/// The isolate's JWKS: fetched when missing or older than the TTL, and again when a token
/// names a `kid` it lacks — a rotation — at most once per [`UNKNOWN_KID_REFETCH_MS`], so
/// tokens with made-up `kid`s cannot make every request fetch; after a failed fetch, not
/// again for [`FETCH_BACKOFF_MS`].
#[derive(Debug)]
pub struct KeyCache {
    ttl_ms: Millis,
    keys: RefCell<Option<(Rc<KeySet>, Millis)>>,
    unknown_kid_fetch: Cell<Option<Millis>>,
    failed_at: Cell<Option<Millis>>,
}

impl KeyCache {
    /// An empty cache whose key sets live `ttl_seconds`.
    pub fn new(ttl_seconds: u32) -> Self {
        KeyCache {
            ttl_ms: Millis::from(ttl_seconds) * 1000,
            keys: RefCell::new(None),
            unknown_kid_fetch: Cell::new(None),
            failed_at: Cell::new(None),
        }
    }

    /// What to do for a token with `kid` at `now`.
    pub fn needed(&self, kid: Option<&str>, now: Millis) -> KeysNeeded {
        let backing_off = self
            .failed_at
            .get()
            .is_some_and(|t| now - t < FETCH_BACKOFF_MS);
        let keys = self.keys.borrow();
        let Some((set, fetched)) = keys.as_ref() else {
            return if backing_off {
                KeysNeeded::Unavailable
            } else {
                KeysNeeded::Fetch
            };
        };
        if now - fetched >= self.ttl_ms {
            if !backing_off {
                return KeysNeeded::Fetch;
            }
            return if now - fetched < self.ttl_ms + STALE_GRACE_MS {
                KeysNeeded::Use(Rc::clone(set))
            } else {
                KeysNeeded::Unavailable
            };
        }
        if let Some(kid) = kid {
            let may_refetch = !backing_off
                && self
                    .unknown_kid_fetch
                    .get()
                    .is_none_or(|t| now - t >= UNKNOWN_KID_REFETCH_MS);
            if !set.has_kid(kid) && may_refetch {
                self.unknown_kid_fetch.set(Some(now));
                return KeysNeeded::Fetch;
            }
        }
        KeysNeeded::Use(Rc::clone(set))
    }

    /// Keeps a freshly fetched key set.
    pub fn store(&self, set: KeySet, now: Millis) -> Rc<KeySet> {
        let set = Rc::new(set);
        *self.keys.borrow_mut() = Some((Rc::clone(&set), now));
        self.failed_at.set(None);
        set
    }

    /// Records a failed fetch; returns the keys still fit to use (within
    /// [`STALE_GRACE_MS`] past their TTL), if any.
    pub fn failed(&self, now: Millis) -> Option<Rc<KeySet>> {
        self.failed_at.set(Some(now));
        self.keys
            .borrow()
            .as_ref()
            .filter(|(_, fetched)| now - fetched < self.ttl_ms + STALE_GRACE_MS)
            .map(|(set, _)| Rc::clone(set))
    }
}

/// An HS256 token for `email`, valid `ttl_seconds` from `now` (`keyward portal-token`: local
/// use and tests; production tokens come from the customer's identity provider).
pub fn mint_hs256(
    secret: &[u8],
    email: &str,
    now: Millis,
    ttl_seconds: i64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, crate::Error> {
    let now_s = now.div_euclid(1000);
    let mut claims = serde_json::json!({
        "sub": email,
        "email": email,
        "email_verified": true,
        "iat": now_s,
        "exp": now_s + ttl_seconds,
    });
    if let Some(iss) = issuer {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = audience {
        claims["aud"] = aud.into();
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .map_err(|e| crate::Error::new(crate::ErrorKind::Invalid, format!("minting a token: {e}")))
}
