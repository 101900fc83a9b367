//! `keyward import zuplo` against the real Worker: a recorded Zuplo bucket
//! (`tests/fixtures/zuplo/`, served by a stub of Zuplo's Developer API on 127.0.0.1 that
//! checks the token and the query the importer sends) imported into `keys.yaml` and the
//! Worker; then `plan` is empty, every imported key opens the gateway with its consumer's
//! metadata, the rerun writes nothing, `--dry-run` writes nothing, no plaintext key is
//! printed or written to the file. Without `IMPORTED_KEY_PATTERN` the import is refused
//! before anything is written; a hash-only source is said to be one; and a retrievable
//! bucket of one keyward is imported into another, whose edge then takes its keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyward_e2e::{admin, keyward_at, Echo, Received, Reply, Run, Stub, Worker, TOKEN};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ZUPLO_PATTERN: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";
const ZUPLO_TOKEN: &str = "zuplo-stub-api-key";
const ACCOUNT: &str = "acme";
const BUCKET: &str = "acme-production";

/// The fixture's keys: consumer, key, expired.
const KEYS: [(&str, &str, bool); 5] = [
    (
        "acme-corp",
        "zpka_7974d1de1641df0234e124a5d0f4acfa_c9a1c0a0",
        false,
    ),
    (
        "acme-corp",
        "zpka_b020fa707cae0377ce6bd6cdbdf65ce1_cdf97704",
        true,
    ),
    (
        "globex",
        "zpka_73ad51a1df0fd2772c07f258fc76ddb1_73483a89",
        false,
    ),
    (
        "initech",
        "zpka_0d6d25cc816ea82233f443e61907948c_49e765c9",
        false,
    ),
    (
        "umbrella",
        "zpka_783af4756ff28270341359d6743ffe0f_e203eb4e",
        false,
    ),
];
/// Zuplo-shaped (and matching the pattern), never imported.
const NEVER_IMPORTED: &str = "zpka_6497e4b3d7bed16979a343a7db4efa6d_f354118a";

fn fixtures() -> PathBuf {
    keyward_e2e::root().join("tests/fixtures/zuplo")
}

fn problem(status: u16, detail: &str) -> Reply {
    let body = json!({"type": format!("https://httpproblems.com/http-status/{status}"),
                      "title": "Refused by the stub", "status": status, "detail": detail});
    (status, "application/problem+json", body.to_string())
}

/// Zuplo's Developer API for one account and bucket, answering from the fixture: the
/// bucket, and consumer pages by `offset` (`consumers-{offset}.json`). It refuses a request
/// without `Authorization: Bearer ZUPLO_TOKEN`, or a consumer list without the query the
/// importer must send.
fn zuplo(r: &Received) -> Reply {
    if r.header("authorization") != Some(&format!("Bearer {ZUPLO_TOKEN}")) {
        return problem(401, "no or wrong Authorization: Bearer");
    }
    if r.method != "GET" {
        return problem(405, "the importer only reads the source");
    }
    let target = r.target.as_str();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let base = format!("/v1/accounts/{ACCOUNT}/key-buckets/{BUCKET}");
    let read = |name: &str| std::fs::read_to_string(fixtures().join(name)).unwrap();
    if path == base {
        return (200, "application/json", read("bucket.json"));
    }
    if path != format!("{base}/consumers") {
        return problem(404, "no such path");
    }
    let q: BTreeMap<&str, &str> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    for (k, v) in [
        ("include-api-keys", "true"),
        ("key-format", "visible"),
        ("include-managers", "true"),
    ] {
        if q.get(k) != Some(&v) {
            return problem(400, &format!("{k}={v} is missing"));
        }
    }
    let limit: Option<u32> = q.get("limit").and_then(|l| l.parse().ok());
    if !matches!(limit, Some(1..=1000)) {
        return problem(400, "limit must be 1 to 1000");
    }
    let Some(offset) = q.get("offset").and_then(|o| o.parse::<u32>().ok()) else {
        return problem(400, "offset is required");
    };
    match std::fs::read_to_string(fixtures().join(format!("consumers-{offset}.json"))) {
        Ok(page) => (200, "application/json", page),
        Err(_) => problem(
            400,
            "no page at this offset (the fixture has offsets 0 and 3)",
        ),
    }
}

/// `keyward args…` in `dir` against `w` (as for `sync`), with `source_token` as
/// ZUPLO_API_KEY.
fn keyward(w: &Worker, dir: &Path, args: &[&str], source_token: &str) -> Run {
    keyward_at(&w.api_base(), dir, args, &[("ZUPLO_API_KEY", source_token)])
}

/// `import zuplo` from `from` (the source's API base), its `account` and `bucket`, into the
/// Worker's bucket `default`, with `extra` arguments.
fn import_args<'a>(
    from: &'a str,
    account: &'a str,
    bucket: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "import",
        "zuplo",
        "--from-url",
        from,
        "--account",
        account,
        "--bucket",
        bucket,
        "--to-bucket",
        "default",
    ];
    args.extend_from_slice(extra);
    args
}

/// The same from the stub's recorded bucket.
fn from_stub<'a>(stub: &'a Stub, extra: &[&'a str]) -> Vec<&'a str> {
    import_args(&stub.origin, ACCOUNT, BUCKET, extra)
}

const EXISTING: &str = "# yaml-language-server: $schema=./schemas/keys.schema.json\n# Ours.\nversion: 1\nbuckets:\n  default:\n    consumers:\n      hooli:\n        metadata:\n          plan: bronze\n";

fn assert_no_plaintext(texts: &[&str]) {
    for text in texts {
        for (_, key, _) in KEYS {
            assert!(
                !text.contains(key),
                "a plaintext key was printed or written"
            );
        }
    }
}

fn bucket_status(w: &Worker) -> u16 {
    admin("GET", &format!("{}/key-buckets/default", w.account()), None).status
}

#[test]
fn a_zuplo_bucket_is_imported_and_its_keys_work_at_the_edge() {
    let echo = Echo::start();
    let stub = Stub::start(zuplo);
    let w = Worker::start(&[
        ("IMPORTED_KEY_PATTERN", ZUPLO_PATTERN),
        ("UPSTREAM_URL", &echo.origin),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("keys.yaml");
    std::fs::write(&file, EXISTING).unwrap();

    // --dry-run: what it would do, and nothing written, neither the file nor the Worker.
    let r = keyward(&w, d, &from_stub(&stub, &["--dry-run"]), ZUPLO_TOKEN);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out
            .contains("keys.yaml: 5 consumers to add, 0 already as the source has them."),
        "{}",
        r.out
    );
    assert!(r.out.contains("+ consumer default/acme-corp"), "{}", r.out);
    assert!(
        r.out
            .contains("+ keys default/acme-corp: ****a1c0a0, ****f97704\n"),
        "{}",
        r.out
    );
    assert!(r.out.contains("Dry run: nothing was written"), "{}", r.out);
    assert_no_plaintext(&[&r.out, &r.err]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), EXISTING);
    assert_eq!(bucket_status(&w), 404, "the dry run created the bucket");

    // The import.
    let r = keyward(&w, d, &from_stub(&stub, &[]), ZUPLO_TOKEN);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.contains(
            "Import: 5 consumers in keys.yaml (5 added), 5 keys imported, 0 already there."
        ),
        "{}",
        r.out
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_no_plaintext(&[&r.out, &r.err, &text]);
    assert!(
        text.starts_with(
            "# yaml-language-server: $schema=./schemas/keys.schema.json\n# Ours.\nversion: 1\n"
        ),
        "{text}"
    );
    assert!(text.contains("hooli"), "the file's own consumer is kept");
    assert!(text.contains("      - bruce@acme.example\n"), "{text}");

    // The stub saw the token and the query every time, and two pages.
    let seen = stub.received();
    for r in &seen {
        assert_eq!(zuplo(r).0, 200, "{r:?}: {}", zuplo(r).2);
    }
    let pages: Vec<&str> = seen
        .iter()
        .filter(|s| s.target.contains("/consumers?"))
        .map(|s| s.target.as_str())
        .collect();
    assert_eq!(pages.len(), 2 * 2, "{pages:?}"); // the dry run and the import
    assert!(pages[1].contains("offset=3"), "{pages:?}");

    // The plan is empty; the keys work, with their consumer's metadata.
    let r = keyward(&w, d, &["plan", "--exit-code"], "");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out
            .contains("Plan: 0 to create, 0 to update, 0 to delete"),
        "{}",
        r.out
    );
    let fixture_metadata = |consumer: &str| -> Value {
        let mut all = Vec::new();
        for page in ["consumers-0.json", "consumers-3.json"] {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(fixtures().join(page)).unwrap())
                    .unwrap();
            all.extend(v["data"].as_array().unwrap().clone());
        }
        all.into_iter()
            .find(|c| c["name"] == consumer)
            .map(|c| c["metadata"].clone())
            .unwrap()
    };
    for (consumer, key, expired) in KEYS {
        if expired {
            assert_eq!(w.gateway(key), 401, "an expired key kept its expiry");
            continue;
        }
        assert_eq!(w.gateway(key), 200, "{consumer}: {}", w.log());
        let got = echo.received();
        let last = got.last().unwrap();
        assert_eq!(last.header("x-keyward-consumer"), Some(consumer));
        let metadata: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(last.header("x-keyward-metadata").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(metadata, fixture_metadata(consumer), "{consumer}");
    }
    assert_eq!(w.gateway(NEVER_IMPORTED), 401);

    // The rerun: nothing to do, nothing written.
    let listing = || {
        admin(
            "GET",
            &format!(
                "{}/key-buckets/default/consumers?include-api-keys=true&key-format=masked",
                w.account()
            ),
            None,
        )
        .text
    };
    let keys_before = listing();
    let r = keyward(&w, d, &from_stub(&stub, &[]), ZUPLO_TOKEN);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.contains("Nothing to import: keys.yaml and bucket 'default' already hold the source's 5 consumers and 5 keys; nothing was written."),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("Plan: 0 to create, 0 to update, 0 to delete"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("+ keys"), "{}", r.out);
    assert_no_plaintext(&[&r.out, &r.err]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let keys_after = listing();
    assert_eq!(keys_before, keys_after);

    // A consumer the file lists otherwise stops the import, naming it.
    std::fs::write(&file, text.replace("plan: trial", "plan: paid")).unwrap();
    let r = keyward(&w, d, &from_stub(&stub, &[]), ZUPLO_TOKEN);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.err
            .contains("1 consumer in keys.yaml differs from the source: 'initech' (metadata)"),
        "{}",
        r.err
    );
    assert_no_plaintext(&[&r.out, &r.err]);

    let log = w.log();
    assert_no_plaintext(&[&log]);
}

#[test]
fn without_the_pattern_the_import_is_refused_and_a_hash_only_source_is_named() {
    let stub = Stub::start(zuplo);
    let w = Worker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let r = keyward(&w, d, &from_stub(&stub, &[]), ZUPLO_TOKEN);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.err
            .contains("the target cannot verify 5 keys at its edge")
            && r.err
                .contains("Set IMPORTED_KEY_PATTERN in the Worker's wrangler.toml [vars]")
            && r.err.contains(ZUPLO_PATTERN),
        "{}",
        r.err
    );
    assert_no_plaintext(&[&r.out, &r.err]);
    assert!(!d.join("keys.yaml").exists(), "the file was written");
    assert_eq!(bucket_status(&w), 404, "the Worker was written");

    // The wrong source token: refused by the source, said so.
    let r = keyward(&w, d, &from_stub(&stub, &[]), "wrong");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.err.contains("check ZUPLO_API_KEY"), "{}", r.err);

    // A keyward bucket that keeps only hashes, as a source: said so; --skip-keys imports
    // the consumers alone.
    let account = w.account();
    let r = admin(
        "POST",
        &format!("{account}/key-buckets"),
        Some(r#"{"name":"old-keys"}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = admin(
        "POST",
        &format!("{account}/key-buckets/old-keys/consumers?with-api-key=true"),
        Some(r#"{"name":"legacy","metadata":{"plan":"old"}}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let api = w.api_base();
    let from_self =
        |extra: &[&str]| keyward(&w, d, &import_args(&api, "local", "old-keys", extra), TOKEN);
    let r = from_self(&[]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.err
            .contains("bucket 'old-keys' keeps only hashes of its keys (it is not retrievable)")
            && r.err.contains("--skip-keys"),
        "{}",
        r.err
    );
    assert!(!d.join("keys.yaml").exists());
    let r = from_self(&["--skip-keys"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let text = std::fs::read_to_string(d.join("keys.yaml")).unwrap();
    assert!(
        text.contains("legacy:\n        metadata:\n          plan: old\n"),
        "{text}"
    );
    let r = admin(
        "GET",
        &format!("{account}/key-buckets/default/consumers/legacy"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["metadata"]["plan"], "old");
}

/// keyward speaks Zuplo's API: a retrievable bucket of one Worker is imported into
/// another with the same command, and its keys open the second Worker's gateway.
#[test]
fn a_retrievable_keyward_bucket_is_imported_into_another_keyward() {
    let old = Worker::start(&[
        ("KEY_ENCRYPTION_SECRET", "0123456789abcdef0123456789abcdef"),
        ("BUCKET", "production"),
    ]);
    let new = Worker::start(&[]);
    let account = old.account();
    let r = admin(
        "POST",
        &format!("{account}/key-buckets"),
        Some(r#"{"name":"production","isRetrievable":true}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let mut keys = Vec::new();
    for (name, plan) in [("acme-corp", "gold"), ("globex", "silver")] {
        let r = admin(
            "POST",
            &format!("{account}/key-buckets/production/consumers?with-api-key=true"),
            Some(
                &json!({"name": name, "metadata": {"plan": plan}, "managers": [format!("ops@{name}.example")]})
                    .to_string(),
            ),
        );
        assert_eq!(r.status, 200, "{r:?}");
        let key = r.json()["apiKeys"][0]["key"].as_str().unwrap().to_owned();
        assert_eq!(old.gateway(&key), 200);
        assert_eq!(new.gateway(&key), 401);
        keys.push((name, key));
    }

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = old.api_base();
    let args = import_args(&api, "local", "production", &[]);
    let r = keyward(&new, d, &args, TOKEN);
    assert_eq!(r.code, Some(0), "{r:?}");
    for (_, key) in &keys {
        assert!(!r.out.contains(key.as_str()) && !r.err.contains(key.as_str()));
    }
    for (name, key) in &keys {
        assert_eq!(new.gateway(key), 200, "{name}: {}", new.log());
    }
    let r = keyward(&new, d, &["plan", "--exit-code"], "");
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = keyward(&new, d, &args, TOKEN);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.out.contains("Nothing to import"), "{}", r.out);
}
