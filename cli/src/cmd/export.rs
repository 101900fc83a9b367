//! `keyward export`: the live state as a `keys.yaml`, to adopt existing consumers.
//!
//! It reads every bucket (or one, `--bucket`) and its consumers with their managers through
//! the paged listing, and writes a file that `keyward validate` accepts and on which
//! `keyward plan` reports no changes. Never keys: the file format has no place for them.
//!
//! The YAML is written by [`to_yaml`], a small emitter for exactly this shape rather than a
//! general serializer: block mappings, flow sequences, and strings left plain only when
//! they cannot be read as anything else (a number, a boolean, null, a date, an indicator),
//! double-quoted with escapes otherwise. Before anything is written the text is read back
//! with `keys_file::check` and compared with what was exported, so a file that would not
//! round-trip is an error, not a surprise in the next plan.

use crate::client::{describe, Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::keys_file::{self, BucketSpec, ConsumerSpec, KeysFile, FORMAT_VERSION};
use keyward_core::plan::LiveRecord;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write the live state as a keys.yaml (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward export > keys.yaml\n  keyward export --bucket production -o keys.yaml\n  keyward export -o keys.yaml && keyward plan keys.yaml   # no changes"
)]
pub struct Args {
    /// Export only this bucket [default: every bucket]
    #[arg(long)]
    bucket: Option<String>,
    /// Write to this file instead of stdout
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The JSON Schema the first line points editors at
    #[arg(long, default_value = "./schemas/keys.schema.json")]
    schema: String,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let buckets = match &args.bucket {
        Some(b) => vec![b.clone()],
        None => client.bucket_names()?,
    };
    let mut file = KeysFile {
        version: FORMAT_VERSION,
        buckets: BTreeMap::new(),
    };
    for bucket in buckets {
        let path = format!("/key-buckets/{bucket}");
        let reply = client.send("GET", &path, None)?;
        if !reply.ok() {
            bail!("bucket '{bucket}': {}", describe(&reply));
        }
        let description = reply
            .body
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        let mut consumers = BTreeMap::new();
        for item in client.list_all(&format!("{path}/consumers"), "include-managers=true")? {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("bucket '{bucket}': a consumer without a name"))?;
            let record: LiveRecord = serde_json::from_value(item)
                .with_context(|| format!("consumer '{name}': unexpected answer"))?;
            consumers.insert(name, record.to_spec());
        }
        file.buckets.insert(
            bucket,
            BucketSpec {
                description,
                consumers,
            },
        );
    }
    let header = [
        format!("yaml-language-server: $schema={}", args.schema),
        "Exported by `keyward export`: consumers and their managers, never keys.".to_owned(),
    ];
    let text = to_yaml(&file, &header);
    match keys_file::check(&text) {
        Ok(back) if back == file => {}
        Ok(_) => bail!("the exported text does not read back as the live state; this is a bug in keyward export"),
        Err(problems) => bail!(
            "the exported text does not pass validation ({}); this is a bug in keyward export",
            problems[0]
        ),
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    if let Some(path) = &args.output {
        eprintln!(
            "{}: {} buckets, {} consumers",
            path.display(),
            file.buckets.len(),
            file.consumer_count()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A `keys.yaml` for `file`, each line of `header` a comment at the top.
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
            consumer(&mut out, name, c);
        }
    }
    out
}

fn consumer(out: &mut String, name: &str, c: &ConsumerSpec) {
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
pub fn scalar(s: &str) -> String {
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
pub fn quoted(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(file: &KeysFile) -> String {
        let text = to_yaml(file, &["yaml-language-server: $schema=x".to_owned()]);
        let back = keys_file::check(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(&back, file, "\n{text}");
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
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../keys.yaml")).unwrap();
        let file = keys_file::check(&text).unwrap();
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
