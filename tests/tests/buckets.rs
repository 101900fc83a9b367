//! End-to-end tests of the bucket objects (one SQLite Durable Object per bucket, an outbox of
//! KV writes) against the real Worker: concurrent writers to one consumer, a roll racing a
//! `keyward sync`, and the one-time import of a bucket kept in the old KV-only layout.

use keyward_core::entropy::Entropy;
use keyward_core::key::hash::KeyHasher;
use keyward_core::storage::kv::{
    self, BucketRecord, ConsumerRecord, KeyRecord, ManagerRecord, Source, StoredKey, SCHEMA_VERSION,
};
use keyward_core::{ids, key, timestamp};
use keyward_e2e::{admin, http, keyward, keyward_at, root, Answer, Worker, TOKEN};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn create_bucket(w: &Worker, name: &str) {
    let a = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(&json!({"name": name}).to_string()),
    );
    assert_eq!(a.status, 200, "{a:?}");
}

/// A gateway request with `key`; without UPSTREAM_URL a verified one is answered 200 with
/// the identity as JSON.
fn edge(w: &Worker, key: &str) -> Answer {
    http(
        "GET",
        &format!("{}/anything", w.origin),
        &[("authorization", &format!("Bearer {key}"))],
        None,
    )
}

/// `$check` of `bucket`, which must answer 200.
fn check(w: &Worker, bucket: &str) -> Value {
    let a = admin(
        "GET",
        &format!("{}/key-buckets/{bucket}/$check", w.account()),
        None,
    );
    assert_eq!(a.status, 200, "{a:?}");
    a.json()
}

/// Runs `wrangler kv …` on the stopped Worker's local KV (its binding, state and config).
fn wrangler_kv(w: &Worker, args: &[&str]) -> String {
    let dir = w.dir();
    let out = Command::new(root().join("node_modules/.bin/wrangler"))
        .arg("kv")
        .args(args)
        .args(["--binding", "KEYWARD_KV", "--local"])
        .arg("--persist-to")
        .arg(w.state_dir())
        .arg("--config")
        .arg(dir.join("wrangler.toml"))
        .current_dir(dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .output()
        .expect("run wrangler kv");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrangler kv {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every key name in the stopped Worker's local KV.
fn kv_names(w: &Worker) -> Vec<String> {
    let out = wrangler_kv(w, &["key", "list"]);
    let start = out
        .find('[')
        .unwrap_or_else(|| panic!("no JSON list: {out}"));
    let list: Value = serde_json::from_str(&out[start..])
        .unwrap_or_else(|e| panic!("not a JSON list ({e}): {out}"));
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Writes `entries` (`{key, value, metadata?}`) into the stopped Worker's local KV.
fn kv_bulk_put(w: &Worker, entries: &[Value]) {
    let file = w.dir().join("bulk.json");
    std::fs::write(&file, Value::Array(entries.to_vec()).to_string()).unwrap();
    wrangler_kv(w, &["bulk", "put", file.to_str().unwrap()]);
}

/// Random bytes from the OS, for keys and ids made by the test itself.
struct Urandom;

impl Entropy for Urandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), keyward_core::Error> {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(buf))
            .map_err(|e| keyward_core::Error::new(keyward_core::ErrorKind::Storage, e.to_string()))
    }
}

#[test]
fn twenty_concurrent_key_creations_all_land() {
    const N: usize = 20;
    let started = Instant::now();
    let w = Worker::start(&[("CACHE_TTL_SECONDS", "0")]);
    create_bucket(&w, "default");
    let consumers = format!("{}/key-buckets/default/consumers", w.account());
    let created = admin("POST", &consumers, Some(r#"{"name":"crowd"}"#));
    assert_eq!(created.status, 200, "{created:?}");
    let keys_url = format!("{consumers}/crowd/keys");
    let before = admin("GET", &format!("{keys_url}?limit=100"), None).json();
    let before_ids: BTreeSet<String> = before["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();

    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let url = keys_url.clone();
            std::thread::spawn(move || {
                let body = json!({"description": format!("concurrent {i}")}).to_string();
                barrier.wait();
                let sent = Instant::now();
                (admin("POST", &url, Some(&body)), sent)
            })
        })
        .collect();
    let (answers, sent): (Vec<Answer>, Vec<Instant>) = threads
        .into_iter()
        .map(|t| t.join().expect("a sender panicked"))
        .unzip();
    let burst = sent.iter().min().unwrap().elapsed();
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, 200, "request {i}: {a:?}");
    }
    let created: Vec<(String, String)> = answers
        .iter()
        .map(|a| {
            let k = a.json();
            (
                k["id"].as_str().unwrap().to_owned(),
                k["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let created_ids: BTreeSet<String> = created.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(created_ids.len(), N, "twenty distinct keys");

    // The consumer lists every one of them, and nothing else new.
    let listed = admin("GET", &format!("{keys_url}?limit=100"), None);
    assert_eq!(listed.status, 200, "{listed:?}");
    let listed = listed.json();
    let listed_ids: BTreeSet<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed["total"], before_ids.len() + N, "{listed}");
    assert_eq!(
        listed_ids,
        before_ids.union(&created_ids).cloned().collect(),
        "the listed keys are the ones there before plus the twenty created"
    );

    // Each verifies at the edge as itself.
    for (id, key) in &created {
        let a = edge(&w, key);
        assert_eq!(a.status, 200, "key {id}: {a:?}");
        let identity = a.json();
        assert_eq!(identity["consumer"], "crowd", "{identity}");
        assert_eq!(identity["keyId"], id.as_str(), "{identity}");
    }
    let c = check(&w, "default");
    assert_eq!(c["consistent"], true, "{c}");

    // Deleting the consumer revokes all twenty.
    let deleted = admin("DELETE", &format!("{consumers}/crowd"), None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    for (id, key) in &created {
        assert_eq!(edge(&w, key).status, 401, "key {id} after its consumer");
    }
    let c = check(&w, "default");
    assert_eq!(c["consistent"], true, "{c}");
    assert!(c.get("cursor").is_none(), "one call checks it all: {c}");
    let dir = tempfile::tempdir().unwrap();
    let r = keyward(&w, dir.path(), &["check", "--bucket", "default"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.starts_with("default: consistent ("),
        "{}\n{}",
        r.out,
        r.err
    );
    eprintln!(
        "twenty_concurrent_key_creations_all_land: {:?} (the twenty answered within {burst:?})",
        started.elapsed()
    );
}

const RACE_FILE: &str = "version: 1
buckets:
  default:
    consumers:
      racer:
        description: a consumer rolled while it is synced
        metadata:
          plan: gold
          round: ROUND
        tags:
          team: racing
        managers:
          - pit@racer.example
";

fn write_race_file(dir: &Path, round: u32) {
    std::fs::write(
        dir.join("keys.yaml"),
        RACE_FILE.replace("ROUND", &round.to_string()),
    )
    .unwrap();
}

#[test]
fn a_roll_racing_a_sync_ends_in_one_order() {
    let started = Instant::now();
    let w = Worker::start(&[("CACHE_TTL_SECONDS", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_race_file(d, 0);
    let r = keyward(&w, d, &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    // How long a sync that changes the consumer takes, alone.
    write_race_file(d, 100);
    let t = Instant::now();
    let r = keyward(&w, d, &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.ends_with("Sync: 0 created, 1 updated, 0 deleted.\n"),
        "{r:?}"
    );
    let sync_time = t.elapsed();
    let consumer = format!("{}/key-buckets/default/consumers/racer", w.account());
    let first = admin("POST", &format!("{consumer}/keys"), Some("{}"));
    assert_eq!(first.status, 200, "{first:?}");
    let mut current = (
        first.json()["id"].as_str().unwrap().to_owned(),
        first.json()["key"].as_str().unwrap().to_owned(),
    );

    // Three rounds at least. The roll starts with the sync at first; after a round the roll
    // won it starts later, after one the sync won earlier, so that both orders come up (up to
    // three more rounds until they have).
    let step = sync_time / 2;
    let mut delay = Duration::ZERO;
    let mut orders = BTreeSet::new();
    let mut round = 0u32;
    while round < 3 || (orders.len() < 2 && round < 6) {
        round += 1;
        write_race_file(d, round);
        let expected = json!({"plan": "gold", "round": round});
        let expiry = timestamp::format(now_ms() + 3_600_000);
        let barrier = Arc::new(Barrier::new(2));
        let clock = Instant::now();
        let syncer = {
            let barrier = Arc::clone(&barrier);
            let api = w.api_base();
            let dir = d.to_path_buf();
            std::thread::spawn(move || {
                barrier.wait();
                let run = keyward_at(&api, &dir, &["sync"], &[]);
                (run, clock.elapsed())
            })
        };
        let roller = {
            let barrier = Arc::clone(&barrier);
            let url = format!("{consumer}/roll-key");
            let body = json!({"expiresOn": expiry}).to_string();
            std::thread::spawn(move || {
                barrier.wait();
                std::thread::sleep(delay);
                let a = http(
                    "POST",
                    &url,
                    &[
                        ("authorization", &format!("Bearer {TOKEN}")),
                        ("prefer", "return=representation"),
                    ],
                    Some(&body),
                );
                (a, clock.elapsed())
            })
        };
        let (sync_run, sync_done) = syncer.join().expect("sync thread");
        let (roll, roll_done) = roller.join().expect("roll thread");
        assert_eq!(sync_run.code, Some(0), "round {round}: {sync_run:?}");
        assert!(
            sync_run
                .out
                .ends_with("Sync: 0 created, 1 updated, 0 deleted.\n"),
            "round {round}: {sync_run:?}"
        );
        assert_eq!(roll.status, 200, "round {round}: {roll:?}");
        let new = (
            roll.json()["id"].as_str().unwrap().to_owned(),
            roll.json()["key"].as_str().unwrap().to_owned(),
        );

        // The sync's metadata and the roll's keys, whatever the order.
        let got = admin("GET", &consumer, None);
        assert_eq!(got.status, 200, "{got:?}");
        let got = got.json();
        assert_eq!(got["metadata"], expected, "round {round}");
        // Which change committed first, by the object's own clock.
        let synced_at = timestamp::parse(got["lastSync"]["at"].as_str().unwrap()).unwrap();
        let rolled_at = timestamp::parse(roll.json()["createdOn"].as_str().unwrap()).unwrap();
        let order = match synced_at.cmp(&rolled_at) {
            std::cmp::Ordering::Less => "sync, then roll",
            std::cmp::Ordering::Greater => "roll, then sync",
            std::cmp::Ordering::Equal => "the same millisecond",
        };
        eprintln!(
            "round {round}: roll sent {delay:?} after the sync started, answered at \
             {roll_done:?}; sync done at {sync_done:?}; committed: {order}"
        );
        orders.insert(order);
        delay = if synced_at > rolled_at {
            delay + step
        } else {
            delay.saturating_sub(step / 2)
        };
        let keys = admin("GET", &format!("{consumer}/keys"), None).json();
        assert_eq!(keys["total"], 2, "round {round}: {keys}");
        let listed = keys["data"].as_array().unwrap();
        let old = listed
            .iter()
            .find(|k| k["id"] == current.0.as_str())
            .unwrap_or_else(|| panic!("round {round}: the old key is gone: {keys}"));
        assert_eq!(old["expiresOn"], expiry.as_str(), "round {round}: {old}");
        let rolled = listed
            .iter()
            .find(|k| k["id"] == new.0.as_str())
            .unwrap_or_else(|| panic!("round {round}: the new key is not listed: {keys}"));
        assert_eq!(rolled["expiresOn"], Value::Null, "round {round}: {rolled}");

        // Both verify and carry the final metadata, at the edge and through /v1/verify.
        for (id, key) in [&current, &new] {
            let a = edge(&w, key);
            assert_eq!(a.status, 200, "round {round}, key {id}: {a:?}");
            assert_eq!(
                a.json(),
                json!({"consumer": "racer", "keyId": id, "metadata": expected}),
                "round {round}"
            );
            let v = admin(
                "POST",
                &format!("{}/v1/verify", w.api_base()),
                Some(&json!({ "key": key }).to_string()),
            );
            assert_eq!(v.status, 200, "round {round}: {v:?}");
            assert_eq!(v.json()["consumer"], "racer", "{v:?}");
            assert_eq!(v.json()["keyId"], id.as_str(), "{v:?}");
            assert_eq!(v.json()["metadata"], expected, "round {round}: {v:?}");
        }
        let c = check(&w, "default");
        assert_eq!(c["consistent"], true, "round {round}: {c}");
        let r = keyward(&w, d, &["plan", "--exit-code"], &[]);
        assert_eq!(
            r.code,
            Some(0),
            "round {round}: the file is in place: {r:?}"
        );

        // Retire the old key, so that the next round starts again from one.
        let gone = admin("DELETE", &format!("{consumer}/keys/{}", current.0), None);
        assert_eq!(gone.status, 204, "{gone:?}");
        assert_eq!(edge(&w, &current.1).status, 401, "round {round}");
        current = new;
    }
    eprintln!(
        "a_roll_racing_a_sync_ends_in_one_order: {:?} ({round} rounds, orders seen: \
         {orders:?}; a sync alone: {sync_time:?})",
        started.elapsed()
    );
}

/// A consumer as the old layout stored it, with the plaintexts of its keys.
struct Legacy {
    record: ConsumerRecord,
    plaintexts: Vec<String>,
}

fn legacy_consumer(
    hasher: &KeyHasher,
    name: &str,
    keys: usize,
    managers: &[&str],
    metadata: Value,
    t0: i64,
) -> Legacy {
    let mut plaintexts = Vec::new();
    let mut stored = Vec::new();
    for i in 0..keys {
        let plaintext = key::format::generate(key::format::DEFAULT_PREFIX, &Urandom).unwrap();
        stored.push(StoredKey {
            id: ids::new_id(ids::KEY, &Urandom).unwrap(),
            hash: hasher.hash(&plaintext),
            masked: key::format::mask(&plaintext),
            description: Some(format!("legacy key {i}")),
            expires_on: None,
            created_on: t0,
            updated_on: t0,
            created_by: None,
            leak: None,
            sealed: None,
        });
        plaintexts.push(plaintext);
    }
    let metadata: Map<String, Value> = metadata.as_object().unwrap().clone();
    let record = ConsumerRecord {
        v: SCHEMA_VERSION,
        id: ids::new_id(ids::CONSUMER, &Urandom).unwrap(),
        name: name.to_owned(),
        description: Some(format!("{name}, from before bucket objects")),
        metadata,
        tags: BTreeMap::from([("era".to_owned(), "kv".to_owned())]),
        managers: managers
            .iter()
            .map(|email| ManagerRecord {
                id: ids::new_id(ids::MANAGER, &Urandom).unwrap(),
                email: (*email).to_owned(),
                sub: None,
                created_on: t0,
            })
            .collect(),
        keys: stored,
        created_on: t0,
        updated_on: t0,
        source: Source::Api,
        last_sync: None,
    };
    Legacy { record, plaintexts }
}

/// The old layout's entries of a bucket: `b:`, `c:` (with the index as KV metadata) and
/// `m:`, as the KV-only write path wrote them; and the `k:` verification records.
fn legacy_entries(bucket: &BucketRecord, consumers: &[Legacy]) -> (Vec<Value>, Vec<Value>) {
    let b = &bucket.name;
    let mut layout = vec![json!({"key": kv::keys::bucket(b), "value": kv::encode(bucket)})];
    let mut verification = Vec::new();
    for c in consumers {
        let c = &c.record;
        layout.push(json!({
            "key": kv::keys::consumer(b, &c.name),
            "value": kv::encode(c),
            "metadata": serde_json::to_value(c.index()).unwrap(),
        }));
        for m in &c.managers {
            layout.push(json!({"key": kv::keys::manager(b, &m.email, &c.name), "value": ""}));
        }
        for k in &c.keys {
            let record: KeyRecord = c.key_record(k);
            verification.push(json!({
                "key": kv::keys::key_hash(b, &k.hash),
                "value": kv::encode(&record),
            }));
        }
    }
    (layout, verification)
}

fn is_layout_entry(name: &str) -> bool {
    name.starts_with("b:") || name.starts_with("c:") || name.starts_with("m:")
}

#[test]
fn a_bucket_in_the_old_kv_layout_is_imported_once() {
    let started = Instant::now();
    let mut w = Worker::start(&[("CACHE_TTL_SECONDS", "0"), ("BUCKET", "legacy")]);
    eprintln!("legacy: started at {:?}", started.elapsed());
    w.stop();
    eprintln!("legacy: stopped at {:?}", started.elapsed());

    // The old layout, written into the stopped Worker's local KV.
    let hasher = KeyHasher::new(w.hash_secret().as_bytes());
    let t0 = now_ms() - 86_400_000;
    let bucket = BucketRecord {
        v: SCHEMA_VERSION,
        id: ids::new_id(ids::BUCKET, &Urandom).unwrap(),
        name: "legacy".into(),
        description: Some("a bucket from the KV-only days".into()),
        tags: BTreeMap::new(),
        retrievable: false,
        created_on: t0,
        updated_on: t0,
    };
    let consumers = [
        legacy_consumer(
            &hasher,
            "alpha",
            2,
            &["alice@legacy.example"],
            json!({"plan": "gold"}),
            t0,
        ),
        legacy_consumer(
            &hasher,
            "beta",
            1,
            &["bob@legacy.example", "carol@legacy.example"],
            json!({"plan": "silver"}),
            t0,
        ),
        legacy_consumer(&hasher, "gamma", 0, &[], json!({}), t0),
    ];
    let (layout, verification) = legacy_entries(&bucket, &consumers);
    kv_bulk_put(&w, &[layout.clone(), verification].concat());
    eprintln!("legacy: put at {:?}", started.elapsed());
    let names = kv_names(&w);
    assert_eq!(names.len(), 10, "the old layout is in KV: {names:?}");
    eprintln!("legacy: old layout written at {:?}", started.elapsed());
    w.restart();
    eprintln!("legacy: restarted at {:?}", started.elapsed());

    // The edge reads only `k:` records: the legacy keys verify before anything is imported.
    for c in &consumers {
        for (plaintext, k) in c.plaintexts.iter().zip(&c.record.keys) {
            let a = edge(&w, plaintext);
            assert_eq!(a.status, 200, "{}: {a:?}", c.record.name);
            assert_eq!(
                a.json(),
                json!({"consumer": c.record.name, "keyId": k.id, "metadata": c.record.metadata})
            );
        }
    }

    // The first API calls, all at once, import the bucket once (the others wait for it):
    // consumers, keys and managers as they were.
    let base = format!("{}/key-buckets/legacy/consumers", w.account());
    let full_list = format!("{base}?include-api-keys=true&include-managers=true");
    let bucket_list = format!("{}/key-buckets", w.account());
    let urls = [
        &full_list,
        &full_list,
        &full_list,
        &full_list,
        &bucket_list,
        &bucket_list,
    ];
    let barrier = Arc::new(Barrier::new(urls.len()));
    let threads: Vec<_> = urls
        .iter()
        .map(|url| {
            let (barrier, url) = (Arc::clone(&barrier), (*url).clone());
            std::thread::spawn(move || {
                barrier.wait();
                admin("GET", &url, None)
            })
        })
        .collect();
    let answers: Vec<Answer> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (url, a) in urls.iter().zip(&answers) {
        assert_eq!(a.status, 200, "{url}: {a:?}");
    }
    for a in &answers[1..4] {
        assert_eq!(
            a.json(),
            answers[0].json(),
            "the same import for every caller"
        );
    }
    for a in &answers[4..] {
        assert_eq!(a.json()["data"][0]["name"], "legacy", "{a:?}");
    }
    let list = answers[0].json();
    assert_eq!(list["total"], 3, "{list}");
    let data = list["data"].as_array().unwrap();
    for c in &consumers {
        let r = &c.record;
        let got = data
            .iter()
            .find(|x| x["name"] == r.name.as_str())
            .unwrap_or_else(|| panic!("{} is not listed: {list}", r.name));
        assert_eq!(got["id"], r.id.as_str(), "{got}");
        assert_eq!(got["metadata"], Value::Object(r.metadata.clone()), "{got}");
        assert_eq!(got["tags"], json!({"era": "kv"}), "{got}");
        assert_eq!(got["description"], r.description.as_deref().unwrap());
        let key_ids: BTreeSet<&str> = got["apiKeys"]
            .as_array()
            .unwrap_or_else(|| panic!("no apiKeys: {got}"))
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = r.keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(key_ids, want, "{got}");
        for k in got["apiKeys"].as_array().unwrap() {
            let stored = r.keys.iter().find(|s| k["id"] == s.id.as_str()).unwrap();
            assert_eq!(k["key"], stored.masked.as_str(), "{k}");
        }
        let emails: BTreeSet<&str> = got["managers"]
            .as_array()
            .unwrap_or_else(|| panic!("no managers: {got}"))
            .iter()
            .map(|m| m["email"].as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = r.managers.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(emails, want, "{got}");
    }
    for (email, consumer) in [
        ("alice@legacy.example", "alpha"),
        ("carol@legacy.example", "beta"),
    ] {
        let by = admin("GET", &format!("{base}?manager-email={email}"), None).json();
        assert_eq!(by["total"], 1, "{email}: {by}");
        assert_eq!(by["data"][0]["name"], consumer, "{email}: {by}");
    }
    let buckets = admin("GET", &format!("{}/key-buckets", w.account()), None);
    assert_eq!(buckets.status, 200, "{buckets:?}");
    let listed: Vec<String> = buckets.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["legacy"], "{}", buckets.text);
    let b = admin("GET", &format!("{}/key-buckets/legacy", w.account()), None);
    assert_eq!(b.status, 200, "{b:?}");
    assert_eq!(b.json()["id"], bucket.id.as_str(), "{b:?}");
    let c = check(&w, "legacy");
    assert_eq!(c["consistent"], true, "{c}");
    assert_eq!(c["importedConsumers"], 3, "{c}");

    // Changes after the import: a legacy key deleted stops at once; a consumer deleted.
    let alpha = &consumers[0];
    let (gone_key, gone_id) = (&alpha.plaintexts[1], &alpha.record.keys[1].id);
    let deleted = admin("DELETE", &format!("{base}/alpha/keys/{gone_id}"), None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(edge(&w, gone_key).status, 401, "a deleted legacy key");
    assert_eq!(edge(&w, &alpha.plaintexts[0]).status, 200, "its sibling");
    let deleted = admin("DELETE", &format!("{base}/gamma"), None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let c = check(&w, "legacy");
    assert_eq!(c["consistent"], true, "{c}");

    // The old layout's entries are gone from KV; the verification records stay.
    std::thread::sleep(Duration::from_millis(500));
    w.stop();
    let names = kv_names(&w);
    let left: Vec<&String> = names.iter().filter(|n| is_layout_entry(n)).collect();
    assert!(left.is_empty(), "old-layout entries left in KV: {left:?}");
    let expected_k: BTreeSet<String> = [&alpha.record.keys[0], &consumers[1].record.keys[0]]
        .iter()
        .map(|k| kv::keys::key_hash("legacy", &k.hash))
        .collect();
    let k: BTreeSet<String> = names
        .iter()
        .filter(|n| n.starts_with("k:"))
        .cloned()
        .collect();
    assert_eq!(k, expected_k, "{names:?}");

    // Restarted, even with a stale copy of the old layout put back into KV, the bucket is
    // not imported again: the deleted consumer and key stay deleted.
    eprintln!("legacy: KV listed at {:?}", started.elapsed());
    kv_bulk_put(&w, &layout);
    w.restart();
    eprintln!("legacy: restarted again at {:?}", started.elapsed());
    let base = format!("{}/key-buckets/legacy/consumers", w.account());
    let list = admin("GET", &format!("{base}?include-api-keys=true"), None).json();
    assert_eq!(list["total"], 2, "{list}");
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"], "{list}");
    assert_eq!(
        list["data"][0]["apiKeys"].as_array().unwrap().len(),
        1,
        "{list}"
    );
    assert_eq!(admin("GET", &format!("{base}/gamma"), None).status, 404);
    assert_eq!(
        edge(&w, gone_key).status,
        401,
        "the deleted key after a restart"
    );
    assert_eq!(edge(&w, &alpha.plaintexts[0]).status, 200);
    assert_eq!(edge(&w, &consumers[1].plaintexts[0]).status, 200);
    let c = check(&w, "legacy");
    assert_eq!(c["consistent"], true, "{c}");
    assert_eq!(c["importedConsumers"], 3, "{c}");
    eprintln!(
        "a_bucket_in_the_old_kv_layout_is_imported_once: {:?}",
        started.elapsed()
    );
}
