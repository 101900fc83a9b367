//! The diff engine: the desired consumers of one bucket and its live state to an ordered
//! plan of changes, and [`records_needed`], which names the live records the diff must
//! read — one definition of "differs" for both.
//!
//! [`BucketPlan`] is the plan of one bucket over the packed sides ([`DesiredBucket`],
//! [`LiveIndex`]): its counts are known at once, its changes are made one at a time as they
//! are shown or sent, so a plan of 100,000 creates never holds 100,000 specs. [`diff`] is the
//! same plan collected into a [`Plan`]. The renderers read either through [`PlanView`].

use super::live::{LastSync, LiveBucket, LiveConsumer, LiveRecord};
use super::packed::{Desired, DesiredBucket, Live, LiveIndex};
use crate::api::model::UpsertConsumer;
use crate::keys_file::model::ConsumerSpec;
use crate::storage::kv::Source;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

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
        self.clone().into_upsert()
    }

    /// [`Change::upsert`], taking the change apart instead of copying its spec.
    pub fn into_upsert(self) -> Option<UpsertConsumer> {
        match self {
            Change::Create { name, spec } | Change::Update { name, spec, .. } => {
                Some(UpsertConsumer {
                    name,
                    description: spec.description,
                    metadata: spec.metadata,
                    tags: spec.tags,
                    managers: spec.managers,
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
pub fn summarize<P: PlanView>(plans: &[P]) -> Summary {
    let mut total = Summary::default();
    for p in plans {
        total.add(p.summary());
    }
    total
}

/// A bucket's plan as the renderers read it: a [`Plan`] (changes in a list) or a
/// [`BucketPlan`] (changes made as they are read).
pub trait PlanView {
    /// Bucket name.
    fn bucket(&self) -> &str;
    /// Whether the bucket is created first.
    fn create_bucket(&self) -> bool;
    /// The bucket's counts.
    fn summary(&self) -> Summary;
    /// Calls `f` with each change in order (creates, updates, deletes, each by name),
    /// stopping at its first error.
    fn each_change(&self, f: &mut dyn FnMut(&Change) -> fmt::Result) -> fmt::Result;
}

impl PlanView for Plan {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn create_bucket(&self) -> bool {
        self.create_bucket
    }

    fn summary(&self) -> Summary {
        Plan::summary(self)
    }

    fn each_change(&self, f: &mut dyn FnMut(&Change) -> fmt::Result) -> fmt::Result {
        self.changes.iter().try_for_each(f)
    }
}

/// Why `keys.yaml` and the Worker disagree on a bucket's `isRetrievable`, when they do: a
/// bucket's mode is fixed when it is created, so neither plan nor sync can change it.
pub fn retrievable_conflict(bucket: &str, in_file: bool, live: bool) -> Option<String> {
    (in_file != live).then(|| {
        let (file, worker) = match in_file {
            true => ("isRetrievable: true", "keeps its keys hashed only"),
            false => ("no isRetrievable (hash-only)", "keeps its keys retrievable"),
        };
        format!(
            "bucket '{bucket}': keys.yaml says {file}, but the Worker's bucket {worker}; a bucket's mode is fixed when it is created. Make the file say what the bucket is, or put these consumers in a new bucket"
        )
    })
}

/// A consumer by name on either side of a bucket's plan.
enum Pair<'a> {
    /// In the file only.
    Desired(Desired<'a>),
    /// In both.
    Both(Desired<'a>, Live<'a>),
    /// In the Worker only.
    Live(Live<'a>),
}

/// The two sides merged by name (both are sorted by name).
struct Pairs<'a, D: Iterator<Item = Desired<'a>>, L: Iterator<Item = Live<'a>>> {
    desired: std::iter::Peekable<D>,
    live: std::iter::Peekable<L>,
}

impl<'a, D: Iterator<Item = Desired<'a>>, L: Iterator<Item = Live<'a>>> Iterator
    for Pairs<'a, D, L>
{
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        let order = match (self.desired.peek(), self.live.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(d), Some(l)) => d.name.cmp(l.name),
        };
        Some(match order {
            std::cmp::Ordering::Less => Pair::Desired(self.desired.next()?),
            std::cmp::Ordering::Greater => Pair::Live(self.live.next()?),
            std::cmp::Ordering::Equal => Pair::Both(self.desired.next()?, self.live.next()?),
        })
    }
}

fn pairs<'a>(desired: &'a DesiredBucket, live: &'a LiveIndex) -> impl Iterator<Item = Pair<'a>> {
    Pairs {
        desired: desired.iter().peekable(),
        live: live.iter().peekable(),
    }
}

/// What the plan does with a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Update,
    Delete,
    Unchanged,
    Unmanaged,
    Pruneable,
}

/// The plan of one bucket over its packed sides: counts at once, changes one at a time.
///
/// ```
/// use keyward_core::keys_file::plan::{BucketPlan, DesiredFile, LiveIndex, PlanView};
///
/// let file = DesiredFile::check("version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n").unwrap();
/// let live = LiveIndex::new("default", true);
/// let plan = BucketPlan::new(&file.buckets["default"], &live, false);
/// assert_eq!(plan.summary().create, 1);
/// assert_eq!(plan.changes().map(|c| c.name().to_owned()).collect::<Vec<_>>(), ["acme"]);
/// ```
#[derive(Debug, Clone)]
pub struct BucketPlan<'a> {
    desired: &'a DesiredBucket,
    live: &'a LiveIndex,
    prune: bool,
    summary: Summary,
}

impl<'a> BucketPlan<'a> {
    /// What must change so that bucket `live` holds exactly the `desired` consumers; the
    /// rules of [`diff`]. Counts every consumer now (reading records only of those whose
    /// digest differs); makes no change yet.
    pub fn new(desired: &'a DesiredBucket, live: &'a LiveIndex, prune: bool) -> BucketPlan<'a> {
        let mut plan = BucketPlan {
            desired,
            live,
            prune,
            summary: Summary {
                create_buckets: usize::from(!live.exists),
                ..Summary::default()
            },
        };
        for pair in pairs(desired, live) {
            let counter = match plan.kind(&pair) {
                Kind::Create => &mut plan.summary.create,
                Kind::Update => &mut plan.summary.update,
                Kind::Delete => &mut plan.summary.delete,
                Kind::Unchanged => &mut plan.summary.unchanged,
                Kind::Unmanaged => &mut plan.summary.unmanaged,
                Kind::Pruneable => &mut plan.summary.pruneable,
            };
            *counter += 1;
        }
        plan
    }

    /// Leaves the consumers created through the API uncounted: for a bucket the file no
    /// longer lists, they are none of its business.
    pub fn ignore_unmanaged(&mut self) {
        self.summary.unmanaged = 0;
    }

    /// Whether applying would change anything in this bucket.
    pub fn has_changes(&self) -> bool {
        self.summary.has_changes()
    }

    /// The bucket's description in the file.
    pub fn description(&self) -> Option<&str> {
        self.desired.description.as_deref()
    }

    /// `isRetrievable` in the file: how sync creates the bucket.
    pub fn is_retrievable(&self) -> bool {
        self.desired.is_retrievable
    }

    /// The changes, in order: creates, then updates, then deletes, each by name.
    pub fn changes(&self) -> impl Iterator<Item = Change> + '_ {
        self.creates().chain(self.updates()).chain(self.deletes())
    }

    /// The creates of [`BucketPlan::changes`].
    pub fn creates(&self) -> impl Iterator<Item = Change> + '_ {
        pairs(self.desired, self.live).filter_map(|p| match p {
            Pair::Desired(d) => Some(Change::Create {
                name: d.name.to_owned(),
                spec: d.spec(),
            }),
            _ => None,
        })
    }

    /// The updates of [`BucketPlan::changes`].
    pub fn updates(&self) -> impl Iterator<Item = Change> + '_ {
        pairs(self.desired, self.live).filter_map(|p| match p {
            Pair::Both(d, l) => update(&d, &l),
            _ => None,
        })
    }

    /// The deletes of [`BucketPlan::changes`].
    pub fn deletes(&self) -> impl Iterator<Item = Change> + '_ {
        pairs(self.desired, self.live).filter_map(move |p| match p {
            Pair::Live(l) if self.kind(&p) == Kind::Delete => Some(Change::Delete {
                name: l.name.to_owned(),
                last_sync: l.last_sync(),
            }),
            _ => None,
        })
    }

    fn kind(&self, pair: &Pair<'_>) -> Kind {
        match pair {
            Pair::Desired(_) => Kind::Create,
            Pair::Both(d, l) if update(d, l).is_some() => Kind::Update,
            Pair::Both(..) => Kind::Unchanged,
            Pair::Live(l) if !file_made(l.source) => Kind::Unmanaged,
            Pair::Live(_) if self.prune => Kind::Delete,
            Pair::Live(_) => Kind::Pruneable,
        }
    }

    /// The plan with its changes collected.
    pub fn collect(&self) -> Plan {
        Plan {
            bucket: self.live.name.clone(),
            create_bucket: !self.live.exists,
            changes: self.changes().collect(),
            unchanged: self.summary.unchanged,
            unmanaged: self.summary.unmanaged,
            pruneable: self.summary.pruneable,
        }
    }
}

impl PlanView for BucketPlan<'_> {
    fn bucket(&self) -> &str {
        &self.live.name
    }

    fn create_bucket(&self) -> bool {
        !self.live.exists
    }

    fn summary(&self) -> Summary {
        self.summary
    }

    fn each_change(&self, f: &mut dyn FnMut(&Change) -> fmt::Result) -> fmt::Result {
        self.changes().try_for_each(|c| f(&c))
    }
}

/// The update of a consumer on both sides, or `None` when a sync would leave it unchanged:
/// the digests match, or (its record read) no field differs and only the stored digest was
/// stale (e.g. written by an older build).
fn update(d: &Desired<'_>, l: &Live<'_>) -> Option<Change> {
    if !differs(d, l) {
        return None;
    }
    let spec = d.spec();
    let (fields, last_sync) = match l.record() {
        Some(record) => {
            let fields = field_changes(&record, &spec);
            if fields.is_empty() {
                return None;
            }
            (fields, record.last_sync)
        }
        None => (Vec::new(), None),
    };
    Some(Change::Update {
        name: d.name.to_owned(),
        source: l.source,
        spec,
        fields,
        last_sync,
    })
}

impl LiveIndex {
    /// The consumers whose full record a [`BucketPlan`] of these sides reads, by name: those
    /// on both sides whose digest differs (an update shows what differs), and with `prune`
    /// those created from the file that it no longer lists (a delete shows the last sync).
    /// [`records_needed`] is the same for the unpacked types.
    ///
    /// The caller reads them however it likes and keeps each with
    /// [`LiveIndex::set_record`]; one deleted meanwhile is [`LiveIndex::remove`]d and
    /// planned as absent.
    pub fn records_needed(&self, desired: &DesiredBucket, prune: bool) -> BTreeSet<String> {
        needed(desired, self, prune)
    }
}

fn needed(desired: &DesiredBucket, live: &LiveIndex, prune: bool) -> BTreeSet<String> {
    pairs(desired, live)
        .filter_map(|p| match p {
            Pair::Both(d, l) if differs(&d, &l) => Some(l.name.to_owned()),
            Pair::Live(l) if prune && file_made(l.source) => Some(l.name.to_owned()),
            _ => None,
        })
        .collect()
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
    let desired = DesiredBucket::from_specs(desired);
    let live = LiveIndex::from(live);
    BucketPlan::new(&desired, &live, prune).collect()
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
    let mut live = LiveIndex::new("", true);
    for (name, c) in index {
        live.push(name, c.source, &c.digest);
    }
    needed(&DesiredBucket::from_specs(desired), &live, prune)
}

/// Whether a live consumer's digest says a sync would change it: the one test of
/// "differs" that [`diff`] and [`records_needed`] share. (A record read afterwards may
/// still show no field changed, when only the stored digest was stale.)
fn differs(desired: &Desired<'_>, live: &Live<'_>) -> bool {
    live.digest != Some(desired.digest)
}

/// Whether a live consumer was created from `keys.yaml`, so `prune` may delete it once the
/// file no longer lists it.
fn file_made(source: Source) -> bool {
    source == Source::File
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
        list.iter().map(|m| crate::validate::email_key(m)).collect()
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
