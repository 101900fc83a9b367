//! `keys_file::import`: the recorded Zuplo bucket (`tests/fixtures/zuplo/`) read page by
//! page into `keys.yaml` entries and keys, the merge rule, which keys go out after
//! `$lookup`, and what is refused (with the consumer's name, never a key).

use keyward_core::api::model::CreateKey;
use keyward_core::keys_file::import::{
    self, check_paging, merge, next_offset, page_query, plan_keys, ImportError, Lookup, OnConflict,
    Page, Source, MAX_SOURCE_CONSUMERS,
};
use keyward_core::keys_file::{check, to_yaml_checked, ConsumerSpec};
use serde_json::{json, Value};
use std::path::PathBuf;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/zuplo")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const KEYS: [&str; 5] = [
    "zpka_7974d1de1641df0234e124a5d0f4acfa_c9a1c0a0",
    "zpka_b020fa707cae0377ce6bd6cdbdf65ce1_cdf97704",
    "zpka_73ad51a1df0fd2772c07f258fc76ddb1_73483a89",
    "zpka_0d6d25cc816ea82233f443e61907948c_49e765c9",
    "zpka_783af4756ff28270341359d6743ffe0f_e203eb4e",
];

/// The fixture read as the CLI reads it: page by page, the next offset from what came.
fn read_fixture() -> Source {
    let mut source = Source::default();
    let mut offset = Some(0);
    let mut pages = 0;
    while let Some(at) = offset {
        let page: Page = serde_json::from_value(fixture(&format!("consumers-{at}.json"))).unwrap();
        let (received, total) = (page.data.len(), page.total);
        source.add_page(page, true).unwrap();
        offset = next_offset(at, received, total, import::PAGE_LIMIT);
        pages += 1;
    }
    assert_eq!(pages, 2);
    source
}

#[test]
fn the_recorded_bucket_becomes_file_entries_and_keys() {
    let source = read_fixture();
    let names: Vec<&str> = source.consumers.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "acme-corp",
            "globex",
            "initech",
            "umbrella",
            "wayne-enterprises"
        ]
    );
    let acme = &source.consumers["acme-corp"];
    assert_eq!(acme.description.as_deref(), Some("Acme Corporation"));
    assert_eq!(acme.metadata["plan"], "gold");
    assert_eq!(acme.tags["tier"], "gold");
    // Managers as Zuplo's objects, e-mails lower-cased as keyward stores them.
    assert_eq!(acme.managers, ["bruce@acme.example"]);
    assert_eq!(
        source.consumers["globex"].managers,
        ["hank@globex.example", "joan@globex.example"]
    );
    assert_eq!(source.consumers["initech"], {
        let mut c = ConsumerSpec::default();
        c.metadata.insert("plan".into(), json!("trial"));
        c
    });
    assert_eq!(source.key_count(), 5);
    let acme_keys = &source.keys["acme-corp"];
    assert_eq!(acme_keys[0].key, KEYS[0]);
    assert_eq!(acme_keys[0].expires_on, None);
    // The expired key keeps its expiry.
    assert_eq!(
        acme_keys[1].expires_on.as_deref(),
        Some("2025-06-02T08:00:00.000Z")
    );
    assert!(!source.keys.contains_key("wayne-enterprises"));

    // A `$bulk` body is what the developer API parses as its key items.
    let body = serde_json::to_value(acme_keys).unwrap();
    assert_eq!(
        body[1],
        json!({"key": KEYS[1], "expiresOn": "2025-06-02T08:00:00.000Z", "description": "rolled on 2025-06-01"})
    );
    let parsed: Vec<CreateKey> = serde_json::from_value(body).unwrap();
    assert_eq!(parsed.len(), 2);

    // Debug never shows a key.
    let shown = format!("{source:?}");
    for k in KEYS {
        assert!(!shown.contains(k), "{shown}");
    }
    assert!(shown.contains("****c9a1c0a0") || shown.contains("****a1c0a0"));
}

#[test]
fn paging_follows_what_came_until_the_total() {
    assert_eq!(next_offset(0, 1000, Some(10_000), 1000), Some(1000));
    assert_eq!(next_offset(9000, 1000, Some(10_000), 1000), None);
    assert_eq!(next_offset(0, 0, Some(10), 1000), None);
    // Without a total, a short page is not the end (a server may cap its pages): only an
    // empty one is.
    assert_eq!(next_offset(0, 999, None, 1000), Some(999));
    assert_eq!(next_offset(999, 0, None, 1000), None);
    // A total that keeps growing, or a read past the cap, stops the import.
    assert!(check_paging(Some(1000), Some(1100), 900).is_ok());
    assert!(check_paging(Some(1000), Some(1101), 900).is_err());
    assert!(check_paging(None, None, MAX_SOURCE_CONSUMERS + 1).is_err());
    assert_eq!(next_offset(usize::MAX, 1, Some(usize::MAX), 1000), None);
    assert_eq!(
        page_query(3, true),
        "limit=1000&offset=3&include-api-keys=true&key-format=visible&include-managers=true"
    );
    assert_eq!(
        page_query(0, false),
        "limit=1000&offset=0&include-managers=true"
    );
}

fn page(consumers: Value) -> Page {
    serde_json::from_value(json!({"data": consumers, "total": 1})).unwrap()
}

#[test]
fn what_keyward_refuses_is_named_and_nothing_is_taken() {
    let cases = [
        (
            json!([{"name": "Acme Corp"}]),
            "consumer 'Acme Corp': consumer name 'Acme Corp' is invalid; use 1 to 128 lowercase letters, digits and '-'",
        ),
        (
            json!([{"name": "big", "metadata": {"x": "y".repeat(1100)}}]),
            "consumer 'big': metadata is",
        ),
        (
            json!([{"name": "tags", "tags": {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}}]),
            "consumer 'tags': 6 tags given, at most 5 are allowed",
        ),
        (
            json!([{"name": "n", "tags": {"n": 5}}]),
            "consumer 'n': tag 'n' is not a string",
        ),
        (
            json!([{"name": "mgr", "managers": [{"email": "bob@", "sub": "x"}]}]),
            "consumer 'mgr': manager 'bob@' is not an e-mail address; use name@domain",
        ),
        (
            json!([{"name": "when", "apiKeys": [{"key": KEYS[0], "expiresOn": "soon"}]}]),
            "consumer 'when': key ****a1c0a0: expiresOn is not an RFC 3339 time",
        ),
        (
            json!([{"name": "spaced", "apiKeys": [{"key": "zpka_ has a space in it, somewhere"}]}]),
            "consumer 'spaced': key ****ewhere is not a key keyward can store",
        ),
    ];
    for (consumers, says) in cases {
        let mut source = Source::default();
        let err = source.add_page(page(consumers), true).unwrap_err();
        assert!(matches!(err, ImportError::Invalid { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with(says), "{text}");
        assert!(text.ends_with("nothing was imported (fix it in the source first)"));
        assert!(!text.contains(KEYS[0]));
        assert!(source.consumers.is_empty());
    }
}

/// Zuplo keeps `rateLimit` and `quota` as any other metadata; keyward reads them as the
/// consumer's limits, so a source whose values are of another shape is refused, naming the
/// consumer and the field, and saying why; one in keyward's form comes through as it is.
#[test]
fn limits_in_metadata_that_keyward_cannot_read_are_refused_with_the_reason() {
    for (metadata, says) in [
        (
            json!({"plan": "gold", "rateLimit": "100/min"}),
            "consumer 'acme': metadata.rateLimit: must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}; ",
        ),
        (
            json!({"quota": {"requests": 5000, "period": "week"}}),
            "consumer 'acme': metadata.quota: period must be day or month (calendar periods in UTC); ",
        ),
    ] {
        let mut source = Source::default();
        let err = source
            .add_page(
                page(json!([{"name": "acme", "metadata": metadata, "apiKeys": [{"key": KEYS[0]}]}])),
                true,
            )
            .unwrap_err();
        assert!(matches!(err, ImportError::Limits { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with(says), "{text}");
        assert!(
            text.ends_with("keyward reads metadata.rateLimit and metadata.quota as a consumer's limits, so nothing was imported: write the field in keyward's form in the source, or rename it there if it means something else"),
            "{text}"
        );
        assert!(!text.contains(KEYS[0]));
        assert!(source.consumers.is_empty() && source.key_count() == 0);
    }
    let mut source = Source::default();
    let limits = json!({"rateLimit": {"requestsPerMinute": 600.0}, "quota": {"requests": 5000, "period": "day"}});
    source
        .add_page(page(json!([{"name": "acme", "metadata": limits}])), false)
        .unwrap();
    assert_eq!(
        Value::Object(source.consumers["acme"].metadata.clone()),
        limits
    );
}

#[test]
fn a_hash_only_source_is_said_to_be_one() {
    for keys in [
        json!([{"id": "key_1", "createdOn": "2025-01-01T00:00:00Z"}]),
        json!([{"key": "****a1c0a0"}]),
    ] {
        let mut source = Source::default();
        let err = source
            .add_page(page(json!([{"name": "acme", "apiKeys": keys}])), true)
            .unwrap_err();
        assert_eq!(
            err,
            ImportError::KeysNotVisible {
                consumer: "acme".into()
            }
        );
        let text = err.to_string();
        assert!(text.contains("hash-only") && text.contains("isRetrievable: true"));
        assert!(text.contains("--skip-keys"));
        // Consumers only: the keys are not asked for, nor required.
        let mut source = Source::default();
        source
            .add_page(page(json!([{"name": "acme", "apiKeys": keys}])), false)
            .unwrap();
        assert_eq!(source.key_count(), 0);
    }
}

#[test]
fn one_key_on_two_consumers_or_one_consumer_twice_is_refused() {
    let mut source = Source::default();
    let err = source
        .add_page(
            page(json!([
                {"name": "a", "apiKeys": [{"key": KEYS[0]}]},
                {"name": "b", "apiKeys": [{"key": KEYS[0]}]},
            ])),
            true,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key ****a1c0a0 belongs to both 'a' and 'b' in the source; a key has one consumer, remove it from one of them"
    );
    let mut source = Source::default();
    source.add_page(page(json!([{"name": "a"}])), true).unwrap();
    let err = source
        .add_page(page(json!([{"name": "a"}])), true)
        .unwrap_err();
    assert_eq!(err, ImportError::DuplicateConsumer("a".into()));
}

const FILE: &str = "version: 1\nbuckets:\n  acme-production:\n    consumers:\n      acme-corp:\n        description: Acme Corporation\n        metadata:\n          plan: gold\n          orgId: org_4711\n        tags:\n          team: sales\n          tier: gold\n        managers: [BRUCE@acme.example]\n      hooli: {}\n  preview:\n    consumers:\n      globex: {}\n";

#[test]
fn merge_adds_new_consumers_and_leaves_equal_and_others_alone() {
    let source = read_fixture();
    let mut file = check(FILE).unwrap();
    let merged = merge(
        &mut file,
        "acme-production",
        &source.consumers,
        OnConflict::Error,
    )
    .unwrap();
    // acme-corp is the same (managers compare case-blind, as the plan compares them).
    assert_eq!(merged.same, 1);
    assert_eq!(
        merged.added,
        ["globex", "initech", "umbrella", "wayne-enterprises"]
    );
    assert!(merged.changed());
    let bucket = &file.buckets["acme-production"];
    assert!(bucket.consumers.contains_key("hooli"), "left alone");
    assert_eq!(
        bucket.consumers["acme-corp"],
        check(FILE).unwrap().buckets["acme-production"].consumers["acme-corp"],
        "the file's entry is left as it is"
    );
    assert_eq!(file.buckets["preview"].consumers.len(), 1);
    let text = to_yaml_checked(&file, &[]).unwrap();
    assert_eq!(check(&text).unwrap(), file);

    // A second merge into the merged file changes nothing.
    let again = merge(
        &mut file,
        "acme-production",
        &source.consumers,
        OnConflict::Error,
    )
    .unwrap();
    assert!(!again.changed());
    assert_eq!(again.same, 5);

    // Into a new file: the bucket is created.
    let mut fresh = import::new_file();
    let merged = merge(&mut fresh, "default", &source.consumers, OnConflict::Error).unwrap();
    assert_eq!(merged.added.len(), 5);
    assert_eq!(fresh.consumer_count(), 5);
}

#[test]
fn a_differing_consumer_stops_the_merge_unless_a_rule_is_given() {
    let source = read_fixture();
    let text = FILE.replace("plan: gold", "plan: platinum").replace(
        "managers: [BRUCE@acme.example]",
        "managers: [robin@acme.example]",
    );
    let original = check(&text).unwrap();

    let mut file = original.clone();
    let err = merge(
        &mut file,
        "acme-production",
        &source.consumers,
        OnConflict::Error,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 consumer in keys.yaml differs from the source: 'acme-corp' (metadata, managers); nothing was written. \
         Pass --on-conflict keep-file to keep the file's entries, or --on-conflict take-source to replace them"
    );
    assert_eq!(file, original, "nothing merged");

    let mut file = original.clone();
    let merged = merge(
        &mut file,
        "acme-production",
        &source.consumers,
        OnConflict::KeepFile,
    )
    .unwrap();
    assert_eq!(merged.kept, ["acme-corp"]);
    assert_eq!(
        file.buckets["acme-production"].consumers["acme-corp"].metadata["plan"],
        "platinum"
    );

    let mut file = original;
    let merged = merge(
        &mut file,
        "acme-production",
        &source.consumers,
        OnConflict::TakeSource,
    )
    .unwrap();
    assert_eq!(merged.replaced, ["acme-corp"]);
    assert_eq!(
        file.buckets["acme-production"].consumers["acme-corp"],
        source.consumers["acme-corp"]
    );
}

fn answer(valid: bool, found: Option<(&str, &str)>) -> Lookup {
    Lookup {
        valid,
        found: found.is_some(),
        bucket: found.map(|f| f.0.to_owned()),
        consumer: found.map(|f| f.1.to_owned()),
    }
}

#[test]
fn keys_the_target_cannot_verify_refuse_the_import_and_name_the_variable() {
    let source = read_fixture();
    let answers = vec![answer(false, None); 5];
    let err = plan_keys(&source, "acme-production", &answers).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        "the target cannot verify 5 keys at its edge (neither its own key format nor IMPORTED_KEY_PATTERN): \
         ****a1c0a0 of 'acme-corp', ****f97704 of 'acme-corp', ****483a89 of 'globex' and 2 more; nothing was written. \
         Set IMPORTED_KEY_PATTERN in the Worker's wrangler.toml [vars] to a pattern of these keys \
         (Zuplo's: ^zpka_[0-9a-f]{32}_[0-9a-f]{8}$), deploy, and run the import again"
    );
    for k in KEYS {
        assert!(!text.contains(k));
    }
    let err = plan_keys(&source, "acme-production", &answers[..4]).unwrap_err();
    assert_eq!(
        err,
        ImportError::LookupAnswer {
            asked: 5,
            answered: 4
        }
    );
}

#[test]
fn keys_held_for_their_consumer_are_skipped_and_others_sent() {
    let source = read_fixture();
    let order: Vec<(&str, &str)> = import::lookup_order(&source)
        .map(|(c, k)| (c, k.key.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("acme-corp", KEYS[0]),
            ("acme-corp", KEYS[1]),
            ("globex", KEYS[2]),
            ("initech", KEYS[3]),
            ("umbrella", KEYS[4]),
        ]
    );
    let answers = [
        answer(true, Some(("acme-production", "acme-corp"))),
        answer(true, None),
        answer(true, Some(("preview", "globex"))), // another bucket: imported here too
        answer(true, None),
        answer(true, Some(("acme-production", "umbrella"))),
    ];
    let plan = plan_keys(&source, "acme-production", &answers).unwrap();
    assert_eq!(plan.held, 2);
    assert_eq!(plan.count(), 3);
    let sent: Vec<(&str, &str)> = plan
        .send
        .iter()
        .flat_map(|(c, keys)| keys.iter().map(move |k| (c.as_str(), k.key.as_str())))
        .collect();
    assert_eq!(
        sent,
        [
            ("acme-corp", KEYS[1]),
            ("globex", KEYS[2]),
            ("initech", KEYS[3])
        ]
    );

    // Everything held: nothing to send (a rerun).
    let all: Vec<Lookup> = order
        .iter()
        .map(|(c, _)| answer(true, Some(("acme-production", c))))
        .collect();
    let plan = plan_keys(&source, "acme-production", &all).unwrap();
    assert_eq!((plan.count(), plan.held), (0, 5));

    // Held by another consumer of the bucket: refused, masked.
    let mut answers = all;
    answers[2] = answer(true, Some(("acme-production", "acme-corp")));
    let err = plan_keys(&source, "acme-production", &answers).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key ****483a89 of 'globex' is already held by consumer 'acme-corp' in the target bucket; nothing was written. \
         Delete it there, or rename the consumer in the source"
    );
}
