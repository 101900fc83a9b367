//! The developer API end to end, through [`Api::handle`] over a [`MemoryStore`]: routes,
//! authentication, the consumer and key lifecycles, what reaches the store (never a
//! plaintext key), input rejection that writes nothing, and `POST /v1/verify`.
//!
//! [`Api::handle`]: keyward_core::api::Api::handle
//! [`MemoryStore`]: keyward_core::storage::store::MemoryStore

mod support;

use expect_test::{expect, Expect};
use keyward_core::api::token::Tokens;
use keyward_core::edge::verify::Verdict;
use keyward_core::http::MAX_BODY_BYTES;
use keyward_core::key::format as key_format;
use keyward_core::key::imported::Pattern;
use keyward_core::storage::bucket::sql::Sql;
use keyward_core::storage::kv;
use keyward_core::timestamp;
use serde_json::{json, Value};
use support::{problem_detail, request, sha256_hex, Harness, BUCKETS, TOKEN};

/// The consumers path of `bucket`.
fn consumers(bucket: &str) -> String {
    format!("{BUCKETS}/{bucket}/consumers")
}

/// A harness with bucket `default`.
fn with_bucket() -> Harness {
    let h = Harness::new();
    h.create_bucket("default");
    h
}

fn acme() -> Value {
    json!({
        "name": "acme",
        "description": "Acme Corp",
        "metadata": {"plan": "gold", "orgId": 42},
        "tags": {"team": "core", "env": "prod"},
        "managers": ["Bob@Example.COM", {"email": "Alice@EXAMPLE.com", "sub": "auth0|1"}],
    })
}

/// Asserts a problem response and compares its detail with a snapshot.
#[track_caller]
fn check_problem(r: &keyward_core::http::ApiResponse, status: u16, detail: Expect) {
    detail.assert_eq(&problem_detail(r, status));
}

/// Asserts that nothing in the store — KV keys, values, metadata — contains `secret`.
#[track_caller]
fn assert_not_stored(h: &Harness, secret: &str) {
    for (k, v, m) in h.state() {
        assert!(!k.contains(secret), "plaintext key in KV key {k}");
        assert!(!v.contains(secret), "plaintext key in the value of {k}");
        let m = m.map(|m| m.to_string()).unwrap_or_default();
        assert!(!m.contains(secret), "plaintext key in the metadata of {k}");
    }
}

#[test]
fn health_needs_no_token() {
    let h = Harness::new();
    for method in ["GET", "HEAD"] {
        let r = h.send(&request(method, "/health", None, b""));
        assert_eq!(r.status, 200);
        assert_eq!(r.json_body(), json!({"status": "ok"}));
    }
    check_problem(
        &h.send(&request("POST", "/health", None, b"")),
        405,
        expect!["method not allowed on this path"],
    );
}

#[test]
fn v1_needs_the_management_token() {
    let h = with_bucket();
    let paths = [
        ("GET", BUCKETS.to_owned()),
        ("GET", consumers("default")),
        ("POST", "/v1/verify".to_owned()),
        ("GET", "/v1/nothing-here".to_owned()),
    ];
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    for (method, path) in &paths {
        for authorization in [
            None,
            bearer("wrong"),
            bearer(&TOKEN.to_uppercase()),
            Some(format!("Basic {TOKEN}")),
            Some(TOKEN.to_owned()),
            bearer(""),
        ] {
            let mut req = request(method, path, None, b"{}");
            req.authorization = authorization.clone();
            check_problem(
                &h.send(&req),
                401,
                expect!["a valid management token is required: Authorization: Bearer <token>"],
            );
        }
    }
    // The right token opens the same path.
    assert_eq!(h.get(BUCKETS).status, 200);
}

#[test]
fn without_a_configured_token_nothing_is_accepted() {
    let mut h = Harness::new();
    h.tokens = Tokens::new(None);
    problem_detail(&h.get(BUCKETS), 401);
    let mut req = request("GET", BUCKETS, None, b"");
    req.authorization = Some("Bearer ".into());
    problem_detail(&h.send(&req), 401);
}

#[test]
fn buckets_are_created_listed_and_read() {
    let h = Harness::new();
    let created = h.create_bucket("default");
    assert!(created["id"].as_str().unwrap().starts_with("bckt_"));
    assert_eq!(created["name"], "default");
    assert_eq!(created["isRetrievable"], false);
    assert_eq!(created["createdOn"], timestamp::format(h.now()));

    let got = h.get(&format!("{BUCKETS}/default"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json_body(), created);

    h.create_bucket("staging");
    let list = h.get(&format!("{BUCKETS}?limit=1&offset=1")).json_body();
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "staging");

    check_problem(
        &h.post(BUCKETS, &json!({"name": "default"})),
        409,
        expect!["bucket 'default' already exists"],
    );
    check_problem(
        &h.get(&format!("{BUCKETS}/nope-bucket")),
        404,
        expect!["bucket 'nope-bucket' does not exist"],
    );
    check_problem(
        &h.post(BUCKETS, &json!({"name": "abc"})),
        400,
        expect!["bucket name 'abc' is invalid; use 5 to 128 lowercase letters, digits and '-'"],
    );
}

#[test]
fn creating_a_consumer_shows_its_key_once() {
    let h = with_bucket();
    let (c, key) = h.create_consumer_with_key("default", &acme());

    assert!(c["id"].as_str().unwrap().starts_with("csmr_"));
    assert_eq!(c["name"], "acme");
    assert_eq!(c["description"], "Acme Corp");
    assert_eq!(c["metadata"], json!({"plan": "gold", "orgId": 42}));
    assert_eq!(c["tags"], json!({"team": "core", "env": "prod"}));
    assert_eq!(c["source"], "api");
    let emails: Vec<&str> = c["managers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["bob@example.com", "alice@example.com"]);
    assert_eq!(c["managers"][1]["sub"], "auth0|1");
    assert!(c["managers"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("eusr_"));

    let keys = c["apiKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0]["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(keys[0]["expiresOn"], Value::Null);
    let parsed = key_format::parse(&key).expect("a valid key");
    assert_eq!(parsed.prefix(), "kw");

    assert_not_stored(&h, &key);
    // Only the hash is stored, and it locates the verification record.
    let kv_key = kv::keys::key_hash("default", &h.hasher.hash(&key));
    assert!(h.store.dump().iter().any(|(k, _)| *k == kv_key));

    match h.verify(&key) {
        Verdict::Valid(r) => {
            assert_eq!(r.consumer, "acme");
            assert_eq!(r.key_id, keys[0]["id"].as_str().unwrap());
            assert_eq!(Value::Object(r.metadata.clone()), c["metadata"]);
        }
        other => panic!("expected valid, got {other:?}"),
    }

    // Reading the consumer back never shows the plaintext again.
    let got = h.get(&format!("{}/acme", consumers("default")));
    assert_eq!(got.status, 200);
    let got = got.json_body();
    assert_eq!(got["id"], c["id"]);
    assert_eq!(got["metadata"], c["metadata"]);
    assert!(got.get("apiKeys").is_none(), "{got}");
    assert!(got.get("managers").is_none(), "{got}");
    let got = h
        .get(&format!(
            "{}/acme?include-api-keys=true&include-managers=true",
            consumers("default")
        ))
        .json_body();
    assert_eq!(got["apiKeys"][0]["key"], key_format::mask(&key));
    assert_eq!(got["managers"].as_array().unwrap().len(), 2);
    assert!(!got.to_string().contains(&key));
}

#[test]
fn consumer_lists_show_masked_keys_and_filter_by_tag() {
    let h = with_bucket();
    let (_, acme_key) = h.create_consumer_with_key("default", &acme());
    let (_, other_key) = h.create_consumer_with_key(
        "default",
        &json!({"name": "globex", "tags": {"team": "edge"}}),
    );
    let r = h.get(&format!(
        "{}?include-api-keys=true&key-format=masked&tag.team=core",
        consumers("default")
    ));
    assert_eq!(r.status, 200);
    let list = r.json_body();
    assert_eq!(list["total"], 1);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["name"], "acme");
    let shown = data[0]["apiKeys"][0]["key"].as_str().unwrap();
    assert_eq!(shown, key_format::mask(&acme_key));
    assert!(shown.contains("****"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(!text.contains(&acme_key) && !text.contains(&other_key));

    let all = h.get(&consumers("default")).json_body();
    assert_eq!(all["total"], 2);
    assert!(all["data"][0].get("apiKeys").is_none());

    let none = h
        .get(&format!(
            "{}?include-api-keys=true&key-format=none",
            consumers("default")
        ))
        .json_body();
    for c in none["data"].as_array().unwrap() {
        assert!(c["apiKeys"][0].get("key").is_none(), "{c}");
        assert!(c["apiKeys"][0]["id"].is_string());
    }

    let filtered = h
        .get(&format!(
            "{}?manager-email=BOB@example.com",
            consumers("default")
        ))
        .json_body();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["data"][0]["name"], "acme");
}

#[test]
fn visible_keys_are_refused_in_a_hash_only_bucket() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    for path in [
        format!(
            "{}?include-api-keys=true&key-format=visible",
            consumers("default")
        ),
        format!("{}/acme/keys?key-format=visible", consumers("default")),
    ] {
        let detail = problem_detail(&h.get(&path), 400);
        expect![[r#"key-format=visible is not possible in bucket 'default': it keeps keys hashed only (isRetrievable: false), so a key is shown in full once, in the response that creates it; use masked or none"#]]
            .assert_eq(&detail);
    }
}

#[test]
fn keys_are_created_listed_read_and_deleted() {
    let h = with_bucket();
    let (c, first) = h.create_consumer_with_key("default", &acme());
    let first_id = c["apiKeys"][0]["id"].as_str().unwrap().to_owned();
    let keys_path = format!("{}/acme/keys", consumers("default"));

    let r = h.post(
        &keys_path,
        &json!({"description": "ci", "expiresOn": "2030-01-01T00:00:00+01:00"}),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let created = r.json_body();
    let second = created["key"].as_str().unwrap().to_owned();
    let second_id = created["id"].as_str().unwrap().to_owned();
    assert!(key_format::parse(&second).is_ok());
    assert_eq!(created["description"], "ci");
    assert_eq!(created["expiresOn"], "2029-12-31T23:00:00.000Z");
    assert_not_stored(&h, &second);

    let list = h.get(&keys_path).json_body();
    assert_eq!(list["total"], 2);
    let shown: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(shown, [key_format::mask(&first), key_format::mask(&second)]);

    let got = h.get(&format!("{keys_path}/{second_id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json_body()["key"], key_format::mask(&second));
    assert_eq!(got.json_body()["id"], second_id);

    // Both verify, and both are now cached as valid.
    assert!(matches!(h.verify(&first), Verdict::Valid(_)));
    assert!(matches!(h.verify(&second), Verdict::Valid(_)));
    assert_eq!(h.cache.len(), 2);

    let r = h.delete(&format!("{keys_path}/{first_id}"));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    // Same isolate, same cache: the delete is effective at once, not after the TTL.
    assert_eq!(h.verify(&first), Verdict::NotFound);
    assert!(matches!(h.verify(&second), Verdict::Valid(_)));
    let kv_key = kv::keys::key_hash("default", &h.hasher.hash(&first));
    assert!(h.store.dump().iter().all(|(k, _)| *k != kv_key));

    let list = h.get(&keys_path).json_body();
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["id"], second_id);

    let missing = format!("{keys_path}/{first_id}");
    let detail = problem_detail(&h.get(&missing), 404);
    assert_eq!(
        detail,
        format!("key '{first_id}' does not exist on consumer 'acme'")
    );
    problem_detail(&h.delete(&missing), 404);
    check_problem(
        &h.post(&keys_path, &json!({"key": second})),
        409,
        expect!["a supplied 'key' is already stored in bucket 'default', for consumer 'acme'; a key belongs to one consumer: delete it there first, or leave it out of this request"],
    );
    check_problem(
        &h.post(&format!("{}/nobody/keys", consumers("default")), &json!({})),
        404,
        expect!["consumer 'nobody' does not exist in bucket 'default'"],
    );
}

#[test]
fn deleting_a_consumer_removes_its_keys_and_records() {
    let h = with_bucket();
    let mut body = acme();
    body["apiKeys"] = json!([{"description": "one"}]);
    let r = h.post(
        &format!("{}?with-api-key=true", consumers("default")),
        &body,
    );
    assert_eq!(r.status, 200);
    let keys: Vec<String> = r.json_body()["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    let (_, survivor) = h.create_consumer_with_key("default", &json!({"name": "globex"}));
    for k in keys.iter().chain([&survivor]) {
        assert!(matches!(h.verify(k), Verdict::Valid(_)));
    }
    let hashes: Vec<String> = keys.iter().map(|k| h.hasher.hash(k)).collect();
    assert!(h.store.dump().iter().any(|(k, _)| k.contains(&hashes[0])));

    let r = h.delete(&format!("{}/acme", consumers("default")));
    assert_eq!(r.status, 204);
    for k in &keys {
        assert_eq!(h.verify(k), Verdict::NotFound);
    }
    assert!(matches!(h.verify(&survivor), Verdict::Valid(_)));
    for (k, v) in h.store.dump() {
        assert_ne!(k, kv::keys::consumer("default", "acme"));
        assert!(!hashes.iter().any(|hash| k.contains(hash.as_str())), "{k}");
        assert!(!v.contains("\"acme\""), "{k}: {v}");
    }
    check_problem(
        &h.get(&format!("{}/acme", consumers("default"))),
        404,
        expect!["consumer 'acme' does not exist in bucket 'default'"],
    );
    problem_detail(&h.delete(&format!("{}/acme", consumers("default"))), 404);
    assert_eq!(h.get(&consumers("default")).json_body()["total"], 1);
}

#[test]
fn conflicts_and_missing_resources() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let before = h.state();
    check_problem(
        &h.post(
            &format!("{}?with-api-key=true", consumers("default")),
            &acme(),
        ),
        409,
        expect!["consumer 'acme' already exists in bucket 'default'"],
    );
    assert_eq!(h.state(), before);

    check_problem(
        &h.get(&format!("{}/nobody", consumers("default"))),
        404,
        expect!["consumer 'nobody' does not exist in bucket 'default'"],
    );
    for r in [
        h.get(&consumers("no-such-bucket")),
        h.post(&consumers("no-such-bucket"), &json!({"name": "acme"})),
        h.get(&format!("{BUCKETS}/no-such-bucket")),
    ] {
        let detail = problem_detail(&r, 404);
        assert_eq!(detail, "bucket 'no-such-bucket' does not exist");
    }
    check_problem(
        &h.get(&format!("{}/acme?tag.team=edge", consumers("default"))),
        404,
        expect!["consumer 'acme' does not exist in bucket 'default'"],
    );
    check_problem(
        &h.get("/v1/accounts/someone-else/key-buckets"),
        404,
        expect!["account 'someone-else' does not exist"],
    );
    check_problem(
        &h.get("/v1/unknown"),
        404,
        expect!["no such route; see /openapi.json"],
    );
    check_problem(
        &h.get("/elsewhere"),
        404,
        expect!["no such route; see /openapi.json"],
    );
    assert_eq!(h.state(), before);
}

#[test]
fn wrong_methods_are_405() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let c = format!("{}/acme", consumers("default"));
    for (method, path) in [
        ("PUT", BUCKETS.to_owned()),
        ("POST", format!("{BUCKETS}/default")),
        ("PATCH", consumers("default")),
        ("PUT", c.clone()),
        ("DELETE", format!("{c}/keys")),
        ("POST", format!("{c}/keys/key_x")),
        ("GET", "/v1/verify".to_owned()),
    ] {
        let detail = problem_detail(&h.call(method, &path, ""), 405);
        assert_eq!(detail, "method not allowed on this path", "{method} {path}");
    }
}

#[test]
fn invalid_consumers_are_400_and_write_nothing() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &json!({"name": "existing"}));
    let six_tags: serde_json::Map<String, Value> =
        (0..6).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(&str, String, Expect)> = vec![
        (
            "malformed JSON",
            r#"{"name": "acme""#.to_owned(),
            expect!["request body: EOF while parsing an object at line 1 column 15"],
        ),
        (
            "empty body",
            "  \n".to_owned(),
            expect!["request body is empty; send a JSON document"],
        ),
        (
            "metadata string",
            json!({"name": "acme", "metadata": "x"}).to_string(),
            expect![[r#"metadata must be a JSON object, e.g. {"plan": "gold"}"#]],
        ),
        (
            "name number",
            json!({"name": 5}).to_string(),
            expect!["request body: invalid type: integer `5`, expected a string at line 1 column 9"],
        ),
        (
            "unknown field",
            json!({"name": "acme", "color": "red"}).to_string(),
            expect!["request body: unknown field `color`, expected one of `name`, `description`, `tags`, `metadata`, `managers`, `apiKeys`, `id`, `createdOn`, `updatedOn` at line 1 column 8"],
        ),
        (
            "read-only field not a string",
            json!({"name": "acme", "createdOn": 5}).to_string(),
            expect!["request body: invalid type: integer `5`, expected a string (a read-only field, ignored) at line 1 column 14"],
        ),
        (
            "metadata array",
            json!({"name": "acme", "metadata": [1, 2]}).to_string(),
            expect![[r#"metadata must be a JSON object, e.g. {"plan": "gold"}"#]],
        ),
        (
            "metadata over 1024 bytes",
            json!({"name": "acme", "metadata": {"blob": "x".repeat(1100)}}).to_string(),
            expect!["metadata is 1111 bytes serialized, over the limit of 1024; keep only what the gateway needs"],
        ),
        (
            "bad consumer name",
            json!({"name": "Acme Corp"}).to_string(),
            expect!["consumer name 'Acme Corp' is invalid; use 1 to 128 lowercase letters, digits and '-'"],
        ),
        (
            "bad e-mail",
            json!({"name": "acme", "managers": ["bob@"]}).to_string(),
            expect!["manager 'bob@' is not an e-mail address; use name@domain"],
        ),
        (
            "six tags",
            json!({"name": "acme", "tags": six_tags}).to_string(),
            expect!["6 tags given, at most 5 are allowed"],
        ),
        (
            "tags not strings",
            json!({"name": "acme", "tags": {"team": 1}}).to_string(),
            expect!["request body: invalid type: integer `1`, expected a string at line 1 column 31"],
        ),
        (
            "client-chosen key",
            json!({"name": "acme", "apiKeys": [{"key": "kw_x"}]}).to_string(),
            expect!["field 'key' is not a keyward key of prefix 'kw' (not shaped like {prefix}_{32 base62}_{6 base62}) and IMPORTED_KEY_PATTERN is not set, so no other key can be imported; set it to a regular expression for the keys to import (Zuplo's: ^zpka_[0-9a-f]{32}_[0-9a-f]{8}$), or omit 'key' to have one generated"],
        ),
        (
            "bad expiry",
            json!({"name": "acme", "apiKeys": [{"expiresOn": "tomorrow"}]}).to_string(),
            expect!["'tomorrow' is not an RFC 3339 date-time; use e.g. 2026-12-31T23:59:59Z"],
        ),
        (
            "a JSON array",
            "[]".to_owned(),
            expect!["request body must be a JSON object"],
        ),
    ];
    let before = h.state();
    for (what, body, detail) in cases {
        let r = h.call(
            "POST",
            &format!("{}?with-api-key=true", consumers("default")),
            &body,
        );
        assert_eq!(r.status, 400, "{what}: {}", r.json_body());
        detail.assert_eq(&problem_detail(&r, 400));
        assert_eq!(h.state(), before, "{what} changed the store");
    }
    assert_eq!(h.get(&consumers("default")).json_body()["total"], 1);
}

/// `metadata.rateLimit` and `metadata.quota` are the consumer's limits: creating, patching
/// or bulk-upserting a consumer with one keyward cannot read is a 400 naming the field, and
/// writes nothing; other metadata stays free-form, and `600.0` is 600.
#[test]
fn metadata_limits_are_checked_on_every_write_and_refusals_write_nothing() {
    let h = with_bucket();
    let good = json!({"plan": "gold", "ratelimit": "free-form",
        "rateLimit": {"requestsPerMinute": 600.0}, "quota": {"requests": 10000, "period": "month"}});
    let r = h.post(
        &consumers("default"),
        &json!({"name": "acme", "metadata": good}),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    assert_eq!(r.json_body()["metadata"], good);

    let bulk = format!("{}/$bulk", consumers("default"));
    let patch = format!("{}/acme", consumers("default"));
    let bad = |metadata: Value| json!({"name": "globex", "metadata": metadata}).to_string();
    let cases: Vec<(&str, &str, String, Expect)> = vec![
        (
            "POST",
            "create",
            bad(json!({"rateLimit": 600})),
            expect!["metadata.rateLimit: must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}"],
        ),
        (
            "POST",
            "create",
            bad(json!({"rateLimit": {"requestsPerMinute": 1.5}})),
            expect!["metadata.rateLimit: requestsPerMinute must be a whole number from 1 to 1000000000"],
        ),
        (
            "PATCH",
            "patch",
            json!({"metadata": {"plan": "free", "quota": {"requests": 5, "period": "week"}}})
                .to_string(),
            expect!["metadata.quota: period must be day or month (calendar periods in UTC)"],
        ),
        (
            "POST",
            "bulk",
            json!({"upsert": [{"name": "fine"}, {"name": "acme", "metadata": {"rateLimit": {"requests": 5, "periodSeconds": 7200}}}]})
                .to_string(),
            expect!["upsert[1]: metadata.rateLimit: periodSeconds must be a whole number from 1 to 3600"],
        ),
    ];
    let before = (h.state(), tables(&h));
    for (method, what, body, detail) in cases {
        let target = match what {
            "patch" => &patch,
            "bulk" => &bulk,
            _ => &consumers("default"),
        };
        let r = h.call(method, target, &body);
        detail.assert_eq(&problem_detail(&r, 400));
        assert_eq!((h.state(), tables(&h)), before, "{what} wrote something");
    }
    assert_eq!(h.get(&patch).json_body()["metadata"], good);
}

#[test]
fn bodies_over_the_limit_are_413_and_write_nothing() {
    let h = with_bucket();
    let before = h.state();
    let mut body = br#"{"name": "acme"}"#.to_vec();
    body.resize(MAX_BODY_BYTES + 1, b' ');
    for path in [
        consumers("default"),
        BUCKETS.to_owned(),
        "/v1/verify".to_owned(),
    ] {
        let r = h.send(&request("POST", &path, Some(TOKEN), &body));
        check_problem(&r, 413, expect!["request body is over 1048576 bytes"]);
    }
    assert_eq!(h.state(), before);
    // Exactly at the limit is still parsed.
    body.truncate(MAX_BODY_BYTES);
    let r = h.send(&request("POST", &consumers("default"), Some(TOKEN), &body));
    assert_eq!(r.status, 200, "{}", r.json_body());
}

/// `POST /v1/verify` and its answer.
fn verify_call(h: &Harness, body: Value) -> Value {
    let r = h.post("/v1/verify", &body);
    assert_eq!(r.status, 200, "{}", r.json_body());
    r.json_body()
}

#[test]
fn verify_endpoint_reports_every_code() {
    let h = with_bucket();
    let (c, key) = h.create_consumer_with_key("default", &acme());

    let v = verify_call(&h, json!({"key": key}));
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["valid"], true);
    assert_eq!(v["consumer"], "acme");
    assert_eq!(v["keyId"], c["apiKeys"][0]["id"]);
    assert_eq!(v["metadata"], json!({"plan": "gold", "orgId": 42}));
    assert_eq!(v["expiresOn"], Value::Null);

    for garbage in ["", "garbage", &key[..key.len() - 1], &key.to_uppercase()] {
        let v = verify_call(&h, json!({"key": garbage}));
        assert_eq!(v["code"], "MALFORMED", "{garbage}");
        assert_eq!(v["valid"], false);
        assert_eq!(v["consumer"], Value::Null);
    }
    let foreign = key_format::generate("acme", &support::OsEntropy).unwrap();
    assert_eq!(
        verify_call(&h, json!({"key": foreign}))["code"],
        "MALFORMED"
    );

    let unknown = key_format::generate("kw", &support::OsEntropy).unwrap();
    let v = verify_call(&h, json!({"key": unknown}));
    assert_eq!(v["code"], "NOT_FOUND");
    assert_eq!(v["valid"], false);

    // A key created already expired, relative to the API's clock.
    let past = timestamp::format(h.now() - 1000);
    let r = h.post(
        &format!("{}/acme/keys", consumers("default")),
        &json!({"expiresOn": past}),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let expired = r.json_body()["key"].as_str().unwrap().to_owned();
    let v = verify_call(&h, json!({"key": expired}));
    assert_eq!(v["code"], "EXPIRED");
    assert_eq!(v["valid"], false);
    assert_eq!(v["consumer"], "acme");
    assert_eq!(v["expiresOn"], past);

    // A key that expires in an hour, then the clock moves on.
    let in_an_hour = timestamp::format(h.now() + 3_600_000);
    let r = h.post(
        &format!("{}/acme/keys", consumers("default")),
        &json!({"expiresOn": in_an_hour}),
    );
    let soon = r.json_body()["key"].as_str().unwrap().to_owned();
    assert_eq!(verify_call(&h, json!({"key": soon}))["code"], "VALID");
    h.advance(3_600_000);
    assert_eq!(verify_call(&h, json!({"key": soon}))["code"], "EXPIRED");
    assert_eq!(verify_call(&h, json!({"key": key}))["code"], "VALID");

    check_problem(
        &h.post("/v1/verify", &json!({"key": key, "extra": 1})),
        400,
        expect![
            "request body: unknown field `extra`, expected one of `key`, `bucket`, `consume` at line 1 column 8"
        ],
    );
    check_problem(
        &h.post("/v1/verify", &json!({"key": key, "bucket": "B:x"})),
        400,
        expect!["bucket name 'B:x' is invalid; use 5 to 128 lowercase letters, digits and '-'"],
    );
    let mut req = request(
        "POST",
        "/v1/verify",
        None,
        json!({"key": key}).to_string().as_bytes(),
    );
    problem_detail(&h.send(&req), 401);
    req.authorization = Some("Bearer nope".into());
    problem_detail(&h.send(&req), 401);
}

#[test]
fn deleting_a_key_is_seen_by_the_verify_endpoint_at_once() {
    let h = with_bucket();
    let (c, key) = h.create_consumer_with_key("default", &acme());
    assert_eq!(verify_call(&h, json!({"key": key}))["code"], "VALID");
    let id = c["apiKeys"][0]["id"].as_str().unwrap();
    let r = h.delete(&format!("{}/acme/keys/{id}", consumers("default")));
    assert_eq!(r.status, 204);
    assert_eq!(verify_call(&h, json!({"key": key}))["code"], "NOT_FOUND");
}

/// Regression: tag values are limited in characters, KV metadata in bytes.
/// Five tags of 64 four-byte characters pass validation, but their index metadata is about
/// 1,500 bytes, so the write fails and a valid request gets a 500.
#[test]
fn valid_tags_always_fit_in_kv_metadata() {
    let h = with_bucket();
    let tags: serde_json::Map<String, Value> = (0..5)
        .map(|i| (format!("{i}{}", "k".repeat(31)), json!("😀".repeat(64))))
        .collect();
    let before = h.state();
    let r = h.post(
        &consumers("default"),
        &json!({"name": "emoji", "tags": tags}),
    );
    assert!(
        r.status == 200 || r.status == 400,
        "status {}: {}",
        r.status,
        r.json_body()
    );
    if r.status == 400 {
        assert_eq!(h.state(), before);
    }
}

/// Regression: serde's derived `Deserialize` also accepts a struct as
/// a JSON array of its fields in order, so `["acme"]` creates consumer `acme`, although
/// request bodies are documented as strict JSON objects.
#[test]
fn array_bodies_are_refused() {
    let h = with_bucket();
    let before = h.state();
    let r = h.call("POST", &consumers("default"), r#"["acme"]"#);
    assert_eq!(r.status, 400, "{}", r.json_body());
    assert_eq!(h.state(), before);
    let r = h.call("POST", BUCKETS, r#"["staging"]"#);
    assert_eq!(r.status, 400, "{}", r.json_body());
}

/// Regression: `manager-email` is applied after the page is cut, so
/// `total` counts consumers that do not match and a page can come back short or empty while
/// matches exist further on.
#[test]
fn manager_email_filters_before_paging() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &json!({"name": "a-first"}));
    h.create_consumer_with_key("default", &acme());
    let list = h
        .get(&format!(
            "{}?manager-email=bob@example.com&limit=1",
            consumers("default")
        ))
        .json_body();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["data"][0]["name"], "acme", "{list}");
}

/// A sync that lists a consumer created through the API updates it but never adopts it: its
/// source stays `api`, so `sync --prune` (deleteOnlySource=file) can never delete it.
#[test]
fn bulk_upserts_never_adopt_api_consumers() {
    let h = with_bucket();
    assert_eq!(
        h.call("POST", &consumers("default"), r#"{"name":"hand-made"}"#)
            .status,
        200
    );
    let bulk = format!("{}/$bulk", consumers("default"));
    let r = h.call(
        "POST",
        &bulk,
        r#"{"upsert":[{"name":"hand-made","description":"now in keys.yaml"},{"name":"from-file"}],"source":"file","commit":"abc123"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let statuses: Vec<Value> = r.json_body()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("updated"), json!("created")]);
    let got = h
        .call("GET", &format!("{}/hand-made", consumers("default")), "")
        .json_body();
    assert_eq!(
        (got["source"].clone(), got["description"].clone()),
        (json!("api"), json!("now in keys.yaml"))
    );
    let r = h.call(
        "POST",
        &bulk,
        r#"{"delete":["hand-made","from-file"],"deleteOnlySource":"file"}"#,
    );
    let statuses: Vec<Value> = r.json_body()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("protected"), json!("deleted")]);
}

/// Too many managers in one item rejects the whole bulk request before anything is written.
#[test]
fn bulk_rejects_too_many_managers_before_writing() {
    let h = with_bucket();
    let before = h.state();
    let managers: Vec<String> = (0..51).map(|i| format!("m{i}@example.com")).collect();
    let body = json!({"upsert": [{"name": "fine"}, {"name": "crowded", "managers": managers}]});
    let r = h.call(
        "POST",
        &format!("{}/$bulk", consumers("default")),
        &body.to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.json_body());
    assert_eq!(h.state(), before);
}

/// `$check` finds a verification record that disagrees with its consumer, one no consumer
/// lists and one missing; `POST $check` repairs all three from the bucket's tables.
#[test]
fn check_finds_stale_and_orphan_entries_and_repairs_them() {
    use keyward_core::storage::store::Store;
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let check = format!("{BUCKETS}/default/$check");
    assert_eq!(h.call("GET", &check, "").json_body()["consistent"], true);
    let stale = h
        .state()
        .into_iter()
        .find(|(k, _, _)| k.starts_with("k:default:"))
        .map(|(k, _, _)| k)
        .expect("a verification record");
    pollster::block_on(async {
        let store = &h.store;
        store
            .put(&stale, r#"{"v":1,"consumer":"acme","keyId":"key_x","metadata":{"plan":"free"},"expiresOn":null}"#, None)
            .await
            .unwrap();
        store
            .put(
                "k:default:orphanHashOfAKeyNobodyLists",
                r#"{"v":1,"consumer":"ghost","keyId":"key_g","metadata":{},"expiresOn":null}"#,
                None,
            )
            .await
            .unwrap();
    });
    let (_, missing_key) = h.create_consumer_with_key("default", &json!({"name": "globex"}));
    let missing = kv::keys::key_hash("default", &h.hasher.hash(&missing_key));
    pollster::block_on(h.store.delete(&missing)).unwrap();
    let found = h.call("GET", &check, "").json_body();
    assert_eq!(found["consistent"], false);
    let problems: Vec<&str> = found["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"verification record differs from its consumer (metadata or expiry)"),
        "{found}"
    );
    assert!(
        problems.contains(&"verification record of a key no consumer lists"),
        "{found}"
    );
    assert!(
        problems.contains(&"a listed key has no verification record (it cannot verify)"),
        "{found}"
    );
    assert!(
        !found.to_string().contains(&stale["k:default:".len()..]),
        "a full hash in the report"
    );
    let repaired = h.call("POST", &check, "").json_body();
    assert_eq!(repaired["repaired"], true);
    assert_eq!(h.call("GET", &check, "").json_body()["consistent"], true);
    assert!(matches!(h.verify(&missing_key), Verdict::Valid(_)));
    assert!(!h.state().iter().any(|(k, _, _)| k.contains("orphanHash")));
}

/// The front asks an object only for what the token may do there; everything else is
/// answered in the front, so no token wakes (or creates) an object outside its scope.
#[test]
fn only_permitted_requests_are_routed_to_an_object() {
    use keyward_core::api::Target;
    let mut h = Harness::new();
    let scoped = format!(
        r#"[{{"name":"ro","sha256":"{}","access":"read"}},{{"name":"a-only","sha256":"{}","access":"write","buckets":["bucket-a"]}}]"#,
        sha256_hex("read-token"),
        sha256_hex("a-token")
    );
    h.tokens = Tokens::from_secrets(Some(TOKEN), Some(&scoped)).unwrap();
    let target = |method: &str, path: &str, token: Option<&str>, body: &str| {
        h.api()
            .target(&request(method, path, token, body.as_bytes()))
    };
    let bucket = |b: &str| Target::Bucket(b.to_owned());
    let a = format!("{BUCKETS}/bucket-a/consumers");
    let b = format!("{BUCKETS}/bucket-b/consumers");
    assert_eq!(target("GET", &a, Some(TOKEN), ""), bucket("bucket-a"));
    assert_eq!(target("GET", &a, Some("a-token"), ""), bucket("bucket-a"));
    assert_eq!(target("GET", &b, Some("a-token"), ""), Target::Here);
    assert_eq!(
        target("GET", &b, Some("read-token"), ""),
        bucket("bucket-b")
    );
    assert_eq!(target("POST", &b, Some("read-token"), "{}"), Target::Here);
    assert_eq!(target("GET", &a, None, ""), Target::Here);
    assert_eq!(target("GET", &a, Some("nope"), ""), Target::Here);
    let other_account = "/v1/accounts/elsewhere/key-buckets/bucket-a/consumers";
    assert_eq!(target("GET", other_account, Some(TOKEN), ""), Target::Here);
    assert_eq!(
        target("GET", BUCKETS, Some("a-token"), ""),
        Target::Directory
    );
    let create = r#"{"name":"bucket-a"}"#;
    assert_eq!(
        target("POST", BUCKETS, Some("a-token"), create),
        bucket("bucket-a")
    );
    assert_eq!(
        target("POST", BUCKETS, Some("a-token"), r#"{"name":"bucket-b"}"#),
        Target::Here
    );
    assert_eq!(
        target("POST", BUCKETS, Some(TOKEN), "{\"name\":"),
        Target::Directory
    );
    assert_eq!(target("GET", "/v1/info", Some(TOKEN), ""), Target::Here);
    // What stays in the front is answered there without a bucket's tables.
    let r = h.send(&request("GET", &b, Some("a-token"), b""));
    assert_eq!(r.status, 403);
}

/// Consumer lists page by name with `cursor`, filtered or not, and the pages add up to the
/// whole list once each.
#[test]
fn cursors_page_through_lists_and_filters() {
    let h = with_bucket();
    for name in ["c-1", "c-2", "c-3", "c-4", "c-5"] {
        let r = h.post(
            &consumers("default"),
            &json!({"name": name, "tags": {"team": "x"}, "managers": ["pat@example.com"]}),
        );
        assert_eq!(r.status, 200);
    }
    for filter in ["", "&tag.team=x", "&manager-email=pat@example.com"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..5 {
            let mut url = format!("{}?limit=2{filter}", consumers("default"));
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = h.get(&url).json_body();
            assert_eq!(page["total"], 5, "{filter}: {page}");
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].as_str().unwrap().to_owned()),
            );
            cursor = page["cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, ["c-1", "c-2", "c-3", "c-4", "c-5"], "{filter}");
    }
    let bad = h.get(&format!("{}?cursor=NOT%20A%20NAME", consumers("default")));
    problem_detail(&bad, 400);
    let many: String = (0..6).map(|i| format!("&tag.t{i}=v")).collect();
    problem_detail(
        &h.get(&format!("{}?limit=1{many}", consumers("default"))),
        400,
    );
}

/// Several tag filters: a consumer must carry every one; totals count only those.
#[test]
fn tag_filters_combine() {
    let h = with_bucket();
    for (name, team, env) in [
        ("a", "x", "prod"),
        ("b", "x", "dev"),
        ("c", "y", "prod"),
        ("d", "x", "prod"),
    ] {
        let r = h.post(
            &consumers("default"),
            &json!({"name": name, "tags": {"team": team, "env": env}}),
        );
        assert_eq!(r.status, 200);
    }
    let names = |query: &str| {
        let page = h
            .get(&format!("{}?{query}", consumers("default")))
            .json_body();
        let names: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        (names, page["total"].as_u64().unwrap())
    };
    assert_eq!(
        names("tag.team=x&tag.env=prod"),
        (vec!["a".into(), "d".into()], 2)
    );
    assert_eq!(
        names("tag.env=prod"),
        (vec!["a".into(), "c".into(), "d".into()], 3)
    );
    assert_eq!(
        names("tag.team=x&tag.env=prod&limit=1&offset=1"),
        (vec!["d".into()], 2)
    );
    assert_eq!(names("tag.team=z"), (vec![], 0));
}

/// `$check` and `$index` take their own `cursor` (and `$index` its own `limit`), which are
/// not a consumer list's: they reach the handler and are answered there.
#[test]
fn check_and_index_read_their_own_parameters() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let index = h.get(&format!("{}/$index?limit=10000", consumers("default")));
    assert_eq!(index.status, 200, "{}", index.json_body());
    let too_many = h.get(&format!("{}/$index?limit=10001", consumers("default")));
    assert!(problem_detail(&too_many, 400).contains("10000"));
    // A cursor of $check's own shape: a hash, a dot and KV's cursor.
    let check = h.get(&format!("{BUCKETS}/default/$check?cursor=abc.def"));
    assert_eq!(check.status, 200, "{}", check.json_body());
    let bad = h.get(&format!("{BUCKETS}/default/$check?cursor=no-dot"));
    assert!(problem_detail(&bad, 400).contains("$check"));
}

/// `/v1/info` shows the edge's bucket and key prefix only to a token that sees the bucket.
#[test]
fn info_shows_the_edge_bucket_only_to_tokens_that_see_it() {
    let mut h = Harness::new();
    let scoped = format!(
        r#"[{{"name":"other","sha256":"{}","access":"read","buckets":["elsewhere"]}}]"#,
        sha256_hex("other-token")
    );
    h.tokens = Tokens::from_secrets(Some(TOKEN), Some(&scoped)).unwrap();
    let full = h.get("/v1/info").json_body();
    assert_eq!(full["bucket"], "default", "{full}");
    assert_eq!(full["keyPrefix"], "kw", "{full}");
    let other = h
        .send(&request("GET", "/v1/info", Some("other-token"), b""))
        .json_body();
    assert_eq!(other["account"], "local", "{other}");
    assert!(other.get("bucket").is_none(), "{other}");
    assert!(other.get("keyPrefix").is_none(), "{other}");
}

// What a client of Zuplo's developer API sends and reads (issue 13): every body and query below
// is what Zuplo's published schema lets such a client send.

/// Every `null` in `v` (with where it is), except `expiresOn`: Zuplo types every other optional
/// field as a string or object, so a typed client fails on `null`.
fn nulls(v: &Value, at: &str) -> Vec<String> {
    match v {
        Value::Null => vec![at.to_owned()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, x)| nulls(x, &format!("{at}[{i}]")))
            .collect(),
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "expiresOn")
            .flat_map(|(k, x)| nulls(x, &format!("{at}.{k}")))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn absent_optional_strings_are_omitted_never_null() {
    let h = with_bucket();
    let c = consumers("default");
    let (created, _) = h.create_consumer_with_key(
        "default",
        &json!({"name": "plain", "managers": ["ops@acme.example"]}),
    );
    let key_id = created["apiKeys"][0]["id"].as_str().unwrap().to_owned();
    let answers = vec![
        ("create consumer", created),
        ("bucket", h.get(&format!("{BUCKETS}/default")).json_body()),
        ("buckets", h.get(BUCKETS).json_body()),
        (
            "consumer",
            h.get(&format!(
                "{c}/plain?include-api-keys=true&include-managers=true"
            ))
            .json_body(),
        ),
        (
            "consumers",
            h.get(&format!("{c}?include-api-keys=true&include-managers=true"))
                .json_body(),
        ),
        ("keys", h.get(&format!("{c}/plain/keys")).json_body()),
        (
            "key",
            h.get(&format!("{c}/plain/keys/{key_id}")).json_body(),
        ),
        (
            "managers",
            h.get(&format!("{c}/plain/managers")).json_body(),
        ),
        (
            "create key",
            h.post(&format!("{c}/plain/keys"), &json!({})).json_body(),
        ),
        (
            "bulk keys",
            h.post(&format!("{c}/plain/keys/$bulk"), &json!([{}]))
                .json_body(),
        ),
        (
            "add manager without sub",
            h.post(
                &format!("{c}/plain/managers"),
                &json!({"email": "two@acme.example"}),
            )
            .json_body(),
        ),
    ];
    // `null` still clears a field in a PATCH (keyward's request semantics); the answer then
    // omits the field.
    for (path, body) in [
        (format!("{BUCKETS}/default"), r#"{"description":"x"}"#),
        (format!("{BUCKETS}/default"), r#"{"description":null}"#),
        (format!("{c}/plain"), r#"{"description":"x"}"#),
        (format!("{c}/plain"), r#"{"description":null}"#),
        (format!("{c}/plain/keys/{key_id}"), r#"{"description":"x"}"#),
        (
            format!("{c}/plain/keys/{key_id}"),
            r#"{"description":null}"#,
        ),
    ] {
        let r = h.call("PATCH", &path, body);
        assert_eq!(r.status, 200, "{path} {body}: {}", r.json_body());
        let answer = r.json_body();
        assert_eq!(
            nulls(&answer, "$"),
            Vec::<String>::new(),
            "{path} {body}: {answer}"
        );
        let cleared = body.contains("null");
        assert_eq!(
            answer.get("description").is_none(),
            cleared,
            "{path} {body}: {answer}"
        );
    }
    for (what, answer) in &answers {
        assert_eq!(nulls(answer, "$"), Vec::<String>::new(), "{what}: {answer}");
    }
    let text = answers
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<String>();
    assert!(!text.contains(r#""description""#), "{text}");
    assert!(!text.contains(r#""sub""#), "{text}");
    // A key that never expires still answers `expiresOn: null`, as Zuplo does.
    assert_eq!(answers[6].1["expiresOn"], Value::Null);
    assert!(answers[6].1.as_object().unwrap().contains_key("expiresOn"));
    // Values that exist are shown.
    let m = h.post(
        &format!("{c}/plain/managers"),
        &json!({"email": "three@acme.example", "sub": "auth0|3"}),
    );
    assert_eq!(m.json_body()["sub"], "auth0|3");
}

#[test]
fn bulk_keys_answer_the_list_envelope() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let r = h.post(
        &format!("{}/acme/keys/$bulk", consumers("default")),
        &json!([{"description": "a"}, {"expiresOn": "2030-01-01T00:00:00Z"}]),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let body = r.json_body();
    assert_eq!(
        (&body["limit"], &body["offset"], &body["total"]),
        (&json!(2), &json!(0), &json!(2)),
        "{body}"
    );
    let data = body["data"].as_array().unwrap();
    assert_eq!(data[0]["description"], "a");
    assert_eq!(data[1]["expiresOn"], "2030-01-01T00:00:00.000Z");
    for k in data {
        let key = k["key"].as_str().unwrap();
        assert!(matches!(h.verify(key), Verdict::Valid(_)), "{k}");
    }
    assert_eq!(
        h.get(&format!("{}/acme/keys", consumers("default")))
            .json_body()["total"],
        3
    );
}

#[test]
fn bodies_echoing_zuplo_read_only_fields_are_accepted_and_ignored() {
    let h = Harness::new();
    let now = timestamp::format(h.now());
    let old = "2023-04-20T05:54:34.408Z";
    let ro = json!({"id": "fake_1", "createdOn": old, "updatedOn": old});
    let with_ro = |v: Value| {
        let mut v = v;
        for (k, x) in ro.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    // A bucket, created and patched with what a client read back.
    let b = h.post(BUCKETS, &with_ro(json!({"name": "default"})));
    assert_eq!(b.status, 200, "{}", b.json_body());
    assert!(b.json_body()["id"].as_str().unwrap().starts_with("bckt_"));
    assert_eq!(b.json_body()["createdOn"], now);
    let r = h.call(
        "PATCH",
        &format!("{BUCKETS}/default"),
        &with_ro(json!({"description": "d"})).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    // A consumer as Zuplo's own example creates it: managers as objects with their read-only
    // fields (and an e-mail), keys with theirs.
    let c = consumers("default");
    let created = h.post(
        &c,
        &with_ro(json!({
            "name": "zup-inc",
            "managers": [
                {"id": "eusr_fake", "createdOn": old, "email": "Mgr@Zup.example", "sub": "oauth2|1"},
                {"email": "plain@zup.example"},
            ],
            "apiKeys": [with_ro(json!({"description": "k"}))],
        })),
    );
    assert_eq!(created.status, 200, "{}", created.json_body());
    let created = created.json_body();
    assert!(
        created["id"].as_str().unwrap().starts_with("csmr_"),
        "{created}"
    );
    assert_eq!(created["createdOn"], now);
    let m = &created["managers"][0];
    assert!(m["id"].as_str().unwrap().starts_with("eusr_"), "{m}");
    assert_eq!(
        (&m["email"], &m["sub"], &m["createdOn"]),
        (&json!("mgr@zup.example"), &json!("oauth2|1"), &json!(now))
    );
    let k = &created["apiKeys"][0];
    assert!(k["id"].as_str().unwrap().starts_with("key_"), "{k}");
    assert_eq!(
        (&k["description"], &k["createdOn"]),
        (&json!("k"), &json!(now))
    );
    let key_id = k["id"].as_str().unwrap().to_owned();
    // Read, change, send back: the read-only fields ride along and are ignored.
    h.advance(1000);
    let later = timestamp::format(h.now());
    let mut got = h.get(&format!("{c}/zup-inc")).json_body();
    got["description"] = "changed".into();
    let echo = json!({
        "id": got["id"], "createdOn": got["createdOn"], "updatedOn": got["updatedOn"],
        "description": got["description"], "tags": got["tags"], "metadata": got["metadata"],
    });
    let r = h.call("PATCH", &format!("{c}/zup-inc"), &echo.to_string());
    assert_eq!(r.status, 200, "{}", r.json_body());
    assert_eq!(r.json_body()["id"], created["id"]);
    assert_eq!(r.json_body()["createdOn"], now);
    assert_eq!(r.json_body()["updatedOn"], later);
    let mut key = h.get(&format!("{c}/zup-inc/keys/{key_id}")).json_body();
    key["expiresOn"] = "2031-01-01T00:00:00Z".into();
    let echo = json!({
        "id": key["id"], "createdOn": key["createdOn"], "updatedOn": key["updatedOn"],
        "description": key["description"], "expiresOn": key["expiresOn"],
    });
    let r = h.call(
        "PATCH",
        &format!("{c}/zup-inc/keys/{key_id}"),
        &echo.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    assert_eq!(r.json_body()["expiresOn"], "2031-01-01T00:00:00.000Z");
    for (path, body) in [
        (
            format!("{c}/zup-inc/keys"),
            with_ro(json!({"description": "one"})),
        ),
        (
            format!("{c}/zup-inc/keys/$bulk"),
            json!([with_ro(json!({}))]),
        ),
        (
            format!("{c}/zup-inc/managers"),
            json!({"id": "eusr_fake", "createdOn": old, "email": "new@zup.example", "sub": "s"}),
        ),
    ] {
        let r = h.post(&path, &body);
        assert_eq!(r.status, 200, "{path}: {}", r.json_body());
        assert!(
            !r.json_body().to_string().contains("fake"),
            "{path}: {}",
            r.json_body()
        );
    }
    // Still refused, writing nothing: fields nobody defines, and read-only fields that are
    // not strings.
    let before = h.state();
    for (method, path, body) in [
        (
            "POST",
            BUCKETS.to_owned(),
            json!({"name": "other", "colour": "red"}),
        ),
        ("PATCH", format!("{BUCKETS}/default"), json!({"id": 1})),
        ("PATCH", format!("{c}/zup-inc"), json!({"apiKeys": []})),
        (
            "POST",
            c.clone(),
            json!({"name": "x", "managers": [{"email": "a@b.example", "role": "admin"}]}),
        ),
        (
            "POST",
            c.clone(),
            json!({"name": "x", "apiKeys": [{"createdBy": "me"}]}),
        ),
        (
            "POST",
            format!("{c}/zup-inc/keys"),
            json!({"updatedOn": null}),
        ),
        (
            "PATCH",
            format!("{c}/zup-inc/keys/{key_id}"),
            json!({"key": "kw_x", "id": key_id}),
        ),
        (
            "POST",
            format!("{c}/zup-inc/managers"),
            json!({"email": "z@zup.example", "updatedOn": old}),
        ),
    ] {
        let r = h.call(method, &path, &body.to_string());
        assert_eq!(r.status, 400, "{method} {path} {body}: {}", r.json_body());
        assert_eq!(
            h.state(),
            before,
            "{method} {path} {body} changed the store"
        );
    }
}

#[test]
fn a_limit_over_the_maximum_is_capped_as_zuplo_does() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let c = consumers("default");
    for path in [
        format!("{c}?limit=5000"),
        format!("{c}/acme/keys?limit=1001"),
        format!("{c}/acme/managers?limit=99999999999999999999999"),
        format!("{BUCKETS}?limit=2000"),
    ] {
        let r = h.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.json_body());
        assert_eq!(r.json_body()["limit"], 1000, "{path}");
        assert!(r.json_body()["total"].as_u64().unwrap() >= 1, "{path}");
    }
    for bad in ["0", "-5", "ten", ""] {
        let r = h.get(&format!("{c}?limit={bad}"));
        assert!(problem_detail(&r, 400).contains("limit"), "{bad}");
    }
}

#[test]
fn include_manager_invites_answers_an_empty_list() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let c = consumers("default");
    let list = h.get(&format!(
        "{c}?include-manager-invites=true&include-managers=true"
    ));
    assert_eq!(list.status, 200, "{}", list.json_body());
    let first = &list.json_body()["data"][0];
    assert_eq!(first["managerInvites"], json!([]), "{first}");
    assert_eq!(first["managers"].as_array().unwrap().len(), 2, "{first}");
    let one = h
        .get(&format!("{c}/acme?include-manager-invites=true"))
        .json_body();
    assert_eq!(one["managerInvites"], json!([]), "{one}");
    for query in ["include-manager-invites=false", ""] {
        let one = h.get(&format!("{c}/acme?{query}")).json_body();
        assert!(one.get("managerInvites").is_none(), "{query}: {one}");
    }
    let bad = h.get(&format!("{c}/acme?include-manager-invites=maybe"));
    assert!(problem_detail(&bad, 400).contains("include-manager-invites"));
}

/// `tag[k]=v` (OpenAPI's deepObject, what generated clients send) is read exactly like
/// Zuplo's `tag.k=v`: as a filter and as an ownership guard.
#[test]
fn tag_filters_in_deep_object_form_act_like_zuplos_form() {
    let h = with_bucket();
    let c = consumers("default");
    for (name, team, env) in [("a", "x", "prod"), ("b", "x", "dev"), ("d", "y", "prod")] {
        let r = h.post(
            &c,
            &json!({"name": name, "tags": {"team": team, "env": env}}),
        );
        assert_eq!(r.status, 200);
    }
    let names = |query: &str| -> Vec<String> {
        let page = h.get(&format!("{c}?{query}")).json_body();
        page["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {page}"))
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for query in [
        "tag.team=x&tag.env=prod",
        "tag[team]=x&tag[env]=prod",
        "tag%5Bteam%5D=x&tag%5Benv%5D=prod",
        "tag[team]=x&tag.env=prod",
    ] {
        assert_eq!(names(query), ["a"], "{query}");
    }
    // The guard: a consumer whose tag differs is 404 and unchanged.
    let before = h.state();
    for (method, body) in [
        ("GET", ""),
        ("PATCH", r#"{"description":"taken"}"#),
        ("DELETE", ""),
    ] {
        let r = h.call(method, &format!("{c}/a?tag[team]=y"), body);
        problem_detail(&r, 404);
    }
    assert_eq!(h.state(), before);
    assert_eq!(
        h.call("DELETE", &format!("{c}/a?tag[team]=x"), "").status,
        204
    );
    // A bare `tag` names no tag: refused, not ignored (it would guard nothing).
    let r = h.call("DELETE", &format!("{c}/b?tag=x"), "");
    assert!(problem_detail(&r, 400).contains("tag[<key>]"));
    assert_eq!(h.get(&format!("{c}/b")).status, 200);
}

/// Zuplo's key pattern, and keys of its shape (the first from Zuplo's documentation).
const ZUPLO_PATTERN: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";
const ZPKA_1: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
const ZPKA_2: &str = "zpka_0123456789abcdef0123456789abcdef_01234567";
const ZPKA_3: &str = "zpka_ffffffffffffffffffffffffffffffff_89abcdef";

/// A harness with bucket `default` that imports Zuplo's keys.
fn importing() -> Harness {
    let mut h = Harness::new();
    h.config.imported_key_pattern = Some(Pattern::compile(ZUPLO_PATTERN).unwrap());
    h.create_bucket("default");
    h
}

/// Everything the bucket's tables hold, as text (records, hashes, outbox entries).
fn tables(h: &Harness) -> String {
    let mut all = String::new();
    for q in [
        "SELECT hash || consumer || record FROM keys",
        "SELECT name || record FROM consumers",
        "SELECT name || coalesce(value, '') FROM outbox",
    ] {
        for row in h.sql.exec(q, &[]).unwrap() {
            all.push_str(row.text(0).unwrap());
            all.push('\n');
        }
    }
    all
}

/// Asserts that `secret` is nowhere: KV, the tables, or `also` (answers, errors).
#[track_caller]
fn assert_nowhere(h: &Harness, secret: &str, also: &[&str]) {
    assert_not_stored(h, secret);
    assert!(!tables(h).contains(secret), "plaintext key in the tables");
    for text in also {
        assert!(!text.contains(secret), "plaintext key in {text}");
    }
}

#[test]
fn imported_keys_are_stored_as_hashes_and_verify_with_their_expiry_and_description() {
    let h = importing();
    let mut body = acme();
    body["apiKeys"] = json!([{"key": ZPKA_1, "description": "from zuplo"}]);
    let r = h.post(&consumers("default"), &body);
    assert_eq!(r.status, 200, "{}", r.json_body());
    let created = r.json_body();
    assert_eq!(
        created["apiKeys"][0]["key"], ZPKA_1,
        "the answer shows it once"
    );
    assert_eq!(created["apiKeys"][0]["description"], "from zuplo");

    // keys/$bulk: an imported key with an expiry, a keyward key of this deployment, and
    // a generated one.
    let ours = key_format::generate("kw", &h.entropy).unwrap();
    let keys_path = format!("{}/acme/keys", consumers("default"));
    let r = h.post(
        &format!("{keys_path}/$bulk"),
        &json!([
            {"key": ZPKA_2, "expiresOn": "2030-01-01T00:00:00Z", "description": "old"},
            {"key": ours},
            {}
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let bulk = r.json_body();
    assert_eq!(bulk["data"][0]["key"], ZPKA_2);
    assert_eq!(bulk["data"][0]["expiresOn"], "2030-01-01T00:00:00.000Z");
    assert_eq!(bulk["data"][1]["key"], ours.as_str());
    let generated = bulk["data"][2]["key"].as_str().unwrap().to_owned();
    assert!(key_format::parse(&generated).is_ok());

    // Listed masked: `****` and the last 6 for an imported key, the usual form for ours.
    let list = h.get(&format!("{keys_path}?key-format=masked")).json_body();
    let shown: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "****fb7009".to_owned(),
            "****234567".to_owned(),
            key_format::mask(&ours),
            key_format::mask(&generated)
        ]
    );
    assert_eq!(list["data"][1]["description"], "old");

    for (key, id) in [(ZPKA_1, 0), (ZPKA_2, 1)] {
        match h.verify(key) {
            Verdict::Valid(r) => {
                assert_eq!(r.consumer, "acme");
                assert_eq!(r.key_id, list["data"][id]["id"].as_str().unwrap());
                assert_eq!(r.metadata["plan"], "gold");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(h.verify(&ours), Verdict::Valid(_)));
    assert_eq!(h.verify(ZPKA_3), Verdict::NotFound);
    // The imported expiry holds at the edge.
    h.set_now(timestamp::parse("2030-01-01T00:00:01Z").unwrap());
    assert!(matches!(h.verify(ZPKA_2), Verdict::Expired(_)));
    let listed = list.to_string();
    assert_nowhere(&h, ZPKA_1, &[&listed]);
    assert_nowhere(&h, ZPKA_2, &[&listed]);
    assert_nowhere(&h, &ours, &[&listed]);
}

#[test]
fn refused_imports_write_nothing_and_never_quote_the_key() {
    let h = importing();
    h.create_consumer_with_key("default", &acme());
    let keys_path = format!("{}/acme/keys", consumers("default"));
    let r = h.post(&keys_path, &json!({"key": ZPKA_1}));
    assert_eq!(r.status, 200, "{}", r.json_body());
    let r = h.post(
        &format!("{}?with-api-key=true", consumers("default")),
        &json!({"name": "globex"}),
    );
    assert_eq!(r.status, 200);
    let globex_keys = format!("{}/globex/keys", consumers("default"));
    let kv_before = h.state();
    let tables_before = tables(&h);

    let bad_checksum = {
        let k = key_format::generate("kw", &h.entropy).unwrap();
        let (head, last) = k.split_at(k.len() - 1);
        format!("{head}{}", if last == "0" { '1' } else { '0' })
    };
    let other_prefix = key_format::generate("acme_live", &h.entropy).unwrap();
    let long = format!("zpka_{}", "a".repeat(300));
    let cases: Vec<(&str, Value, u16, Expect)> = vec![
        (
            "held by another consumer",
            json!({"key": ZPKA_1}),
            409,
            expect!["a supplied 'key' is already stored in bucket 'default', for consumer 'acme'; a key belongs to one consumer: delete it there first, or leave it out of this request"],
        ),
        (
            "held, in a bulk with a new one",
            json!([{"key": ZPKA_2}, {"key": ZPKA_1}]),
            409,
            expect!["a supplied 'key' is already stored in bucket 'default', for consumer 'acme'; a key belongs to one consumer: delete it there first, or leave it out of this request"],
        ),
        (
            "twice in one request",
            json!([{"key": ZPKA_3}, {"key": ZPKA_3}]),
            400,
            expect!["the same 'key' is supplied twice in this request; supply each key once"],
        ),
        (
            "upper-case hex",
            json!({"key": ZPKA_3.to_uppercase()}),
            400,
            expect!["field 'key' is not a keyward key of prefix 'kw' (not shaped like {prefix}_{32 base62}_{6 base62}) and does not match IMPORTED_KEY_PATTERN; omit 'key' to have one generated"],
        ),
        (
            "bad checksum",
            json!({"key": bad_checksum}),
            400,
            expect!["field 'key' is not a keyward key of prefix 'kw' (checksum does not match) and does not match IMPORTED_KEY_PATTERN; omit 'key' to have one generated"],
        ),
        (
            "another prefix",
            json!({"key": other_prefix}),
            400,
            expect!["field 'key' is a keyward key of prefix 'acme_live', not of this deployment's 'kw' and does not match IMPORTED_KEY_PATTERN; omit 'key' to have one generated"],
        ),
        (
            "too long",
            json!({"key": long}),
            400,
            expect!["field 'key' is longer than 256 bytes"],
        ),
        (
            "a space",
            json!({"key": format!("{ZPKA_3} ")}),
            400,
            expect!["field 'key' may hold only visible ASCII characters (no spaces, control characters or non-ASCII), since keys travel in HTTP headers"],
        ),
        (
            "a control character",
            json!({"key": format!("zpka_\u{1}{}", &ZPKA_3[5..])}),
            400,
            expect!["field 'key' may hold only visible ASCII characters (no spaces, control characters or non-ASCII), since keys travel in HTTP headers"],
        ),
        (
            "empty",
            json!({"key": ""}),
            400,
            expect!["field 'key' is empty"],
        ),
    ];
    for (what, body, status, detail) in cases {
        let target = if body.is_array() {
            format!("{globex_keys}/$bulk")
        } else {
            globex_keys.clone()
        };
        let r = h.post(&target, &body);
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, status, "{what}: {text}");
        check_problem(&r, status, detail);
        for key in [ZPKA_1, ZPKA_2, ZPKA_3, &bad_checksum, &other_prefix] {
            assert!(!text.contains(key), "{what}: the answer quotes a key");
        }
        assert_eq!(h.state(), kv_before, "{what}: KV changed");
        assert_eq!(tables(&h), tables_before, "{what}: the tables changed");
    }
    // A consumer created with a held key is refused whole.
    let r = h.post(
        &consumers("default"),
        &json!({"name": "initech", "apiKeys": [{"key": ZPKA_2}, {"key": ZPKA_1}]}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(tables(&h), tables_before);
    assert_eq!(h.verify(ZPKA_2), Verdict::NotFound);
}

#[test]
fn without_the_pattern_foreign_keys_are_refused_naming_the_variable() {
    let h = with_bucket();
    h.create_consumer_with_key("default", &acme());
    let before = tables(&h);
    let r = h.post(
        &format!("{}/acme/keys", consumers("default")),
        &json!({"key": ZPKA_1}),
    );
    let detail = problem_detail(&r, 400);
    assert!(
        detail.contains("IMPORTED_KEY_PATTERN is not set"),
        "{detail}"
    );
    assert!(!detail.contains(ZPKA_1));
    assert_eq!(tables(&h), before);
    assert_eq!(h.verify(ZPKA_1), Verdict::Malformed);
    // A keyward key of this deployment needs no pattern.
    let ours = key_format::generate("kw", &h.entropy).unwrap();
    let r = h.post(
        &format!("{}/acme/keys", consumers("default")),
        &json!({"key": ours}),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    assert!(matches!(h.verify(&ours), Verdict::Valid(_)));
}
