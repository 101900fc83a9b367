//! End-to-end: the real Worker in workerd (wrangler dev), driven over HTTP and through the
//! `keyward` binary. Each test starts its own Worker on a free port with a fresh local KV.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyward_e2e::{
    admin, any_file_contains, cli_binary, count_files, http, root, Echo, Worker, TOKEN,
};
use serde_json::{json, Value};
use std::process::Command;

/// Creates bucket `default` and consumer `name` with one key; returns the key.
fn consumer_with_key(w: &Worker, name: &str, metadata: Value) -> String {
    let body = json!({"name": name, "metadata": metadata, "tags": {"team": "e2e"}, "managers": ["Owner@Example.com"]});
    let c = keyward_e2e::create_consumer(w, &body);
    assert_eq!(c["managers"][0]["email"], "owner@example.com");
    c["apiKeys"][0]["key"]
        .as_str()
        .expect("plaintext key in the creating response")
        .to_owned()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn assert_problem_401(a: &keyward_e2e::Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {a:?}");
    assert_eq!(
        a.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert!(
        a.header("www-authenticate").is_some(),
        "{what}: no WWW-Authenticate"
    );
    let p = a.json();
    assert_eq!(p["status"], 401, "{what}");
    assert_eq!(p["title"], "Unauthorized", "{what}");
}

/// Flips one character of the checksum so the format stays right but the CRC does not.
fn break_checksum(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn edge_verification_without_upstream() {
    let w = Worker::start(&[]);
    let edge = format!("{}/orders/42", w.origin);

    assert_problem_401(&http("GET", &edge, &[], None), "no credential");
    let key = consumer_with_key(&w, "acme-corp", json!({"plan": "gold"}));
    assert_problem_401(
        &http(
            "GET",
            &edge,
            &[("authorization", &format!("Basic {key}"))],
            None,
        ),
        "wrong scheme",
    );
    assert_problem_401(
        &http("GET", &edge, &[("authorization", "Bearer not-a-key")], None),
        "malformed",
    );
    assert_problem_401(
        &http(
            "GET",
            &edge,
            &[("authorization", &bearer(&break_checksum(&key)))],
            None,
        ),
        "bad checksum",
    );
    let unknown = "kw_00000000000000000000000000000000_1vXtxm";
    assert_problem_401(
        &http("GET", &edge, &[("authorization", &bearer(unknown))], None),
        "unknown",
    );

    let ok = http("GET", &edge, &[("authorization", &bearer(&key))], None);
    assert_eq!(ok.status, 200, "{ok:?}");
    let identity = ok.json();
    assert_eq!(identity["consumer"], "acme-corp");
    assert_eq!(identity["metadata"], json!({"plan": "gold"}));
    assert!(identity["keyId"].as_str().unwrap().starts_with("key_"));

    // An expired key gets the same 401 as an unknown one.
    let keys_url = format!(
        "{}/key-buckets/default/consumers/acme-corp/keys",
        w.account()
    );
    let expired = admin(
        "POST",
        &keys_url,
        Some(r#"{"description":"old","expiresOn":"2020-01-01T00:00:00Z"}"#),
    );
    assert_eq!(expired.status, 200, "{expired:?}");
    let expired_key = expired.json()["key"].as_str().unwrap().to_owned();
    assert_problem_401(
        &http(
            "GET",
            &edge,
            &[("authorization", &bearer(&expired_key))],
            None,
        ),
        "expired",
    );

    // The privileged verify endpoint tells the reasons apart.
    let verify = |k: &str| {
        let a = admin(
            "POST",
            &format!("{}/v1/verify", w.api_base()),
            Some(&json!({"key": k}).to_string()),
        );
        assert_eq!(a.status, 200, "{a:?}");
        a.json()
    };
    let v = verify(&key);
    assert_eq!(
        (v["valid"].clone(), v["code"].clone()),
        (json!(true), json!("VALID"))
    );
    assert_eq!(v["consumer"], "acme-corp");
    assert_eq!(verify("garbage")["code"], "MALFORMED");
    assert_eq!(verify(&break_checksum(&key))["code"], "MALFORMED");
    assert_eq!(verify(unknown)["code"], "NOT_FOUND");
    let e = verify(&expired_key);
    assert_eq!(
        (e["code"].clone(), e["valid"].clone()),
        (json!("EXPIRED"), json!(false))
    );
    assert_eq!(e["expiresOn"], "2020-01-01T00:00:00.000Z");

    // A deleted key is rejected on the very next request (same isolate drops its cache entry).
    let list = admin("GET", &keys_url, None).json();
    assert_eq!(list["total"], 2);
    let key_id = identity["keyId"].as_str().unwrap();
    let masked = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id)
        .unwrap()["key"]
        .clone();
    assert_eq!(
        masked.as_str().unwrap(),
        format!("kw_****{}", &key[key.len() - 6..])
    );
    assert_eq!(
        admin("DELETE", &format!("{keys_url}/{key_id}"), None).status,
        204
    );
    assert_problem_401(
        &http("GET", &edge, &[("authorization", &bearer(&key))], None),
        "deleted",
    );
    assert_eq!(verify(&key)["code"], "NOT_FOUND");

    // No plaintext key the test created is in the local KV state on disk.
    let state = w.state_dir();
    assert!(
        count_files(&state) > 0,
        "no KV state under {}",
        state.display()
    );
    for k in [&key, &expired_key] {
        assert!(
            !any_file_contains(&state, k.as_bytes()),
            "plaintext key found in the KV state"
        );
    }
}

#[test]
fn management_api_auth_and_bad_input() {
    let w = Worker::start(&[]);
    let buckets = format!("{}/key-buckets", w.account());
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some("Basic abc"),
        Some(TOKEN),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let a = http("GET", &buckets, &headers, None);
        assert_eq!(a.status, 401, "auth {auth:?}: {a:?}");
        assert_eq!(a.header("content-type"), Some("application/problem+json"));
    }
    consumer_with_key(&w, "first", json!({}));
    let consumers = format!("{}/default/consumers", buckets);
    let snapshot = || {
        admin(
            "GET",
            &format!("{consumers}?include-api-keys=true&include-managers=true"),
            None,
        )
        .text
    };
    let before = snapshot();
    let bad_bodies = [
        ("malformed JSON", "{\"name\": \"x\","),
        ("wrong type", r#"{"name": 5}"#),
        (
            "metadata not an object",
            r#"{"name": "x", "metadata": "gold"}"#,
        ),
        ("unknown field", r#"{"name": "x", "colour": "red"}"#),
        ("bad name", r#"{"name": "Not Valid"}"#),
        ("bad e-mail", r#"{"name": "x", "managers": ["bob@"]}"#),
        ("empty body", ""),
    ];
    for (what, body) in bad_bodies {
        let a = admin(
            "POST",
            &format!("{consumers}?with-api-key=true"),
            Some(body),
        );
        assert_eq!(a.status, 400, "{what}: {a:?}");
        assert_eq!(
            a.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
        assert!(
            a.json()["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: no detail"
        );
    }
    assert_eq!(before, snapshot(), "a rejected request changed the state");
    let dup = admin("POST", &consumers, Some(r#"{"name": "first"}"#));
    assert_eq!(dup.status, 409, "{dup:?}");
    assert_eq!(
        admin("GET", &format!("{consumers}/nobody"), None).status,
        404
    );
    assert_eq!(
        admin("PUT", &format!("{consumers}/first"), None).status,
        405
    );
    let visible = admin(
        "GET",
        &format!("{consumers}?include-api-keys=true&key-format=visible"),
        None,
    );
    assert_eq!(visible.status, 400);
    assert!(
        visible.json()["detail"]
            .as_str()
            .unwrap()
            .contains("hashed only"),
        "{visible:?}"
    );
}

#[test]
fn forwards_verified_requests_upstream_with_identity() {
    let echo = Echo::start();
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        ("AUTH_QUERY_PARAM", "api_key"),
    ]);
    let metadata = json!({"plan": "gold", "limits": {"rpm": 600}});
    let key = consumer_with_key(&w, "acme-corp", metadata.clone());
    let a = http(
        "POST",
        &format!("{}/orders?x=1", w.origin),
        &[
            ("authorization", &bearer(&key)),
            ("x-keyward-consumer", "spoofed"),
            ("x-trace", "t1"),
        ],
        Some(r#"{"order": 1}"#),
    );
    assert_eq!(a.status, 200, "{a:?}\n{}", w.log());
    assert_eq!(a.json(), json!({"echo": true}));
    let got = echo.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/orders?x=1")
    );
    assert_eq!(r.body, r#"{"order": 1}"#);
    assert_eq!(
        r.header("authorization"),
        None,
        "the credential was forwarded"
    );
    assert_eq!(r.header("x-keyward-consumer"), Some("acme-corp"));
    assert_eq!(r.header("x-trace"), Some("t1"));
    assert!(r
        .header("x-keyward-key-id")
        .is_some_and(|id| id.starts_with("key_")));
    let decoded = URL_SAFE_NO_PAD
        .decode(r.header("x-keyward-metadata").expect("metadata header"))
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap(), metadata);

    // The key in a query parameter works too, and is removed before forwarding.
    let q = http(
        "GET",
        &format!("{}/items?api_key={key}&page=2", w.origin),
        &[],
        None,
    );
    assert_eq!(q.status, 200, "{q:?}");
    let r = &echo.received()[1];
    assert_eq!(r.target, "/items?page=2");
    assert_eq!(r.header("x-keyward-consumer"), Some("acme-corp"));

    // Rejected requests never reach the upstream.
    assert_eq!(
        http("GET", &format!("{}/orders", w.origin), &[], None).status,
        401
    );
    assert_eq!(echo.received().len(), 2);
}

#[test]
fn bare_header_and_unauthenticated_pass_through() {
    let echo = Echo::start();
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        ("AUTH_HEADER", "X-API-Key"),
        ("AUTH_SCHEME", ""),
        ("ALLOW_UNAUTHENTICATED", "true"),
    ]);
    let key = consumer_with_key(&w, "bare", json!({"tier": 1}));
    assert_eq!(
        http(
            "GET",
            &format!("{}/a", w.origin),
            &[("x-api-key", &key)],
            None
        )
        .status,
        200
    );
    assert_eq!(
        http(
            "GET",
            &format!("{}/b", w.origin),
            &[("x-keyward-consumer", "spoofed")],
            None
        )
        .status,
        200
    );
    let got = echo.received();
    assert_eq!(got[0].header("x-keyward-consumer"), Some("bare"));
    assert_eq!(got[0].header("x-api-key"), None);
    assert_eq!(
        got[1].header("x-keyward-consumer"),
        None,
        "unauthenticated requests carry no identity"
    );
}

#[test]
fn cli_syncs_keys_yaml_and_manages_keys() {
    let w = Worker::start(&[]);
    let cli = |args: &[&str]| {
        let out = Command::new(cli_binary())
            .args(args)
            .env("KEYWARD_URL", w.api_base())
            .env("KEYWARD_TOKEN", TOKEN)
            .current_dir(root())
            .output()
            .expect("run keyward");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["sync", "keys.yaml"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Sync: 3 created"), "{out}");
    let (code, again, _) = cli(&["sync", "keys.yaml"]);
    assert_eq!(code, Some(0));
    assert!(
        again.contains("Sync: 0 created, 0 updated, 0 deleted."),
        "a second sync must change nothing: {again}"
    );

    let consumers = admin(
        "GET",
        &format!("{}/key-buckets/default/consumers", w.account()),
        None,
    )
    .json();
    let first = consumers["data"][0]["name"]
        .as_str()
        .expect("keys.yaml has consumers")
        .to_owned();
    let (code, key, err) = cli(&[
        "keys",
        "create",
        "--consumer",
        &first,
        "--description",
        "e2e",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let key = key.trim().to_owned();
    assert_eq!(key.lines().count(), 1, "stdout must hold only the key");
    let ok = http(
        "GET",
        &format!("{}/x", w.origin),
        &[("authorization", &bearer(&key))],
        None,
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["consumer"], first.as_str());

    let (code, listing, _) = cli(&["keys", "list", "--consumer", &first]);
    assert_eq!(code, Some(0));
    assert!(!listing.contains(&key), "list must not show the key");
    let id = ok.json()["keyId"].as_str().unwrap().to_owned();
    assert!(listing.contains(&id), "{listing}");
    let (code, _, _) = cli(&["keys", "delete", "--consumer", &first, &id]);
    assert_eq!(code, Some(0));
    assert_eq!(
        http(
            "GET",
            &format!("{}/x", w.origin),
            &[("authorization", &bearer(&key))],
            None
        )
        .status,
        401
    );

    let (code, _, err) = cli(&["keys", "create", "--consumer", "no-such-consumer"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("404"), "{err}");
    let (code, _, _) = cli(&["no-such-command"]);
    assert_eq!(code, Some(1), "usage errors exit 1");
}
