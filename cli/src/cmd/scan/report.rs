//! What `keyward scan` prints: text (one line per key, a summary on stderr), JSON, or SARIF
//! 2.1.0 for code scanning (GitHub's upload among others). Keys appear masked in every
//! format; SARIF's fingerprint is the key's SHA-256.

use super::{Finding, Stats};
use crate::terminal;
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// `path:line:col: masked-key`, one per line
    Text,
    /// `{"findings": [...], "scanned": {...}}`
    Json,
    /// SARIF 2.1.0, a rule per prefix
    Sarif,
}

pub fn write(format: Format, findings: &[Finding], stats: &Stats, took: Duration) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Text => {
            for f in findings {
                writeln!(out, "{}", text_line(f))?;
            }
            summary(findings, stats, took);
        }
        // File names and the Worker's names may hold terminal controls: escaped as JSON
        // allows, the same document.
        Format::Json => super::super::write_json(&mut out, &json_document(findings, stats))?,
        Format::Sarif => super::super::write_json(&mut out, &sarif(findings))?,
    }
    out.flush()?;
    Ok(())
}

fn text_line(f: &Finding) -> String {
    let mut line = format!(
        "{}:{}:{}: {}",
        terminal::field(&f.path),
        f.line,
        f.column,
        f.masked()
    );
    if let Some(c) = &f.commit {
        line.push_str(&format!(" (commit {})", &c[..c.len().min(12)]));
    }
    if let Some(o) = &f.owner {
        if o.found {
            line.push_str(&format!(
                " — consumer {} in bucket {}, {} {}",
                terminal::field(o.consumer.as_deref().unwrap_or("?")),
                terminal::field(o.bucket.as_deref().unwrap_or("?")),
                terminal::field(o.key_id.as_deref().unwrap_or("?")),
                if o.active { "active" } else { "inactive" }
            ));
        } else {
            line.push_str(" — not a key of this deployment (or deleted)");
        }
    }
    if let Some(a) = &f.action {
        line.push_str(&format!(", {}", terminal::field(a)));
    }
    line
}

fn summary(findings: &[Finding], stats: &Stats, took: Duration) {
    let mut places: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
    places.sort_unstable();
    places.dedup();
    let mut skipped = String::new();
    if stats.skipped_binary > 0 || stats.skipped_large > 0 {
        skipped = format!(
            "; skipped {} binary and {} over the size limit",
            stats.skipped_binary, stats.skipped_large
        );
    }
    eprintln!(
        "keyward scan: {} in {} ({} scanned, {:.1} MB, in {:.2} s{skipped})",
        super::super::plural(findings.len(), "key"),
        super::super::plural(places.len(), "file"),
        super::super::plural(stats.files as usize, "file"),
        stats.bytes as f64 / 1e6,
        took.as_secs_f64(),
    );
}

fn finding_json(f: &Finding) -> Value {
    let mut v = json!({
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "endColumn": f.column + f.len(),
        "key": f.masked(),
        "prefix": f.prefix(),
    });
    if let Some(c) = &f.commit {
        v["commit"] = json!(c);
    }
    if let Some(o) = &f.owner {
        v["owner"] = json!({
            "found": o.found, "bucket": o.bucket, "consumer": o.consumer,
            "keyId": o.key_id, "active": o.active,
        });
    }
    if let Some(a) = &f.action {
        v["action"] = json!(a);
    }
    v
}

fn json_document(findings: &[Finding], stats: &Stats) -> Value {
    json!({
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        "scanned": {
            "files": stats.files, "bytes": stats.bytes,
            "skippedBinary": stats.skipped_binary, "skippedLarge": stats.skipped_large,
        },
        "columns": "unicode code points, from 1",
    })
}

/// A SARIF 2.1.0 log: one run, a rule per prefix found (`keyward/<prefix>`), a result per
/// finding with its region; history findings carry the commit in their properties.
pub fn sarif(findings: &[Finding]) -> Value {
    let mut prefixes: Vec<&str> = findings.iter().map(Finding::prefix).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    let rules: Vec<Value> = prefixes
        .iter()
        .map(|p| {
            json!({
                "id": format!("keyward/{p}"),
                "name": "KeywardApiKey",
                "shortDescription": {"text": format!("keyward API key ({p}_…)")},
                "fullDescription": {"text": format!("A keyward API key with prefix {p} whose checksum holds: a real key, not a look-alike.")},
                "help": {
                    "text": "Revoke the key (keyward scan --check --revoke, or roll it), remove it from the file and its history, and load keys from a secret store instead.",
                    "markdown": "Revoke the key (`keyward scan --check --revoke`, or roll it), remove it from the file **and its history**, and load keys from a secret store instead.",
                },
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["security", "secret"], "security-severity": "9.0", "precision": "very-high"},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let rule = prefixes.iter().position(|p| *p == f.prefix()).unwrap_or(0);
            let mut text = format!("keyward API key {}", f.masked());
            if let Some(c) = &f.commit {
                text.push_str(&format!(" added in commit {c}"));
            }
            let mut r = json!({
                "ruleId": format!("keyward/{}", f.prefix()),
                "ruleIndex": rule,
                "level": "error",
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact(&f.path),
                        "region": {
                            "startLine": f.line, "startColumn": f.column,
                            "endLine": f.line, "endColumn": f.column + f.len(),
                        },
                    },
                }],
                "partialFingerprints": {"keywardKeySha256/v1": f.fingerprint()},
            });
            if let Some(c) = &f.commit {
                r["properties"] = json!({"commit": c});
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "keyward",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory keyward scan ran in."}}},
            "results": results,
        }],
    })
}

/// Where a file is: relative to `%SRCROOT%` (the directory scanned from), or a `file://`
/// URI for an absolute path.
fn artifact(path: &str) -> Value {
    if path.starts_with('/') {
        json!({"uri": format!("file://{}", uri(path))})
    } else {
        json!({"uri": uri(path), "uriBaseId": "%SRCROOT%"})
    }
}

/// A relative URI reference for a path: `/` separators, `%`-escaped where a URI needs it.
fn uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
