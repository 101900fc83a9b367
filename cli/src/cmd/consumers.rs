//! `keyward consumers list|get`: an admin's view of a bucket's consumers.
//!
//! `list` pages through every consumer (1000 per request) and prints one line each, or
//! with `--json` the API's consumer objects as one JSON array. `get` prints one consumer
//! with its managers and masked keys. Keys are only ever shown masked. Every value is the
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
    /// Show one consumer with its metadata, tags, managers, last sync and masked keys
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
            let c = client.call(
                "GET",
                &format!(
                    "/key-buckets/{}/consumers/{}?include-managers=true&include-api-keys=true&key-format=masked",
                    a.bucket, a.name
                ),
                None,
            )?;
            if a.json {
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
                        "  {}\t{}\texpires {}\t{}",
                        text(k, "id"),
                        text(k, "key"),
                        terminal::field(
                            k.get("expiresOn")
                                .and_then(Value::as_str)
                                .unwrap_or("never")
                        ),
                        text(k, "description"),
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
