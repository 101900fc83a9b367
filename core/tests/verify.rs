//! Edge verification, counted: how many store reads each path makes, what the cache
//! answers within and after its TTL, and what [`gateway::decide`] does with the verdict.
//!
//! The contract (core/src/edge/verify.rs): garbage and bad checksums cost no read, a cache miss
//! costs exactly one, a hit costs none, and unknown keys are cached too.

mod support;

use keyward_core::config::Config;
use keyward_core::edge::gateway::{self, Decision, Location};
use keyward_core::edge::throttle::{self, Blocklist, Limiter, PerClient};
use keyward_core::edge::verify::{Code, Verdict, Verifier};
use keyward_core::key::format as key_format;
use keyward_core::key::hash::KeyHasher;
use keyward_core::key::imported::Pattern;
use keyward_core::problem;
use keyward_core::storage::cache::{Limits, VerifyCache};
use keyward_core::storage::kv::{self, KeyRecord, SCHEMA_VERSION};
use keyward_core::storage::store::{CountingStore, Counts, MemoryStore, Store};
use keyward_core::timestamp::Millis;
use pollster::block_on;
use std::cell::Cell;
use std::rc::Rc;
use support::{OsEntropy, HASH_SECRET, T0};

const BUCKET: &str = "default";
const TTL_MS: Millis = 60_000;

/// A counted store with verification records, a hasher and a 60-second cache.
struct Edge {
    store: CountingStore<MemoryStore>,
    hasher: KeyHasher,
    cache: VerifyCache,
    /// `IMPORTED_KEY_PATTERN`, when the test sets one.
    imported: Option<Pattern>,
}

impl Edge {
    fn new() -> Self {
        Edge {
            store: CountingStore::new(MemoryStore::new()),
            hasher: KeyHasher::new(HASH_SECRET),
            cache: VerifyCache::new(60, Limits::default()),
            imported: None,
        }
    }

    /// An edge that also accepts Zuplo's keys (`IMPORTED_KEY_PATTERN`).
    fn importing() -> Self {
        Edge {
            imported: Some(Pattern::compile(ZUPLO_PATTERN).unwrap()),
            ..Edge::new()
        }
    }

    fn verifier(&self) -> Verifier<'_, CountingStore<MemoryStore>> {
        self.verifier_for(BUCKET)
    }

    fn verifier_for<'a>(&'a self, bucket: &'a str) -> Verifier<'a, CountingStore<MemoryStore>> {
        Verifier {
            store: &self.store,
            hasher: &self.hasher,
            cache: &self.cache,
            bucket,
            prefix: key_format::DEFAULT_PREFIX,
            imported: self.imported.as_ref(),
        }
    }

    /// Stores the verification record of a new `kw` key in `bucket` and returns the key.
    /// The write is not counted.
    fn add_key_in(&self, bucket: &str, consumer: &str, expires_on: Option<Millis>) -> String {
        let key = key_format::generate(key_format::DEFAULT_PREFIX, &OsEntropy).unwrap();
        self.add_record(bucket, &key, consumer, expires_on);
        key
    }

    fn add_key(&self, consumer: &str, expires_on: Option<Millis>) -> String {
        self.add_key_in(BUCKET, consumer, expires_on)
    }

    fn add_record(&self, bucket: &str, key: &str, consumer: &str, expires_on: Option<Millis>) {
        let mut metadata = serde_json::Map::new();
        metadata.insert("plan".into(), "gold".into());
        let record = KeyRecord {
            v: SCHEMA_VERSION,
            consumer: consumer.into(),
            key_id: format!("key_{consumer}"),
            metadata,
            expires_on,
        };
        let kv_key = kv::keys::key_hash(bucket, &self.hasher.hash(key));
        block_on(self.store.inner().put(&kv_key, &kv::encode(&record), None)).unwrap();
    }

    fn verify(&self, key: &str, now: Millis) -> Verdict {
        block_on(self.verifier().verify(key, now)).unwrap()
    }

    fn reads(&self) -> usize {
        self.store.counts().reads
    }

    /// Verifies at `now` and returns the verdict and the reads it made.
    fn verify_counted(&self, key: &str, now: Millis) -> (Verdict, usize) {
        let before = self.reads();
        let verdict = self.verify(key, now);
        (verdict, self.reads() - before)
    }
}

/// A valid key of another deployment's format: right checksum, different prefix.
fn foreign_key() -> String {
    key_format::generate("acme_live", &OsEntropy).unwrap()
}

/// `key` with its last checksum digit changed.
fn with_bad_checksum(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "0" { '1' } else { '0' })
}

const ZUPLO_PATTERN: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";

#[test]
fn imported_keys_cost_one_read_and_keys_matching_nothing_none() {
    let edge = Edge::importing();
    let ours = edge.add_key("acme", None);
    let imported = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
    edge.add_record(BUCKET, imported, "zuplo-co", None);
    let never_imported = "zpka_00000000000000000000000000000000_00000000";
    // A valid keyward key: one read.
    let (v, reads) = edge.verify_counted(&ours, T0);
    assert!(matches!(v, Verdict::Valid(r) if r.consumer == "acme"));
    assert_eq!(reads, 1);
    // An imported key: no checksum to check, one read, its consumer.
    let (v, reads) = edge.verify_counted(imported, T0);
    assert!(matches!(v, Verdict::Valid(r) if r.consumer == "zuplo-co"));
    assert_eq!(reads, 1);
    // Shaped like one but never imported: one read, then not found (and cached).
    assert_eq!(
        edge.verify_counted(never_imported, T0),
        (Verdict::NotFound, 1)
    );
    assert_eq!(
        edge.verify_counted(never_imported, T0),
        (Verdict::NotFound, 0)
    );
    // Matching neither: no read, whatever the store holds.
    let neither = [
        with_bad_checksum(&ours),
        "zpka_D67B7E241BB948758F415B79AA8EC822_2EFB7009".into(),
        format!("{imported}0"),
        format!(" {imported}"),
        "not a key".into(),
        String::new(),
    ];
    edge.add_record(BUCKET, &neither[0], "mallory", None);
    let before = edge.store.counts();
    for candidate in &neither {
        assert_eq!(
            edge.verify(candidate, T0),
            Verdict::Malformed,
            "{candidate}"
        );
    }
    assert_eq!(edge.store.counts(), before);
    // Without the pattern, the same imported key is malformed without a read.
    let plain = Edge::new();
    plain.add_record(BUCKET, imported, "zuplo-co", None);
    assert_eq!(plain.verify_counted(imported, T0), (Verdict::Malformed, 0));
}

#[test]
fn a_cached_imported_key_skips_the_pattern_and_a_miss_runs_it_before_any_read() {
    // The pattern, counting its runs.
    let runs = Rc::new(Cell::new(0));
    let zuplo = Pattern::compile(ZUPLO_PATTERN).unwrap();
    let counted = runs.clone();
    let edge = Edge {
        imported: Some(Pattern::with_matcher(
            ZUPLO_PATTERN,
            Rc::new(move |key: &str| {
                counted.set(counted.get() + 1);
                zuplo.matches(key)
            }),
        )),
        ..Edge::new()
    };
    let imported = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
    edge.add_record(BUCKET, imported, "zuplo-co", None);
    let ours = edge.add_key("acme", None);
    let verify = |key: &str| {
        let before = runs.get();
        let (verdict, reads) = edge.verify_counted(key, T0);
        (verdict, reads, runs.get() - before)
    };
    // First sight: the pattern, then the read; from the cache: neither.
    assert!(matches!(verify(imported), (Verdict::Valid(_), 1, 1)));
    assert!(matches!(verify(imported), (Verdict::Valid(_), 0, 0)));
    // A keyward key never runs it.
    assert!(matches!(verify(&ours), (Verdict::Valid(_), 1, 0)));
    // A string the pattern refuses: it runs every time (nothing of it is cached), no read.
    let near_miss = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb700";
    edge.add_record(BUCKET, near_miss, "mallory", None);
    for _ in 0..2 {
        assert_eq!(verify(near_miss), (Verdict::Malformed, 0, 1));
    }
    // Not a candidate at all (a space, over 256 bytes): refused before the hash and the
    // pattern.
    assert_eq!(verify("zpka_ 1"), (Verdict::Malformed, 0, 0));
    assert_eq!(verify(&"a".repeat(300)), (Verdict::Malformed, 0, 0));
    // Matching but never imported: the pattern and one read, then the cached absence.
    let unknown = "zpka_00000000000000000000000000000000_00000000";
    assert_eq!(verify(unknown), (Verdict::NotFound, 1, 1));
    assert_eq!(verify(unknown), (Verdict::NotFound, 0, 0));
}

/// The cache answers a foreign key before the pattern runs; entries made under another
/// prefix or pattern are never used: a key cached as valid is malformed once the settings no
/// longer admit it.
#[test]
fn cached_answers_do_not_outlive_the_prefix_or_pattern_they_were_made_under() {
    let edge = Edge::importing();
    let imported = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
    edge.add_record(BUCKET, imported, "zuplo-co", None);
    let ours = edge.add_key("acme", None);
    assert!(matches!(edge.verify(imported, T0), Verdict::Valid(_)));
    assert!(matches!(edge.verify(&ours, T0), Verdict::Valid(_)));
    let other_pattern = Pattern::compile("^sk_[a-z]+$").unwrap();
    let v = Verifier {
        imported: Some(&other_pattern),
        ..edge.verifier()
    };
    assert_eq!(
        block_on(v.verify(imported, T0)).unwrap(),
        Verdict::Malformed
    );
    assert!(matches!(edge.verify(imported, T0), Verdict::Valid(_)));
    let any = Pattern::compile(".+").unwrap();
    let v = Verifier {
        prefix: "acme",
        imported: Some(&any),
        ..edge.verifier()
    };
    // `ours` was cached as a kw key; under prefix acme it is only a foreign string, which
    // the pattern admits: looked up again (one read), not answered from the old entry.
    let before = edge.reads();
    assert!(matches!(
        block_on(v.verify(&ours, T0)).unwrap(),
        Verdict::Valid(_)
    ));
    assert_eq!(edge.reads() - before, 1);
}

#[test]
fn malformed_keys_make_no_store_read() {
    let edge = Edge::new();
    let key = edge.add_key("acme", None);
    let candidates = [
        String::new(),
        "kw".into(),
        "not a key".into(),
        "Bearer xyz".into(),
        key.to_uppercase(),
        format!("{key} "),
        format!(" {key}"),
        key[..key.len() - 1].to_owned(),
        key.replace('_', "-"),
        "kw_00000000000000000000000000000000_1vXtx!".into(),
        "é".repeat(30),
    ];
    for candidate in &candidates {
        assert_eq!(
            edge.verify(candidate, T0),
            Verdict::Malformed,
            "{candidate}"
        );
    }
    assert_eq!(edge.store.counts(), Counts::default());
    assert!(edge.cache.is_empty());
}

#[test]
fn bad_checksums_make_no_store_read() {
    let edge = Edge::new();
    let key = edge.add_key("acme", None);
    let typo = with_bad_checksum(&key);
    assert_eq!(
        key_format::parse(&typo),
        Err(key_format::FormatError::Checksum)
    );
    // Even when a record exists under the typo's hash, the checksum stops it first.
    edge.add_record(BUCKET, &typo, "mallory", None);
    for _ in 0..3 {
        assert_eq!(edge.verify(&typo, T0), Verdict::Malformed);
    }
    assert_eq!(edge.store.counts(), Counts::default());
    assert!(edge.cache.is_empty());
}

#[test]
fn keys_of_another_prefix_are_malformed_without_a_read() {
    let edge = Edge::new();
    let foreign = foreign_key();
    assert!(key_format::parse(&foreign).is_ok());
    // Stored or not, a key of another prefix is not this deployment's.
    edge.add_record(BUCKET, &foreign, "acme", None);
    assert_eq!(edge.verify_counted(&foreign, T0), (Verdict::Malformed, 0));
    assert_eq!(edge.store.counts(), Counts::default());
}

#[test]
fn a_miss_reads_once_and_a_hit_not_at_all_until_the_ttl() {
    let edge = Edge::new();
    let key = edge.add_key("acme", None);

    let (first, reads) = edge.verify_counted(&key, T0);
    assert_eq!(reads, 1);
    let Verdict::Valid(record) = &first else {
        panic!("expected valid, got {first:?}");
    };
    assert_eq!(record.consumer, "acme");
    assert_eq!(record.key_id, "key_acme");
    assert_eq!(record.metadata["plan"], "gold");
    assert_eq!(first.code(), Code::Valid);

    for later in [T0, T0 + 1, T0 + TTL_MS / 2, T0 + TTL_MS - 1] {
        assert_eq!(
            edge.verify_counted(&key, later),
            (first.clone(), 0),
            "at +{}",
            later - T0
        );
    }
    assert_eq!(edge.verify_counted(&key, T0 + TTL_MS), (first.clone(), 1));
    // Refreshed: the next minute is served from the cache again.
    assert_eq!(edge.verify_counted(&key, T0 + TTL_MS + 1), (first, 0));
    let counts = edge.store.counts();
    assert_eq!((counts.writes, counts.lists, counts.bulk_reads), (0, 0, 0));
}

#[test]
fn unknown_keys_are_not_found_and_negatively_cached() {
    let edge = Edge::new();
    edge.add_key("acme", None);
    let unknown = key_format::generate("kw", &OsEntropy).unwrap();
    assert_eq!(edge.verify_counted(&unknown, T0), (Verdict::NotFound, 1));
    assert_eq!(
        edge.verify_counted(&unknown, T0 + 1),
        (Verdict::NotFound, 0)
    );
    assert_eq!(
        edge.verify_counted(&unknown, T0 + TTL_MS - 1),
        (Verdict::NotFound, 0)
    );
    assert_eq!(
        edge.verify_counted(&unknown, T0 + TTL_MS),
        (Verdict::NotFound, 1)
    );
    assert_eq!(Verdict::NotFound.code(), Code::NotFound);
}

#[test]
fn a_spray_of_forged_keys_does_not_evict_a_valid_one() {
    let edge = Edge::new();
    let key = edge.add_key("acme", None);
    assert!(matches!(
        edge.verify_counted(&key, T0),
        (Verdict::Valid(_), 1)
    ));
    // Well-formed keys with a valid checksum (the CRC is public) that no one created: each
    // costs its one read, and their answers only churn the absent partition.
    let spray = 10_000;
    assert!(spray > 2 * Limits::DEFAULT.absent);
    let forged: Vec<String> = (0..spray)
        .map(|_| key_format::generate(key_format::DEFAULT_PREFIX, &OsEntropy).unwrap())
        .collect();
    let before = edge.reads();
    for f in &forged {
        assert_eq!(edge.verify(f, T0 + 1), Verdict::NotFound);
    }
    assert_eq!(edge.reads() - before, spray);
    assert_eq!(edge.cache.len(), 1 + Limits::DEFAULT.absent);
    assert!(matches!(
        edge.verify_counted(&key, T0 + 2),
        (Verdict::Valid(_), 0)
    ));
    // The newest forged answers are cached, the oldest evicted.
    assert_eq!(
        edge.verify_counted(&forged[spray - 1], T0 + 2),
        (Verdict::NotFound, 0)
    );
    assert_eq!(
        edge.verify_counted(&forged[0], T0 + 2),
        (Verdict::NotFound, 1)
    );
}

#[test]
fn expired_keys_are_expired() {
    let edge = Edge::new();
    let past = edge.add_key("old", Some(T0 - 1));
    let now = edge.add_key("edge", Some(T0));
    let later = edge.add_key("soon", Some(T0 + 10_000));

    let (verdict, reads) = edge.verify_counted(&past, T0);
    assert!(
        matches!(&verdict, Verdict::Expired(r) if r.consumer == "old"),
        "{verdict:?}"
    );
    assert_eq!((verdict.code(), reads), (Code::Expired, 1));
    // Expiry is inclusive: a key expiring at `now` no longer verifies.
    assert!(matches!(edge.verify(&now, T0), Verdict::Expired(_)));

    assert!(matches!(edge.verify(&later, T0), Verdict::Valid(_)));
    // The cached record expires by its own date, without waiting for the cache TTL.
    let (verdict, reads) = edge.verify_counted(&later, T0 + 10_000);
    assert!(matches!(verdict, Verdict::Expired(_)), "{verdict:?}");
    assert_eq!(reads, 0);
}

#[test]
fn a_zero_ttl_reads_every_time() {
    let mut edge = Edge::new();
    edge.cache = VerifyCache::new(0, Limits::default());
    let key = edge.add_key("acme", None);
    for _ in 0..3 {
        assert!(matches!(
            edge.verify_counted(&key, T0),
            (Verdict::Valid(_), 1)
        ));
    }
}

#[test]
fn forgetting_a_hash_makes_the_next_verification_read() {
    let edge = Edge::new();
    let key = edge.add_key("acme", None);
    assert_eq!(edge.verify_counted(&key, T0).1, 1);
    block_on(
        edge.store
            .inner()
            .delete(&kv::keys::key_hash(BUCKET, &edge.hasher.hash(&key))),
    )
    .unwrap();
    // Still cached: other isolates see a delete only after the TTL.
    assert!(matches!(
        edge.verify_counted(&key, T0 + 1),
        (Verdict::Valid(_), 0)
    ));
    edge.cache
        .forget(&kv::keys::key_hash(BUCKET, &edge.hasher.hash(&key)));
    assert_eq!(edge.verify_counted(&key, T0 + 2), (Verdict::NotFound, 1));
}

/// Regression: the cache is keyed by key hash only, not by bucket, so an
/// answer for one bucket is served for another (`POST /v1/verify` takes a `bucket`, and the
/// Worker shares one cache between that endpoint and the edge).
#[test]
fn cached_answers_do_not_cross_buckets() {
    let edge = Edge::new();
    let key = edge.add_key_in("bucket-a", "acme", None);
    assert!(matches!(
        block_on(edge.verifier_for("bucket-a").verify(&key, T0)).unwrap(),
        Verdict::Valid(_)
    ));
    assert_eq!(
        block_on(edge.verifier_for("bucket-b").verify(&key, T0)).unwrap(),
        Verdict::NotFound,
        "a key of bucket-a must not verify in bucket-b"
    );

    let other = Edge::new();
    let key = other.add_key_in("bucket-a", "acme", None);
    assert_eq!(
        block_on(other.verifier_for("bucket-b").verify(&key, T0)).unwrap(),
        Verdict::NotFound
    );
    assert!(
        matches!(
            block_on(other.verifier_for("bucket-a").verify(&key, T0)).unwrap(),
            Verdict::Valid(_)
        ),
        "a miss in bucket-b must not hide the key in bucket-a"
    );
}

// ---- gateway::decide ----

fn decide(edge: &Edge, config: &Config, header: Option<&str>, query: &str) -> Decision {
    block_on(gateway::decide(
        config,
        &edge.verifier(),
        &throttle::Open,
        header,
        query,
        T0,
    ))
    .unwrap()
}

/// Asserts a 401 problem with a challenge and returns the response.
#[track_caller]
fn assert_unauthorized(decision: Decision, challenge: &str) -> keyward_core::http::ApiResponse {
    let Decision::Reject(r) = decision else {
        panic!("expected a rejection, got {decision:?}");
    };
    support::problem_detail(&r, 401);
    assert_eq!(r.content_type, Some(problem::CONTENT_TYPE));
    assert_eq!(
        r.headers,
        vec![("www-authenticate".to_owned(), challenge.to_owned())]
    );
    r
}

const BEARER_CHALLENGE: &str = "Bearer realm=\"keyward\"";

#[test]
fn no_credential_is_rejected_with_a_challenge() {
    let edge = Edge::new();
    let config = Config::default();
    let r = assert_unauthorized(decide(&edge, &config, None, ""), BEARER_CHALLENGE);
    expect_test::expect![[
        r#"{"type":"https://httpproblems.com/http-status/401","title":"Unauthorized","status":401}"#
    ]]
    .assert_eq(std::str::from_utf8(&r.body).unwrap());
    assert_unauthorized(decide(&edge, &config, Some("   "), ""), BEARER_CHALLENGE);
    assert_unauthorized(
        decide(&edge, &config, Some("Bearer "), ""),
        BEARER_CHALLENGE,
    );
    // The query parameter is off unless configured.
    let key = edge.add_key("acme", None);
    assert_unauthorized(
        decide(&edge, &config, None, &format!("api_key={key}")),
        BEARER_CHALLENGE,
    );
    assert_eq!(edge.store.counts(), Counts::default());
}

#[test]
fn a_wrong_scheme_is_rejected_without_a_read() {
    let edge = Edge::new();
    let config = Config::default();
    let key = edge.add_key("acme", None);
    for header in [
        format!("Basic {key}"),
        format!("Token {key}"),
        key.clone(),
        format!("Bearer_{key}"),
    ] {
        assert_unauthorized(decide(&edge, &config, Some(&header), ""), BEARER_CHALLENGE);
    }
    assert_eq!(edge.store.counts(), Counts::default());
}

#[test]
fn a_valid_key_passes_with_its_identity() {
    let edge = Edge::new();
    let config = Config::default();
    let key = edge.add_key("acme", None);
    let Decision::Pass {
        identity,
        credential,
    } = decide(&edge, &config, Some(&format!("bearer  {key} ")), "")
    else {
        panic!("expected pass");
    };
    let identity = identity.expect("an identity");
    assert_eq!(identity.consumer, "acme");
    assert_eq!(credential, Some(Location::Header));
    let headers = gateway::identity_headers(&identity);
    assert_eq!(headers[0], (gateway::HEADER_CONSUMER, "acme".to_owned()));
    assert_eq!(headers[1], (gateway::HEADER_KEY_ID, "key_acme".to_owned()));
    // base64url of {"plan":"gold"}
    assert_eq!(
        headers[2],
        (gateway::HEADER_METADATA, "eyJwbGFuIjoiZ29sZCJ9".to_owned())
    );
}

#[test]
fn every_failure_gets_the_same_401() {
    let edge = Edge::new();
    let config = Config::default();
    let expired = edge.add_key("old", Some(T0 - 1));
    let unknown = key_format::generate("kw", &OsEntropy).unwrap();
    let bad_check = with_bad_checksum(&edge.add_key("acme", None));
    let responses: Vec<_> = [
        None,
        Some("Basic x".to_owned()),
        Some("Bearer garbage".to_owned()),
        Some(format!("Bearer {bad_check}")),
        Some(format!("Bearer {}", foreign_key())),
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {expired}")),
    ]
    .iter()
    .map(|h| assert_unauthorized(decide(&edge, &config, h.as_deref(), ""), BEARER_CHALLENGE))
    .collect();
    assert!(responses.windows(2).all(|w| w[0] == w[1]));
    // Only the unknown and the expired key were looked up.
    assert_eq!(edge.reads(), 2);
}

#[test]
fn allow_unauthenticated_passes_without_identity() {
    let edge = Edge::new();
    let config = Config {
        allow_unauthenticated: true,
        ..Config::default()
    };
    assert_eq!(
        decide(&edge, &config, None, ""),
        Decision::Pass {
            identity: None,
            credential: None
        }
    );
    assert_eq!(
        decide(&edge, &config, Some("Basic x"), ""),
        Decision::Pass {
            identity: None,
            credential: None
        }
    );
    // A credential that fails is still reported, so the adapter strips it before forwarding.
    assert_eq!(
        decide(&edge, &config, Some("Bearer garbage"), ""),
        Decision::Pass {
            identity: None,
            credential: Some(Location::Header)
        }
    );
    let key = edge.add_key("acme", None);
    assert!(matches!(
        decide(&edge, &config, Some(&format!("Bearer {key}")), ""),
        Decision::Pass { identity: Some(r), credential: Some(Location::Header) } if r.consumer == "acme"
    ));
}

#[test]
fn keys_in_the_query_and_bare_headers() {
    let edge = Edge::new();
    let key = edge.add_key("acme", None);
    let config = Config {
        auth_header: "X-API-Key".into(),
        auth_scheme: String::new(),
        auth_query_param: Some("api_key".into()),
        ..Config::default()
    };
    assert!(matches!(
        decide(&edge, &config, None, &format!("a=1&api_key={key}&b=2")),
        Decision::Pass {
            identity: Some(_),
            credential: Some(Location::Query)
        }
    ));
    assert!(matches!(
        decide(&edge, &config, Some(&key), ""),
        Decision::Pass {
            identity: Some(_),
            credential: Some(Location::Header)
        }
    ));
    assert_eq!(
        gateway::strip_query_param(&format!("a=1&api_key={key}&b=2"), "api_key"),
        "a=1&b=2"
    );
    assert_unauthorized(
        decide(&edge, &config, None, "api_key="),
        "ApiKey realm=\"keyward\", header=\"X-API-Key\"",
    );
}

/// Regression: `is_identity_header` slices the name at byte 10, which
/// panics when that byte falls inside a multi-byte character.
#[test]
fn identity_header_check_never_panics() {
    assert!(!gateway::is_identity_header("x-keyward\u{e9}"));
    assert!(!gateway::is_identity_header(
        "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}x"
    ));
}

// ---- UNKNOWN_KEY_LIMIT ----

/// A global limiter that lets `budget` unknown keys through per client.
struct Budget(
    std::cell::RefCell<std::collections::HashMap<String, u32>>,
    u32,
);

impl Limiter for Budget {
    async fn allow(&self, client: &str) -> bool {
        let mut used = self.0.borrow_mut();
        let n = used.entry(client.to_owned()).or_default();
        *n += 1;
        *n <= self.1
    }
}

/// A spray of forged keys (valid checksums, no records) from one address costs `budget`
/// reads, then 429s without reading; keys the cache knows still pass, another address is
/// not affected, and the block ends after `throttle::BLOCK_MS`.
#[test]
fn a_spray_of_unknown_keys_is_refused_before_the_store_read() {
    let edge = Edge::new();
    let config = Config::default();
    let valid = edge.add_key("acme", None);
    let limiter = Budget(Default::default(), 3);
    let blocklist = Blocklist::new();
    let attacker = PerClient {
        limiter: &limiter,
        blocklist: &blocklist,
        client: "203.0.113.9",
    };
    let decide_at = |gate: &PerClient<'_, Budget>, key: &str, now: Millis| {
        let header = format!("Bearer {key}");
        block_on(gateway::decide(
            &config,
            &edge.verifier(),
            gate,
            Some(&header),
            "",
            now,
        ))
        .unwrap()
    };
    // The attacker's valid key, cached before the spray.
    assert!(matches!(
        decide_at(&attacker, &valid, T0),
        Decision::Pass { .. }
    ));
    let before = edge.reads();
    let statuses: Vec<u16> = (0..20)
        .map(|_| {
            let forged = key_format::generate(key_format::DEFAULT_PREFIX, &OsEntropy).unwrap();
            match decide_at(&attacker, &forged, T0) {
                Decision::Reject(r) => r.status,
                d => panic!("a forged key passed: {d:?}"),
            }
        })
        .collect();
    // Three unknown keys are within the limit (401); the fourth read finds the client over it.
    assert_eq!(&statuses[..4], &[401, 401, 401, 429]);
    assert!(statuses[4..].iter().all(|&s| s == 429), "{statuses:?}");
    assert_eq!(edge.reads() - before, 4, "reads after the block began");
    let Decision::Reject(r) = decide_at(&attacker, "kw_garbage", T0) else {
        panic!()
    };
    assert_eq!(
        r.status, 401,
        "malformed keys cost nothing and are not limited"
    );
    let limited = decide_at(
        &attacker,
        &key_format::generate(key_format::DEFAULT_PREFIX, &OsEntropy).unwrap(),
        T0,
    );
    let Decision::Reject(r) = limited else {
        panic!()
    };
    assert!(r.headers.contains(&("retry-after".into(), "10".into())));
    support::problem_detail(&r, 429);
    assert!(
        matches!(decide_at(&attacker, &valid, T0 + 1), Decision::Pass { .. }),
        "a cached valid key still passes"
    );
    let neighbour = PerClient {
        client: "198.51.100.1",
        ..attacker
    };
    let fresh = edge.add_key("other", None);
    assert!(matches!(
        decide_at(&neighbour, &fresh, T0 + 1),
        Decision::Pass { .. }
    ));
    let after_block = T0 + throttle::BLOCK_MS;
    let again = edge.reads();
    let Decision::Reject(r) = decide_at(
        &attacker,
        &key_format::generate(key_format::DEFAULT_PREFIX, &OsEntropy).unwrap(),
        after_block,
    ) else {
        panic!()
    };
    assert_eq!(
        (r.status, edge.reads() - again),
        (429, 1),
        "one read, then blocked again"
    );
}
