//! Renderer details: markdown escaping and cutting, and the JSON shape.

use super::{consumers, live, BASE};
use crate::keys_file::plan::*;
use crate::storage::kv::Source;
use expect_test::expect;

#[test]
fn markdown_escapes_pipes_and_backticks_and_is_cut_when_long() {
    let desired = "acme:\n  description: 'a | b `c`'\n";
    let plan = diff(&consumers(desired), &live("acme: {}\n", &[]), false);
    expect![[r#"
        <!-- keyward-plan -->
        ### keyward plan

        **Plan: 0 to create, 1 to update, 0 to delete, 0 unmanaged left alone.**

        | change | consumer | field | before | after |
        | --- | --- | --- | --- | --- |
        | ✏️ update | `default/acme` | `description` |  | `` "a \| b `c`" `` |
    "#]]
    .assert_eq(&render_markdown(&[plan]));

    let many: String = (0..MARKDOWN_MAX_ROWS + 5)
        .map(|i| format!("c{i:04}: {{}}\n"))
        .collect();
    let plan = diff(&consumers(&many), &live("", &[]), false);
    let md = render_markdown(&[plan]);
    assert!(md.ends_with("\n… and 5 more rows; run `keyward plan` for the whole plan.\n"));
    assert_eq!(md.matches("➕ create").count(), MARKDOWN_MAX_ROWS);
}

#[test]
fn json_shape() {
    let desired = BASE
        .replace("plan: gold", "plan: platinum")
        .replace("globex:", "initech:");
    let mut state = live(&format!("{BASE}hooli: {{}}\n"), &["hooli"]);
    state.consumers.get_mut("acme-corp").unwrap().source = Source::File;
    let plan = diff(&consumers(&desired), &state, true);
    let text = serde_json::to_string_pretty(&render_json(&[plan])).unwrap();
    expect![[r#"
        {
          "buckets": [
            {
              "changes": [
                {
                  "after": {
                    "description": null,
                    "managers": [
                      "hank@globex.example"
                    ],
                    "metadata": {
                      "plan": "silver"
                    },
                    "tags": {}
                  },
                  "consumer": "initech",
                  "op": "create",
                  "source": "file"
                },
                {
                  "consumer": "acme-corp",
                  "fields": [
                    {
                      "after": "platinum",
                      "before": "gold",
                      "field": "metadata",
                      "path": [
                        "plan"
                      ]
                    }
                  ],
                  "lastSync": {
                    "at": "2026-05-01T10:00:00.000Z",
                    "commit": "0123abc"
                  },
                  "op": "update",
                  "source": "file"
                },
                {
                  "consumer": "globex",
                  "lastSync": {
                    "at": "2026-05-01T10:00:00.000Z",
                    "commit": "0123abc"
                  },
                  "op": "delete",
                  "source": "file"
                }
              ],
              "create": false,
              "name": "default",
              "summary": {
                "create": 1,
                "createBuckets": 0,
                "delete": 1,
                "pruneable": 0,
                "unchanged": 0,
                "unmanaged": 1,
                "update": 1
              }
            }
          ],
          "formatVersion": 1,
          "hasChanges": true,
          "summary": {
            "create": 1,
            "createBuckets": 0,
            "delete": 1,
            "pruneable": 0,
            "unchanged": 0,
            "unmanaged": 1,
            "update": 1
          }
        }"#]]
    .assert_eq(&text);
}

/// `write_json` streams exactly what `serde_json::to_string_pretty` prints of
/// `render_json`: no bucket, empty buckets, a bucket to create, every kind of change.
#[test]
fn streamed_json_is_the_pretty_printed_value() {
    let desired = BASE
        .replace("plan: gold", "plan: platinum")
        .replace("globex:", "initech:");
    let mut state = live(&format!("{BASE}hooli: {{}}\n"), &["hooli"]);
    state.consumers.get_mut("acme-corp").unwrap().source = Source::File;
    let changes = diff(&consumers(&desired), &state, true);
    let mut missing = live("", &[]);
    missing.exists = false;
    missing.name = "second".into();
    let created = diff(&consumers(BASE), &missing, false);
    let none = diff(&consumers(BASE), &live(BASE, &[]), false);
    let empty = diff(&consumers(""), &live("", &[]), false);
    let cases: [Vec<Plan>; 5] = [
        vec![],
        vec![empty.clone()],
        vec![none.clone()],
        vec![changes.clone()],
        vec![empty, changes, created, none],
    ];
    for plans in cases {
        let mut streamed = String::new();
        write_json(&plans, &mut streamed).unwrap();
        let whole = serde_json::to_string_pretty(&render_json(&plans)).unwrap();
        assert_eq!(streamed, whole);
    }
}

/// The plan of packed sides, built as `keyward plan` builds them (the file read by
/// `DesiredFile::check`, `$index` entries pushed page by page, then the records read), is
/// the plan `diff` makes of the same state.
#[test]
fn a_bucket_plan_of_packed_sides_is_diff() {
    let desired = format!(
        "{}new-one: {{}}\n",
        BASE.replace("plan: gold", "plan: platinum")
    );
    let state = live(&format!("{BASE}hooli: {{}}\nlegacy: {{}}\n"), &["hooli"]);
    let mut text = String::from("version: 1\nbuckets:\n  default:\n    consumers:\n");
    for line in desired.lines() {
        text.push_str(&format!("      {line}\n"));
    }
    let file = DesiredFile::check(&text).unwrap();
    for prune in [false, true] {
        let mut index = LiveIndex::new("default", true);
        // Pages come in name order; a second copy of an entry replaces the first.
        for (name, c) in state.consumers.iter().chain(state.consumers.iter().rev()) {
            index.push(name, c.source, &c.digest);
        }
        let needed = index.records_needed(&file.buckets["default"], prune);
        for name in &needed {
            let record = state.consumers[name].record.clone().unwrap();
            assert!(index.set_record(name, &record));
        }
        let plan = BucketPlan::new(&file.buckets["default"], &index, prune);
        let expected = diff(&consumers(&desired), &state, prune);
        assert_eq!(plan.collect(), expected);
        assert_eq!(PlanView::summary(&plan), expected.summary());
        assert_eq!(
            render_text(std::slice::from_ref(&plan)),
            render_text(std::slice::from_ref(&expected))
        );
        assert_eq!(render_markdown(&[plan]), render_markdown(&[expected]));
    }
    // A consumer deleted after the index was read is planned as absent.
    let mut index = LiveIndex::new("default", true);
    for (name, c) in &state.consumers {
        index.push(name, c.source, &c.digest);
    }
    index.remove("legacy");
    let plan = BucketPlan::new(&file.buckets["default"], &index, true);
    assert!(plan.changes().all(|c| c.name() != "legacy"));
}
