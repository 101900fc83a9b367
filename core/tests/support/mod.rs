//! Helpers shared by the integration tests: random sources and a developer-API harness.
//!
//! [`OsEntropy`] is the native stand-in for the Worker's `crypto.getRandomValues`;
//! [`StreamEntropy`] replays bytes a test chose (property tests feed it proptest's bytes).
//! [`Harness`] owns everything [`Api`] borrows — a [`MemoryStore`], a [`KeyHasher`], a
//! [`VerifyCache`], a [`Config`], the management token `t0ken` and a settable clock — so a
//! test reads as a sequence of HTTP calls. Each test binary uses a different subset, hence
//! the `dead_code` allowance.

#![allow(dead_code)]

use keyward_core::api::token::Tokens;
use keyward_core::api::Api;
use keyward_core::config::Config;
use keyward_core::edge::verify::{Verdict, Verifier};
use keyward_core::entropy::Entropy;
use keyward_core::http::{ApiRequest, ApiResponse};
use keyward_core::key::hash::KeyHasher;
use keyward_core::limits::object::local::LocalCounters;
use keyward_core::problem;
use keyward_core::storage::bucket::outbox::{self, DirectorySink, KvSink};
use keyward_core::storage::bucket::schema;
use keyward_core::storage::bucket::sqlite::Sqlite;
use keyward_core::storage::cache::{Limits, VerifyCache};
use keyward_core::storage::store::MemoryStore;
use keyward_core::timestamp::Millis;
use keyward_core::{Error, ErrorKind};
use serde_json::Value;
use std::cell::Cell;

/// The management token every harness accepts.
pub const TOKEN: &str = "t0ken";
/// The HMAC secret of every harness.
pub const HASH_SECRET: &[u8] = b"test-key-hash-secret";
/// 2027-01-15T08:00:00Z: the harness clock's start.
pub const T0: Millis = 1_800_000_000_000;
/// Path of the default account's buckets.
pub const BUCKETS: &str = "/v1/accounts/local/key-buckets";

/// Random bytes from the operating system, through getrandom.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf)
            .map_err(|e| Error::new(ErrorKind::Entropy, format!("getrandom failed: {e}")))
    }
}

/// Replays `bytes` in a loop. The bytes must include one below 248, or base62 sampling
/// would reject every byte forever.
#[derive(Debug)]
pub struct StreamEntropy {
    bytes: Vec<u8>,
    next: Cell<usize>,
}

impl StreamEntropy {
    /// A source that hands out `bytes`, then starts over.
    pub fn new(bytes: Vec<u8>) -> Self {
        assert!(
            bytes.iter().any(|&b| b < 248),
            "stream entropy needs at least one byte below 248"
        );
        StreamEntropy {
            bytes,
            next: Cell::new(0),
        }
    }
}

impl Entropy for StreamEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut i = self.next.get();
        for slot in buf.iter_mut() {
            *slot = self.bytes[i];
            i = (i + 1) % self.bytes.len();
        }
        self.next.set(i);
        Ok(())
    }
}

/// A developer API over an in-memory store, with a clock the test moves.
///
/// Like the Worker, every request runs against the bucket tables (one native SQLite here,
/// holding every bucket and the directory) and then drains the outbox into KV.
pub struct Harness {
    /// KV: the verification records the outbox writes.
    pub store: MemoryStore,
    /// The buckets' tables.
    pub sql: Sqlite,
    /// Hashes keys with [`HASH_SECRET`].
    pub hasher: KeyHasher,
    /// The verification cache shared by the API and [`Harness::verifier`].
    pub cache: VerifyCache,
    /// Default settings (bucket `default`, prefix `kw`, account `local`).
    pub config: Config,
    /// Accepts [`TOKEN`].
    pub tokens: Tokens,
    /// getrandom.
    pub entropy: OsEntropy,
    /// Consumers' limits objects, each an in-memory SQLite on the harness clock.
    pub counters: LocalCounters,
    now: Cell<Millis>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// An empty store, default settings, the clock at [`T0`].
    pub fn new() -> Self {
        let config = Config::default();
        let sql = Sqlite::in_memory().expect("SQLite in memory");
        schema::ensure(&sql).expect("schema");
        Harness {
            store: MemoryStore::new(),
            sql,
            hasher: KeyHasher::new(HASH_SECRET),
            cache: VerifyCache::new(config.cache_ttl_seconds, Limits::default()),
            config,
            tokens: Tokens::new(Some(TOKEN)),
            entropy: OsEntropy,
            counters: LocalCounters::default(),
            now: Cell::new(T0),
        }
    }

    /// The harness clock.
    pub fn now(&self) -> Millis {
        self.now.get()
    }

    /// Sets the clock.
    pub fn set_now(&self, now: Millis) {
        self.now.set(now);
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.now.set(self.now.get() + ms);
    }

    /// The API as the adapter would build it for one request at the current time.
    pub fn api(&self) -> Api<'_, MemoryStore, Sqlite> {
        Api {
            store: &self.store,
            sql: &self.sql,
            entropy: &self.entropy,
            hasher: &self.hasher,
            cache: &self.cache,
            config: &self.config,
            tokens: &self.tokens,
            now: self.now(),
            openapi: "{}",
            counters: {
                self.counters.now.set(self.now());
                &self.counters
            },
        }
    }

    /// Sends `req` as is, then applies what the outbox owes (as the bucket's object does
    /// after answering).
    pub fn send(&self, req: &ApiRequest) -> ApiResponse {
        let response = pollster::block_on(self.api().handle(req));
        self.drain();
        response
    }

    /// Applies every outbox entry to KV (and directory entries to the same database),
    /// asserting that none fails.
    pub fn drain(&self) {
        let drained =
            pollster::block_on(outbox::drain(&self.sql, &self.sink(), usize::MAX)).expect("drain");
        assert!(drained.failed.is_none(), "drain failed: {drained:?}");
        assert_eq!(drained.left, 0);
    }

    /// Where the outbox delivers: KV with the shared cache; directory entries to `sql`.
    pub fn sink(&self) -> KvSink<'_, MemoryStore, DirectorySink<'_, Sqlite>> {
        KvSink {
            kv: &self.store,
            cache: &self.cache,
            directory: DirectorySink(&self.sql),
        }
    }

    /// Sends an authorized request; `target` may carry a `?query`.
    pub fn call(&self, method: &str, target: &str, body: &str) -> ApiResponse {
        self.send(&request(method, target, Some(TOKEN), body.as_bytes()))
    }

    /// An authorized GET.
    pub fn get(&self, target: &str) -> ApiResponse {
        self.call("GET", target, "")
    }

    /// An authorized POST of a JSON body.
    pub fn post(&self, target: &str, body: &Value) -> ApiResponse {
        self.call("POST", target, &body.to_string())
    }

    /// An authorized DELETE.
    pub fn delete(&self, target: &str) -> ApiResponse {
        self.call("DELETE", target, "")
    }

    /// Creates bucket `name`, asserting success.
    pub fn create_bucket(&self, name: &str) -> Value {
        let r = self.post(BUCKETS, &serde_json::json!({ "name": name }));
        assert_eq!(r.status, 200, "create bucket {name}: {}", r.json_body());
        r.json_body()
    }

    /// Creates a consumer in `bucket` from `body` with one key, asserting success; returns
    /// the response body and the plaintext key.
    pub fn create_consumer_with_key(&self, bucket: &str, body: &Value) -> (Value, String) {
        let r = self.post(
            &format!("{BUCKETS}/{bucket}/consumers?with-api-key=true"),
            body,
        );
        assert_eq!(r.status, 200, "create consumer: {}", r.json_body());
        let json = r.json_body();
        let key = json["apiKeys"][0]["key"]
            .as_str()
            .expect("the created key in apiKeys[0].key")
            .to_owned();
        (json, key)
    }

    /// A verifier for the configured bucket and prefix, sharing the API's cache.
    pub fn verifier(&self) -> Verifier<'_, MemoryStore> {
        self.verifier_for(&self.config.bucket)
    }

    /// A verifier for `bucket`, sharing the API's cache.
    pub fn verifier_for<'a>(&'a self, bucket: &'a str) -> Verifier<'a, MemoryStore> {
        Verifier {
            store: &self.store,
            hasher: &self.hasher,
            cache: &self.cache,
            bucket,
            prefix: &self.config.key_prefix,
            imported: self.config.imported_key_pattern.as_ref(),
        }
    }

    /// Verifies `key` in the configured bucket at the current time.
    pub fn verify(&self, key: &str) -> Verdict {
        pollster::block_on(self.verifier().verify(key, self.now())).expect("verify")
    }

    /// Every KV key, value and metadata, to compare whole states.
    pub fn state(&self) -> Vec<(String, String, Option<Value>)> {
        self.store
            .dump()
            .into_iter()
            .map(|(k, v)| {
                let m = self.store.metadata(&k);
                (k, v, m)
            })
            .collect()
    }
}

/// A request for `target` (`path` or `path?query`), with a bearer token when given.
pub fn request(method: &str, target: &str, token: Option<&str>, body: &[u8]) -> ApiRequest {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    ApiRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        authorization: token.map(|t| format!("Bearer {t}")),
        prefer: None,
        body: body.to_vec(),
    }
}

/// Asserts that `r` is an RFC 9457 problem for `status` and returns its detail.
#[track_caller]
pub fn problem_detail(r: &ApiResponse, status: u16) -> String {
    let body = r.json_body();
    assert_eq!(r.status, status, "unexpected status; body: {body}");
    assert_eq!(r.content_type, Some(problem::CONTENT_TYPE), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["title"], problem::title(status), "{body}");
    assert_eq!(
        body["type"],
        format!("https://httpproblems.com/http-status/{status}"),
        "{body}"
    );
    body["detail"].as_str().unwrap_or_default().to_owned()
}

/// The SHA-256 hex digest of a token, as `MANAGEMENT_TOKENS` lists them.
pub fn sha256_hex(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
