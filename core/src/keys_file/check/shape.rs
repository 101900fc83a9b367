//! Syntax and shape: what every part of the file must look like before its values are read.
//!
//! YAML tags other than the plain ones, values that must be mappings, keys that are not
//! plain text or appear twice, unknown fields, values that must be strings, and YAML values
//! that JSON cannot hold (for metadata). Each problem is reported where it is and the walk
//! goes on, so one run finds them all.

use super::{value_pos, within, Checker, Entry};
use crate::keys_file::yaml_tree::{Node, NodeKind, Pos, Scalar};
use serde_json::{Map, Value};
use std::collections::HashMap;

impl Checker<'_> {
    /// Reports every YAML tag other than `!!str` (forces a string), `!!map`, `!!seq` and `!`.
    pub(super) fn yaml_tags(&mut self, root: &Node<'_>) {
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
    pub(super) fn entries<'n>(
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
    pub(super) fn fields<'n>(
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
    pub(super) fn string(&mut self, context: &str, entry: &Entry<'_>) -> Option<String> {
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

    /// A YAML value as JSON; reports what JSON cannot hold (keys that are not text,
    /// infinities, NaN, integers beyond 64 bits) and duplicate keys.
    pub(super) fn json(&mut self, context: &str, key: &Node<'_>, node: &Node<'_>) -> Option<Value> {
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
}
