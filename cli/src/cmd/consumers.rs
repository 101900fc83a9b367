//! `keyward consumers list|get`: an admin's view of a bucket's consumers.
//!
//! `list` pages through every consumer (1000 per request) and prints one line each, or
//! with `--json` the API's consumer objects as one JSON array. `get` prints one consumer
//! with its managers, limits and masked keys, each key with when it was last used and its
//! requests today and in the last 30 days (`…/usage`). Keys are only ever shown masked. Every value is the
//! Worker's, so each goes through [`text`] (escaped as a field) or [`super::write_json`].

use crate::client::{Client, Remote};
use crate::terminal;
use anyhow::Result;
use serde_json::Value;
use std::borrow::Cow;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List a bucket's consumers: name, source, managers, description
    #[command(
        after_help = "Examples:\n  keyward consumers list\n  keyward consumers list --bucket production --json"
    )]
    List(ListArgs),
    /// Show one consumer with its metadata, limits, managers, last sync, masked keys and their usage
    #[command(
        after_help = "Examples:\n  keyward consumers get acme-corp\n  keyward consumers get acme-corp --json"
    )]
    Get(GetArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Bucket to list
    #[arg(long, default_value = "default")]
    bucket: String,
    /// Print the consumers as a JSON array instead of lines
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Consumer name
    name: String,
    /// Bucket of the consumer
    #[arg(long, default_value = "default")]
    bucket: String,
    /// Print the API's JSON instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// A string field of a server object, ready to print (empty when absent).
fn text<'a>(v: &'a Value, field: &str) -> Cow<'a, str> {
    terminal::field(v.get(field).and_then(Value::as_str).unwrap_or(""))
}

fn emails(c: &Value) -> Vec<Cow<'_, str>> {
    c.get("managers")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().map(|m| text(m, "email")).collect())
        .unwrap_or_default()
}

/// The consumer's limits as its metadata sets them (the Worker's defaults cover the rest).
fn limits(c: &Value) -> String {
    use keyward_core::limits::policy::Limits;
    c.get("metadata")
        .and_then(Value::as_object)
        .and_then(|m| Limits::of(m, &Limits::default()).describe())
        .unwrap_or_else(|| {
            "none set (the Worker's RATE_LIMIT_DEFAULT and QUOTA_DEFAULT apply)".into()
        })
}

/// `last used …, today N, 30 days M` of key `k` from the usage answer.
fn key_usage(usage: Option<&Value>, k: &Value) -> String {
    let Some(u) = usage else {
        return "usage unknown".into();
    };
    let id = k.get("id").and_then(Value::as_str).unwrap_or("");
    let entry = u.get("keys").and_then(Value::as_array).and_then(|ks| {
        ks.iter()
            .find(|e| e.get("id").and_then(Value::as_str) == Some(id))
    });
    let to = u.get("to").and_then(Value::as_str).unwrap_or("");
    let today = entry
        .and_then(|e| e.get("days"))
        .and_then(Value::as_array)
        .and_then(|ds| {
            ds.iter()
                .find(|d| d.get("date").and_then(Value::as_str) == Some(to))
        })
        .and_then(|d| d.get("requests"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let total = entry
        .and_then(|e| e.get("requests"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let last = entry
        .map(|e| text(e, "lastUsedOn"))
        .filter(|l| !l.is_empty())
        .unwrap_or(Cow::Borrowed("never"));
    format!("last used {last}, today {today}, 30 days {total}")
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::List(a) => {
            let client = Client::new(&a.remote)?;
            let all = client.list_all(
                &format!("/key-buckets/{}/consumers", a.bucket),
                "include-managers=true",
            )?;
            if a.json {
                super::write_json(&mut out, &all)?;
            } else {
                for c in &all {
                    let managers = emails(c);
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        text(c, "name"),
                        text(c, "source"),
                        if managers.is_empty() {
                            "-".to_owned()
                        } else {
                            managers.join(",")
                        },
                        text(c, "description"),
                    )?;
                }
            }
        }
        Command::Get(a) => {
            let client = Client::new(&a.remote)?;
            let mut c = client.call(
                "GET",
                &format!(
                    "/key-buckets/{}/consumers/{}?include-managers=true&include-api-keys=true&key-format=masked",
                    a.bucket, a.name
                ),
                None,
            )?;
            // The last 30 days (the API's default). The consumer was just read, so a failure
            // here is about usage only (an older Worker has no such route): said, not fatal.
            let usage = client.call(
                "GET",
                &format!("/key-buckets/{}/consumers/{}/usage", a.bucket, a.name),
                None,
            );
            let (usage, usage_error) = match usage {
                Ok(u) => (Some(u), None),
                Err(e) => (None, Some(e)),
            };
            if a.json {
                if let (Some(obj), Some(u)) = (c.as_object_mut(), &usage) {
                    obj.insert("usage".into(), u.clone());
                }
                super::write_json(&mut out, &c)?;
            } else {
                let compact = |f: &str| {
                    let json = c.get(f).map(Value::to_string).unwrap_or_default();
                    terminal::field(&json).into_owned()
                };
                writeln!(out, "name:        {}", text(&c, "name"))?;
                writeln!(out, "id:          {}", text(&c, "id"))?;
                writeln!(out, "description: {}", text(&c, "description"))?;
                writeln!(out, "source:      {}", text(&c, "source"))?;
                writeln!(out, "metadata:    {}", compact("metadata"))?;
                writeln!(out, "limits:      {}", limits(&c))?;
                writeln!(out, "tags:        {}", compact("tags"))?;
                writeln!(out, "managers:    {}", emails(&c).join(", "))?;
                if let Some(s) = c.get("lastSync") {
                    writeln!(
                        out,
                        "last sync:   {} (commit {})",
                        text(s, "at"),
                        terminal::field(
                            s.get("commit").and_then(Value::as_str).unwrap_or("unknown")
                        )
                    )?;
                }
                writeln!(out, "created:     {}", text(&c, "createdOn"))?;
                writeln!(out, "updated:     {}", text(&c, "updatedOn"))?;
                let keys = c.get("apiKeys").and_then(Value::as_array);
                writeln!(out, "keys:        {}", keys.map_or(0, Vec::len))?;
                for k in keys.into_iter().flatten() {
                    writeln!(
                        out,
                        "  {}\t{}\texpires {}\t{}\t{}",
                        text(k, "id"),
                        text(k, "key"),
                        terminal::field(
                            k.get("expiresOn")
                                .and_then(Value::as_str)
                                .unwrap_or("never")
                        ),
                        key_usage(usage.as_ref(), k),
                        text(k, "description"),
                    )?;
                }
                match &usage {
                    Some(u) => writeln!(
                        out,
                        "requests:    {} from {} to {} (UTC)",
                        u.get("requests").and_then(Value::as_u64).unwrap_or(0),
                        text(u, "from"),
                        text(u, "to"),
                    )?,
                    None => writeln!(
                        out,
                        "requests:    unknown ({})",
                        terminal::field(&usage_error.map(|e| e.to_string()).unwrap_or_default())
                    )?,
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
