//! The leak routes over one native database holding every bucket (the same calls the
//! Worker's front makes to the objects, through [`OneDatabase`]), with the outbox drained
//! into an in-memory KV after each request, as the objects do.

use super::github::PublicKeys;
use super::{OneDatabase, Route, Signed};
use crate::api::token::Tokens;
use crate::api::Api;
use crate::config::{Config, LeakPolicy};
use crate::edge::verify::{Verdict, Verifier};
use crate::entropy::Entropy;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::key::format;
use crate::key::hash::KeyHasher;
use crate::storage::bucket::outbox::{self, DirectorySink, KvSink};
use crate::storage::bucket::schema;
use crate::storage::bucket::sqlite::Sqlite;
use crate::storage::cache::{Limits, VerifyCache};
use crate::storage::store::MemoryStore;
use crate::timestamp::Millis;
use serde_json::{json, Value};
use std::cell::Cell;

const ROOT: &str = "root-token";
const T0: Millis = 1_800_000_000_000;
const BUCKETS: &str = "/v1/accounts/local/key-buckets";

struct Os;

impl Entropy for Os {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf).map_err(|e| Error::new(ErrorKind::Entropy, e.to_string()))
    }
}

struct World {
    store: MemoryStore,
    sql: Sqlite,
    hasher: KeyHasher,
    cache: VerifyCache,
    config: Config,
    tokens: Tokens,
    now: Cell<Millis>,
}

fn scoped_tokens() -> Tokens {
    use sha2::{Digest, Sha256};
    let hex = |t: &str| {
        Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let json = json!([
        {"name": "reader", "sha256": hex("read-token"), "access": "read"},
        {"name": "alpha-writer", "sha256": hex("alpha-token"), "access": "write", "buckets": ["alpha"]},
    ]);
    Tokens::from_secrets(Some(ROOT), Some(&json.to_string())).unwrap()
}

impl World {
    fn new(policy: LeakPolicy) -> World {
        let sql = Sqlite::in_memory().unwrap();
        schema::ensure(&sql).unwrap();
        let config = Config {
            leak_policy: policy,
            ..Config::default()
        };
        World {
            store: MemoryStore::new(),
            sql,
            hasher: KeyHasher::new(b"leak-test-secret"),
            cache: VerifyCache::new(60, Limits::default()),
            config,
            tokens: scoped_tokens(),
            now: Cell::new(T0),
        }
    }

    fn api(&self) -> Api<'_, MemoryStore, Sqlite> {
        Api {
            store: &self.store,
            sql: &self.sql,
            entropy: &Os,
            hasher: &self.hasher,
            cache: &self.cache,
            config: &self.config,
            tokens: &self.tokens,
            now: self.now.get(),
            openapi: "{}",
            counters: &crate::limits::wire::NoCounters,
        }
    }

    fn drain(&self) {
        let sink = KvSink {
            kv: &self.store,
            cache: &self.cache,
            directory: DirectorySink(&self.sql),
        };
        let d = pollster::block_on(outbox::drain(&self.sql, &sink, usize::MAX)).unwrap();
        assert!(d.failed.is_none() && d.left == 0, "{d:?}");
    }

    fn send(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> ApiResponse {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let req = ApiRequest {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            authorization: token.map(|t| format!("Bearer {t}")),
            prefer: None,
            body: body.as_bytes().to_vec(),
        };
        let r = pollster::block_on(self.api().handle(&req));
        self.drain();
        r
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let r = self.send("POST", path, Some(ROOT), &body.to_string());
        assert_eq!(r.status, 200, "{path}: {}", r.json_body());
        r.json_body()
    }

    /// A consumer with one key in `bucket` (created when missing); returns the key.
    fn consumer(&self, bucket: &str, name: &str) -> String {
        let _ = self.send(
            "POST",
            BUCKETS,
            Some(ROOT),
            &json!({"name": bucket}).to_string(),
        );
        let c = self.post(
            &format!("{BUCKETS}/{bucket}/consumers?with-api-key=true"),
            &json!({"name": name}),
        );
        c["apiKeys"][0]["key"].as_str().unwrap().to_owned()
    }

    fn verdict(&self, bucket: &str, key: &str) -> Verdict {
        let v = Verifier {
            store: &self.store,
            hasher: &self.hasher,
            cache: &self.cache,
            bucket,
            prefix: &self.config.key_prefix,
            imported: self.config.imported_key_pattern.as_ref(),
        };
        pollster::block_on(v.verify(key, self.now.get())).unwrap()
    }

    fn keys_of(&self, bucket: &str, consumer: &str) -> Value {
        let r = self.send(
            "GET",
            &format!("{BUCKETS}/{bucket}/consumers/{consumer}/keys"),
            Some(ROOT),
            "",
        );
        r.json_body()["data"].clone()
    }

    /// Everything stored: the tables and KV.
    fn everything(&self) -> String {
        let mut all = format!("{:?}", self.store.dump());
        for table in ["buckets", "consumers", "keys", "outbox", "meta"] {
            let rows = crate::storage::bucket::sql::Sql::exec(
                &self.sql,
                &format!("SELECT * FROM {table}"),
                &[],
            )
            .unwrap();
            all.push_str(&format!("{rows:?}"));
        }
        all
    }
}

/// A key with a valid checksum and the default prefix that nobody was given.
fn made_up() -> String {
    format::generate("kw", &Os).unwrap()
}

#[test]
fn lookup_finds_keys_in_scope_and_nothing_else() {
    let w = World::new(LeakPolicy::Flag);
    let acme = w.consumer("alpha", "acme");
    let beta = w.consumer("bravo", "beta");
    let nobody = made_up();
    let other_prefix = format::generate("kx", &Os).unwrap();
    let body = json!({"keys": [acme, nobody, "not-a-key", other_prefix, beta, acme]});
    let r = w.send(
        "POST",
        "/v1/keys/$lookup",
        Some("read-token"),
        &body.to_string(),
    );
    assert_eq!(r.status, 200);
    let data = r.json_body()["data"].clone();
    assert_eq!(
        data[0],
        json!({"key": format::mask(&acme), "valid": true, "found": true, "bucket": "alpha",
               "consumer": "acme", "keyId": data[0]["keyId"], "active": true})
    );
    assert!(data[0]["keyId"].as_str().unwrap().starts_with("key_"));
    assert_eq!(
        data[1],
        json!({"key": format::mask(&nobody), "valid": true, "found": false})
    );
    assert_eq!(
        data[2],
        json!({"key": "****", "valid": false, "found": false})
    );
    assert_eq!(data[3]["valid"], false);
    assert_eq!(
        (&data[4]["bucket"], &data[4]["consumer"]),
        (&json!("bravo"), &json!("beta"))
    );
    assert_eq!(data[5], data[0]);
    // A token limited to alpha does not see bravo's key.
    let scoped = w.send(
        "POST",
        "/v1/keys/$lookup",
        Some("alpha-token"),
        &body.to_string(),
    );
    assert_eq!(scoped.json_body()["data"][4]["found"], false);
    assert_eq!(scoped.json_body()["data"][0]["found"], true);
    let text = String::from_utf8(r.body).unwrap();
    assert!(!text.contains(&acme[3..35]) && !text.contains(&beta[3..35]));
}

/// `keyward import` asks `$lookup` which of its keys this deployment can take: an imported
/// key matching `IMPORTED_KEY_PATTERN` is valid and found like a native one.
#[cfg(feature = "regex")]
#[test]
fn lookup_sees_imported_keys_when_the_pattern_admits_them() {
    const ZPKA: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
    const OTHER: &str = "zpka_ffffffffffffffffffffffffffffffff_89abcdef";
    let mut w = World::new(LeakPolicy::Flag);
    w.config.imported_key_pattern =
        Some(crate::key::imported::Pattern::compile("^zpka_[0-9a-f]{32}_[0-9a-f]{8}$").unwrap());
    let _ = w.send(
        "POST",
        BUCKETS,
        Some(ROOT),
        &json!({"name": "alpha"}).to_string(),
    );
    w.post(
        &format!("{BUCKETS}/alpha/consumers"),
        &json!({"name": "acme", "apiKeys": [{"key": ZPKA}]}),
    );
    let body = json!({"keys": [ZPKA, OTHER, "zpka_short"]}).to_string();
    let data = w
        .send("POST", "/v1/keys/$lookup", Some(ROOT), &body)
        .json_body()["data"]
        .clone();
    assert_eq!(
        (
            &data[0]["key"],
            &data[0]["valid"],
            &data[0]["found"],
            &data[0]["consumer"]
        ),
        (
            &json!("****fb7009"),
            &json!(true),
            &json!(true),
            &json!("acme")
        )
    );
    assert_eq!(
        data[1],
        json!({"key": "****abcdef", "valid": true, "found": false})
    );
    assert_eq!(
        data[2],
        json!({"key": "****", "valid": false, "found": false})
    );
    // Without the pattern the same key is not one this deployment verifies.
    w.config.imported_key_pattern = None;
    let data = w
        .send("POST", "/v1/keys/$lookup", Some(ROOT), &body)
        .json_body()["data"]
        .clone();
    assert_eq!(
        (&data[0]["valid"], &data[0]["found"]),
        (&json!(false), &json!(false))
    );
}

#[test]
fn a_report_flags_and_revokes_as_asked_and_again_changes_nothing() {
    let w = World::new(LeakPolicy::Flag);
    let flagged = w.consumer("alpha", "acme");
    let revoked = w.consumer("alpha", "beta");
    let body = json!([
        {"key": flagged, "url": "https://github.com/o/r/blob/main/.env"},
        {"key": revoked, "source": "ci log", "revoke": true},
        {"key": made_up()},
    ]);
    let r = w.send("POST", "/v1/leaks", Some(ROOT), &body.to_string());
    assert_eq!(r.status, 200, "{}", r.json_body());
    let out = r.json_body();
    assert_eq!(out[0]["action"], "flagged");
    assert_eq!(out[0]["label"], "true_positive");
    assert_eq!(out[0]["token_type"], "keyward_api_key");
    assert_eq!(out[0]["token_hash"], super::wire::token_hash(&flagged));
    assert_eq!(
        (&out[0]["bucket"], &out[0]["consumer"]),
        (&json!("alpha"), &json!("acme"))
    );
    assert_eq!(out[1]["action"], "revoked");
    assert_eq!(
        (&out[2]["found"], &out[2]["action"], &out[2]["label"]),
        (&json!(false), &json!("none"), &json!("false_positive"))
    );
    assert!(matches!(w.verdict("alpha", &flagged), Verdict::Valid(_)));
    assert!(matches!(w.verdict("alpha", &revoked), Verdict::Expired(_)));
    let keys = w.keys_of("alpha", "acme");
    assert_eq!(keys[0]["leakedOn"], "2027-01-15T08:00:00.000Z");
    assert_eq!(keys[0]["leakedAt"], "https://github.com/o/r/blob/main/.env");
    assert_eq!(keys[0]["expiresOn"], Value::Null);
    let keys = w.keys_of("alpha", "beta");
    assert_eq!(keys[0]["leakedAt"], "ci log");
    assert_eq!(keys[0]["expiresOn"], "2027-01-15T08:00:00.000Z");

    // Again, later, elsewhere: the first report's time and place stay; nothing is written.
    w.now.set(T0 + 60_000);
    let before = w.everything();
    let again = json!([{"key": flagged, "url": "https://elsewhere.example"}]);
    let r = w.send("POST", "/v1/leaks", Some(ROOT), &again.to_string());
    assert_eq!(r.json_body()[0]["action"], "flagged");
    assert_eq!(w.everything(), before);
    // Asking to revoke it now does.
    let revoke = json!([{"token": flagged, "revoke": true}]);
    let r = w.send("POST", "/v1/leaks", Some(ROOT), &revoke.to_string());
    assert_eq!(r.json_body()[0]["action"], "revoked");
    assert!(matches!(w.verdict("alpha", &flagged), Verdict::Expired(_)));
    let keys = w.keys_of("alpha", "acme");
    assert_eq!(keys[0]["leakedOn"], "2027-01-15T08:00:00.000Z");
    assert_eq!(keys[0]["expiresOn"], "2027-01-15T08:01:00.000Z");
    // The lookup says so too.
    let r = w.send(
        "POST",
        "/v1/keys/$lookup",
        Some(ROOT),
        &json!({"keys": [flagged]}).to_string(),
    );
    let item = &r.json_body()["data"][0];
    assert_eq!(
        (&item["active"], &item["leakedAt"]),
        (
            &json!(false),
            &json!("https://github.com/o/r/blob/main/.env")
        )
    );
    // No plaintext anywhere.
    let all = w.everything();
    for key in [&flagged, &revoked] {
        assert!(!all.contains(&key[3..35]), "a plaintext key was stored");
    }
}

#[test]
fn the_revoke_policy_revokes_every_key_reported() {
    let w = World::new(LeakPolicy::Revoke);
    let key = w.consumer("alpha", "acme");
    let r = w.send(
        "POST",
        "/v1/leaks",
        Some(ROOT),
        &json!([{"key": key}]).to_string(),
    );
    assert_eq!(r.json_body()[0]["action"], "revoked");
    assert!(matches!(w.verdict("alpha", &key), Verdict::Expired(_)));
}

#[test]
fn refusals_write_nothing() {
    let w = World::new(LeakPolicy::Flag);
    let key = w.consumer("alpha", "acme");
    let bravo = w.consumer("bravo", "beta");
    let before = w.everything();
    let one = json!([{"key": key, "revoke": true}]).to_string();
    let too_many = json!(vec![json!({"key": key, "revoke": true}); 1001]).to_string();
    for (token, body, status) in [
        (None, one.as_str(), 401),
        (Some("wrong"), one.as_str(), 401),
        (Some("read-token"), one.as_str(), 403),
        (Some(ROOT), too_many.as_str(), 400),
        (Some(ROOT), r#"[{"key": 1}]"#, 400),
        (Some(ROOT), "{}", 400),
    ] {
        let r = w.send("POST", "/v1/leaks", token, body);
        assert_eq!(r.status, status, "{token:?} {}", r.json_body());
        assert_eq!(r.content_type, Some("application/problem+json"));
    }
    assert_eq!(w.send("GET", "/v1/leaks", Some(ROOT), "").status, 405);
    assert_eq!(
        w.send("POST", "/v1/keys/$lookup", None, r#"{"keys": ["x"]}"#)
            .status,
        401
    );
    // A token limited to alpha reports bravo's key as not found, and leaves it alone.
    let r = w.send(
        "POST",
        "/v1/leaks",
        Some("alpha-token"),
        &json!([{"key": bravo, "revoke": true}]).to_string(),
    );
    assert_eq!(r.json_body()[0]["found"], false);
    assert_eq!(w.everything(), before);
    assert!(matches!(w.verdict("alpha", &key), Verdict::Valid(_)));
}

/// GitHub's path: no token, the signature over the exact bytes; the Worker's front calls
/// [`Api::handle_leaks`] like this.
#[test]
fn github_signed_reports_need_a_good_signature() {
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let w = World::new(LeakPolicy::Flag);
    let key = w.consumer("alpha", "acme");
    let signing = SigningKey::from_slice(&[42; 32]).unwrap();
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let doc = json!({"public_keys": [{"key_identifier": "k1", "key": pem, "is_current": true}]});
    let keys = PublicKeys::from_var(Some(&doc.to_string())).unwrap();
    let body = json!([{"token": key, "type": "keyward_api_key", "url": "https://github.com/o/r/blob/x/a", "source": "content"}]).to_string();
    let signature: Signature = signing.sign(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    let call = |body: &[u8], signed: Option<Signed<'_>>, keys: Result<&PublicKeys, &Error>| {
        let req = ApiRequest {
            method: "POST".into(),
            path: "/v1/leaks".into(),
            body: body.to_vec(),
            ..ApiRequest::default()
        };
        let objects = OneDatabase {
            sql: &w.sql,
            now: T0,
        };
        let api = w.api();
        let early = api.leaks_before_body(&req, Route::Report, signed, keys, |_| {});
        let r = early.unwrap_or_else(|| {
            pollster::block_on(api.handle_leaks(
                &req,
                Route::Report,
                signed,
                keys,
                &objects,
                |_| {},
            ))
        });
        w.drain();
        r
    };
    let good = Signed {
        key_identifier: "k1",
        signature: &signature,
    };
    let before = w.everything();
    let mut tampered = body.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = b'X';
    let unknown = Signed {
        key_identifier: "k2",
        ..good
    };
    let none = PublicKeys::default();
    let broken = Error::new(ErrorKind::Config, "variable LEAK_REPORT_PUBLIC_KEYS: bad");
    for (bytes, signed, keys, status) in [
        (tampered.as_slice(), Some(good), Ok(&keys), 401),
        (body.as_bytes(), None, Ok(&keys), 401),
        (body.as_bytes(), Some(unknown), Ok(&keys), 401),
        (body.as_bytes(), Some(good), Ok(&none), 401),
        (body.as_bytes(), Some(good), Err(&broken), 500),
    ] {
        assert_eq!(call(bytes, signed, keys).status, status);
    }
    assert_eq!(w.everything(), before);
    let r = call(body.as_bytes(), Some(good), Ok(&keys));
    assert_eq!(r.status, 200, "{}", r.json_body());
    let out = r.json_body();
    assert_eq!(
        (&out[0]["label"], &out[0]["token_type"], &out[0]["action"]),
        (
            &json!("true_positive"),
            &json!("keyward_api_key"),
            &json!("flagged")
        )
    );
    assert_eq!(
        w.keys_of("alpha", "acme")[0]["leakedAt"],
        "https://github.com/o/r/blob/x/a"
    );
}

/// [`OneDatabase`], but the object of one bucket does not answer.
struct OneFails<'a> {
    inner: OneDatabase<'a, Sqlite>,
    down: &'static str,
}

impl super::Objects for OneFails<'_> {
    async fn call(&self, bucket: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        if bucket == Some(self.down) {
            return Err(Error::storage("the object did not answer"));
        }
        self.inner.call(bucket, body).await
    }
}

#[test]
fn a_bucket_object_that_fails_makes_a_503_and_the_others_keep_their_reports() {
    let w = World::new(LeakPolicy::Flag);
    let alpha = w.consumer("alpha", "acme");
    let bravo = w.consumer("bravo", "beta");
    let objects = OneFails {
        inner: OneDatabase {
            sql: &w.sql,
            now: T0,
        },
        down: "bravo",
    };
    let no_keys = PublicKeys::default();
    let send = |path: &str, body: Value| {
        let req = ApiRequest {
            method: "POST".into(),
            path: path.into(),
            authorization: Some(format!("Bearer {ROOT}")),
            body: body.to_string().into_bytes(),
            ..ApiRequest::default()
        };
        let r = pollster::block_on(w.api().handle_leaks(
            &req,
            Route::of(path).unwrap(),
            None,
            Ok(&no_keys),
            &objects,
            |_| {},
        ));
        w.drain();
        r
    };
    // alpha's key is found whatever bravo does; bravo's might be in bravo: 503, retry.
    let r = send(
        "/v1/leaks",
        json!([{"key": alpha, "revoke": true}, {"key": bravo, "revoke": true}]),
    );
    assert_eq!(r.status, 503, "{}", r.json_body());
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "retry-after" && v == "5"));
    assert!(r.json_body()["detail"].as_str().unwrap().contains("bravo"));
    assert!(
        matches!(w.verdict("alpha", &alpha), Verdict::Expired(_)),
        "alpha's report stands"
    );
    assert!(matches!(w.verdict("bravo", &bravo), Verdict::Valid(_)));
    // When every key was found before the failing bucket, the answer is complete.
    let r = send("/v1/keys/$lookup", json!({"keys": [alpha]}));
    assert_eq!(r.status, 200, "{}", r.json_body());
    let r = send("/v1/keys/$lookup", json!({"keys": [alpha, bravo]}));
    assert_eq!(r.status, 503);
    // Sent again once the object is back: the same answer as a first report would get.
    let again = w.send(
        "POST",
        "/v1/leaks",
        Some(ROOT),
        &json!([{"key": alpha, "revoke": true}, {"key": bravo, "revoke": true}]).to_string(),
    );
    assert_eq!(again.status, 200);
    assert!(!matches!(w.verdict("bravo", &bravo), Verdict::Valid(_)));
}
