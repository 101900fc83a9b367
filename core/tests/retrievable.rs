//! Retrievable buckets (`isRetrievable`, `KEY_ENCRYPTION_SECRET`): keys kept encrypted beside
//! their hash, shown again with `key-format=visible` to write tokens only; hash-only buckets
//! stay the default and a bucket's mode never changes.

mod support;

use keyward_core::api::token::Tokens;
use keyward_core::config::Config;
use keyward_core::edge::verify::Verdict;
use keyward_core::key::sealed::Vault;
use keyward_core::storage::bucket::sql::Sql;
use serde_json::{json, Value};
use support::*;

const SECRET: &str = "an-encryption-secret-of-32-bytes-or-more";
const ZPKA: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";

fn vaulted() -> Harness {
    let mut h = Harness::new();
    h.config = Config {
        key_vault: Some(Vault::new(SECRET.as_bytes()).unwrap()),
        imported_key_pattern: Some(
            keyward_core::key::imported::Pattern::compile("^zpka_[0-9a-f]{32}_[0-9a-f]{8}$")
                .unwrap(),
        ),
        ..Config::default()
    };
    h
}

fn consumers(bucket: &str) -> String {
    format!("{BUCKETS}/{bucket}/consumers")
}

/// Everything stored: KV and every table of the bucket's object.
fn everything(h: &Harness) -> String {
    let mut all = format!("{:?}", h.state());
    for table in ["buckets", "consumers", "keys", "outbox", "meta"] {
        let rows = h.sql.exec(&format!("SELECT * FROM {table}"), &[]).unwrap();
        all.push_str(&format!("{rows:?}"));
    }
    all
}

fn retrievable_bucket(h: &Harness, name: &str) -> Value {
    let r = h.post(BUCKETS, &json!({"name": name, "isRetrievable": true}));
    assert_eq!(r.status, 200, "{}", r.json_body());
    r.json_body()
}

/// Rolls `consumer`'s keys in bucket `shown`, the old ones revoked at once, asking for the new
/// key in the answer.
fn roll_now(h: &Harness, consumer: &str) -> keyward_core::http::ApiResponse {
    let mut roll = request(
        "POST",
        &format!("{}/{consumer}/roll-key", consumers("shown")),
        Some(TOKEN),
        br#"{"expiresOn": "2000-01-01T00:00:00Z"}"#,
    );
    roll.prefer = Some("return=representation".into());
    h.send(&roll)
}

#[test]
fn a_retrievable_bucket_shows_its_keys_again_to_write_tokens() {
    let h = vaulted();
    assert_eq!(retrievable_bucket(&h, "shown")["isRetrievable"], true);
    assert_eq!(
        h.get(&format!("{BUCKETS}/shown")).json_body()["isRetrievable"],
        true
    );
    let r = h.post(
        &format!("{}?with-api-key=true", consumers("shown")),
        &json!({"name": "acme", "metadata": {"plan": "gold"}, "apiKeys": [{"key": ZPKA, "description": "from zuplo"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let generated = r.json_body()["apiKeys"][1]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = format!("{}/acme/keys", consumers("shown"));

    // Listed, read one by one, and inside consumer lists: the plaintext.
    let listed = h.get(&format!("{keys}?key-format=visible")).json_body();
    let shown: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(shown, [ZPKA, generated.as_str()]);
    let id = listed["data"][1]["id"].as_str().unwrap();
    let one = h
        .get(&format!("{keys}/{id}?key-format=visible"))
        .json_body();
    assert_eq!(one["key"], generated.as_str());
    let list = h
        .get(&format!(
            "{}?include-api-keys=true&key-format=visible",
            consumers("shown")
        ))
        .json_body();
    assert_eq!(list["data"][0]["apiKeys"][0]["key"], ZPKA);
    // Masked stays the default.
    let masked = h.get(&keys).json_body();
    assert_eq!(masked["data"][0]["key"], "****fb7009");

    // A rolled key is sealed too.
    let rolled = roll_now(&h, "acme").json_body()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = h.get(&format!("{keys}?key-format=visible")).json_body();
    assert_eq!(listed["data"][2]["key"], rolled.as_str());

    // The edge is unchanged: the hash still finds each key.
    assert!(matches!(
        pollster::block_on(h.verifier_for("shown").verify(&rolled, h.now())).unwrap(),
        Verdict::Valid(_)
    ));

    // Stored only encrypted: no plaintext in KV or in any table.
    let stored = everything(&h);
    for key in [ZPKA, generated.as_str(), rolled.as_str()] {
        assert!(!stored.contains(key), "a plaintext key is stored");
    }
    assert!(
        stored.contains("sealed") && stored.contains("v1."),
        "no encrypted copy stored"
    );
}

#[test]
fn read_tokens_get_403_and_hash_only_buckets_400() {
    let mut h = vaulted();
    h.tokens = Tokens::from_secrets(
        Some(TOKEN),
        Some(
            &json!([{"name": "reader", "sha256": sha256_hex("read-token"), "access": "read"}])
                .to_string(),
        ),
    )
    .unwrap();
    retrievable_bucket(&h, "shown");
    h.create_bucket("hashed");
    h.create_consumer_with_key("shown", &json!({"name": "acme"}));
    h.create_consumer_with_key("hashed", &json!({"name": "acme"}));
    let read = |path: &str| {
        h.send(&request(
            "GET",
            &format!("{path}?key-format=visible"),
            Some("read-token"),
            b"",
        ))
    };
    let detail = problem_detail(&read(&format!("{}/acme/keys", consumers("shown"))), 403);
    assert!(detail.contains("needs a write token"), "{detail}");
    // Masked is still fine for a read token.
    let masked = h.send(&request(
        "GET",
        &format!("{}/acme/keys", consumers("shown")),
        Some("read-token"),
        b"",
    ));
    assert_eq!(masked.status, 200);
    let detail = problem_detail(
        &h.get(&format!(
            "{}/acme/keys?key-format=visible",
            consumers("hashed")
        )),
        400,
    );
    assert!(
        detail.contains("hashed only (isRetrievable: false)"),
        "{detail}"
    );
}

#[test]
fn a_bucket_mode_is_fixed_at_creation() {
    let h = vaulted();
    retrievable_bucket(&h, "shown");
    h.create_bucket("hashed");
    let patch = |bucket: &str, body: Value| {
        h.call("PATCH", &format!("{BUCKETS}/{bucket}"), &body.to_string())
    };
    let detail = problem_detail(&patch("hashed", json!({"isRetrievable": true})), 409);
    assert!(
        detail.contains("cannot recover the keys it only hashed"),
        "{detail}"
    );
    let detail = problem_detail(&patch("shown", json!({"isRetrievable": false})), 409);
    assert!(detail.contains("fixed when it is created"), "{detail}");
    // Echoing the bucket as it is (what a client sends back) is fine.
    let same = patch("shown", json!({"isRetrievable": true, "description": "d"}));
    assert_eq!(same.status, 200, "{}", same.json_body());
    assert_eq!(same.json_body()["isRetrievable"], true);
}

#[test]
fn without_the_secret_no_bucket_becomes_retrievable_and_existing_ones_say_why() {
    let mut h = vaulted();
    retrievable_bucket(&h, "shown");
    h.create_consumer_with_key("shown", &json!({"name": "acme"}));
    h.config.key_vault = None;
    let before = h.state();
    let before_tables = everything(&h);
    let detail = problem_detail(
        &h.post(BUCKETS, &json!({"name": "another", "isRetrievable": true})),
        400,
    );
    assert!(detail.contains("KEY_ENCRYPTION_SECRET"), "{detail}");
    // A new key there would not be retrievable: refused, nothing written. Server-side
    // errors carry no detail (the Worker logs the message, which names the secret).
    let created = h.post(&format!("{}/acme/keys", consumers("shown")), &json!({}));
    assert_eq!(problem_detail(&created, 500), "");
    let shown = h.get(&format!(
        "{}/acme/keys?key-format=visible",
        consumers("shown")
    ));
    assert_eq!(problem_detail(&shown, 500), "");
    assert_eq!(h.state(), before);
    assert_eq!(
        everything(&h),
        before_tables,
        "a refused request changed the tables"
    );
    let api = h.api();
    let e = api.vault_of("shown").unwrap_err();
    assert!(
        e.message().contains("KEY_ENCRYPTION_SECRET is not set"),
        "{e}"
    );

    // Rolling answers a leak: it works without the secret; the new key has no encrypted
    // copy, and this answer is where it is shown.
    let rolled = roll_now(&h, "acme");
    assert_eq!(rolled.status, 200, "{}", rolled.json_body());
    let rolled = rolled.json_body()["key"].as_str().unwrap().to_owned();

    // Another secret: each key that cannot be opened is shown masked with the reason (which
    // names no key); the page still answers.
    h.config.key_vault = Some(Vault::new(b"a different secret, also 32 bytes long").unwrap());
    let shown = h
        .get(&format!(
            "{}/acme/keys?key-format=visible",
            consumers("shown")
        ))
        .json_body();
    let keys = shown["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let why = keys[0]["keyUnavailable"].as_str().unwrap();
    assert!(why.contains("another KEY_ENCRYPTION_SECRET"), "{why}");
    assert!(keys[0]["key"].as_str().unwrap().contains("****"));
    let why = keys[1]["keyUnavailable"].as_str().unwrap();
    assert!(why.contains("no encrypted copy"), "{why}");
    assert!(!shown.to_string().contains(&rolled[3..35]));
}

/// A refused `KEY_ENCRYPTION_SECRET` (too short) does not stop the deployment: hash-only
/// buckets work, and only what needs the vault fails, naming the secret.
#[test]
fn a_refused_secret_fails_only_what_needs_it() {
    let mut h = Harness::new();
    h.config = Config::from_lookup(|name| {
        (name == "KEY_ENCRYPTION_SECRET").then(|| "too-short-secret".to_owned())
    })
    .unwrap();
    let e = h.config.vault().unwrap_err();
    assert!(e.message().contains("KEY_ENCRYPTION_SECRET"), "{e}");
    assert!(!e.message().contains("too-short-secret"), "{e}");
    h.create_bucket("hashed");
    h.create_consumer_with_key("hashed", &json!({"name": "acme"}));
    let listed = h.get(&format!("{}?include-api-keys=true", consumers("hashed")));
    assert_eq!(listed.status, 200);
    let refused = h.post(BUCKETS, &json!({"name": "shown", "isRetrievable": true}));
    assert_eq!(problem_detail(&refused, 500), "");
}

/// A retrievable bucket's records carry schema version 2, which builds from before
/// retrievable buckets refuse instead of rewriting them without `retrievable` and `sealed`
/// (a rollback must not flip the bucket or drop the encrypted copies); hash-only records stay
/// at 1, and verification records in KV stay at 1 for every edge.
#[test]
fn records_an_older_build_would_damage_carry_version_2() {
    let h = vaulted();
    retrievable_bucket(&h, "shown");
    h.create_bucket("hashed");
    h.create_consumer_with_key("shown", &json!({"name": "acme"}));
    h.create_consumer_with_key("hashed", &json!({"name": "beta"}));
    let version = |table: &str, name: &str| {
        let rows = h
            .sql
            .exec(
                &format!("SELECT record FROM {table} WHERE name = ?"),
                &[name.into()],
            )
            .unwrap();
        let record: Value = serde_json::from_str(rows[0].text(0).unwrap()).unwrap();
        record["v"].as_u64().unwrap()
    };
    assert_eq!(version("buckets", "shown"), 2);
    assert_eq!(version("buckets", "hashed"), 1);
    assert_eq!(version("consumers", "acme"), 2);
    assert_eq!(version("consumers", "beta"), 1);
    for (k, v, _) in h.state() {
        if k.starts_with("k:") {
            assert!(v.starts_with("{\"v\":1,"), "{k}: {v}");
        }
    }
    // Still read, listed and changed by this build.
    let r = h.call(
        "PATCH",
        &format!("{BUCKETS}/shown"),
        r#"{"description":"d"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        h.get(&format!("{}/acme/keys", consumers("shown"))).status,
        200
    );
}
