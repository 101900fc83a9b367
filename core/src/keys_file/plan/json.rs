//! The plan as JSON: a documented, versioned shape for tools.

use super::engine::{summarize, Change, Plan, Summary};
use super::live::LastSync;
use crate::storage::kv::Source;
use serde_json::{json, Map, Value};

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
pub fn render_json(plans: &[Plan]) -> Value {
    let total = summarize(plans);
    let buckets: Vec<Value> = plans
        .iter()
        .map(|plan| {
            let changes: Vec<Value> = plan
                .changes
                .iter()
                .map(|change| match change {
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
                })
                .collect();
            json!({
                "name": plan.bucket,
                "create": plan.create_bucket,
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
