//! Retrievable buckets against the real Worker: with `KEY_ENCRYPTION_SECRET` set, a bucket
//! created with `isRetrievable: true` keeps each key encrypted beside its hash. The local
//! state (KV and the objects' SQLite files) holds no plaintext key, `key-format=visible`
//! shows the keys to a write token, a read token gets 403, a hash-only bucket still answers
//! 400, and a bucket's mode cannot change (409).

use keyward_e2e::{admin, any_file_contains, count_files, http, keyward, sha256_hex, Echo, Worker};
use serde_json::{json, Value};

const SECRET: &str = "e2e-key-encryption-secret-of-32-bytes-at-least";
const ZUPLO_PATTERN: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";
const ZPKA: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";

fn call(w: &Worker, method: &str, path: &str, body: Option<Value>) -> keyward_e2e::Answer {
    admin(
        method,
        &format!("{}/key-buckets{path}", w.account()),
        body.map(|b| b.to_string()).as_deref(),
    )
}

#[test]
fn retrievable_keys_are_stored_encrypted_and_shown_to_write_tokens() {
    let tokens =
        json!([{"name": "reader", "sha256": sha256_hex(b"e2e-read-token"), "access": "read"}]);
    let echo = Echo::start();
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        // The edge verifies keys of this bucket.
        ("BUCKET", "shown"),
        ("KEY_ENCRYPTION_SECRET", SECRET),
        ("IMPORTED_KEY_PATTERN", ZUPLO_PATTERN),
        ("MANAGEMENT_TOKENS", &tokens.to_string()),
    ]);
    let r = call(
        &w,
        "POST",
        "",
        Some(json!({"name": "shown", "isRetrievable": true})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["isRetrievable"], true);
    let r = call(&w, "POST", "", Some(json!({"name": "hashed"})));
    assert_eq!(r.json()["isRetrievable"], false);

    let r = call(
        &w,
        "POST",
        "/shown/consumers?with-api-key=true",
        Some(json!({"name": "acme", "apiKeys": [{"key": ZPKA}]})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let generated = r.json()["apiKeys"][1]["key"].as_str().unwrap().to_owned();
    let r = call(
        &w,
        "POST",
        "/hashed/consumers?with-api-key=true",
        Some(json!({"name": "beta"})),
    );
    let hashed_key = r.json()["apiKeys"][0]["key"].as_str().unwrap().to_owned();

    // visible: the plaintexts, in a key list and in a consumer list.
    let r = call(
        &w,
        "GET",
        "/shown/consumers/acme/keys?key-format=visible",
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let shown: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, [ZPKA.to_owned(), generated.clone()]);
    let r = call(
        &w,
        "GET",
        "/shown/consumers?include-api-keys=true&key-format=visible",
        None,
    );
    assert_eq!(r.json()["data"][0]["apiKeys"][1]["key"], generated.as_str());

    // A read token: 403; a hash-only bucket: 400 that says why; a mode change: 409.
    let read = http(
        "GET",
        &format!(
            "{}/key-buckets/shown/consumers/acme/keys?key-format=visible",
            w.account()
        ),
        &[("authorization", "Bearer e2e-read-token")],
        None,
    );
    assert_eq!(read.status, 403, "{read:?}");
    assert!(!read.text.contains(&generated));
    let r = call(
        &w,
        "GET",
        "/hashed/consumers/beta/keys?key-format=visible",
        None,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json()["detail"].as_str().unwrap().contains("hashed only"));
    assert!(!r.text.contains(&hashed_key));
    let r = call(&w, "PATCH", "/hashed", Some(json!({"isRetrievable": true})));
    assert_eq!(r.status, 409, "{r:?}");

    // The edge verifies them as before.
    assert_eq!(w.gateway(ZPKA), 200, "{}", w.log());
    assert_eq!(w.gateway(&generated), 200);

    // Nowhere in plaintext: not in KV, not in the objects' SQLite, not in the log.
    assert!(count_files(&w.state_dir()) > 0, "no local state to search");
    for key in [ZPKA, generated.as_str(), hashed_key.as_str()] {
        assert!(
            !any_file_contains(&w.state_dir(), key.as_bytes()),
            "a plaintext key is in the local state"
        );
        assert!(!w.log().contains(key), "a plaintext key is in the log");
    }
}

/// Without the secret, nothing is retrievable: creating such a bucket is a 400 naming it.
#[test]
fn without_the_secret_a_retrievable_bucket_is_refused() {
    let w = Worker::start(&[]);
    let r = call(
        &w,
        "POST",
        "",
        Some(json!({"name": "shown", "isRetrievable": true})),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("KEY_ENCRYPTION_SECRET"));
    assert_eq!(call(&w, "GET", "/shown", None).status, 404);
}

/// A short secret fails only what needs it: the edge and hash-only buckets keep working, a
/// retrievable bucket is a 500 whose log line names the secret (never quoting it).
#[test]
fn a_short_secret_fails_only_retrievable_buckets() {
    let echo = Echo::start();
    let w = Worker::start(&[
        ("KEY_ENCRYPTION_SECRET", "too-short-secret"),
        ("UPSTREAM_URL", &echo.origin),
        ("BUCKET", "hashed"),
    ]);
    let r = call(&w, "POST", "", Some(json!({"name": "hashed"})));
    assert_eq!(r.status, 200, "{r:?}");
    let r = call(
        &w,
        "POST",
        "/hashed/consumers?with-api-key=true",
        Some(json!({"name": "beta"})),
    );
    let key = r.json()["apiKeys"][0]["key"].as_str().unwrap().to_owned();
    assert_eq!(w.gateway(&key), 200);
    let r = call(
        &w,
        "POST",
        "",
        Some(json!({"name": "shown", "isRetrievable": true})),
    );
    assert_eq!(r.status, 500, "{r:?}");
    let log = w.log_with("KEY_ENCRYPTION_SECRET");
    assert!(!log.contains("too-short-secret"));
}

/// `isRetrievable` in keys.yaml: sync creates the bucket that way, export writes it back, and
/// a file that disagrees with a live bucket's mode is an error (exit 1) before any change.
#[test]
fn keys_yaml_creates_retrievable_buckets_and_never_flips_one() {
    let w = Worker::start(&[("KEY_ENCRYPTION_SECRET", SECRET)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.yaml");
    let text = "version: 1\nbuckets:\n  shown:\n    isRetrievable: true\n    consumers:\n      acme: {}\n  hashed:\n    consumers:\n      beta: {}\n";
    std::fs::write(&file, text).unwrap();
    let r = keyward(&w, dir.path(), &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        call(&w, "GET", "/shown", None).json()["isRetrievable"],
        true
    );
    assert_eq!(
        call(&w, "GET", "/hashed", None).json()["isRetrievable"],
        false
    );
    let r = keyward(&w, dir.path(), &["plan", "--exit-code"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = keyward(
        &w,
        dir.path(),
        &["export", "--output", "exported.yaml"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let exported = std::fs::read_to_string(dir.path().join("exported.yaml")).unwrap();
    assert!(
        exported.contains("  shown:\n    isRetrievable: true\n"),
        "{exported}"
    );

    std::fs::write(
        &file,
        text.replace("    isRetrievable: true\n", "")
            .replace("  hashed:\n", "  hashed:\n    isRetrievable: true\n"),
    )
    .unwrap();
    for command in ["plan", "sync"] {
        let r = keyward(&w, dir.path(), &[command], &[]);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert!(
            r.err
                .contains("a bucket's mode is fixed when it is created"),
            "{r:?}"
        );
    }
    assert_eq!(
        call(&w, "GET", "/hashed", None).json()["isRetrievable"],
        false
    );
}
