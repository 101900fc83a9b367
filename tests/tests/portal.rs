//! End-to-end: the managers' portal page in a real browser. Debian's Chromium, driven by
//! playwright-core (`tests/browser/portal.mjs`), signs in through a real OpenID provider
//! (`oidc-provider` from npm, `tests/browser/oidc-provider.mjs`, on 127.0.0.1) to the real
//! Worker, and creates, rolls, deletes and describes keys, checking each at the gateway.
//! Screenshots go to `target/portal-screenshots/`. Fails, never skips, when Chromium or the
//! npm packages are missing (`make setup` installs them).

use jsonwebtoken::{encode, EncodingKey, Header};
use keyward_e2e::{admin, root, Echo, Worker};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLIENT_ID: &str = "keyward-portal";
const CHROMIUM: &str = "/usr/bin/chromium";
const SECRET: &str = "e2e-portal-secret-of-at-least-32-bytes";

/// The OpenID provider, stopped when dropped (and when the test process dies: it exits when
/// its stdin closes).
struct Provider {
    child: Child,
    issuer: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Provider {
    /// Starts the provider on a free port; [`Provider::serve`] then gives it the redirect URI.
    fn start() -> Provider {
        let mut child = Command::new("node")
            .arg(root().join("tests/browser/oidc-provider.mjs"))
            .arg(CLIENT_ID)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        // Reads what it prints for as long as it runs (a closed pipe would fail its next line).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("oidc-provider: {line}");
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the OpenID provider did not start ({e})"));
        let issuer = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the OpenID provider did not start: {line:?}"))
            .to_owned();
        Provider {
            child,
            issuer,
            lines: rx,
        }
    }

    /// Registers the client's redirect URI and waits until the provider serves.
    fn serve(&mut self, redirect_uri: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{redirect_uri}").expect("write to the provider");
        stdin.flush().expect("flush");
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the OpenID provider did not take its client ({e})"));
        assert_eq!(line, "ready");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prerequisites() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `make setup` (it installs Debian's chromium)"
    );
    for package in ["playwright-core", "oidc-provider", "axe-core"] {
        let dir = root().join("node_modules").join(package);
        assert!(
            dir.exists(),
            "{} is missing: run `make setup` (npm ci)",
            dir.display()
        );
    }
}

/// An HS256 token signed with `secret`, for `email`, expiring `exp_in` seconds from now.
fn hs256(secret: &str, email: &str, exp_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"sub": email, "email": email, "iat": now - 60, "exp": now + exp_in});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A sign-in link's token as a customer's backend makes it: `keyward portal-token`.
fn link_token(email: &str) -> String {
    keyward_e2e::portal_token(email, SECRET, &[])
}

/// The acceptance walk of the portal page (see tests/browser/portal.mjs for each step).
#[test]
fn a_manager_handles_keys_in_the_portal_page_signed_in_at_a_real_provider() {
    prerequisites();
    let echo = Echo::start();
    let mut provider = Provider::start();
    let issuer = provider.issuer.clone();
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        ("PORTAL_OIDC_ISSUER", &issuer),
        ("PORTAL_OIDC_CLIENT_ID", CLIENT_ID),
        ("PORTAL_JWT_SECRET", SECRET),
        // The bucket keeps keys retrievable: the page offers "Show" on each key.
        (
            "KEY_ENCRYPTION_SECRET",
            "e2e-portal-key-encryption-secret-32-bytes",
        ),
    ]);
    let portal = format!("{}/_keyward/portal/", w.origin);
    provider.serve(&portal);

    let buckets = format!("{}/key-buckets", w.account());
    let r = admin(
        "POST",
        &buckets,
        Some(r#"{"name":"default","isRetrievable":true}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    for (name, managers, metadata) in [
        (
            "acme-mobile",
            json!(["alice@example.com"]),
            json!({"plan": "gold"}),
        ),
        (
            "acme-web",
            json!(["Alice@Example.com", "bob@example.com"]),
            json!({}),
        ),
        ("globex", json!(["bob@example.com"]), json!({})),
    ] {
        let body = json!({"name": name, "managers": managers, "metadata": metadata});
        let r = admin(
            "POST",
            &format!("{buckets}/default/consumers?with-api-key=true"),
            Some(&body.to_string()),
        );
        assert_eq!(r.status, 200, "{r:?}");
        if name == "acme-mobile" {
            // Reported found in public: the page must say so.
            let key = r.json()["apiKeys"][0]["key"].as_str().unwrap().to_owned();
            let leak = json!([{"key": key, "url": "https://gist.example/abc"}]);
            let reported = admin(
                "POST",
                &format!("{}/v1/leaks", w.api_base()),
                Some(&leak.to_string()),
            );
            assert_eq!(reported.status, 200, "{reported:?}");
        }
    }

    let artifacts = root().join("target/portal-screenshots");
    let started = Instant::now();
    let out = Command::new("node")
        .arg(root().join("tests/browser/portal.mjs"))
        .current_dir(root())
        .env("PORTAL_URL", &portal)
        .env("GATEWAY_URL", format!("{}/orders", w.origin))
        .env("ISSUER", &issuer)
        // The Worker would take it (PORTAL_JWT_SECRET) but for its expiry.
        .env("EXPIRED_TOKEN", hs256(SECRET, "alice@example.com", -3600))
        .env("LINK_TOKEN", link_token("alice@example.com"))
        // Fresh and well-formed, but signed with another secret: only the Worker can tell.
        .env(
            "FORGED_TOKEN",
            hs256(
                "another-secret-of-at-least-32-bytes!!",
                "alice@example.com",
                600,
            ),
        )
        .env("ALICE_CONSUMERS", "acme-mobile,acme-web")
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .expect("run node tests/browser/portal.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed after {:?}:\n{stdout}\n{stderr}\n--- worker log ---\n{}",
        started.elapsed(),
        w.log()
    );
    for shot in [
        "signed-in.png",
        "new-key.png",
        "empty.png",
        "narrow-375.png",
    ] {
        let size = std::fs::metadata(artifacts.join(shot)).map_or(0, |m| m.len());
        assert!(size > 1000, "screenshot {shot}: {size} bytes");
    }

    // What the page did, as the developer API sees it: acme-web keeps only its expired
    // keys (one made by alice), acme-mobile's key has alice's description, globex is
    // untouched.
    let consumers = admin(
        "GET",
        &format!("{buckets}/default/consumers?include-api-keys=true"),
        None,
    )
    .json();
    let keys = |name: &str| {
        consumers["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {consumers}"))["apiKeys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let web = keys("acme-web");
    assert_eq!(web.len(), 2, "{web:?}");
    assert!(
        web.iter().any(|k| k["createdBy"] == "alice@example.com"
            && k["description"] == "made in the browser test"),
        "{web:?}"
    );
    let mobile = keys("acme-mobile");
    assert_eq!(mobile[0]["description"], "renamed by alice", "{mobile:?}");
    assert_eq!(keys("globex").len(), 1);
}
