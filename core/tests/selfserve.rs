//! End users' tokens (`selfserve::jwt`): what is accepted (HS256 from the secret, RS256 and
//! ES256 from a JWKS), and every way a token is refused — algorithm tricks included — with
//! test-only keys from `tests/fixtures/jwt`.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use keyward_core::selfserve::jwt::{
    kid_of, Identity, KeyCache, KeySet, KeysNeeded, Rejection, Rules, FETCH_BACKOFF_MS,
    STALE_GRACE_MS, UNKNOWN_KID_REFETCH_MS,
};
use serde_json::{json, Value};

const NOW_S: i64 = 1_800_000_000;
const NOW: i64 = NOW_S * 1000;
const SECRET: &[u8] = b"portal-test-secret";
const RSA_PEM: &[u8] = include_bytes!("fixtures/jwt/rsa.pem");
const RSA_PUBLIC_PEM: &[u8] = include_bytes!("fixtures/jwt/rsa.pub.pem");
const EC_PEM: &[u8] = include_bytes!("fixtures/jwt/ec.pem");
const JWKS: &str = include_str!("fixtures/jwt/jwks.json");

fn claims() -> Value {
    json!({
        "sub": "u1",
        "email": "Alice@Example.com",
        "email_verified": true,
        "iss": "https://idp.example",
        "aud": "keyward",
        "exp": NOW_S + 300,
        "iat": NOW_S - 10,
    })
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PEM).unwrap(),
    )
    .unwrap()
}

fn es256(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    encode(&header, claims, &EncodingKey::from_ec_pem(EC_PEM).unwrap()).unwrap()
}

fn rules<'a>(set: Option<&'a KeySet>) -> Rules<'a> {
    Rules {
        hs256_secret: Some(SECRET),
        key_set: set,
        issuer: Some("https://idp.example"),
        audience: Some("keyward"),
        email_claim: "email",
    }
}

fn alice() -> Identity {
    Identity {
        email: "alice@example.com".into(),
        issuer: Some("https://idp.example".into()),
    }
}

#[test]
fn hs256_rs256_and_es256_tokens_are_accepted() {
    let set = KeySet::parse(JWKS).unwrap();
    let r = rules(Some(&set));
    assert_eq!(r.verify(&hs256(&claims()), NOW), Ok(alice()));
    assert_eq!(r.verify(&rs256(&claims(), Some("rsa-1")), NOW), Ok(alice()));
    assert_eq!(r.verify(&es256(&claims()), NOW), Ok(alice()));
    // Without a kid, the only key of the token's algorithm.
    assert_eq!(r.verify(&rs256(&claims(), None), NOW), Ok(alice()));
    let mut listed = claims();
    listed["aud"] = json!(["other", "keyward"]);
    assert_eq!(r.verify(&hs256(&listed), NOW), Ok(alice()));
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn every_bad_token_is_refused_for_its_reason() {
    let set = KeySet::parse(JWKS).unwrap();
    let r = rules(Some(&set));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        hs256(&c)
    };
    // alg none: no signature at all.
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
    assert!(matches!(r.verify(&none, NOW), Err(Rejection::Malformed(_))));
    // Algorithm confusion: HS256 "signed" with the RSA public key as the secret.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC_PEM),
    )
    .unwrap();
    assert_eq!(r.verify(&confused, NOW), Err(Rejection::Signature));
    let jwks_only = Rules {
        hs256_secret: None,
        ..rules(Some(&set))
    };
    assert!(matches!(
        jwks_only.verify(&confused, NOW),
        Err(Rejection::NoKey(_))
    ));
    // A wrong signature.
    let mut forged = hs256(&claims());
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(r.verify(&forged, NOW), Err(Rejection::Signature));
    let other_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret"),
    )
    .unwrap();
    assert_eq!(r.verify(&other_secret, NOW), Err(Rejection::Signature));
    // Claims.
    let cases: Vec<(String, Rejection)> = vec![
        (with(&|c| c["exp"] = json!(NOW_S - 61)), Rejection::Expired),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            Rejection::Expired,
        ),
        (
            with(&|c| c["nbf"] = json!(NOW_S + 61)),
            Rejection::NotYetValid,
        ),
        (
            with(&|c| c["iat"] = json!(NOW_S + 3600)),
            Rejection::NotYetValid,
        ),
        (
            with(&|c| c["iss"] = json!("https://evil.example")),
            Rejection::Issuer,
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
            Rejection::Issuer,
        ),
        (
            with(&|c| c["aud"] = json!("someone-else")),
            Rejection::Audience,
        ),
        (with(&|c| c["aud"] = json!(["a", "b"])), Rejection::Audience),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("email");
            }),
            Rejection::NoEmail,
        ),
        (
            with(&|c| c["email"] = json!("not an address")),
            Rejection::NoEmail,
        ),
        (
            with(&|c| c["email"] = json!("bob\u{200b}@example.com")),
            Rejection::NoEmail,
        ),
        (
            with(&|c| c["email_verified"] = json!(false)),
            Rejection::EmailUnverified,
        ),
        (
            with(&|c| c["email_verified"] = json!("false")),
            Rejection::EmailUnverified,
        ),
    ];
    // An absurd expiry is far future, not an overflow.
    assert!(r
        .verify(&with(&|c| c["exp"] = json!(i64::MAX)), NOW)
        .is_ok());
    for (token, reason) in cases {
        assert_eq!(r.verify(&token, NOW), Err(reason));
    }
    // Within the skew.
    assert!(r
        .verify(&with(&|c| c["exp"] = json!(NOW_S - 59)), NOW)
        .is_ok());
    assert!(r
        .verify(&with(&|c| c["nbf"] = json!(NOW_S + 59)), NOW)
        .is_ok());
    // Keys: an unknown kid; a token of another key set (a kid this set has, another key).
    assert_eq!(
        r.verify(&rs256(&claims(), Some("rsa-2")), NOW),
        Err(Rejection::UnknownKid("rsa-2".into()))
    );
    let mut es_as_rsa = Header::new(Algorithm::ES256);
    es_as_rsa.kid = Some("rsa-1".into());
    let mismatched = encode(
        &es_as_rsa,
        &claims(),
        &EncodingKey::from_ec_pem(EC_PEM).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        r.verify(&mismatched, NOW),
        Err(Rejection::Malformed(_))
    ));
    let only_ec = KeySet::parse(&{
        let mut doc: Value = serde_json::from_str(JWKS).unwrap();
        doc["keys"]
            .as_array_mut()
            .unwrap()
            .retain(|k| k["kty"] == "EC");
        doc["keys"][0]["kid"] = json!("rsa-1");
        doc.to_string()
    })
    .unwrap();
    assert!(rules(Some(&only_ec))
        .verify(&rs256(&claims(), Some("rsa-1")), NOW)
        .is_err());
    // Garbage.
    for garbage in ["", "a.b", "a.b.c", "kw_notajwt"] {
        assert!(
            matches!(r.verify(garbage, NOW), Err(Rejection::Malformed(_))),
            "{garbage}"
        );
    }
}

#[test]
fn a_jwks_keeps_only_signing_keys_it_can_use() {
    let doc = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
        {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "weird"},
    ]});
    assert!(KeySet::parse(&doc.to_string()).is_err());
    assert!(KeySet::parse("not json").is_err());
    let set = KeySet::parse(JWKS).unwrap();
    assert!(set.has_kid("rsa-1") && set.has_kid("ec-1") && !set.has_kid("sym"));
    assert_eq!(
        kid_of(&rs256(&claims(), Some("rsa-1"))).as_deref(),
        Some("rsa-1")
    );
    assert_eq!(kid_of("garbage"), None);
}

#[test]
fn the_key_cache_refetches_on_expiry_and_at_most_once_a_minute_for_unknown_kids() {
    let cache = KeyCache::new(600);
    assert!(matches!(
        cache.needed(Some("rsa-1"), NOW),
        KeysNeeded::Fetch
    ));
    cache.store(KeySet::parse(JWKS).unwrap(), NOW);
    assert!(matches!(
        cache.needed(Some("rsa-1"), NOW + 1),
        KeysNeeded::Use(_)
    ));
    // A rotation: a kid the set lacks fetches once, then not again within a minute.
    assert!(matches!(
        cache.needed(Some("new"), NOW + 2),
        KeysNeeded::Fetch
    ));
    assert!(matches!(
        cache.needed(Some("new"), NOW + 3),
        KeysNeeded::Use(_)
    ));
    assert!(matches!(
        cache.needed(Some("other"), NOW + 2 + UNKNOWN_KID_REFETCH_MS),
        KeysNeeded::Fetch
    ));
    // The TTL.
    let expired = NOW + 600_000;
    assert!(matches!(
        cache.needed(Some("rsa-1"), expired),
        KeysNeeded::Fetch
    ));
    // The endpoint is down: the old keys for a while, no fetch during the backoff, then none.
    assert!(cache.failed(expired).is_some());
    assert!(matches!(
        cache.needed(Some("rsa-1"), expired + 1),
        KeysNeeded::Use(_)
    ));
    assert!(matches!(
        cache.needed(Some("rsa-1"), expired + FETCH_BACKOFF_MS),
        KeysNeeded::Fetch
    ));
    let much_later = NOW + 600_000 + STALE_GRACE_MS;
    assert!(cache.failed(much_later).is_none(), "too old to trust");
    assert!(matches!(
        cache.needed(Some("rsa-1"), much_later + 1),
        KeysNeeded::Unavailable
    ));
    cache.store(KeySet::parse(JWKS).unwrap(), much_later + FETCH_BACKOFF_MS);
    assert!(matches!(
        cache.needed(Some("rsa-1"), much_later + FETCH_BACKOFF_MS + 1),
        KeysNeeded::Use(_)
    ));
}

#[test]
fn a_jwks_without_audience_or_issuer_verifies_nothing() {
    let set = KeySet::parse(JWKS).unwrap();
    for rules in [
        Rules {
            audience: None,
            ..rules(Some(&set))
        },
        Rules {
            issuer: None,
            ..rules(Some(&set))
        },
    ] {
        assert!(matches!(
            rules.verify(&rs256(&claims(), Some("rsa-1")), NOW),
            Err(Rejection::Misconfigured(_))
        ));
        // HS256 from the deployment's own secret needs neither.
        assert!(rules.verify(&hs256(&claims()), NOW).is_ok());
    }
}

// ---- /v1/me handlers, over the bucket tables ----

mod support;

use keyward_core::config::Portal;
use keyward_core::edge::verify::Verdict;
use keyward_core::http::{ApiRequest, ApiResponse};
use support::{Harness, BUCKETS};

fn me(h: &Harness, who: &str, method: &str, path: &str, body: &str) -> ApiResponse {
    me_with(h, who, method, path, body, &Portal::default())
}

fn me_with(
    h: &Harness,
    who: &str,
    method: &str,
    path: &str,
    body: &str,
    portal: &Portal,
) -> ApiResponse {
    let req = ApiRequest {
        method: method.into(),
        path: format!("/v1/me{path}"),
        body: body.as_bytes().to_vec(),
        ..ApiRequest::default()
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let identity = Identity {
        email: who.into(),
        issuer: None,
    };
    let r = pollster::block_on(h.api().handle_me(&req, &segs, "default", &identity, portal));
    h.drain();
    r
}

fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Bucket `default` with `acme` and `beta` (managed by alice, beta also by bob) and `gamma`
/// (bob only), each with one key; returns acme's key.
fn managed_consumers() -> (Harness, String) {
    let h = Harness::new();
    h.create_bucket("default");
    let (_, acme) = h.create_consumer_with_key(
        "default",
        &json!({"name": "acme", "description": "Acme Corp", "metadata": {"plan": "gold"}, "managers": ["alice@example.com"]}),
    );
    h.create_consumer_with_key(
        "default",
        &json!({"name": "beta", "managers": ["alice@example.com", "bob@example.com"]}),
    );
    h.create_consumer_with_key(
        "default",
        &json!({"name": "gamma", "managers": ["bob@example.com"]}),
    );
    h.drain();
    (h, acme)
}

#[test]
fn a_manager_sees_exactly_the_consumers_they_manage() {
    let (h, _) = managed_consumers();
    let who = json_of(&me(&h, "alice@example.com", "GET", "", ""));
    assert_eq!(who["email"], "alice@example.com");
    assert_eq!(who["consumers"], 2);
    let list = json_of(&me(&h, "alice@example.com", "GET", "/consumers", ""));
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "beta"]);
    let acme = &list["data"][0];
    assert_eq!(acme["label"], "Acme Corp");
    assert_eq!(acme["metadata"]["plan"], "gold");
    let key = &acme["apiKeys"]["data"][0];
    assert!(key["key"].as_str().unwrap().contains('*'), "masked: {key}");
    assert!(key["id"].as_str().unwrap().starts_with("key_"));
    let nobody = json_of(&me(&h, "carol@example.com", "GET", "/consumers", ""));
    assert_eq!(nobody["data"], json!([]));
}

#[test]
fn managers_create_roll_describe_and_delete_keys_and_nothing_else() {
    let (h, old_key) = managed_consumers();
    let alice = "alice@example.com";
    // Create: the plaintext once, createdBy recorded (and shown to admins).
    let created = me(
        &h,
        alice,
        "POST",
        "/consumers/acme/keys",
        r#"{"description":"ci"}"#,
    );
    assert_eq!(
        created.status,
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let created = json_of(&created);
    let new_key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(created["createdBy"], alice);
    assert!(matches!(h.verify(&new_key), Verdict::Valid(_)));
    let admin_view = json_of(&h.get(&format!("{BUCKETS}/default/consumers/acme/keys")));
    assert!(
        admin_view["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["createdBy"] == alice),
        "{admin_view}"
    );
    // Describe.
    let id = created["id"].as_str().unwrap();
    let patched = me(
        &h,
        alice,
        "PATCH",
        &format!("/consumers/acme/keys/{id}"),
        r#"{"description":"renamed"}"#,
    );
    assert_eq!(json_of(&patched)["description"], "renamed");
    let sneaky = me(
        &h,
        alice,
        "PATCH",
        &format!("/consumers/acme/keys/{id}"),
        r#"{"expiresOn":"2020-01-01T00:00:00Z"}"#,
    );
    assert_eq!(sneaky.status, 400);
    assert_eq!(
        me(
            &h,
            alice,
            "PATCH",
            &format!("/consumers/acme/keys/{id}"),
            "{}"
        )
        .status,
        400,
        "the description must be given (null clears it)"
    );
    // A roll may not keep the old keys past the grace (that would be a create).
    let too_late = me(
        &h,
        alice,
        "POST",
        "/consumers/acme/roll-key",
        r#"{"expiresOn":"2999-01-01T00:00:00Z"}"#,
    );
    assert_eq!(too_late.status, 400);
    // A missing key on a managed consumer says so.
    let gone = me(&h, alice, "DELETE", "/consumers/acme/keys/key_nope", "");
    assert_eq!(gone.status, 404);
    assert!(json_of(&gone)["detail"]
        .as_str()
        .unwrap()
        .contains("key 'key_nope'"));
    // Roll with `{}`: the old keys live for the default grace.
    let rolled = me(&h, alice, "POST", "/consumers/acme/roll-key", "{}");
    assert_eq!(rolled.status, 200);
    let rolled_key = json_of(&rolled)["key"].as_str().unwrap().to_owned();
    assert!(matches!(h.verify(&old_key), Verdict::Valid(_)));
    h.advance(86_400_000);
    assert!(matches!(h.verify(&old_key), Verdict::Expired(_)));
    assert!(matches!(h.verify(&rolled_key), Verdict::Valid(_)));
    // Roll with a past expiry: the previous keys stop at once.
    let past = me(
        &h,
        alice,
        "POST",
        "/consumers/acme/roll-key",
        r#"{"expiresOn":"2020-01-01T00:00:00Z"}"#,
    );
    assert_eq!(past.status, 200);
    assert!(matches!(h.verify(&rolled_key), Verdict::Expired(_)));
    // Delete.
    let newest = json_of(&past)["id"].as_str().unwrap().to_owned();
    let deleted = me(
        &h,
        alice,
        "DELETE",
        &format!("/consumers/acme/keys/{newest}"),
        "",
    );
    assert_eq!(deleted.status, 204);
    let newest_key = json_of(&past)["key"].as_str().unwrap().to_owned();
    assert!(matches!(h.verify(&newest_key), Verdict::NotFound));
    // The consumer itself belongs to the admins.
    for method in ["PATCH", "PUT", "DELETE"] {
        let r = me(
            &h,
            alice,
            method,
            "/consumers/acme",
            r#"{"metadata":{"plan":"platinum"}}"#,
        );
        assert_eq!(r.status, 403, "{method}");
        assert!(String::from_utf8_lossy(&r.body).contains("administrators"));
    }
}

#[test]
fn another_managers_consumer_is_a_404_like_a_missing_one_and_changes_nothing() {
    let (h, _) = managed_consumers();
    let before = h.state();
    let alice = "alice@example.com";
    let gamma = me(&h, alice, "POST", "/consumers/gamma/keys", "{}");
    let missing = me(&h, alice, "POST", "/consumers/nope/keys", "{}");
    assert_eq!((gamma.status, missing.status), (404, 404));
    let detail = |r: &ApiResponse| {
        json_of(r)["detail"]
            .as_str()
            .unwrap()
            .replace("gamma", "X")
            .replace("nope", "X")
    };
    assert_eq!(detail(&gamma), detail(&missing), "the same words for both");
    for (method, path) in [
        ("GET", "/consumers/gamma"),
        ("POST", "/consumers/gamma/roll-key"),
        ("DELETE", "/consumers/gamma/keys/key_x"),
        ("PATCH", "/consumers/gamma"),
        ("GET", "/consumers/..%2F/keys"),
    ] {
        assert_eq!(
            me(&h, alice, method, path, "{}").status,
            404,
            "{method} {path}"
        );
    }
    assert_eq!(h.state(), before, "nothing was written");
}

#[test]
fn creation_can_be_turned_off_and_the_key_limit_holds() {
    let (h, _) = managed_consumers();
    let alice = "alice@example.com";
    let off = Portal {
        allow_create: false,
        ..Portal::default()
    };
    let r = me_with(&h, alice, "POST", "/consumers/acme/keys", "{}", &off);
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("PORTAL_ALLOW_CREATE"));
    assert_eq!(
        me_with(&h, alice, "POST", "/consumers/acme/roll-key", "{}", &off).status,
        200
    );
    let mut last = 200;
    for _ in 0..120 {
        last = me(&h, alice, "POST", "/consumers/beta/keys", "{}").status;
        if last != 200 {
            break;
        }
    }
    assert_eq!(last, 400, "the per-consumer key limit");
}

#[test]
fn minted_tokens_verify() {
    use keyward_core::selfserve::jwt::mint_hs256;
    let token = mint_hs256(
        SECRET,
        "Alice@Example.com",
        NOW,
        3600,
        Some("https://idp.example"),
        Some("keyward"),
    )
    .unwrap();
    assert_eq!(rules(None).verify(&token, NOW), Ok(alice()));
    assert_eq!(
        rules(None).verify(&token, NOW + 3_661_000),
        Err(Rejection::Expired)
    );
}

/// `GET /v1/me` and `/v1/me/consumers` read the bucket's tables only (the manager index): no
/// KV operation, whether the person manages 1 or 100 consumers (BENCHMARKS.md's KV column).
#[test]
fn listing_managed_consumers_costs_no_kv_operation() {
    use keyward_core::api::Api;
    use keyward_core::storage::store::CountingStore;
    let h = Harness::new();
    h.create_bucket("default");
    for n in [1, 100] {
        for i in 0..n {
            h.create_consumer_with_key(
                "default",
                &json!({"name": format!("m{n}-c{i:03}"), "managers": [format!("m{n}@example.com")]}),
            );
        }
    }
    h.drain();
    let counted = CountingStore::new(keyward_core::storage::store::MemoryStore::new());
    for n in [1, 100] {
        let api = Api {
            store: &counted,
            sql: &h.sql,
            entropy: &h.entropy,
            hasher: &h.hasher,
            cache: &h.cache,
            config: &h.config,
            tokens: &h.tokens,
            now: h.now(),
            openapi: "{}",
            counters: &keyward_core::limits::wire::NoCounters,
        };
        let who = Identity {
            email: format!("m{n}@example.com"),
            issuer: None,
        };
        for path in ["", "/consumers"] {
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let req = ApiRequest {
                method: "GET".into(),
                path: format!("/v1/me{path}"),
                ..ApiRequest::default()
            };
            let r =
                pollster::block_on(api.handle_me(&req, &segs, "default", &who, &Portal::default()));
            assert_eq!(r.status, 200);
        }
        let listed = json_of(&pollster::block_on(api.handle_me(
            &ApiRequest {
                method: "GET".into(),
                path: "/v1/me/consumers".into(),
                ..ApiRequest::default()
            },
            &["consumers"],
            "default",
            &who,
            &Portal::default(),
        )));
        assert_eq!(listed["data"].as_array().unwrap().len(), n);
    }
    let c = counted.counts();
    assert_eq!(
        (c.reads, c.writes, c.deletes, c.lists, c.bulk_reads),
        (0, 0, 0, 0, 0),
        "KV operations"
    );
}

/// Where the bucket keeps keys retrievable, a manager sees a key of theirs again
/// (`key-format=visible`, what a portal's "reveal" asks); elsewhere that is a 400, and a
/// consumer they do not manage stays a 404.
#[test]
fn managers_reveal_keys_only_where_the_bucket_keeps_them_retrievable() {
    let mut h = Harness::new();
    h.config.key_vault =
        Some(keyward_core::key::sealed::Vault::new(b"an encryption secret of 32+ bytes").unwrap());
    let r = h.post(BUCKETS, &json!({"name": "default", "isRetrievable": true}));
    assert_eq!(r.status, 200);
    let (created, key) = h.create_consumer_with_key(
        "default",
        &json!({"name": "acme", "managers": ["alice@example.com"]}),
    );
    let id = created["apiKeys"][0]["id"].as_str().unwrap().to_owned();
    let reveal = |h: &Harness, who: &str, consumer: &str| {
        let segs = ["consumers", consumer, "keys", &id];
        let req = ApiRequest {
            method: "GET".into(),
            path: format!("/v1/me/consumers/{consumer}/keys/{id}"),
            query: "key-format=visible".into(),
            ..ApiRequest::default()
        };
        let who = Identity {
            email: who.into(),
            issuer: None,
        };
        pollster::block_on(
            h.api()
                .handle_me(&req, &segs, "default", &who, &Portal::default()),
        )
    };
    let list = json_of(&me(&h, "alice@example.com", "GET", "/consumers", ""));
    assert_eq!(list["data"][0]["keysRetrievable"], true);
    let shown = reveal(&h, "alice@example.com", "acme");
    assert_eq!(shown.status, 200);
    assert_eq!(json_of(&shown)["key"], key.as_str());
    assert_eq!(reveal(&h, "bob@example.com", "acme").status, 404);

    let (h, _) = managed_consumers();
    let list = json_of(&me(&h, "alice@example.com", "GET", "/consumers", ""));
    assert_eq!(list["data"][0]["keysRetrievable"], false);
    let id = list["data"][0]["apiKeys"]["data"][0]["id"]
        .as_str()
        .unwrap();
    let req = ApiRequest {
        method: "GET".into(),
        path: format!("/v1/me/consumers/acme/keys/{id}"),
        query: "key-format=visible".into(),
        ..ApiRequest::default()
    };
    let who = Identity {
        email: "alice@example.com".into(),
        issuer: None,
    };
    let r = pollster::block_on(h.api().handle_me(
        &req,
        &["consumers", "acme", "keys", id],
        "default",
        &who,
        &Portal::default(),
    ));
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("hashed only"));
}
