//! The plan as JSON: a documented, versioned shape for tools.

use super::engine::{summarize, Change, PlanView, Summary};
use super::live::LastSync;
use crate::storage::kv::Source;
use serde_json::{json, Map, Value};
use std::fmt::{self, Write};

/// Version of the JSON shape [`render_json`] writes; bumped on any incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

fn summary_json(s: &Summary) -> Value {
    json!({
        "createBuckets": s.create_buckets,
        "create": s.create,
        "update": s.update,
        "delete": s.delete,
        "unchanged": s.unchanged,
        "unmanaged": s.unmanaged,
        "pruneable": s.pruneable,
    })
}

fn last_sync_json(s: &Option<LastSync>) -> Value {
    match s {
        Some(s) => json!({"commit": s.commit, "at": s.at}),
        None => Value::Null,
    }
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Api => "api",
        Source::File => "file",
    }
}

/// The plan as JSON. The shape is stable (changes bump [`JSON_FORMAT_VERSION`]):
///
/// ```text
/// {
///   "formatVersion": 1,
///   "hasChanges": bool,
///   "summary": {"createBuckets", "create", "update", "delete", "unchanged", "unmanaged", "pruneable"},
///   "buckets": [{
///     "name": "default",
///     "create": bool,                         // the bucket is created first
///     "summary": { …the same counts for this bucket… },
///     "changes": [                            // creates, updates, deletes; each by name
///       {"op": "create", "consumer": "acme", "source": "file",
///        "after": {"description": str|null, "metadata": {}, "tags": {}, "managers": []}},
///       {"op": "update", "consumer": "globex", "source": "file"|"api",
///        "lastSync": {"commit": str|null, "at": RFC 3339}|null,
///        "fields": [{"field": "description"|"metadata"|"tags"|"managers",
///                    "path": [str],           // metadata: object keys; tags: [tag]; else []
///                    "before": any,           // absent: added
///                    "after": any}]},         // absent: removed
///       {"op": "delete", "consumer": "old", "source": "file", "lastSync": {…}|null}
///     ]
///   }]
/// }
/// ```
pub fn render_json<P: PlanView>(plans: &[P]) -> Value {
    let total = summarize(plans);
    let buckets: Vec<Value> = plans
        .iter()
        .map(|plan| {
            let mut changes = Vec::new();
            let _ = plan.each_change(&mut |change| {
                changes.push(change_json(change));
                Ok(())
            });
            json!({
                "name": plan.bucket(),
                "create": plan.create_bucket(),
                "summary": summary_json(&plan.summary()),
                "changes": changes,
            })
        })
        .collect();
    json!({
        "formatVersion": JSON_FORMAT_VERSION,
        "hasChanges": total.has_changes(),
        "summary": summary_json(&total),
        "buckets": buckets,
    })
}

/// One change as the JSON plan shows it.
fn change_json(change: &Change) -> Value {
    match change {
        Change::Create { name, spec } => json!({
            "op": "create",
            "consumer": name,
            "source": "file",
            "after": {
                "description": spec.description,
                "metadata": spec.metadata,
                "tags": spec.tags,
                "managers": spec.managers,
            },
        }),
        Change::Update {
            name,
            source,
            fields,
            last_sync,
            ..
        } => {
            let fields: Vec<Value> = fields
                .iter()
                .map(|f| {
                    let mut o = Map::new();
                    o.insert("field".into(), f.field.name().into());
                    o.insert("path".into(), json!(f.path));
                    if let Some(b) = &f.before {
                        o.insert("before".into(), b.clone());
                    }
                    if let Some(a) = &f.after {
                        o.insert("after".into(), a.clone());
                    }
                    Value::Object(o)
                })
                .collect();
            json!({
                "op": "update",
                "consumer": name,
                "source": source_name(*source),
                "lastSync": last_sync_json(last_sync),
                "fields": fields,
            })
        }
        Change::Delete { name, last_sync } => json!({
            "op": "delete",
            "consumer": name,
            "source": "file",
            "lastSync": last_sync_json(last_sync),
        }),
    }
}

/// `value` as serde_json's pretty printer writes it (two spaces a level), as if it were
/// nested `depth` levels deep: every line after the first indented by `depth` levels.
fn pretty_at(out: &mut dyn Write, value: &Value, depth: usize) -> fmt::Result {
    let text = serde_json::to_string_pretty(value).map_err(|_| fmt::Error)?;
    let pad = "  ".repeat(depth);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.write_char('\n')?;
            out.write_str(&pad)?;
        }
        out.write_str(line)?;
    }
    Ok(())
}

/// [`render_json`] pretty-printed (as `serde_json::to_writer_pretty` would print it,
/// without a final newline), written to `out` change by change: each change is made into
/// JSON only while it is written. serde_json orders an object's keys by name, so a
/// bucket's `changes` come before its `summary`, and the `buckets` before the total.
pub fn write_json<P: PlanView>(plans: &[P], out: &mut dyn Write) -> fmt::Result {
    out.write_str("{\n  \"buckets\": [")?;
    for (i, plan) in plans.iter().enumerate() {
        out.write_str(if i == 0 { "\n" } else { ",\n" })?;
        out.write_str("    {\n      \"changes\": [")?;
        let mut first = true;
        plan.each_change(&mut |change| {
            out.write_str(if first { "\n        " } else { ",\n        " })?;
            first = false;
            pretty_at(out, &change_json(change), 4)
        })?;
        if !first {
            out.write_str("\n      ")?;
        }
        out.write_str("],\n      \"create\": ")?;
        pretty_at(out, &Value::Bool(plan.create_bucket()), 3)?;
        out.write_str(",\n      \"name\": ")?;
        pretty_at(out, &Value::from(plan.bucket()), 3)?;
        out.write_str(",\n      \"summary\": ")?;
        pretty_at(out, &summary_json(&plan.summary()), 3)?;
        out.write_str("\n    }")?;
    }
    if !plans.is_empty() {
        out.write_str("\n  ")?;
    }
    let total = summarize(plans);
    write!(
        out,
        "],\n  \"formatVersion\": {JSON_FORMAT_VERSION},\n  \"hasChanges\": {},\n  \"summary\": ",
        total.has_changes()
    )?;
    pretty_at(out, &summary_json(&total), 1)?;
    out.write_str("\n}")
}
