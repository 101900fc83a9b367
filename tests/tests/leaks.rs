//! End-to-end: leaked keys against the real Worker — `POST /v1/keys/$lookup` finds a key's
//! consumer (and not a made-up key with a valid checksum); `POST /v1/leaks` flags a key
//! (it keeps working, listings show `leakedOn`/`leakedAt`) or revokes it (401 at the gateway
//! at once), by the item's `revoke` or by `LEAK_POLICY=revoke`; GitHub's signed alerts
//! (a P-256 key pair made here with openssl) are taken without a token, and a body changed
//! by one byte or sent unsigned is refused with nothing written. Finally no plaintext key
//! used is in the Worker's log or in any file of its local state.

use base64::Engine;
use keyward_core::entropy::Entropy;
use keyward_core::key::format;
use keyward_e2e::{
    admin, any_file_contains, cli_binary, count_files, http, openssl, sha256_hex, Answer, Worker,
};
use serde_json::{json, Value};

use std::process::Command;

/// Random bytes for made-up keys.
struct Urandom;

impl Entropy for Urandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), keyward_core::Error> {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(buf))
            .map_err(|e| keyward_core::Error::storage(e.to_string()))
    }
}

/// A key with a valid checksum and this deployment's prefix that nobody was given.
fn made_up() -> String {
    format::generate("kw", &Urandom).unwrap()
}

/// GitHub's side: a P-256 key pair; signs bodies as GitHub does (base64 of DER ECDSA over
/// SHA-256 of the raw bytes).
struct GitHub {
    dir: tempfile::TempDir,
    public_pem: String,
}

impl GitHub {
    fn new() -> GitHub {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "k.pem",
            ],
            dir.path(),
        );
        let public_pem =
            String::from_utf8(openssl(&["pkey", "-in", "k.pem", "-pubout"], dir.path())).unwrap();
        GitHub { dir, public_pem }
    }

    /// `LEAK_REPORT_PUBLIC_KEYS` as GitHub's endpoint returns it: this key as `id`, after
    /// a retired one.
    fn document(&self, id: &str, retired: &GitHub) -> String {
        json!({"public_keys": [
            {"key_identifier": "retired", "key": retired.public_pem, "is_current": false},
            {"key_identifier": id, "key": self.public_pem, "is_current": true},
        ]})
        .to_string()
    }

    fn sign(&self, body: &[u8]) -> String {
        std::fs::write(self.dir.path().join("body"), body).unwrap();
        let der = openssl(
            &["dgst", "-sha256", "-sign", "k.pem", "body"],
            self.dir.path(),
        );
        base64::engine::general_purpose::STANDARD.encode(der)
    }
}

const KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";

fn create(w: &Worker, consumer: &str) -> String {
    let r = admin(
        "POST",
        &format!(
            "{}/key-buckets/default/consumers?with-api-key=true",
            w.account()
        ),
        Some(&json!({"name": consumer}).to_string()),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["apiKeys"][0]["key"].as_str().unwrap().to_owned()
}

fn start(vars: &[(&str, &str)]) -> Worker {
    let w = Worker::start(vars);
    let r = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(r#"{"name":"default"}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    w
}

fn lookup(w: &Worker, token: &str, keys: &[&str]) -> Answer {
    http(
        "POST",
        &format!("{}/v1/keys/$lookup", w.api_base()),
        &[("authorization", &format!("Bearer {token}"))],
        Some(&json!({ "keys": keys }).to_string()),
    )
}

fn report(w: &Worker, headers: &[(&str, &str)], body: &str) -> Answer {
    http(
        "POST",
        &format!("{}/v1/leaks", w.api_base()),
        headers,
        Some(body),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The consumer's one key as listings show it: keys of the consumer, and the consumer with
/// `include-api-keys`.
fn listed(w: &Worker, consumer: &str) -> Value {
    let consumers = format!("{}/key-buckets/default/consumers", w.account());
    let keys = admin("GET", &format!("{consumers}/{consumer}/keys"), None).json();
    let with = admin(
        "GET",
        &format!("{consumers}/{consumer}?include-api-keys=true"),
        None,
    )
    .json();
    assert_eq!(keys["data"][0], with["apiKeys"][0]);
    keys["data"][0].clone()
}

fn assert_problem(r: &Answer, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

/// No plaintext key in the Worker's log or in any file of its local KV and objects.
fn assert_nowhere(w: &Worker, keys: &[&str]) {
    assert!(count_files(&w.state_dir()) > 0, "no local state to search");
    let log = w.log();
    for key in keys {
        assert!(!log.contains(*key), "a plaintext key is in the log");
        assert!(
            !any_file_contains(&w.state_dir(), key.as_bytes()),
            "a plaintext key is in the local state"
        );
    }
}

#[test]
fn keys_are_looked_up_flagged_and_revoked_and_github_signs_without_a_token() {
    let github = GitHub::new();
    let retired = GitHub::new();
    let read_only = "leaks-read-only-token";
    let tokens =
        json!([{"name": "ro", "sha256": sha256_hex(read_only.as_bytes()), "access": "read"}])
            .to_string();
    let w = start(&[
        ("MANAGEMENT_TOKENS", &tokens),
        (
            "LEAK_REPORT_PUBLIC_KEYS",
            &github.document(KEY_ID, &retired),
        ),
    ]);
    let acme = create(&w, "acme");
    let beta = create(&w, "beta");
    let gamma = create(&w, "gamma");
    let nobody = made_up();

    // Lookup: found with its consumer; a made-up key with a valid checksum is not; a
    // non-key is not even looked up.
    let r = lookup(&w, read_only, &[&acme, &nobody, "not-a-key"]);
    assert_eq!(r.status, 200, "{r:?}");
    let data = r.json()["data"].clone();
    let acme_id = listed(&w, "acme")["id"].clone();
    assert_eq!(
        data[0],
        json!({"key": format::mask(&acme), "valid": true, "found": true, "bucket": "default",
               "consumer": "acme", "keyId": acme_id, "active": true})
    );
    assert_eq!(
        data[1],
        json!({"key": format::mask(&nobody), "valid": true, "found": false})
    );
    assert_eq!(
        data[2],
        json!({"key": "****", "valid": false, "found": false})
    );
    assert!(!r.text.contains(&acme[3..35]), "the answer echoes a key");

    // Refusals, each writing nothing: unsigned without a token, a read-only token, too many
    // keys, a bad body.
    let one = json!([{"key": gamma, "revoke": true}]).to_string();
    assert_problem(&report(&w, &[], &one), 401);
    assert_problem(
        &report(&w, &[("authorization", &bearer(read_only))], &one),
        403,
    );
    let too_many = json!({ "keys": vec![gamma.as_str(); 1001] }).to_string();
    let r = http(
        "POST",
        &format!("{}/v1/keys/$lookup", w.api_base()),
        &[("authorization", &bearer(keyward_e2e::TOKEN))],
        Some(&too_many),
    );
    assert_problem(&r, 400);
    assert!(r.text.contains("1000"), "{r:?}");
    let many_reports = json!(vec![json!({"key": gamma, "revoke": true}); 1001]).to_string();
    assert_problem(
        &report(
            &w,
            &[("authorization", &bearer(keyward_e2e::TOKEN))],
            &many_reports,
        ),
        400,
    );
    let bad = format!(r#"[{{"key": "{gamma}", "revoke": "yes"}}]"#);
    let r = report(&w, &[("authorization", &bearer(keyward_e2e::TOKEN))], &bad);
    assert_problem(&r, 400);
    assert!(!r.text.contains(&gamma[3..35]), "an error echoes the key");
    assert_eq!(w.gateway(&gamma), 200);
    assert!(listed(&w, "gamma").get("leakedOn").is_none());

    // Revoke: 401 at the gateway right after (this isolate had cached it as valid), and the
    // key is still listed, with its leak.
    assert_eq!(w.gateway(&acme), 200);
    let body =
        json!([{"key": acme, "url": "https://github.com/acme/app/blob/main/.env", "revoke": true}]);
    let r = report(
        &w,
        &[("authorization", &bearer(keyward_e2e::TOKEN))],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()[0],
        json!({"key": format::mask(&acme), "found": true, "bucket": "default", "consumer": "acme",
               "keyId": acme_id, "action": "revoked", "token_hash": sha256_hex(acme.as_bytes()),
               "token_type": "keyward_api_key", "label": "true_positive"})
    );
    assert_eq!(w.gateway(&acme), 401);
    let k = listed(&w, "acme");
    assert_eq!(k["leakedAt"], "https://github.com/acme/app/blob/main/.env");
    let leaked_on = k["leakedOn"].as_str().unwrap().to_owned();
    assert_eq!(k["expiresOn"].as_str(), Some(leaked_on.as_str()));
    let again = lookup(&w, keyward_e2e::TOKEN, &[&acme]).json()["data"][0].clone();
    assert_eq!(
        (&again["active"], &again["leakedOn"]),
        (&json!(false), &json!(leaked_on))
    );

    // Flag (the default policy): it keeps working, and says so; reporting it again keeps
    // the first report's time and place.
    let r = report(
        &w,
        &[("authorization", &bearer(keyward_e2e::TOKEN))],
        &json!([{"key": beta, "source": "ci log"}]).to_string(),
    );
    assert_eq!(r.json()[0]["action"], "flagged", "{r:?}");
    assert_eq!(w.gateway(&beta), 200);
    let first = listed(&w, "beta");
    assert_eq!(first["leakedAt"], "ci log");
    assert_eq!(first["expiresOn"], Value::Null);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = report(
        &w,
        &[("authorization", &bearer(keyward_e2e::TOKEN))],
        &json!([{"key": beta, "url": "https://elsewhere.example/paste"}]).to_string(),
    );
    assert_eq!(r.json()[0]["action"], "flagged");
    assert_eq!(listed(&w, "beta"), first);

    // GitHub: its alert body as it sends it, signed; one byte changed, unsigned or signed
    // by an unknown key is refused, with nothing written.
    let alert = json!([{"token": gamma, "type": "keyward_api_key",
        "url": "https://github.com/acme/app/blob/abc123/config.yml", "source": "content"}])
    .to_string();
    let signature = github.sign(alert.as_bytes());
    let tampered = alert.replace("abc123", "abc124");
    assert_eq!(tampered.len(), alert.len());
    let signed = |id: &'static str, sig: String| -> Vec<(&'static str, String)> {
        vec![
            ("Github-Public-Key-Identifier", id.to_owned()),
            ("Github-Public-Key-Signature", sig),
        ]
    };
    let send = |headers: &[(&str, String)], body: &str| {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        report(&w, &h, body)
    };
    assert_problem(&send(&signed(KEY_ID, signature.clone()), &tampered), 401);
    assert_problem(&send(&[], &alert), 401);
    assert_problem(&send(&signed("unknown-id", signature.clone()), &alert), 401);
    assert_problem(
        &send(&signed(KEY_ID, "bm90IGEgc2lnbmF0dXJl".into()), &alert),
        401,
    );
    assert_problem(&send(&signed("retired", signature.clone()), &alert), 401);
    assert!(listed(&w, "gamma").get("leakedOn").is_none());
    let r = send(&signed(KEY_ID, signature), &alert);
    assert_eq!(r.status, 200, "{r:?}");
    let out = r.json();
    assert_eq!(
        (&out[0]["label"], &out[0]["token_type"], &out[0]["action"]),
        (
            &json!("true_positive"),
            &json!("keyward_api_key"),
            &json!("flagged")
        )
    );
    assert_eq!(out[0]["token_hash"], sha256_hex(gamma.as_bytes()));
    assert_eq!(
        listed(&w, "gamma")["leakedAt"],
        "https://github.com/acme/app/blob/abc123/config.yml"
    );
    assert_eq!(w.gateway(&gamma), 200);

    assert_nowhere(&w, &[&acme, &beta, &gamma, &nobody]);
}

#[test]
fn the_revoke_policy_revokes_every_reported_key() {
    let w = start(&[("LEAK_POLICY", "revoke")]);
    let acme = create(&w, "acme");
    let beta = create(&w, "beta");
    assert_eq!(w.gateway(&acme), 200);
    let r = report(
        &w,
        &[("authorization", &bearer(keyward_e2e::TOKEN))],
        &json!([{"key": acme, "source": "pastebin"}]).to_string(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["action"], "revoked");
    assert_eq!(w.gateway(&acme), 401);
    assert_eq!(w.gateway(&beta), 200);
    let k = listed(&w, "acme");
    assert_eq!(k["leakedAt"], "pastebin");
    assert!(k["leakedOn"].is_string() && k["expiresOn"].is_string());
    // `keyward keys list` prints the leak after the other fields.
    let out = Command::new(cli_binary())
        .args(["keys", "list", "--consumer", "acme"])
        .env("KEYWARD_URL", w.api_base())
        .env("KEYWARD_TOKEN", keyward_e2e::TOKEN)
        .output()
        .expect("run keyward");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}");
    let leaked_on = k["leakedOn"].as_str().unwrap();
    assert!(
        listing
            .trim_end()
            .ends_with(&format!("\tleaked {leaked_on} at pastebin")),
        "{listing}"
    );
    assert_nowhere(&w, &[&acme, &beta]);
}
