//! End-to-end tests of `keyward plan`, `sync`, `export`, `check`, `consumers` and
//! `keys roll` against the real Worker (workerd via wrangler dev), through the built binary.
//!
//! Each test starts its own Worker with a fresh KV and works on copies of `keys.yaml` in a
//! temporary directory: the acceptance flow of issue 4 (sync, no-op plan, one changed
//! field, forwarded metadata, prune rules, export round trip), every class of bad file
//! (exit 1 at line:col, nothing written), and a 5,000-consumer sync interrupted by stopping
//! the Worker, then resumed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyward_e2e::{admin, cli_binary, http, keyward, root, Echo, Worker, TOKEN};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory holding a copy of the repository's keys.yaml.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("keys.yaml");
    std::fs::copy(root().join("keys.yaml"), &file).expect("copy keys.yaml");
    (dir, file)
}

/// Replaces `from` (which must occur) with `to` in `file`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} is not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The bucket's consumers as the API lists them (with managers), for before/after checks.
fn listing(w: &Worker) -> String {
    let a = admin(
        "GET",
        &format!(
            "{}/key-buckets/default/consumers?include-managers=true",
            w.account()
        ),
        None,
    );
    format!("{} {}", a.status, a.text)
}

/// The metadata the upstream received with the last request, decoded.
fn forwarded_metadata(echo: &Echo) -> Value {
    let got = echo.received();
    let last = got.last().expect("the upstream received a request");
    let raw = last.header("x-keyward-metadata").expect("metadata header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap()
}

fn consumer(w: &Worker, name: &str) -> (u16, Value) {
    let a = admin(
        "GET",
        &format!("{}/key-buckets/default/consumers/{name}", w.account()),
        None,
    );
    let body = if a.status == 200 {
        a.json()
    } else {
        Value::Null
    };
    (a.status, body)
}

#[test]
fn plan_sync_prune_and_export_against_the_worker() {
    let started = Instant::now();
    let echo = Echo::start();
    let w = Worker::start(&[("UPSTREAM_URL", &echo.origin)]);
    let (dir, file) = workdir();
    let d = dir.path();
    let sha = [("GITHUB_SHA", "5e1f00d")];

    // A fresh Worker: the bucket and every consumer are planned as creates.
    let r = keyward(&w, d, &["plan", "--exit-code"], &[]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.out
            .starts_with("+ bucket default\n+ consumer default/acme-corp\n"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .ends_with("Plan: 3 to create, 0 to update, 0 to delete, 0 unmanaged left alone.\n"),
        "{}",
        r.out
    );

    // Sync the repository's keys.yaml; a second plan finds nothing to do.
    let r = keyward(&w, d, &["sync"], &sha);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.ends_with("Sync: 3 created, 0 updated, 0 deleted.\n"),
        "{}",
        r.out
    );
    let r = keyward(&w, d, &["plan", "--exit-code"], &[]);
    assert_eq!((r.code, r.out.as_str()), (Some(0), "No changes: the Worker matches the file.\nPlan: 0 to create, 0 to update, 0 to delete, 0 unmanaged left alone.\n"), "{r:?}");
    let (_, acme) = consumer(&w, "acme-corp");
    assert_eq!(acme["source"], "file");
    assert_eq!(acme["lastSync"]["commit"], "5e1f00d", "{acme}");

    // A second sync writes nothing: the plan is empty, so no $bulk request is sent (no
    // progress line) and the record is untouched.
    let r = keyward(&w, d, &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.ends_with("Sync: 0 created, 0 updated, 0 deleted.\n"),
        "{}",
        r.out
    );
    assert!(!r.err.contains("applied"), "{}", r.err);
    assert_eq!(consumer(&w, "acme-corp").1["updatedOn"], acme["updatedOn"]);

    // A key for acme-corp forwards its metadata upstream.
    let r = keyward(&w, d, &["keys", "create", "--consumer", "acme-corp"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let key = r.out.trim().to_owned();
    let edge = |key: &str| {
        http(
            "GET",
            &format!("{}/orders", w.origin),
            &[("authorization", &format!("Bearer {key}"))],
            None,
        )
        .status
    };
    assert_eq!(edge(&key), 200);
    assert_eq!(forwarded_metadata(&echo)["plan"], "gold");

    // One changed metadata value: the plan shows exactly that field, and exits 2.
    edit(&file, "plan: gold", "plan: platinum");
    let r = keyward(&w, d, &["plan", "--exit-code"], &[]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(
        r.out,
        "~ consumer default/acme-corp\n    metadata.plan: \"gold\" → \"platinum\"\n\n\
         Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.\n"
    );
    let r = keyward(&w, d, &["plan", "--format", "json"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let plan: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(plan["hasChanges"], true);
    assert_eq!(
        plan["buckets"][0]["changes"],
        json!([{
            "op": "update", "consumer": "acme-corp", "source": "file",
            "lastSync": {"commit": "5e1f00d", "at": acme["lastSync"]["at"]},
            "fields": [{"field": "metadata", "path": ["plan"], "before": "gold", "after": "platinum"}],
        }])
    );
    let r = keyward(&w, d, &["plan", "--format", "markdown"], &[]);
    assert!(
        r.out.contains(
            "| ✏️ update | `default/acme-corp` | `metadata.plan` | `\"gold\"` | `\"platinum\"` |"
        ),
        "{}",
        r.out
    );
    let r = keyward(&w, d, &["sync", "--dry-run"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.ends_with("Dry run: nothing was changed.\n"),
        "{}",
        r.out
    );
    assert_eq!(keyward(&w, d, &["plan", "--exit-code"], &[]).code, Some(2));

    // Sync it: the very next edge request forwards the new metadata.
    let r = keyward(&w, d, &["sync"], &[("GITHUB_SHA", "feedbee")]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.ends_with("Sync: 0 created, 1 updated, 0 deleted.\n"),
        "{}",
        r.out
    );
    assert_eq!(edge(&key), 200);
    assert_eq!(forwarded_metadata(&echo)["plan"], "platinum");
    assert_eq!(consumer(&w, "acme-corp").1["lastSync"]["commit"], "feedbee");
    assert_eq!(consumer(&w, "globex").1["lastSync"]["commit"], "5e1f00d");

    // A consumer created through the API is left alone and counted.
    let api_made = admin(
        "POST",
        &format!("{}/key-buckets/default/consumers", w.account()),
        Some(r#"{"name":"api-made","description":"from the portal"}"#),
    );
    assert_eq!(api_made.status, 200, "{api_made:?}");

    // Remove globex from the file: no delete without --prune, a delete with it.
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text.find("      globex:\n").unwrap();
    let end = text.find("      initech-sandbox:\n").unwrap();
    std::fs::write(&file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let r = keyward(&w, d, &["plan", "--exit-code"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.out,
        "No changes: the Worker matches the file.\n\
         Plan: 0 to create, 0 to update, 0 to delete, 1 unmanaged left alone.\n\
         1 consumer created from the file is no longer in it; run with --prune to delete it.\n"
    );
    let r = keyward(&w, d, &["plan", "--prune", "--exit-code"], &[]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(
        r.out,
        "- consumer default/globex\n\n\
         Plan: 0 to create, 0 to update, 1 to delete, 1 unmanaged left alone.\n"
    );
    let r = keyward(&w, d, &["sync"], &[]);
    assert!(
        r.out.ends_with("Sync: 0 created, 0 updated, 0 deleted.\n"),
        "{r:?}"
    );
    assert_eq!(consumer(&w, "globex").0, 200, "kept without --prune");
    let r = keyward(&w, d, &["sync", "--prune"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.ends_with("Sync: 0 created, 0 updated, 1 deleted.\n"),
        "{}",
        r.out
    );
    assert_eq!(consumer(&w, "globex").0, 404);
    assert_eq!(consumer(&w, "api-made").0, 200, "never deleted by --prune");

    // An API-created consumer that the file lists is updated but keeps its source, so a
    // later --prune still leaves it alone.
    edit(
        &file,
        "      initech-sandbox:\n",
        "      api-made:\n        description: now in the file\n      initech-sandbox:\n",
    );
    let r = keyward(&w, d, &["sync", "--prune"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.out.contains("~ consumer default/api-made (created through the API; it stays protected from --prune)\n    description: \"from the portal\" → \"now in the file\"\n"), "{}", r.out);
    let (_, made) = consumer(&w, "api-made");
    assert_eq!(
        (made["source"].as_str(), made["description"].as_str()),
        (Some("api"), Some("now in the file"))
    );
    edit(
        &file,
        "      api-made:\n        description: now in the file\n",
        "",
    );
    let r = keyward(&w, d, &["sync", "--prune"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out
            .contains("Plan: 0 to create, 0 to update, 0 to delete, 1 unmanaged left alone.\n"),
        "{}",
        r.out
    );
    assert_eq!(consumer(&w, "api-made").0, 200, "never deleted by --prune");

    // Export → validate → plan on the exported file: no changes.
    let r = keyward(&w, d, &["export", "-o", "exported.yaml"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let exported = std::fs::read_to_string(d.join("exported.yaml")).unwrap();
    assert!(
        exported.starts_with("# yaml-language-server: $schema="),
        "{exported}"
    );
    assert!(exported.contains("      api-made:\n"), "{exported}");
    assert!(
        !exported.contains(&key) && !exported.contains("kw_"),
        "never keys"
    );
    let r = keyward(&w, d, &["validate", "exported.yaml"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = keyward(
        &w,
        d,
        &["plan", "exported.yaml", "--prune", "--exit-code"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.out.starts_with("No changes"), "{}", r.out);
    let r = keyward(&w, d, &["export", "--bucket", "default"], &[]);
    assert_eq!((r.code, r.out.as_str()), (Some(0), exported.as_str()));

    // The admin views: consumers list/get, keys roll, check.
    let r = keyward(&w, d, &["consumers", "list"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.out
            .lines()
            .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["acme-corp file", "api-made api", "initech-sandbox file"]
    );
    let r = keyward(&w, d, &["consumers", "get", "acme-corp", "--json"], &[]);
    let got: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(got["metadata"]["plan"], "platinum");
    assert!(!r.out.contains(&key), "keys are only ever shown masked");
    let r = keyward(
        &w,
        d,
        &[
            "keys",
            "roll",
            "--consumer",
            "acme-corp",
            "--expires-on",
            "2020-01-01T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let rolled = r.out.trim().to_owned();
    assert_eq!(r.out.lines().count(), 1, "stdout holds only the new key");
    assert_ne!(rolled, key);
    assert_eq!(edge(&rolled), 200);
    assert_eq!(
        edge(&key),
        401,
        "a past expiresOn revokes the old key at once"
    );
    let r = keyward(&w, d, &["check"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.starts_with("default: consistent (") && r.out.contains("verification record"),
        "{r:?}"
    );
    eprintln!(
        "plan_sync_prune_and_export_against_the_worker: {:?}",
        started.elapsed()
    );
}

/// Each class of problem `validate` knows, as a change to the repository's keys.yaml, with
/// the place and message it must be reported at.
const BAD_FILES: &[(&str, &str, &str, &str)] = &[
    ("syntax", "          plan: gold\n", "          plan: [gold\n", "keys.yaml:13:20: invalid yaml"),
    ("unknown field", "        description: Globex analytics pipeline\n", "        description: Globex analytics pipeline\n        owner: hank\n", "keys.yaml:23:9: consumer 'globex': unknown field 'owner'"),
    ("wrong type", "          tier: trial\n", "          tier: 3\n", "keys.yaml:38:17: consumer 'initech-sandbox': tag 'tier' must be a string"),
    ("duplicate key", "          plan: silver\n", "          plan: silver\n          plan: gold\n", "keys.yaml:25:11: consumer 'globex': metadata key 'plan' is defined twice"),
    ("duplicate consumer", "      initech-sandbox:\n", "      globex: {}\n      initech-sandbox:\n", "keys.yaml:31:7: bucket 'default': consumer 'globex' is defined twice"),
    ("consumer name", "      globex:\n", "      Globex:\n", "keys.yaml:21:7: consumer name 'Globex' is invalid"),
    ("bucket name", "  default:\n", "  dev:\n", "keys.yaml:6:3: bucket name 'dev' is invalid"),
    ("e-mail", "hank@globex.example", "hank@", "keys.yaml:30:13: consumer 'globex': manager 'hank@' is not an e-mail address"),
    ("duplicate e-mail", "          - ops@acme.example\n", "          - ops@acme.example\n          - Alice@Acme.example\n", "keys.yaml:21:13: consumer 'acme-corp': manager 'Alice@Acme.example' is listed twice"),
    ("metadata not an object", "        metadata:\n          plan: free\n          rateLimit:\n            requestsPerMinute: 30\n", "        metadata: free\n", "keys.yaml:33:19: consumer 'initech-sandbox': metadata must be a JSON object"),
    ("metadata too big", "          plan: free\n", "          plan: free\n          blob: BLOB\n", "keys.yaml:33:9: consumer 'initech-sandbox': metadata is 1162 bytes serialized, over the limit of 1024"),
    ("tag limits", "          team: partnerships\n", "          team: partnerships\n          a: x\n          b: x\n          c: x\n          d: x\n          e: x\n", "keys.yaml:27:9: consumer 'globex': 6 tags given, at most 5 are allowed"),
    ("version", "version: 1\n", "version: 2\n", "keys.yaml:4:10: version 2 is not supported"),
];

#[test]
fn every_class_of_bad_file_exits_1_at_its_line_and_column_and_writes_nothing() {
    let started = Instant::now();
    let w = Worker::start(&[]);
    let (dir, file) = workdir();
    let d = dir.path();
    let good = std::fs::read_to_string(&file).unwrap();
    let r = keyward(&w, d, &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    // Something for a bad file to change, were it applied.
    edit(&file, "requestsPerMinute: 600", "requestsPerMinute: 601");
    let changed = std::fs::read_to_string(&file).unwrap();
    let before = listing(&w);
    for (class, from, to, expected) in BAD_FILES {
        assert!(changed.contains(from), "{class}");
        let to = to.replace("BLOB", &"x".repeat(1100));
        std::fs::write(&file, changed.replacen(from, &to, 1)).unwrap();
        for args in [
            &["plan", "--exit-code"][..],
            &["sync", "--prune"],
            &["sync", "--dry-run"],
        ] {
            let r = keyward(&w, d, args, &[]);
            assert_eq!(r.code, Some(1), "{class} {args:?}: {r:?}");
            assert!(r.err.contains(expected), "{class} {args:?}: {}", r.err);
            assert!(
                r.err
                    .contains("keyward: error: nothing was sent: keys.yaml: 1 problem found"),
                "{class}: {}",
                r.err
            );
            assert_eq!(r.out, "", "{class} {args:?}");
        }
    }
    assert_eq!(listing(&w), before, "a bad file wrote something");
    std::fs::write(&file, &good).unwrap();
    let r = keyward(&w, d, &["plan", "--exit-code"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    eprintln!("every_class_of_bad_file…: {:?}", started.elapsed());
}

/// A keys.yaml of `n` consumers in bucket `default`.
fn generated(n: usize) -> String {
    let mut text = String::from("version: 1\nbuckets:\n  default:\n    consumers:\n");
    for i in 0..n {
        text.push_str(&format!(
            "      c-{i:05}:\n        description: generated consumer {i}\n        metadata: {{plan: gold, n: {i}}}\n        tags: {{team: t{}}}\n        managers: [owner-{}@example.com]\n",
            i % 7,
            i % 50
        ));
    }
    text
}

/// How many consumers `$index` lists.
fn index_count(w: &Worker) -> usize {
    let mut count = 0;
    let mut cursor = String::new();
    loop {
        let a = admin(
            "GET",
            &format!(
                "{}/key-buckets/default/consumers/$index?limit=1000&cursor={cursor}",
                w.account()
            ),
            None,
        );
        assert_eq!(a.status, 200, "{a:?}");
        let page = a.json();
        count += page["data"].as_array().unwrap().len();
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return count,
        }
    }
}

#[test]
fn an_interrupted_sync_of_5000_consumers_converges_when_run_again() {
    let started = Instant::now();
    const N: usize = 5000;
    let mut w = Worker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.yaml");
    std::fs::write(&file, generated(N)).unwrap();
    let (out_path, err_path) = (dir.path().join("out.txt"), dir.path().join("err.txt"));

    // Start the sync, and stop the Worker once some batches are in.
    let mut child = Command::new(cli_binary())
        .args(["sync", "keys.yaml"])
        .current_dir(dir.path())
        .env("KEYWARD_URL", w.api_base())
        .env("KEYWARD_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_SHA")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn keyward sync");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        if err.matches(" applied\n").count() >= 2 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sync ended ({status}) before it could be interrupted:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "no progress within 120 s:\n{err}\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_applied = started.elapsed();
    w.stop();
    let status = child.wait().unwrap();
    let out = std::fs::read_to_string(&out_path).unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "the sync must fail when the Worker stops:\n{out}\n{err}"
    );
    let summary = out.lines().last().unwrap_or_default();
    eprintln!("interrupted: {summary}");
    assert!(
        summary.starts_with("Sync stopped part-way: "),
        "{summary}\n{err}"
    );
    assert!(
        summary.ends_with(" Run keyward sync again to finish."),
        "{summary}"
    );
    assert!(err.contains("keyward: error: "), "{err}");

    // The same KV state, a new Worker process: the rest is still to do, a rerun does it.
    w.restart();
    let rerun = |args: &[&str]| {
        Command::new(cli_binary())
            .args(args)
            .current_dir(dir.path())
            .env("KEYWARD_URL", w.api_base())
            .env("KEYWARD_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_SHA")
            .output()
            .expect("run keyward")
    };
    let plan = rerun(&["plan", "--exit-code", "--format", "json"]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "the interrupted sync cannot have finished"
    );
    let remaining: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let to_create = remaining["summary"]["create"].as_u64().unwrap() as usize;
    assert!(to_create > 0 && to_create < N, "{}", remaining["summary"]);
    let again = rerun(&["sync", "keys.yaml"]);
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{again_out}\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        again_out.ends_with(&format!(
            "Sync: {to_create} created, 0 updated, 0 deleted.\n"
        )),
        "{}",
        again_out.lines().last().unwrap_or_default()
    );

    let plan = rerun(&["plan", "--exit-code"]);
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout),
        "No changes: the Worker matches the file.\nPlan: 0 to create, 0 to update, 0 to delete, 0 unmanaged left alone.\n"
    );
    assert_eq!(index_count(&w), N);
    let check = admin(
        "GET",
        &format!("{}/key-buckets/default/$check", w.account()),
        None,
    );
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json()["consistent"], true, "{}", check.text);
    let cli_check = rerun(&["check", "--bucket", "default"]);
    assert_eq!(cli_check.status.code(), Some(0));
    eprintln!(
        "an_interrupted_sync_of_5000…: {:?} (first batches applied at {first_applied:?})",
        started.elapsed()
    );
}

/// `sync --prune` also prunes a bucket removed from the file: the consumers the file created
/// there go, the ones created through the API stay, and so does the bucket.
#[test]
fn prune_covers_buckets_removed_from_the_file() {
    let w = Worker::start(&[]);
    let (dir, file) = workdir();
    let text = std::fs::read_to_string(&file).unwrap();
    let extra = "  partners:\n    consumers:\n      partner-one:\n        description: a partner\n";
    std::fs::write(&file, format!("{text}{extra}")).unwrap();
    let r = keyward(&w, dir.path(), &["sync", "--prune"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let hand_made = admin(
        "POST",
        &format!("{}/key-buckets/partners/consumers", w.account()),
        Some(r#"{"name":"partner-two"}"#),
    );
    assert_eq!(hand_made.status, 200, "{hand_made:?}");
    std::fs::write(&file, &text).unwrap();

    let r = keyward(&w, dir.path(), &["plan", "--exit-code"], &[]);
    assert_eq!(
        r.code,
        Some(0),
        "without --prune a removed bucket is not looked at: {r:?}"
    );
    let r = keyward(&w, dir.path(), &["plan", "--prune", "--exit-code"], &[]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.out.contains("- consumer partners/partner-one"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("partner-two"), "{}", r.out);
    let r = keyward(&w, dir.path(), &["sync", "--prune"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let left = admin(
        "GET",
        &format!("{}/key-buckets/partners/consumers", w.account()),
        None,
    )
    .json();
    let names: Vec<&str> = left["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["partner-two"]);
    let r = keyward(&w, dir.path(), &["plan", "--prune", "--exit-code"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
}
