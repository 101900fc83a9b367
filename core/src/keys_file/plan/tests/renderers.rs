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
