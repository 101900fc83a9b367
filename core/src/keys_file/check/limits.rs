//! Names and limits: the walk from the file to its buckets and consumers, applying the
//! developer API's own rules ([`crate::validate`]) to every name, description, metadata
//! object and tag, so a file that passes here is one the API accepts. A consumer's
//! `metadata.rateLimit` and `metadata.quota` (the rule is [`crate::policy`]'s, part of
//! [`validate::metadata`]) are pointed at down to the field inside them at fault.

use super::{value_pos, within, Checker, Entry, Keep};
use crate::keys_file::model::{
    BucketSpec, ConsumerSpec, KeysFile, BUCKET_FIELDS, CONSUMER_FIELDS, FILE_FIELDS, FORMAT_VERSION,
};
use crate::keys_file::yaml_tree::{Node, NodeKind, Pos, Scalar};
use crate::policy::{Fault, PolicyError};
use crate::validate::{self, MetadataError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

impl Checker<'_> {
    /// An optional description: a string within the API's limit, or nothing.
    pub(super) fn description(&mut self, context: &str, entry: &Entry<'_>) -> Option<String> {
        if entry.value.scalar() == Some(Scalar::Null) {
            return None;
        }
        let text = self.string(context, entry)?;
        if let Err(e) = validate::description(&text) {
            self.report(entry.key.pos, within(context, e));
        }
        Some(text)
    }

    pub(super) fn file(&mut self, root: &Node<'_>) -> KeysFile {
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

    pub(super) fn version(&mut self, entry: &Entry<'_>) {
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

    pub(super) fn buckets(&mut self, entry: &Entry<'_>, out: &mut BTreeMap<String, BucketSpec>) {
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

    pub(super) fn bucket(&mut self, context: &str, entry: &Entry<'_>) -> BucketSpec {
        let mut spec = BucketSpec::default();
        let at = value_pos(entry.key, entry.value);
        let Some(fields) = self.fields(context, "", at, entry.value, BUCKET_FIELDS) else {
            return spec;
        };
        for f in &fields {
            match f.name {
                "description" => spec.description = self.description(context, f),
                "isRetrievable" => match f.value.scalar() {
                    Some(Scalar::Bool(b)) => spec.is_retrievable = b,
                    _ => self.report(
                        value_pos(f.key, f.value),
                        format!(
                            "{context}: isRetrievable must be true or false, found {}",
                            f.value.describe()
                        ),
                    ),
                },
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
                        match &mut self.keep {
                            Keep::Model => {
                                spec.consumers.insert(c.name.to_owned(), consumer);
                            }
                            Keep::Count => {}
                            Keep::Each(each) => each(entry.name, c.name, consumer),
                        }
                    }
                }
                _ => {} // `fields` returns only BUCKET_FIELDS
            }
        }
        spec
    }

    pub(super) fn consumer(&mut self, context: &str, entry: &Entry<'_>) -> ConsumerSpec {
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
    /// Metadata: the YAML turned into the JSON the API would store, then the API's check; a
    /// limit that is not one is reported where its fault is.
    pub(super) fn metadata(
        &mut self,
        context: &str,
        entry: &Entry<'_>,
    ) -> Option<Map<String, Value>> {
        let json = self.json(context, entry.key, entry.value)?;
        match validate::metadata_detail(&json) {
            Ok(()) => {}
            Err(MetadataError::Limits(errors)) => {
                for e in errors {
                    let at = limit_pos(entry.value, &e).unwrap_or(entry.key.pos);
                    self.report(at, within(context, e));
                }
                return None;
            }
            Err(MetadataError::Shape(e)) => {
                let at = match json {
                    Value::Object(_) => entry.key.pos,
                    _ => value_pos(entry.key, entry.value),
                };
                self.report(at, within(context, e));
                return None;
            }
        }
        match json {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }
    /// Tags: a mapping of strings, each entry and then the whole map checked by the API's
    /// rule, every problem at its own place.
    pub(super) fn tags(&mut self, context: &str, entry: &Entry<'_>) -> BTreeMap<String, String> {
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
}

/// The entry of `key` in a mapping node, if the node is one and has it (the first: `json`
/// has reported a second one already).
fn lookup<'n>(node: &'n Node<'n>, key: &str) -> Option<(&'n Node<'n>, &'n Node<'n>)> {
    let NodeKind::Map(pairs) = &node.kind else {
        return None;
    };
    pairs.iter().find_map(|(k, v)| match &k.kind {
        NodeKind::Scalar(text) if **text == *key => Some((k, v)),
        _ => None,
    })
}

/// Where a limit's fault is in the metadata mapping `metadata`: the value of `rateLimit` or
/// `quota`, the value of the field inside it that is wrong, or the key of an unknown one.
fn limit_pos(metadata: &Node<'_>, error: &PolicyError) -> Option<Pos> {
    let (key, value) = lookup(metadata, error.field)?;
    let whole = value_pos(key, value);
    Some(match &error.at {
        Fault::Value => whole,
        Fault::Field(name) => lookup(value, name).map_or(whole, |(k, v)| value_pos(k, v)),
        Fault::Unknown(name) => lookup(value, name).map_or(whole, |(k, _)| k.pos),
    })
}
