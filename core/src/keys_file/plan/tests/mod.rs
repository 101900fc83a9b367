//! The plan engine and its text and markdown output, as snapshots of small plans.

mod renderers;

use super::*;
use crate::keys_file::check;
use crate::keys_file::model::ConsumerSpec;
use crate::storage::kv::Source;
use expect_test::{expect, Expect};
use serde_json::json;
use std::collections::BTreeMap;

/// The consumers of bucket `default` in a keys.yaml snippet (consumers only).
fn consumers(yaml: &str) -> BTreeMap<String, ConsumerSpec> {
    let mut text = String::from("version: 1\nbuckets:\n  default:\n    consumers:\n");
    for line in yaml.lines() {
        text.push_str("      ");
        text.push_str(line);
        text.push('\n');
    }
    if yaml.trim().is_empty() {
        text = "version: 1\nbuckets:\n  default: {}\n".into();
    }
    let file = check(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    file.buckets["default"].consumers.clone()
}

/// A live bucket holding `yaml`'s consumers; those named in `api` were created through
/// the API. Every record is present, as if all had been read.
fn live(yaml: &str, api: &[&str]) -> LiveBucket {
    let consumers = consumers(yaml)
        .into_iter()
        .map(|(name, spec)| {
            let record = LiveRecord {
                description: spec.description.clone(),
                metadata: spec.metadata.clone(),
                tags: spec.tags.clone(),
                managers: spec.managers.clone(),
                last_sync: Some(LastSync {
                    commit: Some("0123abc".into()),
                    at: "2026-05-01T10:00:00.000Z".into(),
                }),
            };
            let source = if api.contains(&name.as_str()) {
                Source::Api
            } else {
                Source::File
            };
            let live = LiveConsumer {
                source,
                digest: record.digest(),
                record: Some(record),
            };
            (name, live)
        })
        .collect();
    LiveBucket {
        name: "default".into(),
        exists: true,
        consumers,
    }
}

fn check_plan(desired: &str, live: LiveBucket, prune: bool, text: Expect, markdown: Expect) {
    let plan = diff(&consumers(desired), &live, prune);
    text.assert_eq(&render_text(std::slice::from_ref(&plan)));
    markdown.assert_eq(&render_markdown(&[plan]));
}

const BASE: &str = "\
acme-corp:
  description: Acme Corp's order integration
  metadata:
    plan: gold
    rateLimit:
      requestsPerMinute: 600
  tags:
    team: sales
  managers: [alice@acme.example, ops@acme.example]
globex:
  metadata: {plan: silver}
  managers: [hank@globex.example]
";

#[test]
fn no_changes() {
    check_plan(
        BASE,
        live(BASE, &[]),
        true,
        expect![[r#"
            No changes: the Worker matches the file.
            Plan: 0 to create, 0 to update, 0 to delete, 0 unmanaged left alone.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 0 to create, 0 to update, 0 to delete, 0 unmanaged left alone.**

            No changes: the Worker matches the file.
        "#]],
    );
}

#[test]
fn empty_bucket_creates_everything_in_name_order() {
    let mut empty = live("", &[]);
    empty.exists = false;
    check_plan(
        BASE,
        empty,
        false,
        expect![[r#"
            + bucket default
            + consumer default/acme-corp
                description: "Acme Corp's order integration"
                metadata: {"plan":"gold","rateLimit":{"requestsPerMinute":600}}
                tags: {"team":"sales"}
                managers: alice@acme.example, ops@acme.example
            + consumer default/globex
                metadata: {"plan":"silver"}
                managers: hank@globex.example

            Plan: 2 to create, 0 to update, 0 to delete, 0 unmanaged left alone.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 2 to create, 0 to update, 0 to delete, 0 unmanaged left alone.**

            | change | consumer | field | before | after |
            | --- | --- | --- | --- | --- |
            | ➕ create | bucket `default` |  |  |  |
            | ➕ create | `default/acme-corp` | `description` |  | `"Acme Corp's order integration"` |
            |  |  | `metadata` |  | `{"plan":"gold","rateLimit":{"requestsPerMinute":600}}` |
            |  |  | `tags` |  | `{"team":"sales"}` |
            |  |  | `managers` |  | `alice@acme.example, ops@acme.example` |
            | ➕ create | `default/globex` | `metadata` |  | `{"plan":"silver"}` |
            |  |  | `managers` |  | `hank@globex.example` |
        "#]],
    );
}

#[test]
fn one_metadata_value_changes() {
    let desired = BASE.replace("requestsPerMinute: 600", "requestsPerMinute: 900");
    check_plan(
        &desired,
        live(BASE, &[]),
        false,
        expect![[r#"
            ~ consumer default/acme-corp
                metadata.rateLimit.requestsPerMinute: 600 → 900

            Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.**

            | change | consumer | field | before | after |
            | --- | --- | --- | --- | --- |
            | ✏️ update | `default/acme-corp` | `metadata.rateLimit.requestsPerMinute` | `600` | `900` |
        "#]],
    );
}

#[test]
fn every_field_changes() {
    let desired = "\
acme-corp:
  description: Acme's orders
  metadata:
    plan: platinum
    rateLimit: {requests: 1000, periodSeconds: 60}
    beta: true
    odd key: [1, 2]
  tags:
    team: ops
    tier: enterprise
  managers: [Alice@acme.example, bob@acme.example]
globex:
  metadata: {plan: silver}
  managers: [hank@globex.example]
";
    check_plan(
        desired,
        live(BASE, &[]),
        false,
        expect![[r#"
            ~ consumer default/acme-corp
                description: "Acme Corp's order integration" → "Acme's orders"
                metadata.beta: + true
                metadata["odd key"]: + [1,2]
                metadata.plan: "gold" → "platinum"
                metadata.rateLimit.periodSeconds: + 60
                metadata.rateLimit.requests: + 1000
                metadata.rateLimit.requestsPerMinute: - 600
                tags.team: "sales" → "ops"
                tags.tier: + "enterprise"
                managers: + bob@acme.example
                managers: - ops@acme.example

            Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.**

            | change | consumer | field | before | after |
            | --- | --- | --- | --- | --- |
            | ✏️ update | `default/acme-corp` | `description` | `"Acme Corp's order integration"` | `"Acme's orders"` |
            |  |  | `metadata.beta` |  | `true` |
            |  |  | `metadata["odd key"]` |  | `[1,2]` |
            |  |  | `metadata.plan` | `"gold"` | `"platinum"` |
            |  |  | `metadata.rateLimit.periodSeconds` |  | `60` |
            |  |  | `metadata.rateLimit.requests` |  | `1000` |
            |  |  | `metadata.rateLimit.requestsPerMinute` | `600` |  |
            |  |  | `tags.team` | `"sales"` | `"ops"` |
            |  |  | `tags.tier` |  | `"enterprise"` |
            |  |  | `managers` |  | `bob@acme.example` |
            |  |  | `managers` | `ops@acme.example` |  |
        "#]],
    );
}

#[test]
fn removed_consumers_are_deleted_only_with_prune_and_only_when_file_managed() {
    let live_state = live(&format!("{BASE}hooli: {{}}\nlegacy: {{}}\n"), &["hooli"]);
    check_plan(
        BASE,
        live_state.clone(),
        false,
        expect![[r#"
            No changes: the Worker matches the file.
            Plan: 0 to create, 0 to update, 0 to delete, 1 unmanaged left alone.
            1 consumer created from the file is no longer in it; run with --prune to delete it.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 0 to create, 0 to update, 0 to delete, 1 unmanaged left alone.**

            No changes: the Worker matches the file.

            1 consumer created from the file is no longer in it; `keyward sync --prune` would delete it.
        "#]],
    );
    check_plan(
        BASE,
        live_state,
        true,
        expect![[r#"
            - consumer default/legacy

            Plan: 0 to create, 0 to update, 1 to delete, 1 unmanaged left alone.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 0 to create, 0 to update, 1 to delete, 1 unmanaged left alone.**

            | change | consumer | field | before | after |
            | --- | --- | --- | --- | --- |
            | ➖ delete | `default/legacy` |  |  |  |
        "#]],
    );
}

#[test]
fn order_is_creates_updates_deletes_each_by_name() {
    let live_state = live(
        "b-old: {}\na-old: {}\nz-kept: {}\nm-kept: {}\nc-api: {}\n",
        &["c-api"],
    );
    let desired = "z-kept: {description: z}\nm-kept: {description: m}\nc-api: {description: c}\nzz-new: {}\naa-new: {}\n";
    check_plan(
        desired,
        live_state,
        true,
        expect![[r#"
            + consumer default/aa-new
            + consumer default/zz-new
            ~ consumer default/c-api (created through the API; it stays protected from --prune)
                description: + "c"
            ~ consumer default/m-kept
                description: + "m"
            ~ consumer default/z-kept
                description: + "z"
            - consumer default/a-old
            - consumer default/b-old

            Plan: 2 to create, 3 to update, 2 to delete, 0 unmanaged left alone.
        "#]],
        expect![[r#"
            <!-- keyward-plan -->
            ### keyward plan

            **Plan: 2 to create, 3 to update, 2 to delete, 0 unmanaged left alone.**

            | change | consumer | field | before | after |
            | --- | --- | --- | --- | --- |
            | ➕ create | `default/aa-new` |  |  |  |
            | ➕ create | `default/zz-new` |  |  |  |
            | ✏️ update (API-created) | `default/c-api` | `description` |  | `"c"` |
            | ✏️ update | `default/m-kept` | `description` |  | `"m"` |
            | ✏️ update | `default/z-kept` | `description` |  | `"z"` |
            | ➖ delete | `default/a-old` |  |  |  |
            | ➖ delete | `default/b-old` |  |  |  |
        "#]],
    );
}

#[test]
fn a_matching_digest_needs_no_record_and_a_stale_one_no_change() {
    let mut state = live(BASE, &[]);
    for c in state.consumers.values_mut() {
        c.record = None;
    }
    let plan = diff(&consumers(BASE), &state, true);
    assert_eq!(plan.unchanged, 2);
    assert!(plan.changes.is_empty());

    // A digest that differs while every field is equal: nothing to do.
    let mut state = live(BASE, &[]);
    state.consumers.get_mut("globex").unwrap().digest = "stale".into();
    let plan = diff(&consumers(BASE), &state, true);
    assert_eq!((plan.unchanged, plan.changes.len()), (2, 0));

    // A differing digest whose record could not be read: rewritten whole.
    let mut state = live(BASE, &[]);
    let globex = state.consumers.get_mut("globex").unwrap();
    globex.digest = "stale".into();
    globex.record = None;
    let plan = diff(&consumers(BASE), &state, true);
    expect![[r#"
        ~ consumer default/globex
            (its record could not be read: every field is rewritten)

        Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.
    "#]]
    .assert_eq(&render_text(&[plan]));
}

#[test]
fn description_absent_equals_empty_and_managers_ignore_case_and_order() {
    let desired = "acme:\n  description: ''\n  managers: [B@x.example, a@x.example]\n";
    let state = live("acme:\n  managers: [a@x.example, b@x.example]\n", &[]);
    let plan = diff(&consumers(desired), &state, false);
    assert!(plan.changes.is_empty(), "{plan:?}");
}

#[test]
fn live_records_read_from_api_json() {
    let v = json!({
        "id": "csmr_1", "name": "acme", "description": null, "metadata": {"plan": "gold"},
        "tags": {"team": "x"}, "source": "file",
        "managers": [{"id": "eusr_1", "email": "a@x.example", "sub": null, "createdOn": "…"}],
        "lastSync": {"commit": null, "at": "2026-05-01T10:00:00.000Z"},
    });
    let record: LiveRecord = serde_json::from_value(v).unwrap();
    assert_eq!(record.managers, vec!["a@x.example".to_owned()]);
    assert_eq!(record.last_sync.unwrap().commit, None);
}

#[test]
fn upserts_carry_the_file_state() {
    let plan = diff(&consumers(BASE), &live("", &[]), false);
    let u = plan.changes[1].upsert().unwrap();
    assert_eq!(u.name, "globex");
    assert_eq!(u.managers, vec!["hank@globex.example".to_owned()]);
    assert!(Change::Delete {
        name: "x".into(),
        last_sync: None
    }
    .upsert()
    .is_none());
}

/// `live` as the `$index` pages show it: digests and sources, no records.
fn index(live: &LiveBucket) -> BTreeMap<String, LiveConsumer> {
    let mut index = live.consumers.clone();
    for c in index.values_mut() {
        c.record = None;
    }
    index
}

#[test]
fn records_needed_are_differing_digests_and_with_prune_file_made_deletes() {
    // acme-corp differs, globex matches, new-one is a create (nothing to read), legacy
    // was made by the file and is gone from it, hooli was made through the API.
    let desired = format!(
        "{}new-one: {{}}\n",
        BASE.replace("plan: gold", "plan: platinum")
    );
    let state = live(&format!("{BASE}hooli: {{}}\nlegacy: {{}}\n"), &["hooli"]);
    let needed =
        |prune| Vec::from_iter(records_needed(&consumers(&desired), &index(&state), prune));
    assert_eq!(needed(false), ["acme-corp"]);
    assert_eq!(needed(true), ["acme-corp", "legacy"]);

    // An API-made consumer that the file lists and changes is read like any other.
    let state = live(BASE, &["acme-corp"]);
    assert_eq!(
        Vec::from_iter(records_needed(&consumers(&desired), &index(&state), true)),
        ["acme-corp"]
    );

    // Nothing differs, nothing is read: a no-op plan makes no record reads.
    let state = live(BASE, &[]);
    assert!(records_needed(&consumers(BASE), &index(&state), true).is_empty());
}

/// `diff` given only the records that `records_needed` names plans exactly what it plans
/// with every record: the two agree on what differs and on what may be deleted.
#[test]
fn the_needed_records_are_all_that_diff_reads() {
    let cases = [
        (BASE.to_owned(), format!("{BASE}hooli: {{}}\n"), vec!["hooli"]),
        (
            BASE.replace("requestsPerMinute: 600", "requestsPerMinute: 900"),
            BASE.to_owned(),
            vec![],
        ),
        (
            "z-kept: {description: z}\nm-kept: {description: m}\nc-api: {description: c}\nzz-new: {}\naa-new: {}\n".to_owned(),
            "b-old: {}\na-old: {}\nz-kept: {}\nm-kept: {}\nc-api: {}\n".to_owned(),
            vec!["c-api"],
        ),
        (String::new(), BASE.to_owned(), vec!["globex"]),
        (BASE.to_owned(), String::new(), vec![]),
    ];
    for (desired, held, api) in cases {
        let desired = consumers(&desired);
        let full = live(&held, &api);
        for prune in [false, true] {
            let needed = records_needed(&desired, &index(&full), prune);
            let mut partial = full.clone();
            for (name, c) in &mut partial.consumers {
                if !needed.contains(name) {
                    c.record = None;
                }
            }
            assert_eq!(
                diff(&desired, &partial, prune),
                diff(&desired, &full, prune),
                "prune {prune}, needed {needed:?}"
            );
        }
    }
}
