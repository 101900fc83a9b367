//! The plan engine of `keyward plan` and `keyward sync`: what must change so that a bucket
//! of the live Worker matches `keys.yaml`, and the three ways to show it.
//!
//! [`diff`] is a pure function from the desired consumers of one bucket (from
//! [`crate::keys_file::check`]) and what the Worker holds ([`LiveBucket`]) to a [`Plan`]: an
//! ordered list of [`Change`]s — creates, then updates, then deletes, each sorted by name —
//! with the before and after of every changed field. `sync` runs the very same function and
//! applies its result; `sync --dry-run` stops between the two, so the preview cannot drift
//! from what is applied.
//!
//! The live side is read cheaply: the `$index` endpoint lists names, digests and sources from
//! KV metadata, and only consumers whose digest differs from the file's
//! ([`spec_digest`]) need their full record ([`LiveRecord`]) to say *what* differs, plus,
//! with `prune`, those about to be deleted; [`records_needed`] names them, with the very
//! test of "differs" that [`diff`] applies. A no-op plan of 100,000 consumers is ~100 list
//! calls and no record reads.
//!
//! Rules the plan follows:
//! - a consumer in the file and not in the Worker is created (`source: file`);
//! - a consumer in both whose file-managed state differs is updated; it keeps its source,
//!   so a consumer created through the API stays protected from `--prune`;
//! - a consumer in the Worker and not in the file is deleted only with `prune` and only when
//!   `keys.yaml` created it (`source: file`); otherwise it is counted, never touched.
//!
//! Rendering is pure too and lives here, next to the types it shows, so its exact output is
//! covered by snapshot tests: [`render_text`] (one verb-first line per change and a summary),
//! [`render_markdown`] (a pull-request comment) and [`render_json`] (a documented, versioned
//! shape). None of them can print a key, a hash or a token: a plan never holds one.

use crate::digest::consumer_digest;
use crate::keys_file::ConsumerSpec;
use crate::kv::Source;
use crate::model::UpsertConsumer;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Version of the JSON shape [`render_json`] writes; bumped on any incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Rows of the markdown table before it is cut short (a pull-request comment holds at most
/// 65,536 characters).
pub const MARKDOWN_MAX_ROWS: usize = 300;

/// What the Worker holds for one bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveBucket {
    /// Bucket name.
    pub name: String,
    /// Whether the bucket exists; a missing one is planned as a bucket create.
    pub exists: bool,
    /// Every consumer of the bucket, by name.
    pub consumers: BTreeMap<String, LiveConsumer>,
}

/// One live consumer as the `$index` endpoint shows it, plus its record when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConsumer {
    /// Who created it.
    pub source: Source,
    /// [`consumer_digest`] of its file-managed state, from KV metadata.
    pub digest: String,
    /// The full record; needed only when the digest differs from the file's (or for a
    /// delete's `lastSync`).
    pub record: Option<LiveRecord>,
}

/// The file-managed fields of a live consumer, read from the developer API's consumer JSON
/// (`GET …/consumers/{name}?include-managers=true`); other fields are ignored.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveRecord {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Metadata object.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Manager e-mails (lower-cased by the API).
    #[serde(default, deserialize_with = "manager_emails")]
    pub managers: Vec<String>,
    /// The last sync that changed it.
    #[serde(default)]
    pub last_sync: Option<LastSync>,
}

/// The last `keyward sync` that changed a consumer, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LastSync {
    /// Commit of `keys.yaml` applied, if it was known.
    #[serde(default)]
    pub commit: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// `managers` in API answers: `[{"email": …, …}]` (plain strings accepted too).
fn manager_emails<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Manager {
        Email(String),
        Full { email: String },
    }
    let list: Option<Vec<Manager>> = Option::deserialize(d)?;
    Ok(list
        .unwrap_or_default()
        .into_iter()
        .map(|m| match m {
            Manager::Email(e) | Manager::Full { email: e } => e,
        })
        .collect())
}

impl LiveRecord {
    /// The digest of this record's file-managed state (what `$index` shows for it).
    pub fn digest(&self) -> String {
        let managers: Vec<&str> = self.managers.iter().map(String::as_str).collect();
        consumer_digest(
            self.description.as_deref(),
            &self.metadata,
            &self.tags,
            &managers,
        )
    }

    /// The record as a file entry (what `keyward export` writes): managers sorted,
    /// an empty description dropped.
    pub fn to_spec(&self) -> ConsumerSpec {
        let mut managers = self.managers.clone();
        managers.sort();
        managers.dedup();
        ConsumerSpec {
            description: self.description.clone().filter(|d| !d.is_empty()),
            metadata: self.metadata.clone(),
            tags: self.tags.clone(),
            managers,
        }
    }
}

/// The digest of a consumer as the file declares it; equal to the live digest exactly when
/// a sync would leave the consumer unchanged.
pub fn spec_digest(spec: &ConsumerSpec) -> String {
    let managers: Vec<&str> = spec.managers.iter().map(String::as_str).collect();
    consumer_digest(
        spec.description.as_deref(),
        &spec.metadata,
        &spec.tags,
        &managers,
    )
}

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
/// use keyward_core::plan::{diff, render_text, LiveBucket};
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
/// use keyward_core::kv::Source;
/// use keyward_core::plan::{records_needed, LiveConsumer};
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

/// A value as plans show it: compact JSON (strings quoted, so nothing is ambiguous).
fn show(value: &Value) -> String {
    value.to_string()
}

/// A path segment as plans show it: bare when it is a simple identifier, else `["…"]`.
fn segment(out: &mut String, key: &str) {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&Value::from(key).to_string());
        out.push(']');
    }
}

/// `metadata.rateLimit.requestsPerMinute`, `tags.team`, `managers`, …
fn label(change: &FieldChange) -> String {
    let mut out = change.field.name().to_owned();
    for key in &change.path {
        segment(&mut out, key);
    }
    out
}

/// `before → after`, `+ after` or `- before`; manager e-mails without quotes.
fn transition(change: &FieldChange) -> String {
    let shown = |v: &Value| match (change.field, v) {
        (Field::Managers, Value::String(s)) => s.clone(),
        _ => show(v),
    };
    match (&change.before, &change.after) {
        (Some(b), Some(a)) => format!("{} → {}", shown(b), shown(a)),
        (None, Some(a)) => format!("+ {}", shown(a)),
        (Some(b), None) => format!("- {}", shown(b)),
        (None, None) => String::new(),
    }
}

/// The set fields of a consumer to create, as `(label, value)` pairs.
fn spec_lines(spec: &ConsumerSpec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(d) = spec.description.as_deref().filter(|d| !d.is_empty()) {
        out.push(("description", show(&Value::from(d))));
    }
    if !spec.metadata.is_empty() {
        out.push(("metadata", show(&Value::Object(spec.metadata.clone()))));
    }
    if !spec.tags.is_empty() {
        out.push(("tags", show(&json!(spec.tags))));
    }
    if !spec.managers.is_empty() {
        out.push(("managers", spec.managers.join(", ")));
    }
    out
}

fn source_note(source: Source) -> &'static str {
    match source {
        Source::Api => " (created through the API; it stays protected from --prune)",
        Source::File => "",
    }
}

/// The plan as text: one verb-first line per change (`+` create, `~` update, `-` delete),
/// indented detail lines (each changed field before → after), then the summary line
/// `Plan: N to create, N to update, N to delete, N unmanaged left alone.` Plain text: a
/// caller may colour lines by their first character.
pub fn render_text(plans: &[Plan]) -> String {
    let mut out = String::new();
    for plan in plans {
        let b = &plan.bucket;
        if plan.create_bucket {
            let _ = writeln!(out, "+ bucket {b}");
        }
        for change in &plan.changes {
            match change {
                Change::Create { name, spec } => {
                    let _ = writeln!(out, "+ consumer {b}/{name}");
                    for (field, value) in spec_lines(spec) {
                        let _ = writeln!(out, "    {field}: {value}");
                    }
                }
                Change::Update {
                    name,
                    source,
                    fields,
                    ..
                } => {
                    let _ = writeln!(out, "~ consumer {b}/{name}{}", source_note(*source));
                    if fields.is_empty() {
                        let _ = writeln!(
                            out,
                            "    (its record could not be read: every field is rewritten)"
                        );
                    }
                    for f in fields {
                        let _ = writeln!(out, "    {}: {}", label(f), transition(f));
                    }
                }
                Change::Delete { name, .. } => {
                    let _ = writeln!(out, "- consumer {b}/{name}");
                }
            }
        }
    }
    let total = summarize(plans);
    if total.has_changes() {
        out.push('\n');
    } else {
        out.push_str("No changes: the Worker matches the file.\n");
    }
    out.push_str(&total.line());
    out.push('\n');
    if total.pruneable > 0 {
        let _ = writeln!(
            out,
            "{}",
            pruneable_note(total.pruneable, "run with --prune to delete")
        );
    }
    out
}

/// "N consumers created from the file are no longer in it; {action} them."
fn pruneable_note(n: usize, action: &str) -> String {
    let (verb, pronoun) = if n == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    format!(
        "{} created from the file {verb} no longer in it; {action} {pronoun}.",
        consumers(n)
    )
}

fn consumers(n: usize) -> String {
    if n == 1 {
        "1 consumer".to_owned()
    } else {
        format!("{n} consumers")
    }
}

/// Inline code for a markdown table cell: backticks that fit the content, `|` escaped.
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// The plan as markdown for a pull-request comment: a heading, the summary line, and a
/// table with one row per changed value (cut after [`MARKDOWN_MAX_ROWS`] rows, saying how
/// many more). Starts with the HTML comment `<!-- keyward-plan -->`, so CI can find and
/// update its earlier comment.
pub fn render_markdown(plans: &[Plan]) -> String {
    let total = summarize(plans);
    let mut out = String::from("<!-- keyward-plan -->\n### keyward plan\n\n");
    let _ = writeln!(out, "**{}**\n", total.line());
    if !total.has_changes() {
        out.push_str("No changes: the Worker matches the file.\n");
    }
    let mut rows: Vec<[String; 5]> = Vec::new();
    for plan in plans {
        let b = &plan.bucket;
        if plan.create_bucket {
            rows.push([
                "➕ create".into(),
                format!("bucket {}", code(b)),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for change in &plan.changes {
            let who = code(&format!("{b}/{}", change.name()));
            match change {
                Change::Create { spec, .. } => {
                    let lines = spec_lines(spec);
                    if lines.is_empty() {
                        rows.push([
                            "➕ create".into(),
                            who.clone(),
                            "".into(),
                            "".into(),
                            "".into(),
                        ]);
                    }
                    for (i, (field, value)) in lines.into_iter().enumerate() {
                        let (verb, name) = if i == 0 {
                            ("➕ create".into(), who.clone())
                        } else {
                            (String::new(), String::new())
                        };
                        rows.push([verb, name, code(field), String::new(), code(&value)]);
                    }
                }
                Change::Update { source, fields, .. } => {
                    let verb = match source {
                        Source::Api => "✏️ update (API-created)",
                        Source::File => "✏️ update",
                    };
                    if fields.is_empty() {
                        rows.push([
                            verb.into(),
                            who.clone(),
                            "(all)".into(),
                            "".into(),
                            "".into(),
                        ]);
                    }
                    for (i, f) in fields.iter().enumerate() {
                        let (verb, name) = if i == 0 {
                            (verb.to_owned(), who.clone())
                        } else {
                            (String::new(), String::new())
                        };
                        let cell = |v: &Option<Value>| match (f.field, v) {
                            (_, None) => String::new(),
                            (Field::Managers, Some(Value::String(s))) => code(s),
                            (_, Some(v)) => code(&show(v)),
                        };
                        rows.push([verb, name, code(&label(f)), cell(&f.before), cell(&f.after)]);
                    }
                }
                Change::Delete { .. } => {
                    rows.push(["➖ delete".into(), who, "".into(), "".into(), "".into()]);
                }
            }
        }
    }
    if !rows.is_empty() {
        out.push_str("| change | consumer | field | before | after |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for row in rows.iter().take(MARKDOWN_MAX_ROWS) {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        if rows.len() > MARKDOWN_MAX_ROWS {
            let _ = writeln!(
                out,
                "\n… and {} more rows; run `keyward plan` for the whole plan.",
                rows.len() - MARKDOWN_MAX_ROWS
            );
        }
    }
    if total.pruneable > 0 {
        let _ = writeln!(
            out,
            "\n{}",
            pruneable_note(total.pruneable, "`keyward sync --prune` would delete")
        );
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys_file::check;
    use expect_test::{expect, Expect};

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
    rateLimit: 1000
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
                    metadata.rateLimit: {"requestsPerMinute":600} → 1000
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
                |  |  | `metadata.rateLimit` | `{"requestsPerMinute":600}` | `1000` |
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
}
