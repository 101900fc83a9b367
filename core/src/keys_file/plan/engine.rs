//! The diff engine: the desired consumers of one bucket and its live state to an ordered
//! [`Plan`] of changes, and [`records_needed`], which names the live records the diff must
//! read — one definition of "differs" for both.

use super::live::{spec_digest, LastSync, LiveBucket, LiveConsumer, LiveRecord};
use crate::api::model::UpsertConsumer;
use crate::keys_file::model::ConsumerSpec;
use crate::storage::kv::Source;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A file-managed field of a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// `description`
    Description,
    /// `metadata`
    Metadata,
    /// `tags`
    Tags,
    /// `managers`
    Managers,
}

impl Field {
    /// The field's name in `keys.yaml` and in the JSON plan.
    pub fn name(self) -> &'static str {
        match self {
            Field::Description => "description",
            Field::Metadata => "metadata",
            Field::Tags => "tags",
            Field::Managers => "managers",
        }
    }
}

/// One changed value of an update: a field, the path inside it, and what it was and will be.
///
/// - `description`: empty path; `before`/`after` strings, absent when there is none.
/// - `metadata`: the JSON path of the changed value (object keys); objects on both sides
///   are compared key by key, anything else is replaced whole. Absent `before` = added,
///   absent `after` = removed.
/// - `tags`: the path is `[tag]`; values are strings.
/// - `managers`: empty path; one change per e-mail, `after` = added, `before` = removed.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Which field.
    pub field: Field,
    /// Where inside the field.
    pub path: Vec<String>,
    /// The live value, if any.
    pub before: Option<Value>,
    /// The file's value, if any.
    pub after: Option<Value>,
}

/// One change of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A consumer the Worker lacks.
    Create {
        /// Consumer name.
        name: String,
        /// What the file declares.
        spec: ConsumerSpec,
    },
    /// A consumer whose file-managed state differs from the file.
    Update {
        /// Consumer name.
        name: String,
        /// Who created it (kept by the update).
        source: Source,
        /// What the file declares (what sync sends).
        spec: ConsumerSpec,
        /// What differs, in field order; empty when the live record could not be read.
        fields: Vec<FieldChange>,
        /// The last sync that changed it, when its record was read.
        last_sync: Option<LastSync>,
    },
    /// A consumer created from `keys.yaml` that is no longer in it (`--prune` only).
    Delete {
        /// Consumer name.
        name: String,
        /// The last sync that changed it, when its record was read.
        last_sync: Option<LastSync>,
    },
}

impl Change {
    /// The consumer's name.
    pub fn name(&self) -> &str {
        match self {
            Change::Create { name, .. }
            | Change::Update { name, .. }
            | Change::Delete { name, .. } => name,
        }
    }

    /// `create`, `update` or `delete`.
    pub fn op(&self) -> &'static str {
        match self {
            Change::Create { .. } => "create",
            Change::Update { .. } => "update",
            Change::Delete { .. } => "delete",
        }
    }

    /// The item of a `$bulk` upsert that makes this change, for creates and updates.
    pub fn upsert(&self) -> Option<UpsertConsumer> {
        match self {
            Change::Create { name, spec } | Change::Update { name, spec, .. } => {
                Some(UpsertConsumer {
                    name: name.clone(),
                    description: spec.description.clone(),
                    metadata: spec.metadata.clone(),
                    tags: spec.tags.clone(),
                    managers: spec.managers.clone(),
                })
            }
            Change::Delete { .. } => None,
        }
    }
}

/// What must change in one bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Bucket name.
    pub bucket: String,
    /// The bucket does not exist yet and is created first.
    pub create_bucket: bool,
    /// Creates, then updates, then deletes, each sorted by name.
    pub changes: Vec<Change>,
    /// Consumers of the file that already match.
    pub unchanged: usize,
    /// Consumers created through the API (or portal) that the file does not list: left alone.
    pub unmanaged: usize,
    /// Consumers created from `keys.yaml` that it no longer lists, not deleted because
    /// `prune` is off.
    pub pruneable: usize,
}

/// Counts of a plan (or of several buckets' plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Buckets to create.
    pub create_buckets: usize,
    /// Consumers to create.
    pub create: usize,
    /// Consumers to update.
    pub update: usize,
    /// Consumers to delete.
    pub delete: usize,
    /// Consumers that already match.
    pub unchanged: usize,
    /// API-created consumers not in the file, left alone.
    pub unmanaged: usize,
    /// File-created consumers no longer in the file, kept because `prune` is off.
    pub pruneable: usize,
}

impl Summary {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.create_buckets + self.create + self.update + self.delete > 0
    }

    fn add(&mut self, other: Summary) {
        self.create_buckets += other.create_buckets;
        self.create += other.create;
        self.update += other.update;
        self.delete += other.delete;
        self.unchanged += other.unchanged;
        self.unmanaged += other.unmanaged;
        self.pruneable += other.pruneable;
    }

    /// `Plan: N to create, N to update, N to delete, N unmanaged left alone.`
    pub fn line(&self) -> String {
        format!(
            "Plan: {} to create, {} to update, {} to delete, {} unmanaged left alone.",
            self.create, self.update, self.delete, self.unmanaged
        )
    }
}

impl Plan {
    /// This bucket's counts.
    pub fn summary(&self) -> Summary {
        let count = |op: &str| self.changes.iter().filter(|c| c.op() == op).count();
        Summary {
            create_buckets: usize::from(self.create_bucket),
            create: count("create"),
            update: count("update"),
            delete: count("delete"),
            unchanged: self.unchanged,
            unmanaged: self.unmanaged,
            pruneable: self.pruneable,
        }
    }
}

/// The counts of several buckets' plans together.
pub fn summarize(plans: &[Plan]) -> Summary {
    let mut total = Summary::default();
    for p in plans {
        total.add(p.summary());
    }
    total
}

/// What must change so that bucket `live` holds exactly the `desired` consumers (the
/// file's consumers of that bucket). Deletes only with `prune`, and only consumers whose
/// source is `file`. Pure: no I/O, deterministic order.
///
/// ```
/// use keyward_core::keys_file::check;
/// use keyward_core::keys_file::plan::{diff, render_text, LiveBucket};
///
/// let file = check("version: 1\nbuckets:\n  default:\n    consumers:\n      acme:\n        metadata: {plan: gold}\n").unwrap();
/// let live = LiveBucket { name: "default".into(), exists: true, ..Default::default() };
/// let plan = diff(&file.buckets["default"].consumers, &live, false);
/// assert_eq!(
///     render_text(&[plan]),
///     "+ consumer default/acme\n    metadata: {\"plan\":\"gold\"}\n\nPlan: 1 to create, 0 to update, 0 to delete, 0 unmanaged left alone.\n"
/// );
/// ```
pub fn diff(desired: &BTreeMap<String, ConsumerSpec>, live: &LiveBucket, prune: bool) -> Plan {
    let mut plan = Plan {
        bucket: live.name.clone(),
        create_bucket: !live.exists,
        ..Plan::default()
    };
    let (mut creates, mut updates, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    // BTreeMap iteration is by name: every group comes out sorted.
    for (name, spec) in desired {
        let Some(current) = live.consumers.get(name) else {
            creates.push(Change::Create {
                name: name.clone(),
                spec: spec.clone(),
            });
            continue;
        };
        if !differs(spec, current) {
            plan.unchanged += 1;
            continue;
        }
        let (fields, last_sync) = match &current.record {
            Some(record) => {
                let fields = field_changes(record, spec);
                if fields.is_empty() {
                    // Only the stored digest was stale (e.g. written by an older build):
                    // nothing a sync would change.
                    plan.unchanged += 1;
                    continue;
                }
                (fields, record.last_sync.clone())
            }
            None => (Vec::new(), None),
        };
        updates.push(Change::Update {
            name: name.clone(),
            source: current.source,
            spec: spec.clone(),
            fields,
            last_sync,
        });
    }
    for (name, current) in &live.consumers {
        if desired.contains_key(name) {
            continue;
        }
        if !file_made(current) {
            plan.unmanaged += 1;
        } else if prune {
            deletes.push(Change::Delete {
                name: name.clone(),
                last_sync: current.record.as_ref().and_then(|r| r.last_sync.clone()),
            });
        } else {
            plan.pruneable += 1;
        }
    }
    plan.changes = creates;
    plan.changes.append(&mut updates);
    plan.changes.append(&mut deletes);
    plan
}

/// The consumers whose full record [`diff`] reads, by name: those of the file whose live
/// digest differs (an update shows what differs), and with `prune` those created from the
/// file that it no longer lists (a delete shows the last sync). `index` is the bucket as
/// the `$index` pages show it; records need not be present. Every other consumer is
/// decided by its digest and source alone, so its record is never needed.
///
/// The caller reads these records (however it likes) into the [`LiveBucket`] it passes to
/// [`diff`]; one that was deleted meanwhile is left out of it and planned as absent.
///
/// ```
/// use keyward_core::keys_file::check;
/// use keyward_core::storage::kv::Source;
/// use keyward_core::keys_file::plan::{records_needed, LiveConsumer};
/// use std::collections::BTreeMap;
///
/// let file = check("version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n").unwrap();
/// let entry = |digest: &str| LiveConsumer { source: Source::File, digest: digest.into(), record: None };
/// let index = BTreeMap::from([("acme".to_owned(), entry("stale")), ("old".to_owned(), entry("x"))]);
/// let desired = &file.buckets["default"].consumers;
/// assert_eq!(Vec::from_iter(records_needed(desired, &index, false)), ["acme"]);
/// assert_eq!(Vec::from_iter(records_needed(desired, &index, true)), ["acme", "old"]);
/// ```
pub fn records_needed(
    desired: &BTreeMap<String, ConsumerSpec>,
    index: &BTreeMap<String, LiveConsumer>,
    prune: bool,
) -> BTreeSet<String> {
    let updates = desired
        .iter()
        .filter(|(name, spec)| index.get(*name).is_some_and(|c| differs(spec, c)));
    let deletes = index
        .iter()
        .filter(|(name, c)| prune && file_made(c) && !desired.contains_key(*name));
    updates
        .map(|(name, _)| name.clone())
        .chain(deletes.map(|(name, _)| name.clone()))
        .collect()
}

/// Whether a live consumer's digest says a sync would change it: the one test of
/// "differs" that [`diff`] and [`records_needed`] share. (A record read afterwards may
/// still show no field changed, when only the stored digest was stale.)
fn differs(spec: &ConsumerSpec, live: &LiveConsumer) -> bool {
    live.digest != spec_digest(spec)
}

/// Whether a live consumer was created from `keys.yaml`, so `prune` may delete it once the
/// file no longer lists it.
fn file_made(live: &LiveConsumer) -> bool {
    live.source == Source::File
}

/// What differs between a live record and the file's consumer, in field order.
fn field_changes(live: &LiveRecord, spec: &ConsumerSpec) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let before = live.description.as_deref().filter(|d| !d.is_empty());
    let after = spec.description.as_deref().filter(|d| !d.is_empty());
    if before != after {
        out.push(FieldChange {
            field: Field::Description,
            path: Vec::new(),
            before: before.map(Value::from),
            after: after.map(Value::from),
        });
    }
    json_diff(
        &mut Vec::new(),
        &live.metadata,
        &spec.metadata,
        &mut |path, before, after| {
            out.push(FieldChange {
                field: Field::Metadata,
                path,
                before,
                after,
            })
        },
    );
    let tag_names: BTreeSet<&String> = live.tags.keys().chain(spec.tags.keys()).collect();
    for tag in tag_names {
        let (before, after) = (live.tags.get(tag), spec.tags.get(tag));
        if before != after {
            out.push(FieldChange {
                field: Field::Tags,
                path: vec![tag.clone()],
                before: before.map(|v| Value::from(v.as_str())),
                after: after.map(|v| Value::from(v.as_str())),
            });
        }
    }
    let lower = |list: &[String]| -> BTreeSet<String> {
        list.iter().map(|m| m.to_ascii_lowercase()).collect()
    };
    let (old, new) = (lower(&live.managers), lower(&spec.managers));
    for added in new.difference(&old) {
        out.push(FieldChange {
            field: Field::Managers,
            path: Vec::new(),
            before: None,
            after: Some(Value::from(added.as_str())),
        });
    }
    for removed in old.difference(&new) {
        out.push(FieldChange {
            field: Field::Managers,
            path: Vec::new(),
            before: Some(Value::from(removed.as_str())),
            after: None,
        });
    }
    out
}

/// Reports every path where two JSON objects differ: objects on both sides recurse, any
/// other difference is reported whole. Keys are visited in order (serde_json's map is sorted).
fn json_diff(
    path: &mut Vec<String>,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    report: &mut dyn FnMut(Vec<String>, Option<Value>, Option<Value>),
) {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        path.push(key.clone());
        match (before.get(key), after.get(key)) {
            (Some(Value::Object(b)), Some(Value::Object(a))) => json_diff(path, b, a, report),
            (b, a) if b != a => report(path.clone(), b.cloned(), a.cloned()),
            _ => {}
        }
        path.pop();
    }
}
