//! The model of `keys.yaml` — buckets and their consumers, as code, never keys — and the
//! checker that turns its text into that model or into a list of positioned problems.
//!
//! [`check`] is the one entry point: `keyward validate` prints its diagnostics, and `plan`
//! and `sync` call it before any network work. It reads the text into a positioned tree
//! ([`crate::yaml_tree`]) and walks it, so it can report *every* problem at once, each with
//! its line and column. Every rule that the developer API also enforces (names, e-mails,
//! metadata, tags, descriptions) is applied by calling [`crate::validate`], so the file and
//! the API can never disagree.
//!
//! [`to_yaml`] is the way back, for `keyward export`: a [`KeysFile`] as `keys.yaml` text that
//! [`check`] reads as the same file (tested here; [`to_yaml_checked`] verifies it each time).
//!
//! With the `schema` feature the types also derive `schemars::JsonSchema`, and
//! [`json_schema`] gives the JSON Schema that editors use (`schemas/keys.schema.json`).
//! The Worker does not enable the feature, so it never compiles schemars.

use crate::validate::{self, BUCKET_NAME_LEN, MAX_CONSUMER_NAME, MAX_MANAGERS, MAX_TAG_KEY};
use crate::yaml_tree::{self, Node, NodeKind, Pos, Scalar};
use crate::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

/// The only format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(
        title = "keys.yaml",
        description = "keyward's consumers as code: buckets, their consumers and who manages their keys. Never keys."
    )
)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// Format version of this file.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::version"))]
    pub version: u32,
    /// Buckets by name.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::buckets"))]
    pub buckets: BTreeMap<String, BucketSpec>,
}

/// A bucket in `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Free text about the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::description"))]
    pub description: Option<String>,
    /// Consumers by name.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::consumers"))]
    pub consumers: BTreeMap<String, ConsumerSpec>,
}

/// A consumer in `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// Free text about the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::description"))]
    pub description: Option<String>,
    /// Forwarded on every verified request: a JSON object of at most
    /// [`validate::MAX_METADATA_BYTES`] bytes serialized.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "schema::metadata", description = schema::metadata_description())
    )]
    pub metadata: Map<String, Value>,
    /// Labels for management queries (`tag.team=sales`); not forwarded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::tags"))]
    pub tags: BTreeMap<String, String>,
    /// E-mail addresses of the people who manage this consumer's keys.
    // `check` returns them trimmed and lower-cased, as the developer API stores them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::managers"))]
    pub managers: Vec<String>,
}

/// The fields each mapping of the file may have, in the order messages list them.
const FILE_FIELDS: &[&str] = &["version", "buckets"];
const BUCKET_FIELDS: &[&str] = &["description", "consumers"];
const CONSUMER_FIELDS: &[&str] = &["description", "metadata", "tags", "managers"];

/// One problem in a `keys.yaml`: where it is and what is wrong, with a hint.
///
/// Plain data: the caller adds the file name, e.g. `keys.yaml:12:9: …`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// Lowercase, no final period, names the bad input and ends with a hint.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `line:column: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Reads the text of a `keys.yaml` into a [`KeysFile`], or returns every problem found,
/// sorted by position.
///
/// No I/O: `text` is the whole file. Checks YAML syntax, unknown fields, wrong types,
/// duplicate keys at any level, the format version, names, e-mails (also duplicates after
/// lower-casing), metadata, tags and descriptions, with the same rules as the developer API.
///
/// ```
/// use keyward_core::keys_file::check;
///
/// let file = check("version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n").unwrap();
/// assert!(file.buckets["default"].consumers.contains_key("acme"));
///
/// let problems = check("version: 1\nbuckets:\n  default:\n    consumers:\n      Acme: {}\n").unwrap_err();
/// assert_eq!(
///     problems[0].to_string(),
///     "5:7: consumer name 'Acme' is invalid; use 1 to 128 lowercase letters, digits and '-'"
/// );
/// ```
pub fn check(text: &str) -> Result<KeysFile, Vec<Diagnostic>> {
    run(text, false).map(|(file, _)| file)
}

/// What a valid `keys.yaml` declares, in numbers: what `keyward validate` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Buckets.
    pub buckets: usize,
    /// Consumers, over all buckets ([`KeysFile::consumer_count`]).
    pub consumers: usize,
    /// Manager entries, over all consumers ([`KeysFile::manager_count`]).
    pub managers: usize,
}

/// [`check`] for when only the verdict matters: the same problems, or the counts of a
/// valid file.
///
/// Each consumer is checked exactly as [`check`] does, then dropped rather than kept in a
/// [`KeysFile`], so a file of many consumers never holds its tree and its model at once.
///
/// ```
/// use keyward_core::keys_file::summarize;
///
/// let summary = summarize("version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n").unwrap();
/// assert_eq!((summary.buckets, summary.consumers, summary.managers), (1, 1, 0));
/// ```
pub fn summarize(text: &str) -> Result<Summary, Vec<Diagnostic>> {
    run(text, true).map(|(_, summary)| summary)
}

fn run(text: &str, count_only: bool) -> Result<(KeysFile, Summary), Vec<Diagnostic>> {
    let root = match yaml_tree::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            let pos = Pos { line: 1, column: 1 };
            return Err(vec![diagnostic(
                pos,
                format!("the file is empty; start it with `version: {FORMAT_VERSION}`"),
            )]);
        }
        Err(e) => return Err(vec![diagnostic(e.pos, syntax_message(&e.message))]),
    };
    let mut checker = Checker {
        count_only,
        ..Checker::default()
    };
    checker.yaml_tags(&root);
    let file = checker.file(&root);
    drop(root); // before sorting the problems: the tree is the largest thing here
    let mut problems = checker.problems;
    if problems.is_empty() {
        return Ok((file, checker.summary));
    }
    // Stable: problems at one place stay in the order they were found.
    problems.sort_by_key(|d| (d.line, d.column));
    problems.dedup();
    Err(problems)
}

impl KeysFile {
    /// How many consumers the file declares, over all buckets.
    pub fn consumer_count(&self) -> usize {
        self.buckets.values().map(|b| b.consumers.len()).sum()
    }

    /// How many manager entries the file declares, over all consumers.
    pub fn manager_count(&self) -> usize {
        self.buckets
            .values()
            .flat_map(|b| b.consumers.values())
            .map(|c| c.managers.len())
            .sum()
    }
}

fn diagnostic(pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        line: pos.line as usize,
        column: pos.column as usize,
        message,
    }
}

fn syntax_message(parser: &str) -> String {
    if parser.contains("; ") {
        // Our own messages from yaml_tree already end with a hint.
        format!("invalid yaml: {parser}")
    } else {
        format!("invalid yaml: {parser}; check the indentation and quoting here")
    }
}

/// `context: text`, or `text` alone at the top of the file.
fn within(context: &str, text: impl fmt::Display) -> String {
    if context.is_empty() {
        text.to_string()
    } else {
        format!("{context}: {text}")
    }
}

/// Where to point at a value: the value itself, or its key when the value is empty (an
/// empty value's position is just past the colon, which reads oddly).
fn value_pos(key: &Node<'_>, value: &Node<'_>) -> Pos {
    match &value.kind {
        NodeKind::Scalar(text) if text.is_plain() && text.is_empty() => key.pos,
        _ => value.pos,
    }
}

/// A mapping entry whose key is a plain string.
struct Entry<'n> {
    name: &'n str,
    key: &'n Node<'n>,
    value: &'n Node<'n>,
}

#[derive(Default)]
struct Checker {
    problems: Vec<Diagnostic>,
    /// Only count buckets, consumers and managers ([`summarize`]): each consumer's part of
    /// the model is dropped once checked instead of kept in a [`KeysFile`].
    count_only: bool,
    summary: Summary,
}

impl Checker {
    fn report(&mut self, pos: Pos, message: String) {
        self.problems.push(diagnostic(pos, message));
    }

    /// Reports every YAML tag other than `!!str` (forces a string), `!!map`, `!!seq` and `!`.
    fn yaml_tags(&mut self, root: &Node<'_>) {
        for node in root.walk() {
            let Some(tag) = node.tag.as_deref() else {
                continue;
            };
            let fits = match node.kind {
                NodeKind::Scalar(_) => matches!(tag, "!!str" | "!"),
                NodeKind::Seq(_) => matches!(tag, "!!seq" | "!"),
                NodeKind::Map(_) => matches!(tag, "!!map" | "!"),
            };
            if !fits {
                self.report(
                    node.pos,
                    format!("yaml tag '{tag}' is not supported here; remove it"),
                );
            }
        }
    }

    /// The entries of a mapping, the first of each key only; reports a value that is not a
    /// mapping (`what` names the value, or is empty when `context` does), keys that are not
    /// plain text and duplicate keys (`noun` names what the keys
    /// are in messages: "field", "bucket", "consumer", …).
    fn entries<'n>(
        &mut self,
        context: &str,
        what: &str,
        noun: &str,
        at: Pos,
        node: &'n Node<'n>,
    ) -> Option<Vec<Entry<'n>>> {
        let NodeKind::Map(pairs) = &node.kind else {
            let hint = if node.scalar() == Some(Scalar::Null) {
                "; write {} for an empty one"
            } else {
                ""
            };
            // An empty `what` means the context itself is the mapping: "consumer 'acme'".
            let subject = if what.is_empty() {
                context.to_owned()
            } else {
                within(context, what)
            };
            let found = node.describe();
            self.report(
                at,
                format!("{subject} must be a mapping, found {found}{hint}"),
            );
            return None;
        };
        let mut out: Vec<Entry<'n>> = Vec::with_capacity(pairs.len());
        let mut first_line: HashMap<&str, u32> = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs.iter() {
            let NodeKind::Scalar(text) = &key.kind else {
                self.report(
                    key.pos,
                    within(
                        context,
                        format_args!(
                            "a {noun} must be named by plain text, found {}",
                            key.describe()
                        ),
                    ),
                );
                continue;
            };
            if let Some(&line) = first_line.get(&**text) {
                self.report(
                    key.pos,
                    within(
                        context,
                        format_args!("{noun} '{text}' is defined twice; the first is at line {line}, keep one"),
                    ),
                );
                continue;
            }
            first_line.insert(text, key.pos.line);
            out.push(Entry {
                name: text,
                key,
                value,
            });
        }
        Some(out)
    }

    /// Like [`Checker::entries`] for a mapping with a fixed set of fields: also reports
    /// unknown fields, and returns the known ones.
    fn fields<'n>(
        &mut self,
        context: &str,
        what: &str,
        at: Pos,
        node: &'n Node<'n>,
        allowed: &[&str],
    ) -> Option<Vec<Entry<'n>>> {
        let entries = self.entries(context, what, "field", at, node)?;
        let mut known = Vec::with_capacity(entries.len());
        for e in entries {
            if allowed.contains(&e.name) {
                known.push(e);
            } else {
                self.report(
                    e.key.pos,
                    within(
                        context,
                        format_args!(
                            "unknown field '{}'; use one of: {}",
                            e.name,
                            allowed.join(", ")
                        ),
                    ),
                );
            }
        }
        Some(known)
    }

    /// A string value; `None` (reported) otherwise.
    fn string(&mut self, context: &str, entry: &Entry<'_>) -> Option<String> {
        match entry.value.scalar() {
            Some(Scalar::Str(s)) => Some(s.to_owned()),
            _ => {
                let hint = if matches!(entry.value.kind, NodeKind::Scalar(_)) {
                    "; quote it"
                } else {
                    ""
                };
                self.report(
                    value_pos(entry.key, entry.value),
                    within(
                        context,
                        format_args!(
                            "{} must be a string, found {}{hint}",
                            entry.name,
                            entry.value.describe()
                        ),
                    ),
                );
                None
            }
        }
    }

    /// An optional description: a string within the API's limit, or nothing.
    fn description(&mut self, context: &str, entry: &Entry<'_>) -> Option<String> {
        if entry.value.scalar() == Some(Scalar::Null) {
            return None;
        }
        let text = self.string(context, entry)?;
        if let Err(e) = validate::description(&text) {
            self.report(entry.key.pos, within(context, e));
        }
        Some(text)
    }

    fn file(&mut self, root: &Node<'_>) -> KeysFile {
        let mut file = KeysFile {
            version: FORMAT_VERSION,
            buckets: BTreeMap::new(),
        };
        if !matches!(root.kind, NodeKind::Map(_)) {
            self.report(
                root.pos,
                format!(
                    "the file must be a mapping, found {}; start it with `version: {FORMAT_VERSION}` and `buckets:`",
                    root.describe()
                ),
            );
            return file;
        }
        let Some(fields) = self.fields("", "the file", root.pos, root, FILE_FIELDS) else {
            return file;
        };
        if !fields.iter().any(|e| e.name == "version") {
            self.report(
                root.pos,
                format!("version is missing; add `version: {FORMAT_VERSION}` at the top"),
            );
        }
        for e in &fields {
            match e.name {
                "version" => self.version(e),
                "buckets" => self.buckets(e, &mut file.buckets),
                _ => {} // `fields` returns only FILE_FIELDS
            }
        }
        file
    }

    fn version(&mut self, entry: &Entry<'_>) {
        match entry.value.scalar() {
            Some(Scalar::Int(n)) if n == i128::from(FORMAT_VERSION) => {}
            Some(Scalar::Int(n)) => self.report(
                entry.value.pos,
                format!("version {n} is not supported; use version: {FORMAT_VERSION}"),
            ),
            _ => self.report(
                value_pos(entry.key, entry.value),
                format!(
                    "version must be a number, found {}; use version: {FORMAT_VERSION}",
                    entry.value.describe()
                ),
            ),
        }
    }

    fn buckets(&mut self, entry: &Entry<'_>, out: &mut BTreeMap<String, BucketSpec>) {
        let at = value_pos(entry.key, entry.value);
        let Some(buckets) = self.entries("", "buckets", "bucket", at, entry.value) else {
            return;
        };
        for b in buckets {
            if let Err(e) = validate::bucket_name(b.name) {
                self.report(b.key.pos, e.to_string());
            }
            let context = format!("bucket '{}'", b.name);
            let spec = self.bucket(&context, &b);
            self.summary.buckets += 1;
            out.insert(b.name.to_owned(), spec);
        }
    }

    fn bucket(&mut self, context: &str, entry: &Entry<'_>) -> BucketSpec {
        let mut spec = BucketSpec::default();
        let at = value_pos(entry.key, entry.value);
        let Some(fields) = self.fields(context, "", at, entry.value, BUCKET_FIELDS) else {
            return spec;
        };
        for f in &fields {
            match f.name {
                "description" => spec.description = self.description(context, f),
                "consumers" => {
                    let at = value_pos(f.key, f.value);
                    let Some(consumers) =
                        self.entries(context, "consumers", "consumer", at, f.value)
                    else {
                        continue;
                    };
                    for c in consumers {
                        if let Err(e) = validate::consumer_name(c.name) {
                            self.report(c.key.pos, e.to_string());
                        }
                        let context = format!("consumer '{}'", c.name);
                        let consumer = self.consumer(&context, &c);
                        self.summary.consumers += 1;
                        self.summary.managers += consumer.managers.len();
                        if !self.count_only {
                            spec.consumers.insert(c.name.to_owned(), consumer);
                        }
                    }
                }
                _ => {} // `fields` returns only BUCKET_FIELDS
            }
        }
        spec
    }

    fn consumer(&mut self, context: &str, entry: &Entry<'_>) -> ConsumerSpec {
        let mut spec = ConsumerSpec::default();
        let at = value_pos(entry.key, entry.value);
        let Some(fields) = self.fields(context, "", at, entry.value, CONSUMER_FIELDS) else {
            return spec;
        };
        for f in &fields {
            match f.name {
                "description" => spec.description = self.description(context, f),
                "metadata" => spec.metadata = self.metadata(context, f).unwrap_or_default(),
                "tags" => spec.tags = self.tags(context, f),
                "managers" => spec.managers = self.managers(context, f),
                _ => {} // `fields` returns only CONSUMER_FIELDS
            }
        }
        spec
    }

    /// Metadata: the YAML turned into the JSON the API would store, then the API's check.
    fn metadata(&mut self, context: &str, entry: &Entry<'_>) -> Option<Map<String, Value>> {
        let json = self.json(context, entry.key, entry.value)?;
        if let Err(e) = validate::metadata(&json) {
            let at = match json {
                Value::Object(_) => entry.key.pos,
                _ => value_pos(entry.key, entry.value),
            };
            self.report(at, within(context, e));
            return None;
        }
        match json {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// A YAML value as JSON; reports what JSON cannot hold (keys that are not text,
    /// infinities, NaN, integers beyond 64 bits) and duplicate keys.
    fn json(&mut self, context: &str, key: &Node<'_>, node: &Node<'_>) -> Option<Value> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items.iter() {
                    match self.json(context, item, item) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(Value::Array(out))
            }
            NodeKind::Map(_) => {
                let at = node.pos;
                let entries = self.entries(context, "metadata", "metadata key", at, node)?;
                let mut out = Map::new();
                let mut ok = true;
                for e in entries {
                    match self.json(context, e.key, e.value) {
                        Some(v) => {
                            out.insert(e.name.to_owned(), v);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(Value::Object(out))
            }
            NodeKind::Scalar(text) => {
                let number = |n: Option<serde_json::Number>| n.map(Value::Number);
                let value = match node.scalar()? {
                    Scalar::Null => Some(Value::Null),
                    Scalar::Bool(b) => Some(Value::Bool(b)),
                    Scalar::Str(s) => Some(Value::String(s.to_owned())),
                    Scalar::Int(n) => number(
                        i64::try_from(n)
                            .map(serde_json::Number::from)
                            .or_else(|_| u64::try_from(n).map(serde_json::Number::from))
                            .ok(),
                    ),
                    Scalar::Float(f) => number(serde_json::Number::from_f64(f)),
                };
                if value.is_none() {
                    self.report(
                        value_pos(key, node),
                        within(
                            context,
                            format_args!("metadata value '{text}' has no JSON form; quote it to keep it as text"),
                        ),
                    );
                }
                value
            }
        }
    }

    /// Tags: a mapping of strings, each entry and then the whole map checked by the API's
    /// rule, every problem at its own place.
    fn tags(&mut self, context: &str, entry: &Entry<'_>) -> BTreeMap<String, String> {
        let at = value_pos(entry.key, entry.value);
        let Some(entries) = self.entries(context, "tags", "tag", at, entry.value) else {
            return BTreeMap::new();
        };
        // Every tag name, with its value when it is a string, for the count rule.
        let mut all = BTreeMap::new();
        let mut valid = BTreeMap::new();
        for e in entries {
            all.insert(e.name.to_owned(), String::new());
            let name_only = BTreeMap::from([(e.name.to_owned(), String::new())]);
            if let Err(err) = validate::tags(&name_only) {
                self.report(e.key.pos, within(context, err));
                continue;
            }
            let what = format!("tag '{}'", e.name);
            let Some(value) = self.string(context, &Entry { name: &what, ..e }) else {
                continue;
            };
            let one = BTreeMap::from([(e.name.to_owned(), value.clone())]);
            if let Err(err) = validate::tags(&one) {
                self.report(e.value.pos, within(context, err));
                continue;
            }
            valid.insert(e.name.to_owned(), value);
        }
        // The rules on the whole map. Over the count, the API's rule names the count before
        // looking at any entry; within it, only the valid entries are left to check (size).
        let whole = if all.len() > validate::MAX_TAGS {
            validate::tags(&all)
        } else {
            validate::tags(&valid)
        };
        if let Err(err) = whole {
            self.report(entry.key.pos, within(context, err));
        }
        valid
    }

    /// Managers: a list of e-mail addresses, normalized by the API's rule, without
    /// duplicates after lower-casing, at most [`MAX_MANAGERS`].
    fn managers(&mut self, context: &str, entry: &Entry<'_>) -> Vec<String> {
        let at = value_pos(entry.key, entry.value);
        let NodeKind::Seq(items) = &entry.value.kind else {
            let hint = if entry.value.scalar() == Some(Scalar::Null) {
                "; write [] for none"
            } else {
                ""
            };
            self.report(
                at,
                within(
                    context,
                    format_args!(
                        "managers must be a list of e-mail addresses, found {}{hint}",
                        entry.value.describe()
                    ),
                ),
            );
            return Vec::new();
        };
        let mut out: Vec<(String, Pos)> = Vec::with_capacity(items.len());
        for item in items.iter() {
            let Some(Scalar::Str(raw)) = item.scalar() else {
                self.report(
                    item.pos,
                    within(
                        context,
                        format_args!(
                            "a manager must be an e-mail address, found {}",
                            item.describe()
                        ),
                    ),
                );
                continue;
            };
            let email = match validate::email(raw) {
                Ok(email) => email,
                Err(e) => {
                    self.report(item.pos, within(context, e));
                    continue;
                }
            };
            if let Some((_, first)) = out.iter().find(|(m, _)| *m == email) {
                let line = first.line;
                self.report(
                    item.pos,
                    within(
                        context,
                        format_args!("manager '{raw}' is listed twice (e-mails ignore case); the first is at line {line}, keep one"),
                    ),
                );
                continue;
            }
            out.push((email, item.pos));
        }
        if items.len() > MAX_MANAGERS {
            self.report(
                entry.key.pos,
                within(
                    context,
                    format_args!(
                        "{} managers given, at most {MAX_MANAGERS} are allowed",
                        items.len()
                    ),
                ),
            );
        }
        out.into_iter().map(|(m, _)| m).collect()
    }
}

/// The pattern of a consumer name, as [`validate::consumer_name`] checks it.
pub fn consumer_name_pattern() -> String {
    format!("^[a-z0-9-]{{1,{MAX_CONSUMER_NAME}}}$")
}

/// The pattern of a bucket name, as [`validate::bucket_name`] checks it.
pub fn bucket_name_pattern() -> String {
    format!(
        "^[a-z0-9-]{{{},{}}}$",
        BUCKET_NAME_LEN.start(),
        BUCKET_NAME_LEN.end()
    )
}

/// The pattern of a tag key, as [`validate::tags`] checks it.
pub fn tag_key_pattern() -> String {
    format!("^[A-Za-z0-9_.-]{{1,{MAX_TAG_KEY}}}$")
}

/// `file` as the text of a `keys.yaml` (what `keyward export` writes), each line of
/// `header` a comment at the top.
///
/// A small emitter for exactly this shape rather than a general serializer: block mappings,
/// flow sequences, and strings left plain only when they cannot be read as anything else
/// (a number, a boolean, null, a date, an indicator), double-quoted with escapes otherwise.
/// [`check`] reads the text back as `file` (tested here over tricky strings);
/// [`to_yaml_checked`] also verifies it each time.
///
/// ```
/// use keyward_core::keys_file::{check, to_yaml};
///
/// let file = check("version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {tags: {tier: 'yes'}}\n").unwrap();
/// let text = to_yaml(&file, &["exported".to_owned()]);
/// assert_eq!(
///     text,
///     "# exported\nversion: 1\nbuckets:\n  default:\n    consumers:\n      acme:\n        tags:\n          tier: \"yes\"\n"
/// );
/// assert_eq!(check(&text).unwrap(), file);
/// ```
pub fn to_yaml(file: &KeysFile, header: &[String]) -> String {
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "version: {}", file.version);
    if file.buckets.is_empty() {
        out.push_str("buckets: {}\n");
        return out;
    }
    out.push_str("buckets:\n");
    for (name, bucket) in &file.buckets {
        let _ = write!(out, "  {}:", scalar(name));
        if bucket.description.is_none() && bucket.consumers.is_empty() {
            out.push_str(" {}\n");
            continue;
        }
        out.push('\n');
        if let Some(d) = &bucket.description {
            let _ = writeln!(out, "    description: {}", scalar(d));
        }
        if bucket.consumers.is_empty() {
            out.push_str("    consumers: {}\n");
            continue;
        }
        out.push_str("    consumers:\n");
        for (name, c) in &bucket.consumers {
            write_consumer(&mut out, name, c);
        }
    }
    out
}

/// One consumer entry of a bucket's `consumers` mapping.
fn write_consumer(out: &mut String, name: &str, c: &ConsumerSpec) {
    let _ = write!(out, "      {}:", scalar(name));
    if c.description.is_none()
        && c.metadata.is_empty()
        && c.tags.is_empty()
        && c.managers.is_empty()
    {
        out.push_str(" {}\n");
        return;
    }
    out.push('\n');
    let indent = "        ";
    if let Some(d) = &c.description {
        let _ = writeln!(out, "{indent}description: {}", scalar(d));
    }
    if !c.metadata.is_empty() {
        let _ = writeln!(out, "{indent}metadata:");
        mapping(out, &c.metadata, 10);
    }
    if !c.tags.is_empty() {
        let _ = writeln!(out, "{indent}tags:");
        for (k, v) in &c.tags {
            let _ = writeln!(out, "{indent}  {}: {}", scalar(k), scalar(v));
        }
    }
    if !c.managers.is_empty() {
        let _ = writeln!(out, "{indent}managers:");
        for m in &c.managers {
            let _ = writeln!(out, "{indent}  - {}", scalar(m));
        }
    }
}

/// A non-empty JSON object as a block mapping at `indent` spaces.
fn mapping(out: &mut String, map: &Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    for (k, v) in map {
        let _ = write!(out, "{pad}{}:", scalar(k));
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, indent + 2);
            }
            _ => {
                out.push(' ');
                out.push_str(&flow(v));
                out.push('\n');
            }
        }
    }
}

/// A JSON value in YAML flow style: strings double-quoted inside collections, plain when
/// safe at the top.
fn flow(v: &Value) -> String {
    match v {
        Value::String(s) => scalar(s),
        other => inline(other),
    }
}

/// A JSON value as a YAML flow node in which every string is double-quoted.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", quoted(k), inline(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A string as a YAML scalar in block context: plain when that reads back as the same
/// string under YAML 1.2 (and 1.1, for other tools), double-quoted otherwise.
fn scalar(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '_') || s.ends_with(' ') {
        return false;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " _-.@/+'()!?;=%$&,".contains(c);
    if !s.chars().all(allowed) || s.contains("  ") {
        return false;
    }
    // Words that YAML 1.2 or 1.1 read as null or booleans.
    const WORDS: &[&str] = &["null", "true", "false", "yes", "no", "on", "off", "y", "n"];
    if WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return false;
    }
    // Anything that looks numeric (ints, floats, hex, octal, 1.1 dates and times).
    if first.is_ascii_digit()
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO._:+- ".contains(c))
    {
        return false;
    }
    true
}

/// A YAML double-quoted scalar: `"`, `\` and every character YAML does not allow raw
/// (controls, DEL, C1, BOM, line separators, non-characters) escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(
                    c,
                    '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// [`to_yaml`], read back with [`check`] before it is returned: a text that would not pass
/// validation, or would read as anything but `file`, is an [`ErrorKind::Invalid`] error
/// (a bug in the writer) rather than a surprise in the next plan.
///
/// [`ErrorKind::Invalid`]: crate::ErrorKind::Invalid
pub fn to_yaml_checked(file: &KeysFile, header: &[String]) -> Result<String, Error> {
    let text = to_yaml(file, header);
    match check(&text) {
        Ok(back) if back == *file => Ok(text),
        Ok(_) => Err(Error::invalid(
            "the exported text does not read back as the live state; this is a bug in keyward export",
        )),
        Err(problems) => Err(Error::invalid(format!(
            "the exported text does not pass validation ({}); this is a bug in keyward export",
            problems[0]
        ))),
    }
}

/// The JSON Schema of `keys.yaml` (draft 2020-12), as `keyward schema` prints it and
/// `schemas/keys.schema.json` holds it.
///
/// It states what a schema can: version, names (as `propertyNames`), e-mail format, types,
/// lengths and counts, unknown fields. The byte-size limits of metadata and tags, and
/// duplicate e-mails after lower-casing, are left to [`check`].
#[cfg(feature = "schema")]
pub fn json_schema() -> Value {
    schemars::schema_for!(KeysFile).to_value()
}

/// The hand-written parts of the schema, from the constants of [`crate::validate`].
#[cfg(feature = "schema")]
mod schema {
    use super::*;
    use crate::validate::{MAX_DESCRIPTION, MAX_METADATA_BYTES, MAX_TAGS, MAX_TAG_VALUE};
    use schemars::{json_schema, Schema, SchemaGenerator};

    pub fn version(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "const": FORMAT_VERSION })
    }

    pub fn buckets(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": bucket_name_pattern() },
            "additionalProperties": generator.subschema_for::<BucketSpec>(),
        })
    }

    pub fn consumers(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": consumer_name_pattern() },
            "additionalProperties": generator.subschema_for::<ConsumerSpec>(),
        })
    }

    pub fn description(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "null"], "maxLength": MAX_DESCRIPTION })
    }

    pub fn metadata(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "object" })
    }

    pub fn metadata_description() -> String {
        format!(
            "Forwarded to the upstream on every verified request: a JSON object of at most {MAX_METADATA_BYTES} bytes serialized."
        )
    }

    pub fn tags(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "maxProperties": MAX_TAGS,
            "propertyNames": { "pattern": tag_key_pattern() },
            "additionalProperties": { "type": "string", "maxLength": MAX_TAG_VALUE },
        })
    }

    pub fn managers(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "maxItems": MAX_MANAGERS,
            "uniqueItems": true,
            "items": { "type": "string", "format": "email" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `summarize` is `check` without the model: the same problems, and the model's counts.
    #[test]
    fn summarize_agrees_with_check() {
        let mut generated = String::from("version: 1\nbuckets:\n");
        for b in 0..3 {
            generated.push_str(&format!("  bucket-{b}:\n    consumers:\n"));
            for c in 0..=b {
                generated.push_str(&format!(
                    "      c{c}:\n        metadata: {{plan: gold}}\n        tags: {{team: t{c}}}\n        managers: [a{c}@x.example, b@x.example]\n"
                ));
            }
        }
        let files = [
            include_str!("../../keys.yaml"),
            &generated,
            "",
            "version: 1\nbuckets: {}\n",
            "version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n      acme: {}\n",
            "version: 2\nbuckets:\n  Bad:\n    consumers:\n      x: !!int 1\n      y:\n        managers: [nope, a@b.example, A@B.example]\n        tags: {k: [1]}\n        metadata: {a: .inf, 1: 2}\n",
            "version: 1\nbuckets:\n  default:\n    consumers: &c\n      acme: {description: ~}\n  second:\n    consumers: *c\n    extra: 1\n",
            "version: 1\nbuckets: [\n",
        ];
        for text in files {
            let counts = check(text).map(|f| Summary {
                buckets: f.buckets.len(),
                consumers: f.consumer_count(),
                managers: f.manager_count(),
            });
            assert_eq!(summarize(text), counts, "{text}");
        }
    }

    /// The checker knows every field of the model: a full file serializes to exactly the
    /// field lists it accepts.
    #[test]
    fn field_lists_match_the_model() {
        let consumer = ConsumerSpec {
            description: Some("d".into()),
            metadata: Map::from_iter([("plan".to_owned(), Value::from("gold"))]),
            tags: BTreeMap::from([("team".to_owned(), "core".to_owned())]),
            managers: vec!["a@b.example".into()],
        };
        let bucket = BucketSpec {
            description: Some("d".into()),
            consumers: BTreeMap::from([("acme".to_owned(), consumer.clone())]),
        };
        let file = KeysFile {
            version: FORMAT_VERSION,
            buckets: BTreeMap::from([("default".to_owned(), bucket.clone())]),
        };
        let keys = |v: Value| -> Vec<String> {
            let mut k: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let sorted = |s: &[&str]| -> Vec<String> {
            let mut v: Vec<_> = s.iter().map(|x| x.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            keys(serde_json::to_value(&file).unwrap()),
            sorted(FILE_FIELDS)
        );
        assert_eq!(
            keys(serde_json::to_value(&bucket).unwrap()),
            sorted(BUCKET_FIELDS)
        );
        assert_eq!(
            keys(serde_json::to_value(&consumer).unwrap()),
            sorted(CONSUMER_FIELDS)
        );
    }

    fn round_trip(file: &KeysFile) -> String {
        let header = ["yaml-language-server: $schema=x".to_owned()];
        let text = to_yaml(file, &header);
        let back = check(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(&back, file, "\n{text}");
        assert_eq!(to_yaml_checked(file, &header), Ok(text.clone()));
        text
    }

    #[test]
    fn tricky_strings_survive_the_round_trip() {
        let nasty = [
            "plain words",
            "yes",
            "No",
            "ON",
            "null",
            "~",
            "true",
            "123",
            "0x1f",
            "1e5",
            "1.5",
            "2024-01-01",
            "12:30",
            "-dash",
            ".dot",
            "#hash",
            "a #b",
            "a: b",
            "a:b",
            "trailing ",
            " leading",
            "",
            "'quoted'",
            "\"dq\"",
            "back\\slash",
            "line\nbreak",
            "tab\there",
            "\u{7f}del",
            "\u{85}nel",
            "\u{feff}bom",
            "ünïcødé",
            "emoji 🎉",
            "[x]",
            "{x}",
            "*alias",
            "&anchor",
            "!tag",
            "%pct",
            "@at",
            "`tick`",
            "|pipe",
            ">fold",
            "?q",
            "a, b",
            "<<",
            "3m-corp",
        ];
        let metadata: Map<String, Value> = nasty
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{s}{i}"), Value::from(*s)))
            .chain([
                (
                    "nested".to_owned(),
                    json!({"deep": {"deeper": [1, "two", null, true, {"k": "v"}], "e": {}}}),
                ),
                (
                    "numbers".to_owned(),
                    json!([0, -1, 1.5, 1e300, -2.5e-7, 18446744073709551615u64]),
                ),
                ("empty".to_owned(), json!([])),
                (String::new(), json!("empty key")),
            ])
            .collect();
        let consumer = ConsumerSpec {
            description: Some("Acme's: \"orders\" # not a comment".into()),
            metadata,
            tags: BTreeMap::from([
                ("team".into(), "600".into()),
                ("tier".into(), "yes".into()),
                ("a.b-c_d".into(), "".into()),
            ]),
            managers: vec![
                "alice@acme.example".into(),
                "o'neil+ops@acme.example".into(),
            ],
        };
        let file = KeysFile {
            version: FORMAT_VERSION,
            buckets: BTreeMap::from([
                (
                    "default".to_owned(),
                    BucketSpec {
                        description: Some("yes".into()),
                        consumers: BTreeMap::from([
                            ("acme".to_owned(), consumer),
                            ("123".to_owned(), ConsumerSpec::default()),
                        ]),
                    },
                ),
                ("empty".to_owned(), BucketSpec::default()),
            ]),
        };
        round_trip(&file);
    }

    #[test]
    fn the_output_reads_like_the_hand_written_file() {
        let file = check(include_str!("../../keys.yaml")).unwrap();
        let out = round_trip(&file);
        assert!(out
            .starts_with("# yaml-language-server: $schema=x\nversion: 1\nbuckets:\n  default:\n"));
        assert!(out.contains("\n      acme-corp:\n        description: Acme Corp's order integration\n        metadata:\n          plan: gold\n          rateLimit:\n            requestsPerMinute: 600\n"), "{out}");
        assert!(
            out.contains("        managers:\n          - alice@acme.example\n"),
            "{out}"
        );
    }

    #[test]
    fn empty_files_and_buckets() {
        round_trip(&KeysFile {
            version: FORMAT_VERSION,
            buckets: BTreeMap::new(),
        });
    }
}
