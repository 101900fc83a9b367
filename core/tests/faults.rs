//! Faults between a bucket's tables and KV: every developer-API write, with KV failing
//! each of the writes it causes in turn, then recovering.
//!
//! The design under test (core/src/storage/bucket/outbox.rs): a change commits its rows and
//! the KV writes it owes (one outbox entry per KV key, a newer one replacing an older one)
//! together; the API answers after that commit; `outbox::drain` then applies the entries
//! oldest first, stops at the first failed delivery (counted in `attempts`) and can be
//! rerun. KV's failures are played by [`FailingStore`], which fails the Nth put or delete
//! from when it is armed, once: either refused (a 429: nothing changes) or applied but
//! reported failed (a timeout after KV took the write).
//!
//! Two checks, both in [`World::problems`]:
//!
//! * **Pending** (between a failed drain and the next good one). For each key the API ever
//!   handed out, in every bucket ever created: if the outbox still owes its KV key (an
//!   entry of kind `key` for its hash), anything goes — it may not verify yet, verify with
//!   an older record, or, deleted, still verify. If nothing is owed for it, it must be
//!   exactly right already: a key the consumers list verifies `Valid` (or `Expired` when
//!   its expiry has passed) with exactly its consumer's current record (name, key id,
//!   metadata, expiry); any other key (deleted, removed with its consumer or bucket)
//!   verifies `NotFound`. Each key is verified twice, through a fresh cache (which can
//!   hide nothing) and through the cache the API and the sink share (which the sink must
//!   clear on every delivery). KV's `k:{bucket}:` records equal the `keys` table's except
//!   for owed hashes, and `$check` answers consistent with `pendingWrites` equal to the
//!   outbox's size.
//! * **Recovered** (after a drain with no failure): the same with no exception for owed
//!   keys, and the outbox is empty.
//!
//! Both also check that the consumers list (`GET …/consumers?include-api-keys=true`) shows
//! exactly the `keys` table. The tests prove the checks can fail: every faulted run asserts
//! that the recovered check finds problems *before* recovery, and
//! `the_checks_see_what_they_should` tampers with KV behind the outbox's back.

mod support;

use keyward_core::api::token::Tokens;
use keyward_core::api::Api;
use keyward_core::config::Config;
use keyward_core::edge::verify::{Verdict, Verifier};
use keyward_core::http::{ApiRequest, ApiResponse};
use keyward_core::key::format as key_format;
use keyward_core::key::hash::KeyHasher;
use keyward_core::storage::bucket::outbox::{self, DirectorySink, Drained, Entry, KvSink, Sink};
use keyward_core::storage::bucket::schema;
use keyward_core::storage::bucket::sql::{scalar, Sql};
use keyward_core::storage::bucket::sqlite::Sqlite;
use keyward_core::storage::cache::{Limits, VerifyCache};
use keyward_core::storage::kv::{self, KeyRecord, SCHEMA_VERSION};
use keyward_core::storage::store::{ListPage, MemoryStore, Store};
use keyward_core::timestamp::{self, Millis};
use keyward_core::Error;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestError, TestRunner};
use serde_json::{json, Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use support::{request, OsEntropy, BUCKETS, HASH_SECRET, T0, TOKEN};

/// The bucket every test starts with.
const BUCKET: &str = "default";
/// A day after the clock: a future expiry.
const LATER: Millis = T0 + 86_400_000;
/// A minute before the clock: an expiry that revokes at once.
const EARLIER: Millis = T0 - 60_000;

// ---------------------------------------------------------------------------------------
// KV that fails on demand
// ---------------------------------------------------------------------------------------

/// How an injected write failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// KV refuses the write (429): nothing changes.
    Refuse,
    /// KV applies the write but the call fails (a timeout after the write landed).
    LandThenFail,
}

/// A [`MemoryStore`] whose Nth write (put or delete) after [`FailingStore::fail_nth`] fails
/// once; every other operation passes through.
#[derive(Debug, Default)]
struct FailingStore {
    inner: MemoryStore,
    /// Puts and deletes attempted so far.
    writes: Cell<u64>,
    /// The index (in `writes`) of the write that fails, and how.
    armed: Cell<Option<(u64, Fault)>>,
    /// Writes failed so far.
    failures: Cell<u64>,
}

impl FailingStore {
    /// Fails the `n`th write from now (1 = the next one), once.
    fn fail_nth(&self, n: u64, fault: Fault) {
        assert!(n >= 1);
        self.armed.set(Some((self.writes.get() + n, fault)));
    }

    fn disarm(&self) {
        self.armed.set(None);
    }

    fn is_armed(&self) -> bool {
        self.armed.get().is_some()
    }

    fn writes(&self) -> u64 {
        self.writes.get()
    }

    /// Counts one write; the fault to inject, if this is the one.
    fn write(&self) -> Option<Fault> {
        let i = self.writes.get() + 1;
        self.writes.set(i);
        match self.armed.get() {
            Some((at, fault)) if at == i => {
                self.armed.set(None);
                self.failures.set(self.failures.get() + 1);
                Some(fault)
            }
            _ => None,
        }
    }
}

fn rate_limited(op: &str, key: &str) -> Error {
    Error::storage(format!("KV {op} '{key}': 429 Too Many Requests (injected)"))
}

impl Store for FailingStore {
    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &str, metadata: Option<&Value>) -> Result<(), Error> {
        match self.write() {
            None => self.inner.put(key, value, metadata).await,
            Some(Fault::Refuse) => Err(rate_limited("put", key)),
            Some(Fault::LandThenFail) => {
                self.inner.put(key, value, metadata).await?;
                Err(rate_limited("put", key))
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        match self.write() {
            None => self.inner.delete(key).await,
            Some(Fault::Refuse) => Err(rate_limited("delete", key)),
            Some(Fault::LandThenFail) => {
                self.inner.delete(key).await?;
                Err(rate_limited("delete", key))
            }
        }
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, Error> {
        self.inner.list(prefix, cursor, limit).await
    }
}

// ---------------------------------------------------------------------------------------
// The world: the API over the tables and the failing KV
// ---------------------------------------------------------------------------------------

/// A key as the consumers list shows it.
#[derive(Debug, Clone, PartialEq)]
struct ListedKey {
    consumer: String,
    metadata: Map<String, Value>,
    id: String,
    expires_on: Option<Millis>,
}

impl ListedKey {
    /// The verification record the tables say this key should have.
    fn record(&self) -> KeyRecord {
        KeyRecord {
            v: SCHEMA_VERSION,
            consumer: self.consumer.clone(),
            key_id: self.id.clone(),
            metadata: self.metadata.clone(),
            expires_on: self.expires_on,
        }
    }
}

/// Which check [`World::problems`] runs (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Owed KV keys may be anything.
    Pending,
    /// Nothing may be owed, everything exact.
    Recovered,
}

/// Like `support::Harness`, with KV behind a [`FailingStore`] and no drain after a request:
/// tests drain themselves.
struct World {
    store: FailingStore,
    sql: Sqlite,
    hasher: KeyHasher,
    cache: VerifyCache,
    config: Config,
    tokens: Tokens,
    entropy: OsEntropy,
    now: Millis,
    /// Every key the API handed out: id → (bucket, plaintext).
    known: RefCell<BTreeMap<String, (String, String)>>,
    /// Every bucket ever created.
    buckets: RefCell<BTreeSet<String>>,
}

impl World {
    /// Empty tables and KV, bucket [`BUCKET`] created and drained.
    fn new() -> Self {
        let sql = Sqlite::in_memory().expect("SQLite in memory");
        schema::ensure(&sql).expect("schema");
        let config = Config::default();
        let w = World {
            store: FailingStore::default(),
            sql,
            hasher: KeyHasher::new(HASH_SECRET),
            cache: VerifyCache::new(config.cache_ttl_seconds, Limits::default()),
            config,
            tokens: Tokens::new(Some(TOKEN)),
            entropy: OsEntropy,
            now: T0,
            known: RefCell::default(),
            buckets: RefCell::default(),
        };
        w.create_bucket(BUCKET);
        w
    }

    fn api(&self) -> Api<'_, FailingStore, Sqlite> {
        Api {
            store: &self.store,
            sql: &self.sql,
            entropy: &self.entropy,
            hasher: &self.hasher,
            cache: &self.cache,
            config: &self.config,
            tokens: &self.tokens,
            now: self.now,
            openapi: "{}",
            counters: &keyward_core::limits::wire::NoCounters,
        }
    }

    /// What the bucket's object delivers to: the failing KV with the shared cache, and the
    /// directory in the same database.
    fn sink(&self) -> KvSink<'_, FailingStore, DirectorySink<'_, Sqlite>> {
        KvSink {
            kv: &self.store,
            cache: &self.cache,
            directory: DirectorySink(&self.sql),
        }
    }

    /// Runs `req` (nothing is drained) and remembers the keys its answer hands out.
    async fn send_async(&self, req: &ApiRequest) -> ApiResponse {
        let r = self.api().handle(req).await;
        if (200..300).contains(&r.status) && !r.body.is_empty() {
            let bucket = req
                .path
                .strip_prefix(BUCKETS)
                .and_then(|rest| rest.trim_start_matches('/').split('/').next())
                .unwrap_or(BUCKET)
                .to_owned();
            self.remember(&bucket, &r.json_body());
        }
        r
    }

    fn send(&self, req: &ApiRequest) -> ApiResponse {
        pollster::block_on(self.send_async(req))
    }

    /// An authorized request with a JSON body (`""` for none); nothing is drained.
    fn call(&self, method: &str, target: &str, body: &str) -> ApiResponse {
        self.send(&request(method, target, Some(TOKEN), body.as_bytes()))
    }

    /// Like [`World::call`], asserting a 2xx answer; the body as JSON (`null` when empty).
    #[track_caller]
    fn ok(&self, method: &str, target: &str, body: &Value) -> Value {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = self.call(method, target, &text);
        let json = if r.body.is_empty() {
            Value::Null
        } else {
            r.json_body()
        };
        assert!(
            (200..300).contains(&r.status),
            "{method} {target}: {} {json}",
            r.status
        );
        json
    }

    /// Every `{"id": "key_…", "key": <plaintext>}` in `json`.
    fn remember(&self, bucket: &str, json: &Value) {
        match json {
            Value::Object(o) => {
                if let (Some(Value::String(id)), Some(Value::String(key))) =
                    (o.get("id"), o.get("key"))
                {
                    if id.starts_with("key_") && key_format::parse(key).is_ok() {
                        self.known
                            .borrow_mut()
                            .insert(id.clone(), (bucket.to_owned(), key.clone()));
                    }
                }
                o.values().for_each(|v| self.remember(bucket, v));
            }
            Value::Array(a) => a.iter().for_each(|v| self.remember(bucket, v)),
            _ => {}
        }
    }

    /// The plaintext of key `id`.
    fn plaintext(&self, id: &str) -> String {
        self.known.borrow()[id].1.clone()
    }

    fn create_bucket(&self, name: &str) {
        self.ok("POST", BUCKETS, &json!({ "name": name }));
        self.buckets.borrow_mut().insert(name.to_owned());
        self.drain_clean();
    }

    /// Creates consumer `name` of [`BUCKET`] with `keys` keys and drains; returns their ids.
    fn consumer(&self, name: &str, metadata: Value, keys: usize) -> Vec<String> {
        self.consumer_in(BUCKET, name, metadata, keys)
    }

    fn consumer_in(&self, bucket: &str, name: &str, metadata: Value, keys: usize) -> Vec<String> {
        let created = self.ok(
            "POST",
            &consumers(bucket),
            &json!({
                "name": name,
                "metadata": metadata,
                "managers": ["bob@example.com"],
                "apiKeys": vec![json!({}); keys],
            }),
        );
        self.drain_clean();
        key_ids(&created["apiKeys"])
    }

    /// One drain of everything owed, through the (possibly armed) failing KV.
    fn drain(&self) -> Drained {
        pollster::block_on(outbox::drain(&self.sql, &self.sink(), usize::MAX)).expect("drain")
    }

    /// Disarms KV and drains everything, asserting that nothing fails.
    fn drain_clean(&self) -> Drained {
        self.store.disarm();
        let d = self.drain();
        assert!(d.failed.is_none(), "clean drain failed: {d:?}");
        assert_eq!(d.left, 0);
        d
    }

    /// Outbox entries that are KV writes (not directory updates).
    fn owed_kv(&self) -> i64 {
        scalar(
            &self.sql,
            "SELECT COUNT(*) FROM outbox WHERE kind <> 'bucket'",
            &[],
        )
        .unwrap()
    }

    /// Every outbox entry: (kind, bucket, name) → version.
    fn outbox_versions(&self) -> BTreeMap<(String, String, String), i64> {
        self.sql
            .exec("SELECT kind, bucket, name, version FROM outbox", &[])
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (
                        r.text(0).unwrap().to_owned(),
                        r.text(1).unwrap().to_owned(),
                        r.text(2).unwrap().to_owned(),
                    ),
                    r.int(3).unwrap(),
                )
            })
            .collect()
    }

    /// The keys the consumers of `bucket` list; `None` when the bucket does not exist.
    fn listed(&self, bucket: &str) -> Option<Vec<ListedKey>> {
        let r = self.call(
            "GET",
            &format!(
                "{}?include-api-keys=true&key-format=none&limit=1000",
                consumers(bucket)
            ),
            "",
        );
        if r.status == 404 {
            return None;
        }
        assert_eq!(r.status, 200, "{}", r.json_body());
        let page = r.json_body();
        let data = page["data"].as_array().unwrap();
        assert_eq!(page["total"], data.len(), "one page holds every consumer");
        let mut out = Vec::new();
        for c in data {
            for k in c["apiKeys"].as_array().unwrap() {
                out.push(ListedKey {
                    consumer: c["name"].as_str().unwrap().to_owned(),
                    metadata: c["metadata"].as_object().unwrap().clone(),
                    id: k["id"].as_str().unwrap().to_owned(),
                    expires_on: k["expiresOn"]
                        .as_str()
                        .map(|t| timestamp::parse(t).unwrap()),
                });
            }
        }
        Some(out)
    }

    /// The listed key `id` of [`BUCKET`].
    #[track_caller]
    fn listed_key(&self, id: &str) -> ListedKey {
        self.listed(BUCKET)
            .unwrap()
            .into_iter()
            .find(|k| k.id == id)
            .unwrap_or_else(|| panic!("key {id} is not listed"))
    }

    /// The ids of the keys consumer `name` of [`BUCKET`] lists.
    fn key_ids_of(&self, name: &str) -> Vec<String> {
        self.listed(BUCKET)
            .unwrap()
            .into_iter()
            .filter(|k| k.consumer == name)
            .map(|k| k.id)
            .collect()
    }

    /// The `keys` table of `bucket`: hash → record.
    fn table_records(&self, bucket: &str) -> BTreeMap<String, KeyRecord> {
        self.sql
            .exec(
                "SELECT hash, record FROM keys WHERE bucket = ?",
                &[bucket.into()],
            )
            .unwrap()
            .iter()
            .map(|r| {
                let hash = r.text(0).unwrap().to_owned();
                let record = kv::decode(&hash, r.text(1).unwrap()).unwrap();
                (hash, record)
            })
            .collect()
    }

    /// KV's verification records of `bucket`: hash → record.
    fn kv_records(&self, bucket: &str) -> BTreeMap<String, KeyRecord> {
        let prefix = kv::keys::key_hash_prefix(bucket);
        self.store
            .inner
            .dump()
            .into_iter()
            .filter_map(|(k, v)| {
                let hash = k.strip_prefix(&prefix)?.to_owned();
                Some((hash, kv::decode(&k, &v).unwrap()))
            })
            .collect()
    }

    /// Verifies `key` in `bucket` through a fresh cache (`shared` false) or the one the API
    /// and the sink share.
    fn verify(&self, bucket: &str, key: &str, shared: bool) -> Verdict {
        let fresh = VerifyCache::new(60, Limits::default());
        let verifier = Verifier {
            store: &self.store,
            hasher: &self.hasher,
            cache: if shared { &self.cache } else { &fresh },
            bucket,
            prefix: &self.config.key_prefix,
            imported: self.config.imported_key_pattern.as_ref(),
        };
        pollster::block_on(verifier.verify(key, self.now)).expect("verify")
    }

    /// Verifies key `id` (of the bucket it was created in) through a fresh cache.
    fn verdict(&self, id: &str) -> Verdict {
        let (bucket, plain) = self.known.borrow()[id].clone();
        self.verify(&bucket, &plain, false)
    }

    /// What is wrong at `stage` (see the module documentation); empty when nothing is.
    fn problems(&self, stage: Stage) -> Vec<String> {
        let mut out = Vec::new();
        let buckets: Vec<String> = self.buckets.borrow().iter().cloned().collect();
        for bucket in &buckets {
            self.bucket_problems(bucket, stage, &mut out);
        }
        if stage == Stage::Recovered {
            let left = outbox::len(&self.sql).unwrap();
            if left != 0 {
                out.push(format!("{left} outbox entries left after recovery"));
            }
        }
        out
    }

    fn bucket_problems(&self, bucket: &str, stage: Stage, out: &mut Vec<String>) {
        let owed = |hash: &str| {
            stage == Stage::Pending && outbox::owes_key(&self.sql, bucket, hash).unwrap()
        };
        let listed = self.listed(bucket).unwrap_or_default();
        let table = self.table_records(bucket);
        let known: Vec<(String, String)> = self
            .known
            .borrow()
            .iter()
            .filter(|(_, (b, _))| b == bucket)
            .map(|(id, (_, plain))| (id.clone(), plain.clone()))
            .collect();
        let plain_of = |id: &str| known.iter().find(|(i, _)| i == id).map(|(_, p)| p.clone());

        // The list shows exactly the `keys` table.
        if listed.len() != table.len() {
            out.push(format!(
                "{bucket}: {} keys listed, {} in the keys table",
                listed.len(),
                table.len()
            ));
        }
        // Every listed key verifies with its consumer's current record.
        for l in &listed {
            let Some(plain) = plain_of(&l.id) else {
                out.push(format!(
                    "{bucket}: listed key {} was never handed out",
                    l.id
                ));
                continue;
            };
            let hash = self.hasher.hash(&plain);
            let want = l.record();
            if table.get(&hash) != Some(&want) {
                out.push(format!(
                    "{bucket}: key {} is listed as {want:?}, the keys table has {:?}",
                    l.id,
                    table.get(&hash)
                ));
            }
            if owed(&hash) {
                continue;
            }
            let expired = want.expires_on.is_some_and(|t| t <= self.now);
            for shared in [false, true] {
                let ok = match self.verify(bucket, &plain, shared) {
                    Verdict::Valid(r) => !expired && *r == want,
                    Verdict::Expired(r) => expired && *r == want,
                    _ => false,
                };
                if !ok {
                    out.push(format!(
                        "{bucket}: listed key {} of '{}' verifies {:?} (shared cache: {shared}), want {} {want:?}",
                        l.id,
                        l.consumer,
                        self.verify(bucket, &plain, shared),
                        if expired { "Expired" } else { "Valid" },
                    ));
                }
            }
        }
        // Every other key ever handed out verifies NotFound.
        for (id, plain) in &known {
            if listed.iter().any(|l| l.id == *id) || owed(&self.hasher.hash(plain)) {
                continue;
            }
            for shared in [false, true] {
                let v = self.verify(bucket, plain, shared);
                if v != Verdict::NotFound {
                    out.push(format!(
                        "{bucket}: key {id}, listed by no consumer, verifies {v:?} (shared cache: {shared})"
                    ));
                }
            }
        }
        // KV holds the table's records, nothing else (whoever's keys they are).
        let stored = self.kv_records(bucket);
        let hashes: BTreeSet<&String> = stored.keys().chain(table.keys()).collect();
        for hash in hashes {
            if !owed(hash) && stored.get(hash) != table.get(hash) {
                out.push(format!(
                    "{bucket}: KV has {:?} for hash {}…, the keys table {:?}",
                    stored.get(hash),
                    &hash[..8],
                    table.get(hash)
                ));
            }
        }
        // `$check` agrees (it does not count owed records as problems).
        let r = self.call("GET", &format!("{BUCKETS}/{bucket}/$check"), "");
        if r.status == 404 {
            return;
        }
        let check = r.json_body();
        let pending = outbox::len(&self.sql).unwrap();
        if check["consistent"] != true
            || check["problems"] != json!([])
            || check["pendingWrites"] != pending
            || check.get("cursor").is_some()
        {
            out.push(format!(
                "{bucket}: $check answers {check} with {pending} outbox entries"
            ));
        }
    }

    #[track_caller]
    fn assert_no_problems(&self, stage: Stage, context: &str) {
        let p = self.problems(stage);
        assert!(p.is_empty(), "{context}: {stage:?}:\n  {}", p.join("\n  "));
    }
}

/// The consumers path of `bucket`.
fn consumers(bucket: &str) -> String {
    format!("{BUCKETS}/{bucket}/consumers")
}

/// The ids in a JSON array of keys.
fn key_ids(keys: &Value) -> Vec<String> {
    keys.as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

#[track_caller]
fn assert_valid_with(w: &World, id: &str, metadata: &Value, expires_on: Option<Millis>) {
    match w.verdict(id) {
        Verdict::Valid(r) => {
            assert_eq!(Value::Object(r.metadata.clone()), *metadata, "{id}");
            assert_eq!(r.key_id, id);
            assert_eq!(r.expires_on, expires_on, "{id}");
        }
        other => panic!("{id}: expected Valid, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found(w: &World, id: &str) {
    assert_eq!(w.verdict(id), Verdict::NotFound, "{id}");
}

#[track_caller]
fn assert_expired(w: &World, id: &str) {
    assert!(
        matches!(w.verdict(id), Verdict::Expired(_)),
        "{id}: {:?}",
        w.verdict(id)
    );
}

// ---------------------------------------------------------------------------------------
// Every write of the developer API, each KV write failing in turn
// ---------------------------------------------------------------------------------------

fn acme_path() -> String {
    format!("{}/acme", consumers(BUCKET))
}

/// One developer-API write and what it must achieve.
struct Case {
    name: &'static str,
    /// KV writes the operation owes (outbox entries of kind `key`).
    writes: usize,
    /// The state the operation starts from, drained; returns ids the operation needs.
    setup: fn(&World) -> Vec<String>,
    /// The operation: one API call, which must answer 2xx.
    op: fn(&World, &[String]) -> ApiResponse,
    /// The operation's own effect, asserted after recovery (the invariant is checked too).
    effect: fn(&World, &[String]),
}

/// Consumer `acme` (metadata `{"plan": "gold"}`, two keys, a manager) and `globex` (one
/// key): `[acme key 1, acme key 2, globex key]`.
fn standard(w: &World) -> Vec<String> {
    let mut ids = w.consumer("acme", json!({"plan": "gold"}), 2);
    ids.extend(w.consumer("globex", json!({"plan": "free"}), 1));
    ids
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "create consumer with keys",
            writes: 3,
            setup: standard,
            op: |w, _| {
                w.call(
                    "POST",
                    &format!("{}?with-api-key=true", consumers(BUCKET)),
                    &json!({"name": "initech", "metadata": {"tier": 3},
                            "apiKeys": [{"description": "ci"}, {"expiresOn": timestamp::format(LATER)}]})
                    .to_string(),
                )
            },
            effect: |w, _| {
                let ids = w.key_ids_of("initech");
                assert_eq!(ids.len(), 3);
                let expiries: BTreeSet<Option<Millis>> =
                    ids.iter().map(|id| w.listed_key(id).expires_on).collect();
                assert_eq!(expiries, BTreeSet::from([None, Some(LATER)]));
                for id in &ids {
                    let e = w.listed_key(id).expires_on;
                    assert_valid_with(w, id, &json!({"tier": 3}), e);
                }
            },
        },
        Case {
            name: "create key",
            writes: 1,
            setup: standard,
            op: |w, _| {
                w.call(
                    "POST",
                    &format!("{}/keys", acme_path()),
                    &json!({"expiresOn": timestamp::format(LATER)}).to_string(),
                )
            },
            effect: |w, ids| {
                let new: Vec<String> = w
                    .key_ids_of("acme")
                    .into_iter()
                    .filter(|id| !ids.contains(id))
                    .collect();
                assert_eq!(new.len(), 1);
                assert_valid_with(w, &new[0], &json!({"plan": "gold"}), Some(LATER));
            },
        },
        Case {
            name: "keys $bulk",
            writes: 3,
            setup: standard,
            op: |w, _| {
                w.call(
                    "POST",
                    &format!("{}/keys/$bulk", acme_path()),
                    &json!([{}, {"description": "two"}, {"expiresOn": timestamp::format(LATER)}])
                        .to_string(),
                )
            },
            effect: |w, ids| {
                let new: Vec<String> = w
                    .key_ids_of("acme")
                    .into_iter()
                    .filter(|id| !ids.contains(id))
                    .collect();
                assert_eq!(new.len(), 3);
                for id in &new {
                    let e = w.listed_key(id).expires_on;
                    assert_valid_with(w, id, &json!({"plan": "gold"}), e);
                }
            },
        },
        Case {
            name: "patch key: expiresOn later and description",
            writes: 1,
            setup: standard,
            op: |w, ids| {
                w.call(
                    "PATCH",
                    &format!("{}/keys/{}", acme_path(), ids[0]),
                    &json!({"expiresOn": timestamp::format(LATER), "description": "x"}).to_string(),
                )
            },
            effect: |w, ids| {
                assert_valid_with(w, &ids[0], &json!({"plan": "gold"}), Some(LATER));
                assert_valid_with(w, &ids[1], &json!({"plan": "gold"}), None);
            },
        },
        Case {
            name: "patch key: expiresOn in the past (revokes)",
            writes: 1,
            setup: standard,
            op: |w, ids| {
                w.call(
                    "PATCH",
                    &format!("{}/keys/{}", acme_path(), ids[0]),
                    &json!({"expiresOn": timestamp::format(EARLIER)}).to_string(),
                )
            },
            effect: |w, ids| {
                assert_expired(w, &ids[0]);
                assert_valid_with(w, &ids[1], &json!({"plan": "gold"}), None);
            },
        },
        Case {
            name: "patch key: description only",
            writes: 0,
            setup: standard,
            op: |w, ids| {
                w.call(
                    "PATCH",
                    &format!("{}/keys/{}", acme_path(), ids[0]),
                    &json!({"description": "renamed"}).to_string(),
                )
            },
            effect: |w, ids| assert_valid_with(w, &ids[0], &json!({"plan": "gold"}), None),
        },
        Case {
            name: "delete key",
            writes: 1,
            setup: standard,
            op: |w, ids| w.call("DELETE", &format!("{}/keys/{}", acme_path(), ids[0]), ""),
            effect: |w, ids| {
                assert_eq!(w.key_ids_of("acme"), [ids[1].clone()]);
                assert_not_found(w, &ids[0]);
                assert_valid_with(w, &ids[1], &json!({"plan": "gold"}), None);
            },
        },
        Case {
            name: "roll-key, old keys revoked at once",
            writes: 3,
            setup: standard,
            op: |w, _| roll_to(w, EARLIER),
            effect: |w, ids| {
                assert_expired(w, &ids[0]);
                assert_expired(w, &ids[1]);
                let new: Vec<String> = w
                    .key_ids_of("acme")
                    .into_iter()
                    .filter(|id| !ids.contains(id))
                    .collect();
                assert_eq!(new.len(), 1);
                assert_valid_with(w, &new[0], &json!({"plan": "gold"}), None);
            },
        },
        Case {
            name: "roll-key, old keys expire later",
            writes: 3,
            setup: standard,
            op: |w, _| roll_to(w, LATER),
            effect: |w, ids| {
                assert_valid_with(w, &ids[0], &json!({"plan": "gold"}), Some(LATER));
                assert_valid_with(w, &ids[1], &json!({"plan": "gold"}), Some(LATER));
                assert_eq!(w.key_ids_of("acme").len(), 3);
            },
        },
        Case {
            name: "patch consumer metadata",
            writes: 2,
            setup: standard,
            op: |w, _| {
                w.call(
                    "PATCH",
                    &acme_path(),
                    &json!({"metadata": {"plan": "platinum", "seats": 9}}).to_string(),
                )
            },
            effect: |w, ids| {
                for id in &ids[..2] {
                    assert_valid_with(w, id, &json!({"plan": "platinum", "seats": 9}), None);
                }
                assert_valid_with(w, &ids[2], &json!({"plan": "free"}), None);
            },
        },
        Case {
            name: "patch consumer description and tags (no KV write)",
            writes: 0,
            setup: standard,
            op: |w, _| {
                w.call(
                    "PATCH",
                    &acme_path(),
                    &json!({"description": "d", "tags": {"team": "core"}}).to_string(),
                )
            },
            effect: |w, ids| assert_valid_with(w, &ids[0], &json!({"plan": "gold"}), None),
        },
        Case {
            name: "delete consumer",
            writes: 2,
            setup: standard,
            op: |w, _| w.call("DELETE", &acme_path(), ""),
            effect: |w, ids| {
                assert!(w.key_ids_of("acme").is_empty());
                assert_not_found(w, &ids[0]);
                assert_not_found(w, &ids[1]);
                assert_valid_with(w, &ids[2], &json!({"plan": "free"}), None);
            },
        },
        Case {
            name: "consumers $bulk: upsert (metadata change, new consumer) and delete",
            writes: 3,
            setup: standard,
            op: |w, _| {
                let r = w.call(
                    "POST",
                    &format!("{}/$bulk", consumers(BUCKET)),
                    &json!({
                        "upsert": [
                            {"name": "acme", "metadata": {"plan": "bulk"}, "managers": ["bob@example.com"]},
                            {"name": "hooli", "metadata": {"plan": "new"}},
                        ],
                        "delete": ["globex"],
                    })
                    .to_string(),
                );
                assert_eq!(r.json_body()["writes"], 3, "{}", r.json_body());
                r
            },
            effect: |w, ids| {
                for id in &ids[..2] {
                    assert_valid_with(w, id, &json!({"plan": "bulk"}), None);
                }
                assert_not_found(w, &ids[2]);
                assert!(w.key_ids_of("globex").is_empty());
            },
        },
        Case {
            name: "add manager (no KV write)",
            writes: 0,
            setup: standard,
            op: |w, _| {
                w.call(
                    "POST",
                    &format!("{}/managers", acme_path()),
                    &json!({"email": "carol@example.com"}).to_string(),
                )
            },
            effect: |w, ids| assert_valid_with(w, &ids[0], &json!({"plan": "gold"}), None),
        },
        Case {
            name: "delete manager (no KV write)",
            writes: 0,
            setup: |w| {
                let mut ids = standard(w);
                let managers = w.ok("GET", &format!("{}/managers", acme_path()), &Value::Null);
                ids.push(managers["data"][0]["id"].as_str().unwrap().to_owned());
                ids
            },
            op: |w, ids| {
                w.call(
                    "DELETE",
                    &format!("{}/managers/{}", acme_path(), ids[3]),
                    "",
                )
            },
            effect: |w, ids| {
                let managers = w.ok("GET", &format!("{}/managers", acme_path()), &Value::Null);
                assert_eq!(managers["total"], 0);
                assert_valid_with(w, &ids[0], &json!({"plan": "gold"}), None);
            },
        },
        Case {
            name: "delete bucket",
            writes: 3,
            setup: |w| {
                let mut ids = standard(w);
                w.create_bucket("doomed");
                ids.extend(w.consumer_in("doomed", "acme", json!({"plan": "gold"}), 2));
                ids.extend(w.consumer_in("doomed", "umbrella", json!({}), 1));
                ids
            },
            op: |w, _| w.call("DELETE", &format!("{BUCKETS}/doomed"), ""),
            effect: |w, ids| {
                for id in &ids[3..] {
                    assert_not_found(w, id);
                }
                // The bucket's other life: same name, nothing of the old one in KV.
                assert!(w.kv_records("doomed").is_empty());
                w.create_bucket("doomed");
                let check = w.ok("GET", &format!("{BUCKETS}/doomed/$check"), &Value::Null);
                assert_eq!(check["consistent"], true, "{check}");
                assert_eq!(check["checked"], 0, "{check}");
                for id in &ids[..3] {
                    assert!(matches!(w.verdict(id), Verdict::Valid(_)), "{id}");
                }
            },
        },
    ]
}

/// Sets `case` up in a new world and runs its operation, asserting a 2xx answer and the
/// number of KV writes it owes; the outbox is not drained.
fn commit(case: &Case, arm: Option<(u64, Fault)>) -> (World, Vec<String>) {
    let w = World::new();
    let ids = (case.setup)(&w);
    w.assert_no_problems(Stage::Recovered, &format!("{}: after setup", case.name));
    if let Some((n, fault)) = arm {
        w.store.fail_nth(n, fault);
    }
    let r = (case.op)(&w, &ids);
    assert!(
        (200..300).contains(&r.status),
        "{}: answered {} {}",
        case.name,
        r.status,
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json_body()
        }
    );
    assert_eq!(
        w.owed_kv(),
        case.writes as i64,
        "{}: KV writes owed after the commit",
        case.name
    );
    // Committed, nothing delivered: everything that changed is owed, the rest exact.
    w.assert_no_problems(
        Stage::Pending,
        &format!("{}: committed, not drained", case.name),
    );
    (w, ids)
}

#[test]
fn every_write_operation_recovers_from_each_failed_kv_write() {
    let mut runs = 0;
    for case in cases() {
        // Without a fault: exactly one KV write per owed entry; the API writes none itself.
        let (w, ids) = commit(&case, None);
        let before = w.store.writes();
        w.drain_clean();
        assert_eq!(
            w.store.writes() - before,
            case.writes as u64,
            "{}: KV writes of a clean drain",
            case.name
        );
        w.assert_no_problems(Stage::Recovered, &format!("{}: no fault", case.name));
        (case.effect)(&w, &ids);

        if case.writes == 0 {
            // Armed, but nothing writes KV: the fault is still waiting afterwards.
            let (w, ids) = commit(&case, Some((1, Fault::Refuse)));
            let d = w.drain();
            assert!(d.failed.is_none() && d.left == 0, "{}: {d:?}", case.name);
            assert!(w.store.is_armed(), "{}: something wrote KV", case.name);
            w.store.disarm();
            w.assert_no_problems(Stage::Recovered, case.name);
            (case.effect)(&w, &ids);
            runs += 1;
        }

        for fault in [Fault::Refuse, Fault::LandThenFail] {
            for n in 1..=case.writes as u64 {
                let context = format!("{}: write {n} of {} {fault:?}", case.name, case.writes);
                // Armed before the API call: a KV write by the handler itself would take
                // the fault and answer 500.
                let (w, ids) = commit(&case, Some((n, fault)));
                let entries = outbox::len(&w.sql).unwrap();
                let d = w.drain();
                assert!(
                    d.failed.is_some(),
                    "{context}: the drain did not fail: {d:?}"
                );
                // The failed entry stays owed; the drain goes on with the others.
                assert_eq!(d.failures, 1, "{context}: {d:?}");
                assert_eq!(d.applied as i64, entries - 1, "{context}: {d:?}");
                assert_eq!(d.left, 1, "{context}: {d:?}");
                assert_eq!(outbox::max_attempts(&w.sql).unwrap(), 1, "{context}");
                assert!(!w.store.is_armed());

                w.assert_no_problems(Stage::Pending, &context);
                // Not a vacuous check: before recovery, the strict one sees the difference.
                assert!(
                    !w.problems(Stage::Recovered).is_empty(),
                    "{context}: nothing to recover from?"
                );

                let d = w.drain_clean();
                assert_eq!(d.applied, 1, "{context}: only the failed entry was left");
                w.assert_no_problems(Stage::Recovered, &context);
                (case.effect)(&w, &ids);
                runs += 1;
            }
        }
    }
    // 16 operations; 26 KV writes in all, each failed both ways, and the 4 without writes.
    assert_eq!(runs, 2 * 26 + 4);
}

/// A failure that lands but is reported, then a second failure on the rerun: the entry's
/// `attempts` count both, and the third drain still recovers.
#[test]
fn reruns_count_attempts_until_one_succeeds() {
    let w = World::new();
    let ids = w.consumer("acme", json!({"plan": "gold"}), 1);
    w.ok("DELETE", &acme_path(), &Value::Null);
    for (attempt, fault) in [(1, Fault::LandThenFail), (2, Fault::Refuse)] {
        w.store.fail_nth(1, fault);
        let d = w.drain();
        assert!(d.failed.is_some() && d.applied == 0 && d.left == 1, "{d:?}");
        assert_eq!(outbox::max_attempts(&w.sql).unwrap(), attempt);
        w.assert_no_problems(Stage::Pending, "between attempts");
    }
    w.drain_clean();
    w.assert_no_problems(Stage::Recovered, "after the third drain");
    assert_not_found(&w, &ids[0]);
}

/// Several changes to the same KV keys before any drain leave one entry per KV key, the
/// latest; a failure on it and a rerun still end at the latest state.
#[test]
fn changes_piled_up_in_the_outbox_coalesce_to_the_latest() {
    let w = World::new();
    let ids = w.consumer("acme", json!({"plan": "gold"}), 2);
    let created = w.ok("POST", &format!("{}/keys", acme_path()), &json!({}));
    let third = created["id"].as_str().unwrap().to_owned();
    for plan in ["silver", "bronze", "tin"] {
        w.ok("PATCH", &acme_path(), &json!({"metadata": {"plan": plan}}));
    }
    w.ok(
        "DELETE",
        &format!("{}/keys/{}", acme_path(), ids[0]),
        &Value::Null,
    );
    // acme's three keys: one delete, two puts of the last metadata.
    assert_eq!(w.owed_kv(), 3);
    let values: Vec<Option<String>> = w
        .sql
        .exec(
            "SELECT value FROM outbox WHERE kind = 'key' ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.opt_text(0).unwrap().map(str::to_owned))
        .collect();
    assert_eq!(values.iter().filter(|v| v.is_none()).count(), 1);
    assert!(
        values.iter().flatten().all(|v| v.contains("\"tin\"")),
        "{values:?}"
    );
    w.assert_no_problems(Stage::Pending, "piled up");

    w.store.fail_nth(2, Fault::Refuse);
    assert!(w.drain().failed.is_some());
    w.assert_no_problems(Stage::Pending, "piled up, one failed");
    w.drain_clean();
    w.assert_no_problems(Stage::Recovered, "piled up, recovered");
    assert_not_found(&w, &ids[0]);
    assert_valid_with(&w, &ids[1], &json!({"plan": "tin"}), None);
    assert_valid_with(&w, &third, &json!({"plan": "tin"}), None);
}

/// The checks are not vacuous: each sees a difference it should, and `$check` sees KV
/// changed behind the outbox's back.
#[test]
fn the_checks_see_what_they_should() {
    // A created key whose put failed: the strict check says it does not verify; the
    // pending one accepts it while it is owed.
    let w = World::new();
    w.store.fail_nth(1, Fault::Refuse);
    let ids = w.consumer_in_undrained("acme", 1);
    assert!(w.drain().failed.is_some());
    let strict = w.problems(Stage::Recovered);
    assert!(
        strict.iter().any(|p| p.contains(&format!(
            "listed key {} of 'acme' verifies NotFound",
            ids[0]
        ))),
        "{strict:?}"
    );
    w.assert_no_problems(Stage::Pending, "owed put");

    // A deleted key whose delete failed still verifies: strict sees it, pending accepts it.
    w.drain_clean();
    w.ok("DELETE", &acme_path(), &Value::Null);
    w.store.fail_nth(1, Fault::Refuse);
    assert!(w.drain().failed.is_some());
    assert!(matches!(w.verdict(&ids[0]), Verdict::Valid(_)));
    let strict = w.problems(Stage::Recovered);
    assert!(
        strict.iter().any(|p| p.contains(&format!(
            "key {}, listed by no consumer, verifies Valid",
            ids[0]
        ))),
        "{strict:?}"
    );
    w.assert_no_problems(Stage::Pending, "owed delete");
    w.drain_clean();
    w.assert_no_problems(Stage::Recovered, "recovered");

    // KV changed without the outbox (nothing owed): both checks and `$check` see it.
    let ids = w.consumer("globex", json!({"plan": "free"}), 1);
    let kv_key = kv::keys::key_hash(BUCKET, &w.hasher.hash(&w.plaintext(&ids[0])));
    pollster::block_on(
        w.store.inner.put(
            &kv_key,
            &json!({
                "v": 1, "consumer": "globex", "keyId": ids[0],
                "metadata": {"plan": "stolen"}, "expiresOn": null,
            })
            .to_string(),
            None,
        ),
    )
    .unwrap();
    let pending = w.problems(Stage::Pending);
    assert!(
        pending.iter().any(|p| p.contains("$check answers")),
        "{pending:?}"
    );
    assert!(pending.iter().any(|p| p.contains(&ids[0])), "{pending:?}");
}

impl World {
    /// Creates consumer `name` of [`BUCKET`] with `keys` keys, without draining.
    fn consumer_in_undrained(&self, name: &str, keys: usize) -> Vec<String> {
        let created = self.ok(
            "POST",
            &consumers(BUCKET),
            &json!({"name": name, "apiKeys": vec![json!({}); keys]}),
        );
        key_ids(&created["apiKeys"])
    }
}

// ---------------------------------------------------------------------------------------
// Random sequences, random failures, drains skipped and interleaved
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Creates consumer `c` (or recreates it after a delete; 409 when it exists).
    Create {
        c: usize,
        keys: usize,
        meta: usize,
    },
    CreateKey {
        c: usize,
    },
    /// Deletes the `k`th key (modulo) of consumer `c`.
    DeleteKey {
        c: usize,
        k: usize,
    },
    /// Roll-key; `past` revokes the other keys at once.
    Roll {
        c: usize,
        past: bool,
    },
    PatchMetadata {
        c: usize,
        meta: usize,
    },
    DeleteConsumer {
        c: usize,
    },
}

#[derive(Debug, Clone, Copy)]
enum DrainPlan {
    /// No drain: the next changes pile up in the outbox.
    Skip,
    /// A drain with whatever fault is still armed.
    Drain,
    /// Arms a fault on the `n`th write from now, then drains (it may strike a later drain).
    Fail(u64, Fault),
}

const NAMES: [&str; 3] = ["c0", "c1", "c2"];

fn metadata(m: usize) -> Value {
    match m {
        0 => json!({}),
        1 => json!({"plan": "gold"}),
        2 => json!({"plan": "free", "seats": 3}),
        _ => json!({"plan": "pro", "region": "eu"}),
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let c = 0..NAMES.len();
    prop_oneof![
        3 => (c.clone(), 0..3usize, 0..4usize).prop_map(|(c, keys, meta)| Op::Create { c, keys, meta }),
        3 => c.clone().prop_map(|c| Op::CreateKey { c }),
        3 => (c.clone(), 0..4usize).prop_map(|(c, k)| Op::DeleteKey { c, k }),
        2 => (c.clone(), any::<bool>()).prop_map(|(c, past)| Op::Roll { c, past }),
        3 => (c.clone(), 0..4usize).prop_map(|(c, meta)| Op::PatchMetadata { c, meta }),
        2 => c.prop_map(|c| Op::DeleteConsumer { c }),
    ]
}

fn drain_strategy() -> impl Strategy<Value = DrainPlan> {
    prop_oneof![
        4 => Just(DrainPlan::Skip),
        3 => Just(DrainPlan::Drain),
        3 => (1..=4u64, any::<bool>()).prop_map(|(n, lands)| DrainPlan::Fail(
            n,
            if lands { Fault::LandThenFail } else { Fault::Refuse }
        )),
    ]
}

/// What the test expects the consumers list to show: consumer → (metadata, [(id, expiry)]).
type Model = BTreeMap<String, (Value, Vec<(String, Option<Millis>)>)>;

/// What the random runs exercised, summed over all cases.
#[derive(Debug, Default)]
struct Coverage {
    /// Outbox entries replaced by a newer change before being delivered.
    coalesced: usize,
    /// Injected failures that struck.
    failures: u64,
    /// Most entries in the outbox at once.
    most_owed: i64,
}

fn apply(w: &World, model: &mut Model, op: &Op) {
    let path = |c: usize| format!("{}/{}", consumers(BUCKET), NAMES[c]);
    let exists = |model: &Model, c: usize| model.contains_key(NAMES[c]);
    match *op {
        Op::Create { c, keys, meta } => {
            let r = w.call(
                "POST",
                &consumers(BUCKET),
                &json!({"name": NAMES[c], "metadata": metadata(meta), "apiKeys": vec![json!({}); keys]})
                    .to_string(),
            );
            if exists(model, c) {
                assert_eq!(r.status, 409);
            } else {
                assert_eq!(r.status, 200, "{}", r.json_body());
                let ids = key_ids(&r.json_body()["apiKeys"]);
                model.insert(
                    NAMES[c].to_owned(),
                    (
                        metadata(meta),
                        ids.into_iter().map(|id| (id, None)).collect(),
                    ),
                );
            }
        }
        Op::CreateKey { c } => {
            let r = w.call("POST", &format!("{}/keys", path(c)), "{}");
            match model.get_mut(NAMES[c]) {
                None => assert_eq!(r.status, 404),
                Some((_, keys)) => {
                    assert_eq!(r.status, 200, "{}", r.json_body());
                    keys.push((r.json_body()["id"].as_str().unwrap().to_owned(), None));
                }
            }
        }
        Op::DeleteKey { c, k } => match model.get_mut(NAMES[c]) {
            None => assert_eq!(
                w.call("DELETE", &format!("{}/keys/key_x", path(c)), "")
                    .status,
                404
            ),
            Some((_, keys)) if keys.is_empty() => {}
            Some((_, keys)) => {
                let (id, _) = keys.remove(k % keys.len());
                let r = w.call("DELETE", &format!("{}/keys/{id}", path(c)), "");
                assert_eq!(r.status, 204);
            }
        },
        Op::Roll { c, past } => {
            let until = if past { EARLIER } else { LATER };
            let mut req = request(
                "POST",
                &format!("{}/roll-key", path(c)),
                Some(TOKEN),
                json!({"expiresOn": timestamp::format(until)})
                    .to_string()
                    .as_bytes(),
            );
            req.prefer = Some("return=representation".into());
            let r = w.send(&req);
            match model.get_mut(NAMES[c]) {
                None => assert_eq!(r.status, 404),
                Some((_, keys)) => {
                    assert_eq!(r.status, 200, "{}", r.json_body());
                    for (_, e) in keys.iter_mut() {
                        if e.is_none_or(|t| t > until) {
                            *e = Some(until);
                        }
                    }
                    keys.push((r.json_body()["id"].as_str().unwrap().to_owned(), None));
                }
            }
        }
        Op::PatchMetadata { c, meta } => {
            let r = w.call(
                "PATCH",
                &path(c),
                &json!({"metadata": metadata(meta)}).to_string(),
            );
            match model.get_mut(NAMES[c]) {
                None => assert_eq!(r.status, 404),
                Some((m, _)) => {
                    assert_eq!(r.status, 200, "{}", r.json_body());
                    *m = metadata(meta);
                }
            }
        }
        Op::DeleteConsumer { c } => {
            let r = w.call("DELETE", &path(c), "");
            let expected = if model.remove(NAMES[c]).is_some() {
                204
            } else {
                404
            };
            assert_eq!(r.status, expected);
        }
    }
}

/// The model as the consumers list shows it.
fn listed_model(w: &World) -> Model {
    let mut out = Model::new();
    for k in w.listed(BUCKET).unwrap() {
        let entry = out
            .entry(k.consumer.clone())
            .or_insert_with(|| (Value::Object(k.metadata.clone()), Vec::new()));
        entry.1.push((k.id, k.expires_on));
    }
    out
}

fn run_sequence(steps: &[(Op, DrainPlan)], coverage: &RefCell<Coverage>) {
    let w = World::new();
    let mut model = Model::new();
    for (i, (op, plan)) in steps.iter().enumerate() {
        let before = w.outbox_versions();
        apply(&w, &mut model, op);
        let after = w.outbox_versions();
        let mut cov = coverage.borrow_mut();
        cov.coalesced += before
            .iter()
            .filter(|(k, v)| after.get(*k).is_some_and(|n| n > *v))
            .count();
        cov.most_owed = cov.most_owed.max(outbox::len(&w.sql).unwrap());
        drop(cov);
        // Consumers without keys are not in the listing; compare those with keys.
        let mut expected = model.clone();
        expected.retain(|_, (_, keys)| !keys.is_empty());
        for (_, keys) in expected.values_mut() {
            keys.sort();
        }
        let mut shown = listed_model(&w);
        for (_, keys) in shown.values_mut() {
            keys.sort();
        }
        assert_eq!(shown, expected, "step {i}: {op:?}");

        match *plan {
            DrainPlan::Skip => {}
            DrainPlan::Drain => {
                w.drain();
            }
            DrainPlan::Fail(n, fault) => {
                w.store.fail_nth(n, fault);
                w.drain();
            }
        }
        w.assert_no_problems(Stage::Pending, &format!("step {i}: {op:?} then {plan:?}"));
    }
    coverage.borrow_mut().failures += w.store.failures.get();
    w.drain_clean();
    w.assert_no_problems(Stage::Recovered, "after the final drain");
}

#[test]
fn random_changes_with_random_kv_failures_recover() {
    // 64 cases by default (a few seconds); PROPTEST_CASES=… runs more.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    // A fixed seed: the sequences (and so the coverage asserted below) are the same on every
    // run, so CI never depends on luck; PROPTEST_CASES=… explores further.
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let coverage = RefCell::new(Coverage::default());
    let strategy = prop::collection::vec((op_strategy(), drain_strategy()), 1..=20);
    match runner.run(&strategy, |steps| {
        run_sequence(&steps, &coverage);
        Ok(())
    }) {
        Ok(()) => {}
        Err(TestError::Fail(why, steps)) => panic!("{why}\nminimal sequence: {steps:#?}"),
        Err(e) => panic!("{e}"),
    }
    // The runs exercised what they are for, summed over all cases (with 64 cases, missing
    // one of these is all but impossible).
    let cov = coverage.into_inner();
    println!("{cases} cases: {cov:?}");
    assert!(cov.coalesced > 0, "{cov:?}");
    assert!(cov.failures > 0, "{cov:?}");
    assert!(cov.most_owed > 3, "{cov:?}");
}

// ---------------------------------------------------------------------------------------
// A change that lands while the drain of an earlier one is delivering
// ---------------------------------------------------------------------------------------

/// A change run in the middle of a delivery, as a Durable Object runs another request while
/// its drain awaits KV.
type Meanwhile<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Delivers through `inner`; during its first delivery it runs `meanwhile` before the KV
/// write (`before`) or after it (before the drain marks the entry done).
struct Interleaving<'a> {
    inner: KvSink<'a, FailingStore, DirectorySink<'a, Sqlite>>,
    meanwhile: RefCell<Option<Meanwhile<'a>>>,
    before: bool,
    log: RefCell<Vec<Delivery>>,
}

/// One delivery: the KV key, the value put (`None`: a delete), whether it succeeded.
type Delivery = (Option<String>, Option<String>, bool);

impl<'a> Interleaving<'a> {
    fn new(w: &'a World, before: bool, meanwhile: Meanwhile<'a>) -> Self {
        Interleaving {
            inner: w.sink(),
            meanwhile: RefCell::new(Some(meanwhile)),
            before,
            log: RefCell::default(),
        }
    }
}

impl Sink for Interleaving<'_> {
    async fn deliver(&self, entry: &Entry) -> Result<(), Error> {
        let hook = self.meanwhile.borrow_mut().take();
        let (first, then) = if self.before {
            (hook, None)
        } else {
            (None, hook)
        };
        if let Some(change) = first {
            change.await;
        }
        let r = self.inner.deliver(entry).await;
        self.log
            .borrow_mut()
            .push((entry.kv_key(), entry.value.clone(), r.is_ok()));
        if let Some(change) = then {
            change.await;
        }
        r
    }
}

/// Drains through an [`Interleaving`] sink running `meanwhile`; returns the drain and the
/// deliveries of KV key `watched` (value put or `None`, success).
fn drain_interleaved<'a>(
    w: &'a World,
    before: bool,
    meanwhile: Meanwhile<'a>,
    watched: &str,
) -> (Drained, Vec<(Option<String>, bool)>) {
    let sink = Interleaving::new(w, before, meanwhile);
    let d = pollster::block_on(outbox::drain(&w.sql, &sink, usize::MAX)).expect("drain");
    assert!(sink.meanwhile.borrow().is_none(), "the change never ran");
    let log = sink
        .log
        .into_inner()
        .into_iter()
        .filter(|(k, _, _)| k.as_deref() == Some(watched))
        .map(|(_, v, ok)| (v, ok))
        .collect();
    (d, log)
}

/// Runs an authorized request inside the drain, asserting its status.
fn meanwhile<'a>(
    w: &'a World,
    method: &'a str,
    target: String,
    body: Value,
    status: u16,
) -> Meanwhile<'a> {
    Box::pin(async move {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = w
            .send_async(&request(method, &target, Some(TOKEN), text.as_bytes()))
            .await;
        assert_eq!(r.status, status, "{method} {target}");
    })
}

/// Change A creates a key (a put owed); while the drain delivers that put, change B runs.
fn key_created_then(w: &World) -> (String, String) {
    w.consumer("acme", json!({"plan": "gold"}), 1);
    let created = w.ok("POST", &format!("{}/keys", acme_path()), &json!({}));
    let id = created["id"].as_str().unwrap().to_owned();
    let kv_key = kv::keys::key_hash(BUCKET, &w.hasher.hash(&w.plaintext(&id)));
    (id, kv_key)
}

#[test]
fn a_put_delivered_while_its_key_is_deleted_does_not_outlive_the_delete() {
    for before in [true, false] {
        let w = World::new();
        let (id, kv_key) = key_created_then(&w);
        let b = meanwhile(
            &w,
            "DELETE",
            format!("{}/keys/{id}", acme_path()),
            Value::Null,
            204,
        );
        let (d, log) = drain_interleaved(&w, before, b, &kv_key);
        assert!(d.failed.is_none() && d.left == 0, "{d:?}");
        // The old put did land after the delete committed; the delete came after it.
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log[0].0.is_some() && log[0].1, "{log:?}");
        assert_eq!(log[1], (None, true));
        assert_not_found(&w, &id);
        w.assert_no_problems(Stage::Recovered, &format!("before: {before}"));
    }
}

#[test]
fn a_put_delivered_while_its_consumer_or_bucket_is_deleted_does_not_outlive_it() {
    for (what, target, drop_bucket) in [
        ("consumer", acme_path(), false),
        ("bucket", format!("{BUCKETS}/{BUCKET}"), true),
    ] {
        for before in [true, false] {
            let w = World::new();
            let (id, kv_key) = key_created_then(&w);
            let b = meanwhile(&w, "DELETE", target.clone(), Value::Null, 204);
            let (d, log) = drain_interleaved(&w, before, b, &kv_key);
            assert!(d.failed.is_none() && d.left == 0, "{what}: {d:?}");
            assert_eq!(log.last(), Some(&(None, true)), "{what}: {log:?}");
            assert_not_found(&w, &id);
            if drop_bucket {
                assert!(w.kv_records(BUCKET).is_empty());
            }
            w.assert_no_problems(Stage::Recovered, &format!("{what}, before: {before}"));
        }
    }
}

#[test]
fn a_put_delivered_while_metadata_changes_is_overwritten_by_the_newer_one() {
    for before in [true, false] {
        let w = World::new();
        let (id, kv_key) = key_created_then(&w);
        let b = meanwhile(
            &w,
            "PATCH",
            acme_path(),
            json!({"metadata": {"plan": "new"}}),
            200,
        );
        let (d, log) = drain_interleaved(&w, before, b, &kv_key);
        assert!(d.failed.is_none() && d.left == 0, "{d:?}");
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(
            log[1].0.as_deref().is_some_and(|v| v.contains("\"new\"")),
            "{log:?}"
        );
        assert_valid_with(&w, &id, &json!({"plan": "new"}), None);
        w.assert_no_problems(Stage::Recovered, &format!("before: {before}"));
    }
}

/// The drain reads entries in batches: a later entry of the batch replaced while an earlier
/// one is delivered is never delivered in its old form (each entry is checked to be current
/// just before delivery); its replacement is.
#[test]
fn a_stale_entry_of_the_current_batch_is_followed_by_its_replacement() {
    let w = World::new();
    w.consumer("acme", json!({"plan": "gold"}), 0);
    let created = w.ok(
        "POST",
        &format!("{}/keys/$bulk", acme_path()),
        &json!([{}, {}]),
    );
    let ids = key_ids(&created["data"]);
    let second = kv::keys::key_hash(BUCKET, &w.hasher.hash(&w.plaintext(&ids[1])));
    let b = meanwhile(
        &w,
        "DELETE",
        format!("{}/keys/{}", acme_path(), ids[1]),
        Value::Null,
        204,
    );
    let (d, log) = drain_interleaved(&w, true, b, &second);
    assert!(d.failed.is_none() && d.left == 0, "{d:?}");
    assert_eq!(
        log,
        vec![(None, true)],
        "only the delete, never the stale put"
    );
    assert_not_found(&w, &ids[1]);
    assert!(matches!(w.verdict(&ids[0]), Verdict::Valid(_)));
    w.assert_no_problems(Stage::Recovered, "stale batch entry");
}

/// The old put lands after the delete committed, then the delete's delivery fails: the
/// deleted key verifies meanwhile, but only while its delete is owed.
#[test]
fn a_stale_put_then_a_failed_delete_is_pending_until_recovery() {
    let w = World::new();
    let (id, kv_key) = key_created_then(&w);
    let target = format!("{}/keys/{id}", acme_path());
    let wr = &w;
    let b: Meanwhile<'_> = Box::pin(async move {
        let r = wr
            .send_async(&request("DELETE", &target, Some(TOKEN), b""))
            .await;
        assert_eq!(r.status, 204);
        // The stale put is the next write; the delete after it fails.
        wr.store.fail_nth(2, Fault::Refuse);
    });
    let (d, log) = drain_interleaved(&w, true, b, &kv_key);
    assert!(d.failed.is_some() && d.left == 1, "{d:?}");
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].0.is_some() && log[0].1);
    assert_eq!(log[1], (None, false));
    assert!(
        matches!(w.verdict(&id), Verdict::Valid(_)),
        "the stale put is in KV"
    );
    w.assert_no_problems(Stage::Pending, "delete owed");
    assert!(!w.problems(Stage::Recovered).is_empty());
    w.drain_clean();
    assert_not_found(&w, &id);
    w.assert_no_problems(Stage::Recovered, "recovered");
}

/// The contract this relies on, shown by breaking it: with a second drain running inside
/// the first one's delivery, the first one's old put lands after the second applied the
/// delete, and nothing is owed any more. The checks see the resurrected key, `$check`
/// reports it, and its repair removes it.
#[test]
fn two_drains_at_once_would_resurrect_a_deleted_key_and_the_checks_see_it() {
    let w = World::new();
    let (id, kv_key) = key_created_then(&w);
    let target = format!("{}/keys/{id}", acme_path());
    let wr = &w;
    let b: Meanwhile<'_> = Box::pin(async move {
        let r = wr
            .send_async(&request("DELETE", &target, Some(TOKEN), b""))
            .await;
        assert_eq!(r.status, 204);
        let second = outbox::drain(&wr.sql, &wr.sink(), usize::MAX)
            .await
            .unwrap();
        assert!(second.failed.is_none() && second.left == 0);
    });
    let (d, log) = drain_interleaved(&w, true, b, &kv_key);
    assert!(d.failed.is_none() && d.left == 0, "{d:?}");
    assert_eq!(
        log.len(),
        1,
        "the first drain delivered only the old put: {log:?}"
    );
    assert!(matches!(w.verdict(&id), Verdict::Valid(_)), "resurrected");
    let pending = w.problems(Stage::Pending);
    assert!(
        pending
            .iter()
            .any(|p| p.contains(&format!("key {id}, listed by no consumer"))),
        "{pending:?}"
    );
    let check = w.ok("POST", &format!("{BUCKETS}/{BUCKET}/$check"), &Value::Null);
    assert_eq!(
        check["problems"][0]["problem"], "verification record of a key no consumer lists",
        "{check}"
    );
    w.drain_clean();
    assert_not_found(&w, &id);
    w.assert_no_problems(Stage::Recovered, "repaired");
}

/// Rolls acme's keys to expire at `at`, asking for the new key in the answer.
fn roll_to(w: &World, at: keyward_core::timestamp::Millis) -> ApiResponse {
    let mut req = request(
        "POST",
        &format!("{}/roll-key", acme_path()),
        Some(TOKEN),
        json!({"expiresOn": timestamp::format(at)})
            .to_string()
            .as_bytes(),
    );
    req.prefer = Some("return=representation".into());
    w.send(&req)
}

/// A directory that never answers.
struct DownDirectory;

impl Sink for DownDirectory {
    async fn deliver(&self, _entry: &Entry) -> Result<(), keyward_core::Error> {
        Err(keyward_core::Error::storage(
            "directory unavailable (injected)",
        ))
    }
}

/// One entry that keeps failing (the directory is down) does not hold back the keys' KV
/// writes: the drain skips it, applies the rest, and leaves only it owed.
#[test]
fn an_entry_that_keeps_failing_does_not_block_the_others() {
    let w = World::new();
    w.drain_clean();
    w.ok(
        "PATCH",
        &format!("{BUCKETS}/{BUCKET}"),
        &json!({"description": "directory entry owed"}),
    );
    let ids = w.consumer_in_undrained("acme", 2);
    let sink = KvSink {
        kv: &w.store,
        cache: &w.cache,
        directory: DownDirectory,
    };
    for round in 1..=3 {
        let d = pollster::block_on(outbox::drain(&w.sql, &sink, usize::MAX)).expect("drain");
        assert_eq!(d.failures, 1, "round {round}: {d:?}");
        assert_eq!(d.left, 1, "round {round}: only the directory entry: {d:?}");
        for id in &ids {
            assert!(matches!(w.verdict(id), Verdict::Valid(_)), "round {round}");
        }
    }
    assert_eq!(outbox::max_attempts(&w.sql).unwrap(), 3);
    w.drain_clean();
    assert_eq!(outbox::len(&w.sql).unwrap(), 0);
}
