//! schemathesis (from PyPI, installed by `make setup` into `.tools/venv`) fuzzes the
//! developer API of the real Worker from `schemas/openapi.json`: no response may be a 5xx, and
//! every response must match the document (schema, status code, content type).

use keyward_e2e::{admin, root, Worker, TOKEN};
use std::process::Command;

/// Signs the manager's token for the `/v1/me` run.
const PORTAL_SECRET: &str = "e2e-schemathesis-portal-secret-32-bytes-long";

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let schemathesis = root().join(".tools/venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing; run `make setup`",
        schemathesis.display()
    );
    let w = Worker::start(&[("PORTAL_JWT_SECRET", PORTAL_SECRET)]);
    let account = w.account();
    assert_eq!(
        admin(
            "POST",
            &format!("{account}/key-buckets"),
            Some(r#"{"name":"default"}"#)
        )
        .status,
        200
    );
    let acme = admin(
        "POST",
        &format!("{account}/key-buckets/default/consumers?with-api-key=true"),
        Some(
            r#"{"name":"acme","metadata":{"plan":"gold"},"tags":{"team":"a"},"managers":["ops@acme.example"]}"#,
        ),
    );
    assert_eq!(acme.status, 200, "{acme:?}");

    // The developer API with the management token; then `/v1/me` with a manager's sign-in
    // token (a management token is refused there by design).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let manager = keyward_core::selfserve::jwt::mint_hs256(
        PORTAL_SECRET.as_bytes(),
        "ops@acme.example",
        now,
        3600,
        None,
        None,
    )
    .unwrap();
    for (auth, filter) in [
        (TOKEN.to_owned(), "--exclude-path-regex"),
        (manager, "--include-path-regex"),
    ] {
        // Bounded: examples per operation, not time (with --max-time, fuzzing keeps cycling
        // until the budget is spent); `timeout` stops a run that hangs.
        let out = Command::new("timeout")
            .arg("600")
            .arg(&schemathesis)
            .arg("--config-file")
            .arg(root().join("tests/schemathesis.toml"))
            .arg("run")
            .arg(root().join("schemas/openapi.json"))
            .args(["--url", &w.api_base()])
            .args(["--header", &format!("Authorization: Bearer {auth}")])
            .args([filter, "^/v1/me"])
            .args(["--checks", "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"])
            // One worker: schemathesis 4.32 on CPython 3.11 hits interpreter errors with threads.
            .args(["--max-examples", "20", "--workers", "1", "--seed", "20261126"])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run schemathesis");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "schemathesis ({filter} ^/v1/me) reported failures:\n{stdout}\n{stderr}\n--- worker log ---\n{}",
            w.log()
        );
        assert!(
            stdout.contains(" passed"),
            "schemathesis ({filter} ^/v1/me) ran no test:\n{stdout}"
        );
    }
}
