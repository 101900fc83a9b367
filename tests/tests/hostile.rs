//! End-to-end: hostile input at the edge, against the real Worker (the hardening issue, one
//! test per item): spoofed identity headers however they are spelled, headers the operator
//! drops, an upstream that must be able to tell keyward's requests from anyone's (signed
//! requests, checked by README's own examples), bodies that never end, a broken secret,
//! upstream redirects, credentials in the query beside a header, sprays of forged keys, and
//! spoofed e-mails.

use keyward_core::key::format as key_format;
use keyward_e2e::{admin, http, root, upload, Echo, Worker, TOKEN};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Creates bucket `default` and consumer `name` with one key; returns the key.
fn consumer_with_key(w: &Worker, name: &str) -> String {
    keyward_e2e::new_consumer(w, name, json!({"plan": "gold"}))
}

/// With anonymous requests allowed, no spelling of an identity header reaches the upstream
/// (any ASCII punctuation for `-`, any case: CGI upstreams read them all as
/// `HTTP_X_KEYWARD_*`), nor do the headers named in `FORWARD_DROP_HEADERS`.
#[test]
fn spoofed_identity_headers_never_reach_the_upstream() {
    let echo = Echo::start();
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        ("ALLOW_UNAUTHENTICATED", "true"),
        ("FORWARD_DROP_HEADERS", "Cookie, X-Internal-Auth"),
    ]);
    let spoofs = [
        ("X-Keyward_Consumer", "acme-corp"),
        ("x_keyward_key_id", "key_forged"),
        ("X-KEYWARD-METADATA", "e30"),
        ("x-Keyward-Consumer", "acme-corp"),
        ("X-Keyward.Consumer", "acme-corp"),
        ("x~keyward!key-id", "key_forged"),
    ];
    let mut headers: Vec<(&str, &str)> = spoofs.to_vec();
    headers.extend([
        ("cookie", "session=secret"),
        ("x_internal_auth", "root"),
        ("x-trace", "t1"),
        ("x_trace_id", "t2"),
    ]);
    let a = http("GET", &format!("{}/orders", w.origin), &headers, None);
    assert_eq!(a.status, 200, "{a:?}\n{}", w.log());
    let got = echo.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let forwarded: Vec<&str> = got[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    for name in &forwarded {
        let normal: String = name
            .chars()
            .map(|c| if c.is_ascii_punctuation() { '-' } else { c })
            .collect();
        assert!(
            !normal.starts_with("x-keyward-"),
            "{name} was forwarded: {forwarded:?}"
        );
        assert!(
            normal != "cookie" && normal != "x-internal-auth",
            "{name} was forwarded: {forwarded:?}"
        );
    }
    assert!(forwarded.contains(&"x-trace"), "{forwarded:?}");
    // Underscores survive the way to the upstream: the spoofs above would have arrived.
    assert!(forwarded.contains(&"x_trace_id"), "{forwarded:?}");
    // A method the runtime binding cannot name is refused, not forwarded as a GET.
    let propfind = http("PROPFIND", &format!("{}/orders", w.origin), &[], None);
    assert_eq!(propfind.status, 405, "{propfind:?}");
    assert_eq!(echo.received().len(), 1, "PROPFIND reached the upstream");
}

/// A request with a key in the header and another in the query forwards neither: the query
/// parameter goes whenever `AUTH_QUERY_PARAM` is set, so no plaintext key reaches upstream
/// logs.
#[test]
fn a_header_and_a_query_credential_forward_neither() {
    let echo = Echo::start();
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        ("AUTH_QUERY_PARAM", "api_key"),
    ]);
    let key = consumer_with_key(&w, "acme-corp");
    let a = http(
        "GET",
        &format!(
            "{}/items?page=2&api_key=kw_some_other_plaintext&x=1",
            w.origin
        ),
        &[("authorization", &format!("Bearer {key}"))],
        None,
    );
    assert_eq!(a.status, 200, "{a:?}\n{}", w.log());
    let got = echo.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].target, "/items?page=2&x=1");
    assert_eq!(got[0].header("authorization"), None);
    assert_eq!(got[0].header("x-keyward-consumer"), Some("acme-corp"));
}

/// An upstream that redirects: the 3xx reaches the client as it is, and nothing follows it
/// (following would carry the identity headers to another host).
#[test]
fn an_upstream_redirect_reaches_the_client() {
    // The redirecting upstream, and the host it points to (which must see no request).
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let target = format!("http://{}/stolen", elsewhere.local_addr().unwrap());
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", upstream.local_addr().unwrap());
    let location = target.clone();
    std::thread::spawn(move || {
        for stream in upstream.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let w = Worker::start(&[("UPSTREAM_URL", &origin)]);
    let key = consumer_with_key(&w, "acme-corp");
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let response = match agent
        .get(&format!("{}/orders", w.origin))
        .set("authorization", &format!("Bearer {key}"))
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET /orders: {e}\n{}", w.log()),
    };
    assert_eq!(response.status(), 302, "{}", w.log());
    assert_eq!(response.header("location"), Some(target.as_str()));
    assert!(
        elsewhere.accept().is_err(),
        "the Worker followed the redirect to another host"
    );
}

/// A malformed `MANAGEMENT_TOKENS` fails only the developer API (a 500 whose log line names
/// the variable); the gateway keeps verifying keys and forwarding.
#[test]
fn a_bad_management_tokens_secret_leaves_the_gateway_serving() {
    let w = Worker::start(&[("MANAGEMENT_TOKENS", "not json")]);
    let anonymous = http("GET", &format!("{}/orders", w.origin), &[], None);
    assert_eq!(anonymous.status, 401, "the gateway answers: {anonymous:?}");
    let api = admin("GET", &format!("{}/key-buckets", w.account()), None);
    assert_eq!(api.status, 500, "{api:?}");
    assert!(
        !api.text.contains("not json"),
        "the secret's content in an answer"
    );
    w.log_with("MANAGEMENT_TOKENS");
}

/// An e-mail with an invisible or bidi character is refused, naming the character and its
/// position, and nothing is written; Unicode upper case is lowered and combining sequences
/// composed (NFC, with the runtime's tables).
#[test]
fn spoofed_manager_emails_are_refused_with_the_position() {
    let w = Worker::start(&[]);
    let bucket = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(r#"{"name":"default"}"#),
    );
    assert_eq!(bucket.status, 200, "{bucket:?}");
    let consumers = format!("{}/key-buckets/default/consumers", w.account());
    for (spoof, code, at) in [
        ("bob\u{200B}@example.com", "U+200B", 4),
        ("\u{202E}moc.elpmaxe@bob", "U+202E", 1),
    ] {
        let body = json!({"name": "acme", "managers": [spoof]}).to_string();
        let r = admin("POST", &consumers, Some(&body));
        assert_eq!(r.status, 400, "{r:?}");
        let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains(code), "{detail}");
        assert!(detail.contains(&format!("at character {at}")), "{detail}");
    }
    let list = admin("GET", &consumers, None);
    assert_eq!(list.json()["total"], 0, "a refused request wrote nothing");
    let ok = admin(
        "POST",
        &consumers,
        Some(&json!({"name": "acme", "managers": ["ÉLODIE@Exemple.fr"]}).to_string()),
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["managers"][0]["email"], "élodie@exemple.fr");
    // The same address typed with a combining accent (E + U+0301) is NFC-normalized: one
    // manager, not two.
    let decomposed = admin(
        "POST",
        &format!("{consumers}/acme/managers"),
        Some(&json!({"email": "E\u{301}LODIE@exemple.fr"}).to_string()),
    );
    assert!(matches!(decomposed.status, 200 | 409), "{decomposed:?}");
    let managers = admin("GET", &format!("{consumers}/acme/managers"), None).json()["data"].clone();
    assert_eq!(managers.as_array().map(Vec::len), Some(1), "{managers}");
    assert_eq!(managers[0]["email"], "élodie@exemple.fr");
}

/// The fenced code block that follows `<!-- signature-example: {lang} -->` in README.md.
fn readme_example(lang: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let marker = format!("<!-- signature-example: {lang} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"))
        .1;
    let block = after
        .trim_start()
        .split_once('\n')
        .expect("a fenced block")
        .1;
    block
        .split_once("\n```")
        .expect("the block's end")
        .0
        .to_owned()
}

/// Runs a program with `input` on stdin; its stdout as JSON.
fn run_json(program: &str, args: &[&str], input: &str) -> serde_json::Value {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed to run README's example: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{program} printed no JSON ({e}): {:?}", out.stdout))
}

/// With `UPSTREAM_SIGNING_SECRET`, every forwarded request (with an identity or anonymous,
/// with a query or a body) verifies with README's Python and JavaScript examples, run as they
/// are printed there; changing any signed field, or the signature, makes both refuse it.
#[test]
fn forwarded_requests_verify_with_the_readme_examples_and_fail_when_changed() {
    let echo = Echo::start();
    let secret = "e2e-upstream-signing-secret";
    let w = Worker::start(&[
        ("UPSTREAM_URL", &echo.origin),
        ("UPSTREAM_SIGNING_SECRET", secret),
        ("ALLOW_UNAUTHENTICATED", "true"),
        ("AUTH_QUERY_PARAM", "api_key"),
    ]);
    let key = consumer_with_key(&w, "acme-corp");
    let auth = format!("Bearer {key}");
    let sent = [
        http(
            "GET",
            &format!(
                "{}/items/caf%C3%A9;v=1/a%2Fb?q=a%20b&flag&api_key=x",
                w.origin
            ),
            &[("authorization", &auth)],
            None,
        ),
        http(
            "POST",
            &format!("{}/orders", w.origin),
            &[("authorization", &auth)],
            Some(r#"{"n":1}"#),
        ),
        http("DELETE", &format!("{}/public", w.origin), &[], None),
    ];
    for a in &sent {
        assert_eq!(a.status, 200, "{a:?}\n{}", w.log());
    }
    let got = echo.received();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[0].target, "/items/caf%C3%A9;v=1/a%2Fb?q=a%20b&flag",
        "forwarded byte for byte"
    );
    assert_eq!(got[1].header("x-keyward-consumer"), Some("acme-corp"));
    assert_eq!(got[2].header("x-keyward-consumer"), None);
    let as_case = |method: &str, target: &str, headers: &[(String, serde_json::Value)]| {
        json!({
            "method": method,
            "target": target,
            "headers": headers.iter().cloned().collect::<serde_json::Map<_, _>>(),
        })
    };
    let headers_of = |r: &keyward_e2e::Received| -> Vec<(String, serde_json::Value)> {
        r.headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect()
    };
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for r in &got {
        let h = headers_of(r);
        cases.push(as_case(&r.method, &r.target, &h));
        expected.push(true);
        let with = |name: &str, value: &str| -> Vec<(String, serde_json::Value)> {
            let mut h: Vec<_> = h.iter().filter(|(k, _)| k != name).cloned().collect();
            h.push((name.to_owned(), value.into()));
            h
        };
        let ts: i64 = r
            .header("x-keyward-timestamp")
            .expect("a timestamp")
            .parse()
            .expect("Unix seconds");
        let changed = [
            as_case("PUT", &r.target, &h),
            as_case(&r.method, &format!("{}x", r.target), &h),
            as_case(
                &r.method,
                &r.target,
                &with("x-keyward-consumer", "someone-else"),
            ),
            as_case(
                &r.method,
                &r.target,
                &with("x-keyward-key-id", "key_forged"),
            ),
            as_case(
                &r.method,
                &r.target,
                &with("x-keyward-metadata", "eyJwbGFuIjoicGxhdGludW0ifQ"),
            ),
            as_case(
                &r.method,
                &r.target,
                &with("x-keyward-timestamp", &(ts + 1).to_string()),
            ),
            as_case(
                &r.method,
                &r.target,
                &with("x-keyward-signature", &"0".repeat(64)),
            ),
            as_case(
                &r.method,
                &r.target,
                &h.iter()
                    .filter(|(k, _)| k != "x-keyward-signature")
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        ];
        expected.extend(std::iter::repeat_n(false, changed.len()));
        cases.extend(changed);
    }
    let input = serde_json::Value::from(cases).to_string();
    let dir = tempfile::tempdir().unwrap();

    let python = dir.path().join("verify.py");
    std::fs::write(
        &python,
        format!(
            "{}\n\nimport json, sys\ncases = json.load(sys.stdin)\nprint(json.dumps([keyward_request_is_authentic(sys.argv[1].encode(), c['method'], c['target'], c['headers']) for c in cases]))\n",
            readme_example("python")
        ),
    )
    .unwrap();
    let by_python = run_json("python3", &[python.to_str().unwrap(), secret], &input);
    assert_eq!(by_python, json!(expected), "Python");

    let js = dir.path().join("verify.mjs");
    std::fs::write(
        &js,
        format!(
            "{}\n\nimport {{ readFileSync }} from \"node:fs\";\nconst cases = JSON.parse(readFileSync(0, \"utf8\"));\nconsole.log(JSON.stringify(cases.map((c) => keywardRequestIsAuthentic(process.argv[2], c.method, c.target, c.headers))));\n",
            readme_example("javascript")
        ),
    )
    .unwrap();
    let by_node = run_json("node", &[js.to_str().unwrap(), secret], &input);
    assert_eq!(by_node, json!(expected), "JavaScript");
}

/// A 100 MB chunked body (no `Content-Length`) is never read without a valid token (401
/// before 1 MiB has even been sent) and, with one, is refused with 413 as soon as it passes
/// 1 MiB; the gateway keeps answering meanwhile.
///
/// Sent to the Worker's own socket, not through `wrangler dev`'s proxy: the proxy hangs the
/// request after an answer that comes before the body ends ([`Worker::direct_origin`]).
#[test]
fn an_endless_chunked_body_is_refused_before_it_is_read() {
    let w = Worker::start(&[]);
    let key = consumer_with_key(&w, "acme-corp");
    let direct = w.direct_origin();
    let gateway_ok = Arc::new(AtomicBool::new(true));
    let uploading = Arc::new(AtomicBool::new(true));
    let probe = {
        let (origin, key) = (direct.clone(), key.clone());
        let (ok, uploading) = (Arc::clone(&gateway_ok), Arc::clone(&uploading));
        std::thread::spawn(move || {
            let mut answered = 0;
            while uploading.load(Ordering::SeqCst) {
                let a = http(
                    "GET",
                    &format!("{origin}/orders"),
                    &[("authorization", &format!("Bearer {key}"))],
                    None,
                );
                if a.status != 200 {
                    ok.store(false, Ordering::SeqCst);
                }
                answered += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            answered
        })
    };
    const MIB: usize = 1024 * 1024;
    let buckets = "/_keyward/v1/accounts/local/key-buckets";
    let (status, sent) = upload(&direct, buckets, &[], 100 * MIB, true);
    assert_eq!(status, 401, "{}", w.log());
    assert!(sent < MIB, "{sent} bytes were sent before the 401");
    // Outside `/v1` no route reads a body, with or without a token.
    for (path, expected) in [("/_keyward/x", 404), ("/_keyward/health", 405)] {
        let (status, sent) = upload(&direct, path, &[], 100 * MIB, true);
        assert_eq!(status, expected, "{path}\n{}", w.log());
        assert!(
            sent < MIB,
            "{path}: {sent} bytes were sent before the {status}"
        );
    }
    let (status, sent) = upload(
        &direct,
        buckets,
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        100 * MIB,
        true,
    );
    assert_eq!(status, 413, "{}", w.log());
    assert!(
        (MIB..4 * MIB).contains(&sent),
        "{sent} bytes were sent before the 413"
    );
    uploading.store(false, Ordering::SeqCst);
    let answered = probe.join().expect("probe");
    assert!(
        answered > 0 && gateway_ok.load(Ordering::SeqCst),
        "the gateway stopped answering"
    );
    let list = admin("GET", &format!("{}/key-buckets", w.account()), None);
    assert_eq!(
        list.json()["data"].as_array().map(Vec::len),
        Some(1),
        "nothing was created"
    );
}

/// A key with a valid checksum that no consumer has (anyone can make one: the CRC is public).
fn forged_key(n: usize) -> String {
    let head = format!("{}_{n:0>32}", key_format::DEFAULT_PREFIX);
    let key = format!("{head}_{}", key_format::checksum(&head));
    assert!(key_format::parse(&key).is_ok());
    key
}

/// With the `UNKNOWN_KEY_LIMIT` binding, a spray of forged keys from one address is answered
/// 429 (with `Retry-After`) once over the limit; the address's cached key still works, and
/// another address is not affected.
#[test]
fn a_spray_of_forged_keys_is_limited_per_address() {
    let w = Worker::start_with_bindings(
        &[],
        "[[ratelimits]]\nname = \"UNKNOWN_KEY_LIMIT\"\nnamespace_id = \"1001\"\nsimple = { limit = 5, period = 60 }\n",
    );
    let key = consumer_with_key(&w, "acme-corp");
    let from = |ip: &str, key: &str| {
        http(
            "GET",
            &format!("{}/orders", w.origin),
            &[
                ("authorization", &format!("Bearer {key}")),
                ("cf-connecting-ip", ip),
            ],
            None,
        )
    };
    let attacker = "203.0.113.9";
    assert_eq!(from(attacker, &key).status, 200, "{}", w.log());
    let statuses: Vec<u16> = (0..12)
        .map(|n| from(attacker, &forged_key(n)).status)
        .collect();
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(
        statuses[5..].iter().all(|&s| s == 429),
        "{statuses:?}\n{}",
        w.log()
    );
    let limited = from(attacker, &forged_key(100));
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("10"));
    assert_eq!(
        from(attacker, &key).status,
        200,
        "the cached key still works"
    );
    assert_eq!(
        from("198.51.100.7", &forged_key(200)).status,
        401,
        "another address"
    );
    let started = Instant::now();
    assert!(started.elapsed() < Duration::from_secs(60));
}
