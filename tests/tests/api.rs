//! End-to-end: the developer API as a Zuplo client uses it, against the real Worker.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyward_e2e::{admin, http, sha256_hex, Answer, Echo, Worker};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn create_bucket(w: &Worker, name: &str) {
    let a = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(&json!({"name": name}).to_string()),
    );
    assert_eq!(a.status, 200, "{a:?}");
}

/// Metadata the upstream received with the last request.
fn forwarded_metadata(echo: &Echo) -> Value {
    let got = echo.received();
    let last = got.last().expect("the upstream received a request");
    let raw = URL_SAFE_NO_PAD
        .decode(last.header("x-keyward-metadata").expect("metadata header"))
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn edge(w: &Worker, key: &str) -> Answer {
    http(
        "GET",
        &format!("{}/orders", w.origin),
        &[("authorization", &bearer(key))],
        None,
    )
}

#[test]
fn zuplo_documentation_flows() {
    let echo = Echo::start();
    let w = Worker::start(&[("UPSTREAM_URL", &echo.origin), ("BUCKET", "my-bucket")]);
    create_bucket(&w, "my-bucket");
    let consumers = format!("{}/key-buckets/my-bucket/consumers", w.account());

    // Create a consumer with a key, metadata and tags: the key verifies at the edge.
    let created = admin(
        "POST",
        &format!("{consumers}?with-api-key=true"),
        Some(
            r#"{"name":"acme-corp","description":"Acme","metadata":{"plan":"gold"},"tags":{"customerId":"c-1"},"managers":["Alice@Acme.example"]}"#,
        ),
    );
    assert_eq!(created.status, 200, "{created:?}");
    let old_key = created.json()["apiKeys"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(edge(&w, &old_key).status, 200);
    assert_eq!(forwarded_metadata(&echo), json!({"plan": "gold"}));

    // A second consumer with another tag, for the filters.
    let other = admin(
        "POST",
        &consumers,
        Some(r#"{"name":"globex","tags":{"customerId":"c-2"},"managers":["hank@globex.example"]}"#),
    );
    assert_eq!(other.status, 200, "{other:?}");

    // List with keys masked, filtered by tag.
    let list = admin(
        "GET",
        &format!("{consumers}?include-api-keys=true&key-format=masked&tag.customerId=c-1"),
        None,
    );
    assert_eq!(list.status, 200, "{list:?}");
    let list = list.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["name"], "acme-corp");
    let masked = list["data"][0]["apiKeys"][0]["key"].as_str().unwrap();
    assert!(
        masked.starts_with("kw_****") && !list.to_string().contains(&old_key),
        "{masked}"
    );

    // The tag guard: a mismatch is answered as if the consumer did not exist.
    let guarded = admin(
        "PATCH",
        &format!("{consumers}/acme-corp?tag.customerId=c-2"),
        Some(r#"{"description":"x"}"#),
    );
    assert_eq!(guarded.status, 404, "{guarded:?}");
    let guarded = admin(
        "POST",
        &format!("{consumers}/acme-corp/roll-key?tag.customerId=c-2"),
        Some(r#"{"expiresOn":"2030-01-01T00:00:00Z"}"#),
    );
    assert_eq!(guarded.status, 404);

    // Roll with a grace period of an hour: both keys verify, the old one carries the expiry.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let expiry = keyward_core::timestamp::format(now + 3_600_000);
    let roll = http(
        "POST",
        &format!("{consumers}/acme-corp/roll-key?tag.customerId=c-1"),
        &[
            ("authorization", &bearer(keyward_e2e::TOKEN)),
            ("prefer", "return=representation"),
        ],
        Some(&json!({"expiresOn": expiry}).to_string()),
    );
    assert_eq!(roll.status, 200, "{roll:?}");
    let new_key = roll.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(
        edge(&w, &old_key).status,
        200,
        "old key during the grace period"
    );
    assert_eq!(edge(&w, &new_key).status, 200, "new key");
    let keys = admin("GET", &format!("{consumers}/acme-corp/keys"), None).json();
    let old_id = created.json()["apiKeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["expiresOn"], expiry.as_str());
    let new = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] != old_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(new["expiresOn"], Value::Null);

    // Zuplo's own answer to roll-key is 204 without a body; a past expiry revokes at once.
    let revoke = admin(
        "POST",
        &format!("{consumers}/acme-corp/roll-key"),
        Some(r#"{"expiresOn":"2020-01-01T00:00:00Z"}"#),
    );
    assert_eq!(revoke.status, 204, "{revoke:?}");
    assert_eq!(revoke.text, "");
    assert_eq!(
        edge(&w, &old_key).status,
        401,
        "old key after a revoking roll"
    );
    assert_eq!(
        edge(&w, &new_key).status,
        401,
        "the previous new key is rolled too"
    );
    let keys = admin("GET", &format!("{consumers}/acme-corp/keys"), None).json();
    assert_eq!(keys["total"], 3, "the roll created a key nobody has seen");

    // Add a key, then patch metadata: the next verified request forwards it.
    let added = admin(
        "POST",
        &format!("{consumers}/acme-corp/keys"),
        Some(r#"{"description":"ci"}"#),
    );
    assert_eq!(added.status, 200, "{added:?}");
    let key = added.json()["key"].as_str().unwrap().to_owned();
    let added_id = added.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(edge(&w, &key).status, 200);
    assert_eq!(forwarded_metadata(&echo), json!({"plan": "gold"}));
    let patched = admin(
        "PATCH",
        &format!("{consumers}/acme-corp"),
        Some(r#"{"metadata":{"plan":"platinum","rpm":900}}"#),
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(edge(&w, &key).status, 200);
    assert_eq!(
        forwarded_metadata(&echo),
        json!({"plan": "platinum", "rpm": 900})
    );

    // Key PATCH: an expiry in the past stops it; null brings it back.
    let k = format!("{consumers}/acme-corp/keys/{added_id}");
    assert_eq!(
        admin("PATCH", &k, Some(r#"{"expiresOn":"2020-01-01T00:00:00Z"}"#)).status,
        200
    );
    assert_eq!(edge(&w, &key).status, 401);
    assert_eq!(
        admin(
            "PATCH",
            &k,
            Some(r#"{"expiresOn":null,"description":"ci again"}"#)
        )
        .status,
        200
    );
    assert_eq!(edge(&w, &key).status, 200);
    assert_eq!(admin("GET", &k, None).json()["description"], "ci again");

    // Delete a key: rejected on the next request.
    let second = admin(
        "POST",
        &format!("{consumers}/acme-corp/keys/$bulk"),
        Some(r#"[{"description":"a"},{"description":"b"}]"#),
    );
    assert_eq!(second.status, 200, "{second:?}");
    // Zuplo's list envelope, one page of every key created.
    assert_eq!(
        (
            second.json()["total"].clone(),
            second.json()["offset"].clone()
        ),
        (json!(2), json!(0)),
        "{second:?}"
    );
    let bulk_keys: Vec<String> = second.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bulk_keys.len(), 2);
    assert_eq!(admin("DELETE", &k, None).status, 204);
    assert_eq!(edge(&w, &key).status, 401);

    // Managers: add, filter by manager e-mail, remove.
    let m = admin(
        "POST",
        &format!("{consumers}/acme-corp/managers"),
        Some(r#"{"email":"Bob@Acme.example","sub":"auth0|bob"}"#),
    );
    assert_eq!(m.status, 200, "{m:?}");
    assert_eq!(m.json()["email"], "bob@acme.example");
    let manager_id = m.json()["id"].as_str().unwrap().to_owned();
    let by_bob = admin(
        "GET",
        &format!("{consumers}?manager-email=bob@acme.example"),
        None,
    )
    .json();
    assert_eq!(
        (by_bob["total"].clone(), by_bob["data"][0]["name"].clone()),
        (json!(1), json!("acme-corp"))
    );
    let managers = admin("GET", &format!("{consumers}/acme-corp/managers"), None).json();
    assert_eq!(managers["total"], 2);
    assert_eq!(
        admin(
            "DELETE",
            &format!("{consumers}/acme-corp/managers/{manager_id}"),
            None
        )
        .status,
        204
    );
    assert_eq!(
        admin(
            "GET",
            &format!("{consumers}?manager-email=bob@acme.example"),
            None
        )
        .json()["total"],
        0
    );

    // Delete the consumer: every key it had is rejected.
    for k in &bulk_keys {
        assert_eq!(edge(&w, k).status, 200);
    }
    assert_eq!(
        admin("DELETE", &format!("{consumers}/acme-corp"), None).status,
        204
    );
    for k in &bulk_keys {
        assert_eq!(edge(&w, k).status, 401);
    }
    assert_eq!(
        admin("GET", &format!("{consumers}/acme-corp"), None).status,
        404
    );

    // Buckets: patch, then delete removes everything in them.
    let b = format!("{}/key-buckets/my-bucket", w.account());
    assert_eq!(
        admin("PATCH", &b, Some(r#"{"description":"renamed"}"#)).json()["description"],
        "renamed"
    );
    assert_eq!(admin("DELETE", &b, None).status, 204);
    assert_eq!(admin("GET", &b, None).status, 404);
    create_bucket(&w, "my-bucket");
    assert_eq!(
        admin("GET", &consumers, None).json()["total"],
        0,
        "a deleted bucket leaves nothing"
    );
}

#[test]
fn the_worker_serves_its_openapi_document() {
    let w = Worker::start(&[]);
    let doc = http("GET", &format!("{}/openapi.json", w.api_base()), &[], None);
    assert_eq!(doc.status, 200, "{doc:?}");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(keyward_e2e::root().join("schemas/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc.json(), committed);
    assert_eq!(committed["openapi"], "3.1.0");
}

#[test]
fn bulk_create_and_paging_through_2500_consumers() {
    let w = Worker::start(&[]);
    create_bucket(&w, "paging");
    let consumers = format!("{}/key-buckets/paging/consumers", w.account());
    let names: Vec<String> = (0..2500).map(|i| format!("consumer-{i:05}")).collect();
    let mut pending: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "tags": {"half": if n.ends_with(['0', '2', '4', '6', '8']) { "even" } else { "odd" }}}))
        .collect();
    let mut requests = 0;
    while !pending.is_empty() {
        let batch: Vec<Value> = pending.drain(..pending.len().min(500)).collect();
        let a = admin(
            "POST",
            &format!("{consumers}/$bulk"),
            Some(&json!({"upsert": batch}).to_string()),
        );
        assert_eq!(a.status, 200, "{a:?}");
        requests += 1;
        for r in a.json()["results"].as_array().unwrap() {
            match r["status"].as_str().unwrap() {
                "created" => {}
                "deferred" => pending.push(
                    batch
                        .iter()
                        .find(|b| b["name"] == r["name"])
                        .unwrap()
                        .clone(),
                ),
                other => panic!("unexpected status {other}: {r}"),
            }
        }
        assert!(requests < 20, "bulk creation does not converge");
    }
    let mut seen = BTreeSet::new();
    for offset in [0, 1000, 2000] {
        let page = admin(
            "GET",
            &format!("{consumers}?limit=1000&offset={offset}"),
            None,
        )
        .json();
        assert_eq!(page["total"], 2500);
        for c in page["data"].as_array().unwrap() {
            assert!(
                seen.insert(c["name"].as_str().unwrap().to_owned()),
                "{} twice",
                c["name"]
            );
        }
    }
    assert_eq!(seen.len(), 2500);
    let check = admin(
        "GET",
        &format!("{}/key-buckets/paging/$check", w.account()),
        None,
    )
    .json();
    assert_eq!(check["consistent"], true, "{check}");
    assert_eq!(seen, names.into_iter().collect::<BTreeSet<_>>());
    let even = admin("GET", &format!("{consumers}?limit=10&tag.half=even"), None).json();
    assert_eq!(even["total"], 1250);
    assert_eq!(even["data"].as_array().unwrap().len(), 10);

    // A second identical bulk request writes nothing.
    let again: Vec<Value> = (0..300).map(|i| json!({"name": format!("consumer-{i:05}"), "tags": {"half": if i % 2 == 0 { "even" } else { "odd" }}})).collect();
    let a = admin(
        "POST",
        &format!("{consumers}/$bulk"),
        Some(&json!({"upsert": again}).to_string()),
    )
    .json();
    assert_eq!(a["writes"], 0, "{a}");
    assert!(a["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "unchanged"));
}

#[test]
fn scoped_management_tokens() {
    // sha256("read-only-token") and sha256("bucket-a-token").
    let tokens = json!([
        {"name": "reader", "sha256": sha256_hex(b"read-only-token"), "access": "read"},
        {"name": "team-a", "sha256": sha256_hex(b"bucket-a-token"), "access": "write", "buckets": ["bucket-a"]},
    ])
    .to_string();
    let w = Worker::start(&[("MANAGEMENT_TOKENS", &tokens)]);
    create_bucket(&w, "bucket-a");
    create_bucket(&w, "bucket-b");
    let call = |token: &str, method: &str, path: &str, body: Option<&str>| {
        http(
            method,
            &format!("{}{path}", w.account()),
            &[("authorization", &bearer(token))],
            body,
        )
    };
    let reader = "read-only-token";
    assert_eq!(
        call(reader, "GET", "/key-buckets/bucket-a/consumers", None).status,
        200
    );
    let denied = call(
        reader,
        "POST",
        "/key-buckets/bucket-a/consumers",
        Some(r#"{"name":"x"}"#),
    );
    assert_eq!(denied.status, 403, "{denied:?}");
    assert_eq!(
        denied.header("content-type"),
        Some("application/problem+json")
    );
    let team_a = "bucket-a-token";
    assert_eq!(
        call(
            team_a,
            "POST",
            "/key-buckets/bucket-a/consumers",
            Some(r#"{"name":"x"}"#)
        )
        .status,
        200
    );
    assert_eq!(
        call(team_a, "GET", "/key-buckets/bucket-b/consumers", None).status,
        403
    );
    assert_eq!(
        call(
            team_a,
            "POST",
            "/key-buckets/bucket-b/consumers",
            Some(r#"{"name":"x"}"#)
        )
        .status,
        403
    );
    let visible: Vec<Value> = call(team_a, "GET", "/key-buckets", None).json()["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        visible.len(),
        1,
        "a bucket-limited token lists only its buckets"
    );
    assert_eq!(call("wrong", "GET", "/key-buckets", None).status, 401);
    assert_eq!(
        call(
            keyward_e2e::TOKEN,
            "GET",
            "/key-buckets/bucket-b/consumers",
            None
        )
        .status,
        200
    );
}

#[test]
fn bad_input_changes_nothing() {
    let w = Worker::start(&[]);
    create_bucket(&w, "default");
    let consumers = format!("{}/key-buckets/default/consumers", w.account());
    assert_eq!(
        admin(
            "POST",
            &format!("{consumers}?with-api-key=true"),
            Some(r#"{"name":"keep","metadata":{"a":1}}"#)
        )
        .status,
        200
    );
    let snapshot = || {
        let c = admin(
            "GET",
            &format!("{consumers}?include-api-keys=true&include-managers=true"),
            None,
        )
        .text;
        let b = admin("GET", &format!("{}/key-buckets", w.account()), None).text;
        format!("{c}\n{b}")
    };
    let before = snapshot();
    let long_tag = "v".repeat(65);
    let big = "x".repeat(1100);
    let cases: Vec<(&str, String, String, u16)> = vec![
        ("bad consumer name", "POST".into(), consumers.clone(), 400),
        (
            "bad bucket name",
            "POST".into(),
            format!("{}/key-buckets", w.account()),
            400,
        ),
        ("bad e-mail", "POST".into(), consumers.clone(), 400),
        ("metadata array", "POST".into(), consumers.clone(), 400),
        ("metadata too big", "POST".into(), consumers.clone(), 400),
        ("six tags", "POST".into(), consumers.clone(), 400),
        ("long tag value", "POST".into(), consumers.clone(), 400),
        ("unknown field", "POST".into(), consumers.clone(), 400),
        ("wrong type", "POST".into(), consumers.clone(), 400),
        ("duplicate", "POST".into(), consumers.clone(), 409),
        (
            "bad patch metadata",
            "PATCH".into(),
            format!("{consumers}/keep"),
            400,
        ),
        (
            "unknown consumer",
            "PATCH".into(),
            format!("{consumers}/nobody"),
            404,
        ),
        (
            "unknown bucket",
            "POST".into(),
            format!("{}/key-buckets/nothing-here/consumers", w.account()),
            404,
        ),
        (
            "wrong method",
            "PUT".into(),
            format!("{consumers}/keep"),
            405,
        ),
        (
            "bad roll date",
            "POST".into(),
            format!("{consumers}/keep/roll-key"),
            400,
        ),
        (
            "bulk with one bad item",
            "POST".into(),
            format!("{consumers}/$bulk"),
            400,
        ),
    ];
    let bodies = [
        r#"{"name":"Bad Name"}"#.to_owned(),
        r#"{"name":"tiny"}"#.to_owned(),
        r#"{"name":"x","managers":["not-an-email"]}"#.to_owned(),
        r#"{"name":"x","metadata":[1,2]}"#.to_owned(),
        format!(r#"{{"name":"x","metadata":{{"blob":"{big}"}}}}"#),
        r#"{"name":"x","tags":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6"}}"#.to_owned(),
        format!(r#"{{"name":"x","tags":{{"a":"{long_tag}"}}}}"#),
        r#"{"name":"x","plan":"gold"}"#.to_owned(),
        r#"{"name":["x"]}"#.to_owned(),
        r#"{"name":"keep"}"#.to_owned(),
        r#"{"metadata":"gold"}"#.to_owned(),
        r#"{"description":"x"}"#.to_owned(),
        r#"{"name":"x"}"#.to_owned(),
        r#"{"name":"x"}"#.to_owned(),
        r#"{"expiresOn":"tomorrow"}"#.to_owned(),
        r#"{"upsert":[{"name":"fine"},{"name":"Not Fine"}]}"#.to_owned(),
    ];
    for ((what, method, url, status), body) in cases.iter().zip(&bodies) {
        let a = admin(method, url, Some(body));
        assert_eq!(a.status, *status, "{what}: {a:?}");
        assert_eq!(
            a.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
    }
    let huge = format!(
        r#"{{"name":"x","description":"{}"}}"#,
        "d".repeat(1_100_000)
    );
    // To the Worker's own socket: the 413 comes before the body ends, after which wrangler
    // dev's proxy would hang the next request (see `Worker::direct_origin`); `upload` reads
    // the answer while it sends.
    let path = consumers.replacen(&w.origin, "", 1);
    let auth = format!("Bearer {}", keyward_e2e::TOKEN);
    let (status, sent) = keyward_e2e::upload(
        &w.direct_origin(),
        &path,
        &[("Authorization", &auth)],
        huge.len(),
        false,
    );
    assert_eq!(status, 413, "{sent} bytes sent");
    assert_eq!(snapshot(), before, "a rejected request changed the state");
}

/// Every `null` in `v` except `expiresOn` (the one field Zuplo answers `null`, for "never").
fn nulls(v: &Value, at: &str) -> Vec<String> {
    match v {
        Value::Null => vec![at.to_owned()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, x)| nulls(x, &format!("{at}[{i}]")))
            .collect(),
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "expiresOn")
            .flat_map(|(k, x)| nulls(x, &format!("{at}.{k}")))
            .collect(),
        _ => Vec::new(),
    }
}

/// What a client generated from Zuplo's published schema sends and reads, through the real
/// Worker: bodies echoing read-only fields and managers as objects, `limit` above the
/// maximum, `include-manager-invites`, `tag[k]=v` (deepObject), the `$bulk` envelope, and no
/// `null` where Zuplo types a string.
#[test]
fn a_client_of_zuplos_schema_works_unchanged() {
    let w = Worker::start(&[]);
    let old = "2023-04-20T05:54:34.408Z";
    let bucket = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(
            &json!({"name": "default", "id": "bckt_x", "createdOn": old, "updatedOn": old})
                .to_string(),
        ),
    );
    assert_eq!(bucket.status, 200, "{bucket:?}");
    assert_eq!(
        nulls(&bucket.json(), "$"),
        Vec::<String>::new(),
        "{bucket:?}"
    );
    let consumers = format!("{}/key-buckets/default/consumers", w.account());
    // Zuplo's own example body: managers with their read-only id and createdOn.
    let created = admin(
        "POST",
        &consumers,
        Some(
            &json!({
                "name": "zup-inc",
                "tags": {"foo": "bar"},
                "metadata": {"id": "zup-id-343"},
                "managers": [{"id": "123", "email": "user@example.com", "sub": "oauth2|1", "createdOn": old}],
                "apiKeys": [{"id": "key_x", "createdOn": old, "updatedOn": old, "description": "k"}],
            })
            .to_string(),
        ),
    );
    assert_eq!(created.status, 200, "{created:?}");
    let created = created.json();
    assert_ne!(created["managers"][0]["id"], "123", "{created}");
    assert_eq!(created["managers"][0]["sub"], "oauth2|1", "{created}");
    assert_ne!(created["apiKeys"][0]["id"], "key_x", "{created}");
    assert_eq!(
        edge(&w, created["apiKeys"][0]["key"].as_str().unwrap()).status,
        200
    );
    let plain = admin(
        "POST",
        &format!("{consumers}?with-api-key=true"),
        Some(r#"{"name":"plain","managers":["ops@example.com"]}"#),
    );
    assert_eq!(plain.status, 200, "{plain:?}");

    // Lists: limit capped, empty invites, deepObject tag filters, no null but expiresOn.
    let list = admin(
        "GET",
        &format!("{consumers}?limit=5000&offset=0&include-api-keys=true&include-managers=true&include-manager-invites=true"),
        None,
    );
    assert_eq!(list.status, 200, "{list:?}");
    let list = list.json();
    assert_eq!(
        (list["limit"].clone(), list["total"].clone()),
        (json!(1000), json!(2))
    );
    assert_eq!(nulls(&list, "$"), Vec::<String>::new(), "{list}");
    for c in list["data"].as_array().unwrap() {
        assert_eq!(c["managerInvites"], json!([]), "{c}");
    }
    let text = list.to_string();
    assert!(
        !text.contains(r#""description":null"#) && !text.contains(r#""sub":null"#),
        "{text}"
    );
    for query in ["tag[foo]=bar", "tag%5Bfoo%5D=bar", "tag.foo=bar"] {
        let page = admin("GET", &format!("{consumers}?{query}"), None).json();
        assert_eq!(page["total"], 1, "{query}: {page}");
        assert_eq!(page["data"][0]["name"], "zup-inc", "{query}: {page}");
    }
    let guarded = admin("DELETE", &format!("{consumers}/zup-inc?tag[foo]=baz"), None);
    assert_eq!(guarded.status, 404, "{guarded:?}");
    let bare = admin("DELETE", &format!("{consumers}/zup-inc?tag=foo"), None);
    assert_eq!(bare.status, 400, "{bare:?}");
    assert_eq!(
        admin("GET", &format!("{consumers}/zup-inc"), None).status,
        200
    );

    // Read, change, send back with the read-only fields.
    let mut got = admin("GET", &format!("{consumers}/zup-inc?tag[foo]=bar"), None).json();
    got["description"] = "changed".into();
    let echo = json!({
        "id": got["id"], "createdOn": got["createdOn"], "updatedOn": got["updatedOn"],
        "description": got["description"], "tags": got["tags"], "metadata": got["metadata"],
    });
    let patched = admin(
        "PATCH",
        &format!("{consumers}/zup-inc"),
        Some(&echo.to_string()),
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json()["createdOn"], got["createdOn"]);
    // Fields nobody defines are still refused.
    let unknown = admin(
        "PATCH",
        &format!("{consumers}/zup-inc"),
        Some(r#"{"owner":"x"}"#),
    );
    assert_eq!(unknown.status, 400, "{unknown:?}");

    // `$bulk` keys: the list envelope, and each key works at the edge at once.
    let bulk = admin(
        "POST",
        &format!("{consumers}/plain/keys/$bulk"),
        Some(&json!([{"description": "a", "id": "key_x", "createdOn": old}, {}]).to_string()),
    );
    assert_eq!(bulk.status, 200, "{bulk:?}");
    let bulk = bulk.json();
    assert_eq!(
        (
            bulk["limit"].clone(),
            bulk["offset"].clone(),
            bulk["total"].clone()
        ),
        (json!(2), json!(0), json!(2)),
        "{bulk}"
    );
    for k in bulk["data"].as_array().unwrap() {
        assert_eq!(edge(&w, k["key"].as_str().unwrap()).status, 200, "{k}");
    }
    let managers = admin(
        "GET",
        &format!("{consumers}/plain/managers?limit=1001"),
        None,
    )
    .json();
    assert_eq!(managers["limit"], 1000, "{managers}");
    assert!(managers["data"][0].get("sub").is_none(), "{managers}");
}
