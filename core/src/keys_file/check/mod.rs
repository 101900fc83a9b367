//! The checker: the text of a `keys.yaml` to a [`KeysFile`], or to every problem in it, each
//! with its line and column.
//!
//! [`check`] is the one entry point: `keyward validate` prints its diagnostics, and `plan`
//! and `sync` call it before any network work. It reads the text into a positioned tree
//! ([`super::yaml_tree`]) and walks it once, so it can report *every* problem at once. The
//! walk's steps are methods of one `Checker`, in files by the kind of rule they apply:
//! - `shape`: YAML syntax and shape — tags, mappings, duplicate keys, unknown fields, types,
//!   YAML values as JSON;
//! - `limits`: the walk itself, from the file to its buckets and consumers, and the names
//!   and limits it checks on the way — the format version, bucket and consumer names,
//!   descriptions, metadata (with its `rateLimit` and `quota`, pointed at down to the field
//!   at fault) and tags, each by the developer API's own rule in [`crate::validate`], so the
//!   file and the API can never disagree;
//! - `managers`: the people a consumer refers to — e-mail addresses, each once after
//!   lower-casing, at most [`MAX_MANAGERS`](crate::validate::MAX_MANAGERS).

mod limits;
mod managers;
mod shape;

use super::model::{ConsumerSpec, KeysFile, FORMAT_VERSION};
use super::yaml_tree::{self, Node, NodeKind, Pos};
use std::fmt;

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
/// lower-casing), metadata (also its `rateLimit` and `quota`), tags and descriptions, with
/// the same rules as the developer API.
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
    run(text, Keep::Model).map(|(file, _)| file)
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
    run(text, Keep::Count).map(|(_, summary)| summary)
}

/// [`check`] for a file too large to hold as a model: each consumer is handed to `each`
/// (bucket name, consumer name, what the file declares) as soon as it is checked, instead of
/// being kept. What the caller keeps of it is up to the caller (`keyward plan` packs it).
///
/// Returns the file without its consumers — every bucket with its description and an empty
/// `consumers` — or every problem, exactly as [`check`] would. `each` is called in the order
/// of the file, once per consumer that [`check`] would keep (the first of duplicate names),
/// also for a file that turns out to have problems: keep nothing from it on an error.
///
/// ```
/// use keyward_core::keys_file::check_each;
///
/// let mut seen = Vec::new();
/// let text = "version: 1\nbuckets:\n  default:\n    description: prod\n    consumers:\n      zeta: {}\n      acme: {}\n";
/// let file = check_each(text, &mut |bucket, name, _spec| seen.push(format!("{bucket}/{name}"))).unwrap();
/// assert_eq!(seen, ["default/zeta", "default/acme"]);
/// assert_eq!(file.buckets["default"].description.as_deref(), Some("prod"));
/// assert!(file.buckets["default"].consumers.is_empty());
/// ```
pub fn check_each(
    text: &str,
    each: &mut dyn FnMut(&str, &str, ConsumerSpec),
) -> Result<KeysFile, Vec<Diagnostic>> {
    run(text, Keep::Each(each)).map(|(file, _)| file)
}

fn run(text: &str, keep: Keep<'_>) -> Result<(KeysFile, Summary), Vec<Diagnostic>> {
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
        keep,
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

/// What the walk does with each consumer once it is checked.
#[derive(Default)]
enum Keep<'e> {
    /// Keep it in the [`KeysFile`] ([`check`]).
    #[default]
    Model,
    /// Only count it ([`summarize`]): the model is never built.
    Count,
    /// Hand it over ([`check_each`]).
    Each(&'e mut dyn FnMut(&str, &str, ConsumerSpec)),
}

#[derive(Default)]
struct Checker<'e> {
    problems: Vec<Diagnostic>,
    keep: Keep<'e>,
    summary: Summary,
}

impl Checker<'_> {
    fn report(&mut self, pos: Pos, message: String) {
        self.problems.push(diagnostic(pos, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys_file::model::{
        BucketSpec, ConsumerSpec, BUCKET_FIELDS, CONSUMER_FIELDS, FILE_FIELDS,
    };
    use serde_json::{Map, Value};
    use std::collections::BTreeMap;

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
            include_str!("../../../../keys.yaml"),
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

            // check_each hands over exactly the consumers check keeps, and the rest.
            let mut handed = KeysFile {
                version: FORMAT_VERSION,
                buckets: BTreeMap::new(),
            };
            let each = check_each(text, &mut |bucket, name, spec| {
                let b: &mut BucketSpec = handed.buckets.entry(bucket.to_owned()).or_default();
                assert!(b.consumers.insert(name.to_owned(), spec).is_none());
            });
            match (check(text), each) {
                (Ok(model), Ok(outline)) => {
                    for (name, bucket) in &outline.buckets {
                        assert!(bucket.consumers.is_empty());
                        let b = handed.buckets.entry(name.clone()).or_default();
                        b.description = bucket.description.clone();
                        b.is_retrievable = bucket.is_retrievable;
                    }
                    assert_eq!(handed, model, "{text}");
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{text}"),
                (a, b) => panic!("{text}: {a:?} vs {b:?}"),
            }
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
            is_retrievable: true,
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
}
