//! The way back from the model to text, for `keyward export`: a [`KeysFile`] as `keys.yaml`
//! that [`check`](super::check()) reads as the same file (tested here; [`to_yaml_checked`]
//! verifies it each time).
//!
//! The text is made of three pieces, which `export` also writes one at a time as it reads
//! the live state, so it never holds the whole model or text: [`write_head`] (the comments,
//! the version, `buckets:`), [`write_bucket`] and [`write_consumer`]. [`Written`] keeps a
//! fingerprint of what was written and checks the text read back against it, which is
//! [`to_yaml_checked`]'s guarantee for a text that was written piece by piece.

use super::check::check_each;
use super::model::{BucketSpec, ConsumerSpec, KeysFile, FORMAT_VERSION};
use super::plan::pack_spec;
use crate::Error;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `file` as the text of a `keys.yaml` (what `keyward export` writes), each line of
/// `header` a comment at the top.
///
/// A small emitter for exactly this shape rather than a general serializer: block mappings,
/// flow sequences, and strings left plain only when they cannot be read as anything else
/// (a number, a boolean, null, a date, an indicator), double-quoted with escapes otherwise.
/// [`check`](super::check()) reads the text back as `file` (tested here over tricky
/// strings); [`to_yaml_checked`] also verifies it each time.
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
    write_head(&mut out, header, file.version, !file.buckets.is_empty());
    for (name, bucket) in &file.buckets {
        let has_consumers = !bucket.consumers.is_empty();
        write_bucket(&mut out, name, bucket, has_consumers);
        for (name, c) in &bucket.consumers {
            write_consumer(&mut out, name, c);
        }
    }
    out
}

/// The start of a `keys.yaml`: `header` as comments, the version, and `buckets:` (or
/// `buckets: {}` when there are none).
pub fn write_head(out: &mut String, header: &[String], version: u32, has_buckets: bool) {
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "version: {version}");
    out.push_str(if has_buckets {
        "buckets:\n"
    } else {
        "buckets: {}\n"
    });
}

/// A bucket's entry up to its `consumers:` line (or `consumers: {}` when it has none): its
/// description and `isRetrievable` from `bucket` (whose consumers are not read: they follow,
/// each by [`write_consumer`]).
pub fn write_bucket(out: &mut String, name: &str, bucket: &BucketSpec, has_consumers: bool) {
    let _ = write!(out, "  {}:", scalar(name));
    if bucket.description.is_none() && !bucket.is_retrievable && !has_consumers {
        out.push_str(" {}\n");
        return;
    }
    out.push('\n');
    if let Some(d) = &bucket.description {
        let _ = writeln!(out, "    description: {}", scalar(d));
    }
    if bucket.is_retrievable {
        out.push_str("    isRetrievable: true\n");
    }
    out.push_str(if has_consumers {
        "    consumers:\n"
    } else {
        "    consumers: {}\n"
    });
}

/// One consumer entry of a bucket's `consumers` mapping.
pub fn write_consumer(out: &mut String, name: &str, c: &ConsumerSpec) {
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
/// (controls, DEL, C1, BOM, line separators, non-characters) or that is invisible (format
/// and bidi characters, blanks other than space) escaped.
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
            // Invisible and bidi characters too (valid raw, but they make a reviewed diff
            // show something other than what it contains).
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(
                    c,
                    '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
                )
                || crate::validate::is_hidden(c) =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// [`to_yaml`], read back with [`check`](super::check()) before it is returned: a text that
/// would not pass validation, or would read as anything but `file`, is an
/// [`ErrorKind::Invalid`] error (a bug in the writer) rather than a surprise in the next plan.
///
/// [`ErrorKind::Invalid`]: crate::ErrorKind::Invalid
pub fn to_yaml_checked(file: &KeysFile, header: &[String]) -> Result<String, Error> {
    let text = to_yaml(file, header);
    Written::of(file).verify(&text)?;
    Ok(text)
}

/// A fingerprint of a `keys.yaml` written piece by piece: its buckets and descriptions, and
/// a SHA-256 over every consumer (bucket, name and what it declares, exactly) in the order
/// written. [`Written::verify`] reads the text back with [`check`](super::check()) and
/// compares: the guarantee of [`to_yaml_checked`], kept in a few hundred bytes instead of
/// the model.
///
/// ```
/// use keyward_core::keys_file::{
///     write_bucket, write_consumer, write_head, BucketSpec, ConsumerSpec, Written,
/// };
///
/// let mut text = String::new();
/// let mut written = Written::default();
/// let bucket = BucketSpec::default();
/// write_head(&mut text, &[], 1, true);
/// write_bucket(&mut text, "default", &bucket, true);
/// written.bucket("default", &bucket);
/// let acme = ConsumerSpec { description: Some("yes".into()), ..Default::default() };
/// write_consumer(&mut text, "acme", &acme);
/// written.consumer("default", "acme", &acme);
/// assert_eq!(written.verify(&text), Ok(()));
/// assert!(written.verify(&text.replace("acme", "acne")).is_err());
/// ```
#[derive(Clone, Default)]
pub struct Written {
    buckets: BTreeMap<String, (Option<String>, bool)>,
    consumers: usize,
    hash: Sha256,
    scratch: Vec<u8>,
}

impl Written {
    /// The fingerprint of `file` as [`to_yaml`] writes it.
    pub fn of(file: &KeysFile) -> Written {
        let mut out = Written::default();
        for (name, bucket) in &file.buckets {
            out.bucket(name, bucket);
            for (consumer, spec) in &bucket.consumers {
                out.consumer(name, consumer, spec);
            }
        }
        out
    }

    /// A bucket was written, with the description and mode of `bucket`.
    pub fn bucket(&mut self, name: &str, bucket: &BucketSpec) {
        self.buckets.insert(
            name.to_owned(),
            (bucket.description.clone(), bucket.is_retrievable),
        );
    }

    /// A consumer of `bucket` was written (in the order of the text).
    pub fn consumer(&mut self, bucket: &str, name: &str, spec: &ConsumerSpec) {
        self.scratch.clear();
        pack_spec(&mut self.scratch, spec);
        for part in [bucket.as_bytes(), name.as_bytes(), &self.scratch] {
            self.hash.update((part.len() as u64).to_le_bytes());
            self.hash.update(part);
        }
        self.consumers += 1;
    }

    /// Reads `text` back with [`check`](super::check()): an error unless it passes
    /// validation and declares exactly what was written, in the same order.
    pub fn verify(&self, text: &str) -> Result<(), Error> {
        let mut back = Written::default();
        let file = check_each(text, &mut |bucket, name, spec| {
            back.consumer(bucket, name, &spec)
        })
        .map_err(|problems| {
            let first = problems.first().map(ToString::to_string).unwrap_or_default();
            Error::invalid(format!(
                "the exported text does not pass validation ({first}); this is a bug in keyward export"
            ))
        })?;
        for (name, bucket) in &file.buckets {
            back.bucket(name, bucket);
        }
        let same = file.version == FORMAT_VERSION
            && back.buckets == self.buckets
            && back.consumers == self.consumers
            && back.hash.finalize() == self.hash.clone().finalize();
        if same {
            Ok(())
        } else {
            Err(Error::invalid(
                "the exported text does not read back as the live state; this is a bug in keyward export",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys_file::check;
    use crate::keys_file::model::{BucketSpec, FORMAT_VERSION};
    use serde_json::json;
    use std::collections::BTreeMap;

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
                        is_retrievable: true,
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
        let file = check(include_str!("../../../keys.yaml")).unwrap();
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
    fn invisible_and_bidi_characters_are_escaped_and_read_back() {
        let tricky = "paid\u{202e}diap \u{200b}x\u{a0}y";
        assert_eq!(quoted(tricky), "\"paid\\u202ediap \\u200bx\\u00a0y\"");
        let mut metadata = serde_json::Map::new();
        metadata.insert("note".into(), tricky.into());
        let consumer = ConsumerSpec {
            description: Some(tricky.to_owned()),
            metadata,
            ..ConsumerSpec::default()
        };
        let file = KeysFile {
            version: FORMAT_VERSION,
            buckets: BTreeMap::from([(
                "default".to_owned(),
                BucketSpec {
                    consumers: BTreeMap::from([("acme".to_owned(), consumer)]),
                    ..BucketSpec::default()
                },
            )]),
        };
        let out = round_trip(&file);
        assert!(
            !out.contains('\u{202e}') && !out.contains('\u{200b}'),
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

    /// The pieces `export` writes one at a time make the very text of `to_yaml`, and
    /// `Written` accepts it back and nothing else.
    #[test]
    fn pieces_make_to_yaml_and_written_rejects_any_difference() {
        let file = check(include_str!("../../../keys.yaml")).unwrap();
        let header = ["h".to_owned()];
        let mut text = String::new();
        let mut written = Written::default();
        write_head(&mut text, &header, FORMAT_VERSION, true);
        for (name, bucket) in &file.buckets {
            write_bucket(&mut text, name, bucket, true);
            written.bucket(name, bucket);
            for (consumer, spec) in &bucket.consumers {
                write_consumer(&mut text, consumer, spec);
                written.consumer(name, consumer, spec);
            }
        }
        assert_eq!(text, to_yaml(&file, &header));
        assert_eq!(written.verify(&text), Ok(()));

        let changed = [
            text.replace("plan: gold", "plan: platinum"),
            // The same number as a float: the limit reads it as 600, but metadata is
            // forwarded as written, so it is another file.
            text.replace("requestsPerMinute: 600", "requestsPerMinute: 600.0"),
            text.replace("alice@acme.example", "alicia@acme.example"),
            text.replace("version: 1", "version: 1\n# nothing\n")
                .replace("      acme-corp:", "      aaa: {}\n      acme-corp:"),
            text.replace(
                "description: Local development",
                "description: Local developments",
            ),
            text.replace("  default:\n", "  other: {}\n  default:\n"),
            text.replace(
                "the quick start\n",
                "the quick start\n    isRetrievable: true\n",
            ),
        ];
        for other in changed {
            assert_ne!(other, text);
            let err = written.verify(&other).unwrap_err();
            assert!(err.message().contains("does not read back"), "{err:?}");
        }
        let err = written.verify("version: 1\nbuckets: [\n").unwrap_err();
        assert!(
            err.message().contains("does not pass validation"),
            "{err:?}"
        );
        // The same consumers written in another order are another text.
        let mut reordered = Written::default();
        for (name, bucket) in &file.buckets {
            reordered.bucket(name, bucket);
            for (consumer, spec) in bucket.consumers.iter().rev() {
                reordered.consumer(name, consumer, spec);
            }
        }
        assert!(reordered.verify(&text).is_err());
    }
}
