//! What every request needs from `env` (settings, hasher, tokens, KV), and the isolate's
//! verification cache. Shared by the Worker's front and the bucket objects, which run the
//! same code with the same bindings.

use crate::bindings;
use crate::kv_store::Kv;
use keyward_core::api::token::Tokens;
use keyward_core::config::{vars, Config};
use keyward_core::key::hash::KeyHasher;
use keyward_core::storage::cache::{Limits, VerifyCache};
use keyward_core::{Error, ErrorKind};
use std::cell::OnceCell;
use worker::{Date, Env};

thread_local! {
    // One cache per isolate, alive across requests. Leaked once so that requests can hold a
    // plain reference across awaits; the cache itself never borrows across an await.
    static CACHE: OnceCell<&'static VerifyCache> = const { OnceCell::new() };
}

/// This isolate's verification cache.
pub fn cache(config: &Config) -> &'static VerifyCache {
    CACHE.with(|cell| {
        *cell.get_or_init(|| {
            Box::leak(Box::new(VerifyCache::new(
                config.cache_ttl_seconds,
                Limits::default(),
            )))
        })
    })
}

/// What every request needs from `env`.
pub struct State {
    /// Settings.
    pub config: Config,
    /// Hashes keys.
    pub hasher: KeyHasher,
    /// Management tokens, or why `MANAGEMENT_TOKEN(S)` could not be read: that fails only
    /// developer-API requests ([`State::tokens`]); the gateway keeps serving.
    tokens: Result<Tokens, Error>,
    /// The KV namespace.
    pub kv: Kv,
}

fn lookup(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

impl State {
    /// Reads the settings, secrets and bindings.
    pub fn from_env(env: &Env) -> Result<State, Error> {
        let config = Config::from_lookup(|name| lookup(env, name))?;
        let secret = lookup(env, vars::KEY_HASH_SECRET).filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "secret KEY_HASH_SECRET is not set; run `wrangler secret put KEY_HASH_SECRET` (or add it to .dev.vars)",
            )
        })?;
        let tokens = Tokens::from_secrets(
            lookup(env, vars::MANAGEMENT_TOKEN).as_deref(),
            lookup(env, vars::MANAGEMENT_TOKENS).as_deref(),
        );
        let kv = env.kv(bindings::KV).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("KV binding {}: {e}", bindings::KV),
            )
        })?;
        Ok(State {
            config,
            hasher: KeyHasher::new(secret.as_bytes()),
            tokens,
            kv: Kv(kv),
        })
    }
}

impl State {
    /// The management tokens, for developer-API requests; an unreadable secret is a
    /// configuration error naming it.
    pub fn tokens(&self) -> Result<&Tokens, Error> {
        self.tokens.as_ref().map_err(Clone::clone)
    }
}

/// Millisecond clock of the runtime.
pub fn now() -> i64 {
    Date::now().as_millis() as i64
}
