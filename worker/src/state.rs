//! What every request needs from `env`: the settings, hasher, tokens and signer, built once
//! per isolate and rebuilt when the environment changes, with the isolate's verification
//! cache and blocklist; and the KV binding. Shared by the Worker's front and the bucket
//! objects, which run the same code with the same bindings. `IMPORTED_KEY_PATTERN` is
//! compiled with the settings, by `regex-lite` ([`lite_regex`]).

use crate::bindings;
use crate::kv_store::Kv;
use keyward_core::api::leaks::github::PublicKeys;
use keyward_core::api::token::Tokens;
use keyward_core::config::{vars, Config};
use keyward_core::edge::signature::UpstreamSigner;
use keyward_core::edge::throttle::Blocklist;
use keyward_core::key::hash::KeyHasher;
use keyward_core::key::imported::Matcher;
use keyward_core::limits::isolate::Leases;
use keyward_core::selfserve::jwt::KeyCache;
use keyward_core::storage::cache::{Limits, VerifyCache};
use keyward_core::{Error, ErrorKind};
use std::cell::RefCell;
use std::rc::Rc;
use worker::js_sys::Object;
use worker::wasm_bindgen::JsValue;
use worker::{Date, Env};

/// Shortest `PORTAL_JWT_SECRET` used.
const MIN_PORTAL_SECRET: usize = 32;

/// Everything built from the variables and secrets.
pub struct Settings {
    /// Settings.
    pub config: Config,
    /// Hashes keys.
    pub hasher: KeyHasher,
    /// Management tokens, or why `MANAGEMENT_TOKEN(S)` could not be read: that fails only
    /// developer-API requests ([`Settings::tokens`]); the gateway keeps serving.
    tokens: Result<Tokens, Error>,
    /// Signs forwarded requests (`UPSTREAM_SIGNING_SECRET`).
    pub signer: Option<UpstreamSigner>,
    /// GitHub's keys for signed leak reports (`LEAK_REPORT_PUBLIC_KEYS`; empty when unset),
    /// or why they could not be read: that fails only signed reports.
    pub leak_keys: Result<PublicKeys, Error>,
    /// The isolate's verification cache (a new one with new settings: the TTL, bucket, hash
    /// secret, key prefix or imported pattern may have changed; the cache also drops its
    /// entries itself when the prefix or pattern it is used with changes).
    pub cache: VerifyCache,
    /// Clients refused store reads for unknown keys (`UNKNOWN_KEY_LIMIT`).
    pub blocklist: Blocklist,
    /// `PORTAL_JWT_SECRET`: verifies HS256 end-user tokens.
    pub portal_secret: Option<Vec<u8>>,
    /// The end-user tokens' JWKS, fetched when needed.
    pub jwks: KeyCache,
    /// The JWKS URL found in `PORTAL_OIDC_ISSUER`'s discovery document.
    pub discovered_jwks_url: RefCell<Option<String>>,
}

impl Settings {
    /// The management tokens, for developer-API requests; an unreadable secret is a
    /// configuration error naming it.
    pub fn tokens(&self) -> Result<&Tokens, Error> {
        self.tokens.as_ref().map_err(Clone::clone)
    }

    /// Builds the settings from `lookup`, which records what it read.
    fn build(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let config = Config::from_lookup(lookup)?;
        let secret = lookup(vars::KEY_HASH_SECRET).filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "secret KEY_HASH_SECRET is not set; run `wrangler secret put KEY_HASH_SECRET` (or add it to .dev.vars)",
            )
        })?;
        let tokens = Tokens::from_secrets(
            lookup(vars::MANAGEMENT_TOKEN).as_deref(),
            lookup(vars::MANAGEMENT_TOKENS).as_deref(),
        );
        let leak_keys = PublicKeys::from_var(lookup(vars::LEAK_REPORT_PUBLIC_KEYS).as_deref());
        let signer = lookup(vars::UPSTREAM_SIGNING_SECRET)
            .filter(|s| !s.is_empty())
            .map(|s| UpstreamSigner::new(s.as_bytes()));
        // HS256 under a short secret can be brute-forced from any one token: such a secret
        // verifies nothing (and the log says why).
        let portal_secret = lookup(vars::PORTAL_JWT_SECRET)
            .filter(|s| !s.is_empty())
            .filter(|s| {
                let long_enough = s.len() >= MIN_PORTAL_SECRET;
                if !long_enough {
                    worker::console_error!(
                        "keyward: configuration: secret {} is shorter than {MIN_PORTAL_SECRET} bytes; HS256 tokens are refused (e.g. openssl rand -hex 32)",
                        vars::PORTAL_JWT_SECRET
                    );
                }
                long_enough
            })
            .map(String::into_bytes);
        Ok(Settings {
            cache: VerifyCache::new(config.cache_ttl_seconds, Limits::DEFAULT),
            jwks: KeyCache::new(config.portal.jwks_ttl_seconds),
            discovered_jwks_url: RefCell::new(None),
            portal_secret,
            config,
            hasher: KeyHasher::new(secret.as_bytes()),
            tokens,
            signer,
            leak_keys,
            blocklist: Blocklist::new(),
        })
    }
}

/// `IMPORTED_KEY_PATTERN`'s engine (installed at start-up through
/// `key::imported::set_compiler`): `regex-lite`, which matches in time linear in the key.
/// JavaScript's `RegExp` backtracks: a pattern like `([0-9a-f]+_?)+` took seconds on a
/// 28-character key, and every request's key reaches the matcher before any check. Compiled
/// once per settings; same syntax as the `regex` crate the CLI and tests use.
pub fn lite_regex(source: &str) -> Result<Matcher, String> {
    let re = regex_lite::Regex::new(source).map_err(|e| e.to_string())?;
    Ok(Rc::new(move |key: &str| re.is_match(key)))
}

fn lookup(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

/// The isolate's settings and what they were built from.
struct Built {
    /// The `env` object they were read from: the same object means the same values.
    env: JsValue,
    /// Every variable read, with its value, to tell whether another `env` object differs.
    reads: Vec<(String, Option<String>)>,
    settings: Result<Rc<Settings>, Error>,
}

thread_local! {
    static BUILT: RefCell<Option<Built>> = const { RefCell::new(None) };
    /// The isolate's leases and unsent usage: kept across settings rebuilds (what they hold
    /// is the objects' to account for, not the settings').
    static LEASES: Rc<Leases> = Rc::new(Leases::default());
}

/// This isolate's leases of consumers' limits.
pub fn leases() -> Rc<Leases> {
    LEASES.with(Rc::clone)
}

/// This isolate's settings for `env`. Built on the first request; reused while `env` is the
/// same object or holds the same values; rebuilt (with a fresh cache) when a value changed.
/// A configuration error is kept too, so a broken deployment does not re-parse per request.
pub fn settings(env: &Env) -> Result<Rc<Settings>, Error> {
    BUILT.with(|cell| {
        let mut built = cell.borrow_mut();
        if let Some(b) = built.as_mut() {
            if Object::is(&b.env, env) {
                return b.settings.clone();
            }
            if b.reads
                .iter()
                .all(|(name, value)| lookup(env, name) == *value)
            {
                b.env = env.clone().into();
                return b.settings.clone();
            }
        }
        let reads = RefCell::new(Vec::new());
        let recorded = |name: &str| {
            let value = lookup(env, name);
            reads.borrow_mut().push((name.to_owned(), value.clone()));
            value
        };
        let settings = Settings::build(&recorded).map(Rc::new);
        *built = Some(Built {
            env: env.clone().into(),
            reads: reads.into_inner(),
            settings: settings.clone(),
        });
        settings
    })
}

/// What a request needs: the isolate's settings and the KV binding.
pub struct State {
    /// Settings, cache and blocklist, shared by the isolate's requests.
    pub settings: Rc<Settings>,
    /// The KV namespace.
    pub kv: Kv,
}

impl State {
    /// The isolate's settings and this `env`'s KV binding.
    pub fn from_env(env: &Env) -> Result<State, Error> {
        let settings = settings(env)?;
        let kv = env.kv(bindings::KV).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("KV binding {}: {e}", bindings::KV),
            )
        })?;
        Ok(State {
            settings,
            kv: Kv(kv),
        })
    }
}

/// Millisecond clock of the runtime.
pub fn now() -> i64 {
    Date::now().as_millis() as i64
}
