//! Benchmarks of the paths every edge request or key creation takes.
//!
//! - `verify/cached_valid`: a valid key answered from a warm cache (the common edge case);
//! - `verify/malformed`, `verify/bad_checksum`: garbage rejected before any storage read;
//! - `verify/imported/{native_key,zpka_key,zpka_unknown_shape}`: with Zuplo's
//!   `IMPORTED_KEY_PATTERN` compiled by `regex-lite` as the Worker does, a native key and an
//!   imported `zpka_` key answered from a warm cache, and a string matching neither (refused
//!   after the pattern ran, no read);
//! - `key/generate` (fast deterministic entropy) and `key/generate_getrandom` (OS entropy);
//! - `key/hash` (HMAC-SHA256 + base64url) and `key/parse` (shape and CRC-32 checksum);
//! - `cache/insert_full/{10000,100000}`: a new record into a full cache, which evicts one, and
//!   `cache/hashmap_insert/…`, a plain `HashMap` kept at the same size (the baseline: flat
//!   per-insert time means eviction is O(1));
//! - `cache/hit_after_spray`: a valid key's lookup after 100,000 forged keys were verified
//!   (the setup asserts it is still a hit).
//!
//! Measurement is kept short so `cargo bench -p keyward-core --bench hot_paths` finishes in
//! well under a minute; pass `-- --quick` for a faster, rougher run.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keyward_core::edge::verify::{Verdict, Verifier};
use keyward_core::entropy::Entropy;
use keyward_core::key::format as key_format;
use keyward_core::key::hash::KeyHasher;
use keyward_core::key::imported::{set_compiler, Pattern};
use keyward_core::storage::cache::{Cached, Limits, VerifyCache};
use keyward_core::storage::kv::{self, KeyRecord, SCHEMA_VERSION};
use keyward_core::storage::store::{MemoryStore, Store};
use keyward_core::{Error, ErrorKind};
use pollster::block_on;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

const NOW: i64 = 1_800_000_000_000;

/// SplitMix64: deterministic and cheap, to measure key generation without the OS.
struct FastEntropy(Cell<u64>);

impl Entropy for FastEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

/// The operating system's generator, as the Worker's `crypto.getRandomValues` stands in.
struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf).map_err(|e| Error::new(ErrorKind::Entropy, e.to_string()))
    }
}

fn verify(c: &mut Criterion) {
    let store = MemoryStore::new();
    let hasher = KeyHasher::new(b"bench-secret");
    let cache = VerifyCache::new(3600, Limits::default());
    let key = key_format::generate("kw", &FastEntropy(Cell::new(1))).unwrap();
    let record = record();
    let kv_key = kv::keys::key_hash("default", &hasher.hash(&key));
    block_on(store.put(&kv_key, &kv::encode(&record), None)).unwrap();
    let verifier = Verifier {
        store: &store,
        hasher: &hasher,
        cache: &cache,
        bucket: "default",
        prefix: "kw",
        imported: None,
    };
    // Warm the cache: every measured iteration is a hit.
    assert!(matches!(
        block_on(verifier.verify(&key, NOW)).unwrap(),
        Verdict::Valid(_)
    ));
    let malformed = "kw_this-is-not-a-key";
    let (head, _) = key.split_at(key.len() - 1);
    let bad_checksum = format!("{head}{}", if key.ends_with('0') { '1' } else { '0' });
    assert_eq!(
        block_on(verifier.verify(&bad_checksum, NOW)).unwrap(),
        Verdict::Malformed
    );

    let mut g = c.benchmark_group("verify");
    g.bench_function("cached_valid", |b| {
        b.iter(|| block_on(verifier.verify(black_box(&key), NOW)).unwrap())
    });
    g.bench_function("malformed", |b| {
        b.iter(|| block_on(verifier.verify(black_box(malformed), NOW)).unwrap())
    });
    g.bench_function("bad_checksum", |b| {
        b.iter(|| block_on(verifier.verify(black_box(&bad_checksum), NOW)).unwrap())
    });

    // IMPORTED_KEY_PATTERN set (Zuplo's format), compiled by the Worker's engine.
    set_compiler(|source| {
        let re = regex_lite::Regex::new(source).map_err(|e| e.to_string())?;
        Ok(Rc::new(move |key: &str| re.is_match(key)))
    });
    let pattern = Pattern::compile("^zpka_[0-9a-f]{32}_[0-9a-f]{8}$").unwrap();
    let verifier = Verifier {
        imported: Some(&pattern),
        ..verifier
    };
    let zpka = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
    let kv_key = kv::keys::key_hash("default", &hasher.hash(zpka));
    block_on(store.put(&kv_key, &kv::encode(&record), None)).unwrap();
    for k in [&key, zpka] {
        assert!(matches!(
            block_on(verifier.verify(k, NOW)).unwrap(),
            Verdict::Valid(_)
        ));
    }
    let unknown_shape = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb700";
    assert_eq!(
        block_on(verifier.verify(unknown_shape, NOW)).unwrap(),
        Verdict::Malformed
    );
    for (name, k) in [
        ("imported/native_key", key.as_str()),
        ("imported/zpka_key", zpka),
        ("imported/zpka_unknown_shape", unknown_shape),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| block_on(verifier.verify(black_box(k), NOW)).unwrap())
        });
    }
    g.finish();
}

fn key(c: &mut Criterion) {
    let fast = FastEntropy(Cell::new(7));
    let hasher = KeyHasher::new(b"bench-secret");
    let key = key_format::generate("kw", &fast).unwrap();

    let mut g = c.benchmark_group("key");
    g.bench_function("generate", |b| {
        b.iter(|| key_format::generate(black_box("kw"), &fast).unwrap())
    });
    g.bench_function("generate_getrandom", |b| {
        b.iter(|| key_format::generate(black_box("kw"), &OsEntropy).unwrap())
    });
    g.bench_function("hash", |b| b.iter(|| hasher.hash(black_box(&key))));
    g.bench_function("parse", |b| {
        b.iter(|| key_format::parse(black_box(&key)).map(|k| k.prefix().len()))
    });
    g.finish();
}

fn record() -> KeyRecord {
    KeyRecord {
        v: SCHEMA_VERSION,
        consumer: "acme".into(),
        key_id: "key_bench".into(),
        metadata: serde_json::from_str(r#"{"plan":"gold","orgId":42}"#).unwrap(),
        expires_on: None,
    }
}

fn cache(c: &mut Criterion) {
    let record = record();
    let mut g = c.benchmark_group("cache");
    for size in [10_000, 100_000] {
        // Twice as many keys as fit, inserted in turn: each insert is of a key evicted
        // `size` inserts ago, so every measured insert into the full cache evicts one.
        let keys: Vec<String> = (0..2 * size)
            .map(|i| format!("k:default:{i:043}"))
            .collect();
        let limits = Limits {
            present: size,
            present_bytes: usize::MAX,
            ..Limits::DEFAULT
        };
        let cache = VerifyCache::new(3600, limits);
        for k in &keys[..size] {
            cache.put(k, Some(record.clone()), NOW);
        }
        assert_eq!(cache.len(), size);
        let mut next = size;
        g.bench_function(format!("insert_full/{size}"), |b| {
            b.iter(|| {
                cache.put(black_box(&keys[next]), Some(record.clone()), NOW);
                next = (next + 1) % keys.len();
            })
        });
        assert_eq!(cache.len(), size);
        drop(cache);

        // The same keys and values into a map kept at `size` by removing the key inserted
        // `size` steps before: what any hash-map cache pays, without recency or accounting.
        let mut map: HashMap<String, (Rc<KeyRecord>, i64)> = HashMap::new();
        for k in &keys[..size] {
            map.insert(k.clone(), (Rc::new(record.clone()), NOW));
        }
        let mut next = size;
        g.bench_function(format!("hashmap_insert/{size}"), |b| {
            b.iter(|| {
                map.insert(
                    black_box(&keys[next]).clone(),
                    (Rc::new(record.clone()), NOW),
                );
                map.remove(&keys[(next + size) % keys.len()]);
                next = (next + 1) % keys.len();
            })
        });
        assert_eq!(map.len(), size);
    }

    // A valid key, then 100,000 forged ones with valid checksums through the verifier.
    let store = MemoryStore::new();
    let hasher = KeyHasher::new(b"bench-secret");
    let cache = VerifyCache::new(3600, Limits::default());
    let entropy = FastEntropy(Cell::new(11));
    let key = key_format::generate("kw", &entropy).unwrap();
    let kv_key = kv::keys::key_hash("default", &hasher.hash(&key));
    block_on(store.put(&kv_key, &kv::encode(&record), None)).unwrap();
    let verifier = Verifier {
        store: &store,
        hasher: &hasher,
        cache: &cache,
        bucket: "default",
        prefix: "kw",
        imported: None,
    };
    assert!(matches!(
        block_on(verifier.verify(&key, NOW)).unwrap(),
        Verdict::Valid(_)
    ));
    for _ in 0..100_000 {
        let forged = key_format::generate("kw", &entropy).unwrap();
        assert_eq!(
            block_on(verifier.verify(&forged, NOW)).unwrap(),
            Verdict::NotFound
        );
    }
    assert_eq!(cache.len(), 1 + Limits::DEFAULT.absent);
    assert!(matches!(cache.get(&kv_key, NOW), Cached::Present(_)));
    g.bench_function("hit_after_spray", |b| {
        b.iter(|| cache.get(black_box(&kv_key), NOW))
    });
    g.finish();
}

/// What the limits add to a verified request in the isolate: a request admitted from a
/// lease (limited consumer, far below its limit) and one of a consumer without limits (usage
/// counted), beside the cached verification they follow (`verify/cached_valid`).
fn limits(c: &mut Criterion) {
    use keyward_core::limits::isolate::{Leases, Outcome};
    use keyward_core::limits::object::local::LocalCounters;
    use keyward_core::limits::policy::{Limits as ConsumerLimits, RateLimit};
    use keyward_core::limits::settings::Fail;
    use keyward_core::limits::wire::Consumer;
    let counters = LocalCounters::default();
    counters.now.set(NOW);
    let consumer = Consumer {
        bucket: "default".into(),
        name: "acme".into(),
    };
    let far_below = ConsumerLimits {
        rate: Some(RateLimit {
            requests: 1_000_000_000,
            period_ms: 60_000,
        }),
        quota: None,
    };
    let metadata = record().metadata;
    let mut g = c.benchmark_group("limits");
    for (name, limits) in [
        ("lease_hit", far_below),
        ("unlimited", ConsumerLimits::default()),
    ] {
        let leases = Leases::default();
        // Leases grow with demand (twice what the last lease period admitted): the warm-up
        // takes them up to the object's cap (a tenth of the limit), and every measured
        // request is admitted from one, at the same instant (it does not expire).
        assert!(matches!(
            block_on(leases.admit(&counters, &consumer, "key_1", &limits, Fail::Open, &|| NOW)),
            Outcome::Admit { .. }
        ));
        g.bench_function(name, |b| {
            b.iter(|| {
                // What the edge does per request: the limits from the metadata, then admit.
                let l = ConsumerLimits::of(black_box(&metadata), &ConsumerLimits::default());
                let l = if l.is_unlimited() { limits } else { l };
                block_on(leases.admit(&counters, &consumer, "key_1", &l, Fail::Open, &|| NOW))
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = verify, key, cache, limits
}
criterion_main!(benches);
