//! `--check` and `--revoke`: who owns each key found, from the Worker.
//!
//! `POST {url}/v1/keys/$lookup` with up to 1000 keys per request (the Worker hashes them at
//! once and keeps nothing); with `--revoke`, `POST {url}/v1/leaks` reports each active key
//! with where it was found and `revoke: true`. Keys travel only in these bodies, to the
//! URL `--url` names (https, or http to this machine), never in output.

use super::Finding;
use crate::client::{Client, Remote};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Most keys per request, as the Worker accepts.
const BATCH: usize = 1000;

/// A key's owner, as `$lookup` answers.
#[derive(Debug, Clone, Default)]
pub struct Owner {
    pub found: bool,
    pub bucket: Option<String>,
    pub consumer: Option<String>,
    pub key_id: Option<String>,
    pub active: bool,
}

/// Fills in each finding's owner (and, with `revoke`, what was done). On an error, what was
/// learnt before it is filled in all the same, so the findings can still be printed.
pub fn check(remote: &Remote, findings: &mut [Finding], revoke: bool) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let mut owners: HashMap<String, Owner> = HashMap::new();
    let mut actions: HashMap<String, String> = HashMap::new();
    let result = ask(remote, findings, revoke, &mut owners, &mut actions);
    for f in findings.iter_mut() {
        f.owner = owners.get(&f.key).cloned();
        f.action = actions.get(&f.key).cloned();
    }
    result
}

fn ask(
    remote: &Remote,
    findings: &[Finding],
    revoke: bool,
    owners: &mut HashMap<String, Owner>,
    actions: &mut HashMap<String, String>,
) -> Result<()> {
    let client = Client::new(remote)?;
    // Each distinct key once.
    let mut keys: Vec<&str> = findings.iter().map(|f| f.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for batch in keys.chunks(BATCH) {
        let answer = client
            .post_root("/v1/keys/$lookup", &json!({ "keys": batch }))
            .context("asking the Worker who owns the keys (--check)")?;
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .filter(|d| d.len() == batch.len())
            .context("the Worker's $lookup answer has no `data` list of one item per key")?;
        for (key, item) in batch.iter().zip(data) {
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
            owners.insert(
                (*key).to_owned(),
                Owner {
                    found: item.get("found").and_then(Value::as_bool).unwrap_or(false),
                    bucket: text("bucket"),
                    consumer: text("consumer"),
                    key_id: text("keyId"),
                    active: item.get("active").and_then(Value::as_bool).unwrap_or(false),
                },
            );
        }
    }
    if !revoke {
        return Ok(());
    }
    // The first place each active key was found is the report's location.
    let mut reported: HashMap<String, usize> = HashMap::new();
    let mut reports = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let active = owners.get(&f.key).is_some_and(|o| o.found && o.active);
        if active && !reported.contains_key(&f.key) {
            reported.insert(f.key.clone(), reports.len());
            reports.push((i, location(f)));
        }
    }
    for batch in reports.chunks(BATCH) {
        let body: Vec<Value> = batch
            .iter()
            .map(|(i, at)| {
                json!({"key": findings[*i].key, "url": at, "source": "keyward scan", "revoke": true})
            })
            .collect();
        let answer = client
            .post_root("/v1/leaks", &Value::Array(body))
            .context("reporting the leaked keys (--revoke)")?;
        let Some(items) = answer.as_array().filter(|a| a.len() == batch.len()) else {
            bail!("the Worker's leaks answer is not a list of one item per key");
        };
        for ((i, _), item) in batch.iter().zip(items) {
            let action = item
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("none")
                .to_owned();
            actions.insert(findings[*i].key.clone(), action);
        }
    }
    Ok(())
}

/// Where a key was found, as a leak report's `url`: `path:line:col`, and `@commit` for
/// history.
fn location(f: &Finding) -> String {
    match &f.commit {
        Some(c) => format!("{}:{}:{}@{c}", f.path, f.line, f.column),
        None => format!("{}:{}:{}", f.path, f.line, f.column),
    }
}
