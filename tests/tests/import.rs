//! Importing existing keys (migration off Zuplo) against the real Worker: with
//! `IMPORTED_KEY_PATTERN` set to Zuplo's key format, `zpka_` keys given at consumer creation
//! and through `keys/$bulk` open the gateway with their consumer's identity, keep their
//! expiry and description, and are nowhere in plaintext; without the variable they are
//! refused with a 400 that names it.

use keyward_e2e::{admin, any_file_contains, count_files, Echo, Worker};
use serde_json::{json, Value};

const ZUPLO_PATTERN: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";
const AT_CREATION: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
const IN_BULK: &str = "zpka_0123456789abcdef0123456789abcdef_01234567";
const EXPIRED: &str = "zpka_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_bbbbbbbb";
const NEVER_IMPORTED: &str = "zpka_ffffffffffffffffffffffffffffffff_89abcdef";

fn post(w: &Worker, path: &str, body: &Value) -> keyward_e2e::Answer {
    admin(
        "POST",
        &format!("{}/key-buckets/{path}", w.account()),
        Some(&body.to_string()),
    )
}

fn create_bucket(w: &Worker) {
    let r = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(r#"{"name":"default"}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn zuplo_keys_are_imported_and_open_the_gateway() {
    let echo = Echo::start();
    let w = Worker::start(&[
        ("IMPORTED_KEY_PATTERN", ZUPLO_PATTERN),
        ("UPSTREAM_URL", &echo.origin),
    ]);
    create_bucket(&w);
    let r = post(
        &w,
        "default/consumers",
        &json!({"name": "zuplo-co", "metadata": {"plan": "gold"},
                "apiKeys": [{"key": AT_CREATION, "description": "from zuplo"}]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["apiKeys"][0]["key"], AT_CREATION);
    let r = post(
        &w,
        "default/consumers/zuplo-co/keys/$bulk",
        &json!([
            {"key": IN_BULK, "expiresOn": "2099-01-01T00:00:00Z", "description": "ci"},
            {"key": EXPIRED, "expiresOn": "2001-01-01T00:00:00Z"}
        ]),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let listed = admin(
        "GET",
        &format!(
            "{}/key-buckets/default/consumers/zuplo-co/keys?key-format=masked",
            w.account()
        ),
        None,
    );
    assert_eq!(listed.status, 200, "{listed:?}");
    let keys = listed.json()["data"].clone();
    assert_eq!(keys[0]["description"], "from zuplo");
    assert_eq!(keys[1]["description"], "ci");
    assert_eq!(keys[1]["expiresOn"], "2099-01-01T00:00:00.000Z");
    assert_eq!(keys[1]["key"], "****234567");

    for key in [AT_CREATION, IN_BULK] {
        assert_eq!(w.gateway(key), 200, "{}", w.log());
    }
    let got = echo.received();
    assert_eq!(got.len(), 2, "{got:?}");
    for r in &got {
        assert_eq!(r.header("x-keyward-consumer"), Some("zuplo-co"));
        assert!(r.header("authorization").is_none());
    }
    assert_eq!(got[0].header("x-keyward-key-id"), keys[0]["id"].as_str());
    assert_eq!(got[1].header("x-keyward-key-id"), keys[1]["id"].as_str());

    assert_eq!(w.gateway(EXPIRED), 401);
    assert_eq!(w.gateway(NEVER_IMPORTED), 401);
    assert_eq!(w.gateway("garbage"), 401);
    assert_eq!(w.gateway(&AT_CREATION.to_uppercase()), 401);
    assert_eq!(
        echo.received().len(),
        2,
        "a refused key reached the upstream"
    );

    // A key the bucket holds is refused, without quoting it.
    let r = post(
        &w,
        "default/consumers",
        &json!({"name": "thief", "apiKeys": [{"key": AT_CREATION}]}),
    );
    assert_eq!(r.status, 409, "{r:?}");
    assert!(!r.text.contains(AT_CREATION));

    assert!(count_files(&w.state_dir()) > 0, "no local state to search");
    let log = w.log();
    for key in [AT_CREATION, IN_BULK, EXPIRED, NEVER_IMPORTED] {
        assert!(!log.contains(key), "a plaintext key is in the log");
        assert!(
            !any_file_contains(&w.state_dir(), key.as_bytes()),
            "a plaintext key is in the local state"
        );
    }
}

#[test]
fn without_the_pattern_foreign_keys_are_refused() {
    let w = Worker::start(&[]);
    create_bucket(&w);
    let r = post(
        &w,
        "default/consumers",
        &json!({"name": "zuplo-co", "apiKeys": [{"key": AT_CREATION}]}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("IMPORTED_KEY_PATTERN"), "{detail}");
    assert!(!r.text.contains(AT_CREATION));
    let listed = admin(
        "GET",
        &format!("{}/key-buckets/default/consumers", w.account()),
        None,
    );
    assert_eq!(listed.json()["total"], 0, "{listed:?}");
    assert_eq!(w.gateway(AT_CREATION), 401);
    assert!(!w.log().contains(AT_CREATION));
}

/// A pattern with nested quantifiers, and keys built to make a backtracking engine try every
/// split (JavaScript's RegExp took seconds on 28 characters of this): the edge's matcher is
/// linear, so each request is answered (401) well within the harness's 30 s timeout.
#[test]
fn a_pattern_that_backtracks_cannot_stall_the_edge() {
    let w = Worker::start(&[("IMPORTED_KEY_PATTERN", "([0-9a-f]+_?)+")]);
    for n in [28, 64, 250] {
        let hostile = format!("{}!", "0".repeat(n));
        assert_eq!(w.gateway(&hostile), 401, "{n} characters");
    }
    let matching = "0123456789abcdef_0123456789abcdef";
    assert_eq!(w.gateway(matching), 401, "matches, but was never imported");
}
