//! `keyward keys`: an admin's manual key management (what Zuplo's portal offers admins).
//!
//! `keys create` and `keys roll` print the new key, once, and nothing else on stdout, so
//! that `KEY=$(keyward keys create --consumer acme)` works. What the Worker sends is printed
//! through [`crate::terminal`], the key too (a real one is plain ASCII, so it is unchanged).

use crate::client::{describe, Client, Remote};
use crate::terminal;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key for a consumer and print it (shown only this once)
    #[command(
        after_help = "Example:\n  KEY=$(keyward keys create --consumer acme-corp --description ci)"
    )]
    Create(CreateArgs),
    /// List a consumer's keys (masked)
    #[command(
        after_help = "Examples:\n  keyward keys list --consumer acme-corp\n  keyward keys list --consumer acme-corp --json"
    )]
    List(ListArgs),
    /// Roll a consumer's keys: create a new one (printed, shown only this once) and make the others expire
    #[command(
        after_help = "Examples:\n  NEW=$(keyward keys roll --consumer acme-corp --expires-on 2027-01-31T00:00:00Z)\n  NEW=$(keyward keys roll --consumer acme-corp --expires-on \"$(date -u +%FT%TZ)\")   # revoke the old keys now"
    )]
    Roll(RollArgs),
    /// Delete a key by id; it stops verifying at once in the isolate that deletes it, elsewhere within the cache TTL
    #[command(after_help = "Example:\n  keyward keys delete --consumer acme-corp key_...")]
    Delete(DeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct Target {
    /// Bucket of the consumer
    #[arg(long, default_value = "default")]
    bucket: String,
    /// Consumer name
    #[arg(long)]
    consumer: String,
    #[command(flatten)]
    remote: Remote,
}

impl Target {
    fn path(&self) -> String {
        format!(
            "/key-buckets/{}/consumers/{}/keys",
            self.bucket, self.consumer
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    target: Target,
    /// Description of the key
    #[arg(long)]
    description: Option<String>,
    /// Expiry, RFC 3339 (e.g. 2027-01-31T00:00:00Z)
    #[arg(long)]
    expires_on: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollArgs {
    #[command(flatten)]
    target: Target,
    /// When the consumer's other keys stop working, RFC 3339 (a past time revokes them at once)
    #[arg(long)]
    expires_on: String,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    target: Target,
    /// Id of the key (key_…)
    id: String,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Create(a) => {
            let client = Client::new(&a.target.remote)?;
            let body = json!({"description": a.description, "expiresOn": a.expires_on});
            let created = client.call("POST", &a.target.path(), Some(&body))?;
            let key = created
                .get("key")
                .and_then(Value::as_str)
                .context("the answer holds no key")?;
            println!("{}", terminal::field(key));
        }
        Command::List(a) => {
            let client = Client::new(&a.target.remote)?;
            let list = client.call(
                "GET",
                &format!("{}?key-format=masked", a.target.path()),
                None,
            )?;
            if a.json {
                super::write_json(&mut std::io::stdout().lock(), &list)?;
            } else {
                let empty = Vec::new();
                let keys = list.get("data").and_then(Value::as_array).unwrap_or(&empty);
                for k in keys {
                    let field = |f: &str| {
                        terminal::field(k.get(f).and_then(Value::as_str).unwrap_or("-"))
                            .into_owned()
                    };
                    // A leaked key says when it was reported, and where it was found.
                    let leaked = match k.get("leakedOn") {
                        Some(_) => {
                            format!("\tleaked {} at {}", field("leakedOn"), field("leakedAt"))
                        }
                        None => String::new(),
                    };
                    println!(
                        "{}\t{}\texpires {}\t{}{leaked}",
                        field("id"),
                        field("key"),
                        field("expiresOn"),
                        field("description")
                    );
                }
            }
        }
        Command::Roll(a) => {
            let client = Client::new(&a.target.remote)?;
            let path = format!(
                "/key-buckets/{}/consumers/{}/roll-key",
                a.target.bucket, a.target.consumer
            );
            let reply = client.send_with(
                "POST",
                &path,
                Some(&json!({"expiresOn": a.expires_on})),
                &[("prefer", "return=representation")],
            )?;
            if !reply.ok() {
                bail!("POST {path}: {}", describe(&reply));
            }
            let key = reply
                .body
                .get("key")
                .and_then(Value::as_str)
                .context("the answer holds no key; the Worker may be too old to return it")?;
            println!("{}", terminal::field(key));
        }
        Command::Delete(a) => {
            let client = Client::new(&a.target.remote)?;
            client.call("DELETE", &format!("{}/{}", a.target.path(), a.id), None)?;
            eprintln!("deleted {}", a.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
