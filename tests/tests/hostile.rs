//! End-to-end: hostile input at the edge, against the real Worker (the hardening issue, one
//! test per item done so far): spoofed identity headers however they are spelled, headers
//! the operator drops, credentials in the query beside a header, and upstream redirects.

use keyward_e2e::{admin, http, Echo, Worker};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Creates bucket `default` and consumer `name` with one key; returns the key.
fn consumer_with_key(w: &Worker, name: &str) -> String {
    let bucket = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(r#"{"name":"default"}"#),
    );
    assert!(bucket.status == 200 || bucket.status == 409, "{bucket:?}");
    let created = admin(
        "POST",
        &format!(
            "{}/key-buckets/default/consumers?with-api-key=true",
            w.account()
        ),
        Some(&json!({"name": name, "metadata": {"plan": "gold"}}).to_string()),
    );
    assert_eq!(created.status, 200, "{created:?}");
    created.json()["apiKeys"][0]["key"]
        .as_str()
        .expect("the new key")
        .to_owned()
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
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !w.log().contains("MANAGEMENT_TOKENS") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(w.log().contains("MANAGEMENT_TOKENS"), "{}", w.log());
}

/// An e-mail with an invisible or bidi character is refused, naming the character and its
/// position, and nothing is written; Unicode upper case is lowered.
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
}
