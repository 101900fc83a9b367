//! End-to-end: a key created through the developer API is committed to a git repository;
//! `keyward scan --git --check --revoke` finds it, names its consumer and revokes it; the
//! gateway then refuses it and its listing shows where it leaked. The key's plaintext is in
//! no output, no Worker log line and no local KV or Durable Object file.

use keyward_e2e::{admin, any_file_contains, cli_binary, Echo, Worker, TOKEN};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdin(Stdio::null())
        .output()
        .expect("git must be installed");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn keyward(dir: &Path, w: &Worker, args: &[&str]) -> Output {
    Command::new(cli_binary())
        .args(args)
        .current_dir(dir)
        .env("KEYWARD_URL", w.api_base())
        .env("KEYWARD_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyward")
}

#[test]
fn a_committed_key_is_found_in_history_named_and_revoked() {
    let echo = Echo::start();
    let w = Worker::start(&[("UPSTREAM_URL", &echo.origin)]);
    let buckets = format!("{}/key-buckets", w.account());
    assert_eq!(
        admin("POST", &buckets, Some(r#"{"name":"default"}"#)).status,
        200
    );
    let made = admin(
        "POST",
        &format!("{buckets}/default/consumers?with-api-key=true"),
        Some(&json!({"name": "acme-mobile"}).to_string()),
    );
    assert_eq!(made.status, 200, "{made:?}");
    let leaked = made.json()["apiKeys"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = admin(
        "POST",
        &format!("{buckets}/default/consumers?with-api-key=true"),
        Some(&json!({"name": "globex"}).to_string()),
    );
    let kept = other.json()["apiKeys"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.gateway(&leaked), 200);

    // Committed, then removed: only history has it.
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("app.env"), format!("API_KEY={leaked}\n")).unwrap();
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "config"]);
    std::fs::write(repo.path().join("app.env"), "API_KEY=${FROM_VAULT}\n").unwrap();
    git(repo.path(), &["commit", "-q", "-am", "use the vault"]);

    let check = keyward(
        repo.path(),
        &w,
        &["scan", "--git", "--check", "--format", "json"],
    );
    assert_eq!(check.status.code(), Some(1), "{check:?}\n{}", w.log());
    let doc: Value = serde_json::from_slice(&check.stdout).unwrap();
    let owner = &doc["findings"][0]["owner"];
    assert_eq!(
        (
            owner["found"].as_bool(),
            owner["consumer"].as_str(),
            owner["bucket"].as_str(),
            owner["active"].as_bool()
        ),
        (Some(true), Some("acme-mobile"), Some("default"), Some(true)),
        "{doc}"
    );
    assert_eq!(w.gateway(&leaked), 200, "--check alone changes nothing");

    let revoke = keyward(repo.path(), &w, &["scan", "--git", "--check", "--revoke"]);
    assert_eq!(revoke.status.code(), Some(1), "{revoke:?}\n{}", w.log());
    let text = String::from_utf8_lossy(&revoke.stdout);
    assert!(
        text.contains("app.env:1:9:") && text.contains("consumer acme-mobile"),
        "{text}"
    );
    assert!(text.contains("revoked"), "{text}");
    assert_eq!(w.gateway(&leaked), 401, "the leaked key after --revoke");
    assert_eq!(w.gateway(&kept), 200, "another consumer's key");

    let keys = admin(
        "GET",
        &format!("{buckets}/default/consumers/acme-mobile/keys"),
        None,
    )
    .json();
    let record = &keys["data"][0];
    assert!(record["leakedOn"].is_string(), "{keys}");
    let at = record["leakedAt"].as_str().unwrap_or_default();
    assert!(at.starts_with("app.env:1:9@"), "{keys}");

    // The plaintext is nowhere: outputs, the Worker's log, local KV and object storage.
    for out in [&check, &revoke] {
        for stream in [&out.stdout, &out.stderr] {
            assert!(!String::from_utf8_lossy(stream).contains(&leaked));
        }
    }
    assert!(!w.log().contains(&leaked), "the key in the Worker's log");
    assert!(
        !any_file_contains(&w.state_dir(), leaked.as_bytes()),
        "the key in local KV or Durable Object storage"
    );
}
