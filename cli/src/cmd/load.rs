//! `keyward load`: the plain loader that `make dev` uses until `keyward sync` exists.
//!
//! Creates each bucket and consumer of `keys.yaml` that the Worker does not have yet and
//! leaves existing ones untouched. It never deletes and never creates keys. The file is
//! checked first, as `keyward validate` does; nothing is sent when it has a problem.

use crate::client::{describe, Client, Remote};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Load keys.yaml into the Worker (creates missing buckets and consumers; changes nothing else)
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  KEYWARD_TOKEN=... keyward load keys.yaml")]
pub struct Args {
    /// The file to load
    #[arg(default_value = "keys.yaml")]
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = super::validate::read(&args.file).context("nothing was loaded")?;
    let client = Client::new(&args.remote)?;
    let (mut created, mut kept) = (0usize, 0usize);
    for (bucket, spec) in &file.buckets {
        let reply = client.send("GET", &format!("/key-buckets/{bucket}"), None)?;
        match reply.status {
            200 => {}
            404 => {
                client.call(
                    "POST",
                    "/key-buckets",
                    Some(&json!({"name": bucket, "description": spec.description})),
                )?;
                println!("+ bucket {bucket}");
            }
            _ => bail!("bucket '{bucket}': {}", describe(&reply)),
        }
        for (name, c) in &spec.consumers {
            let body = json!({
                "name": name,
                "description": c.description,
                "metadata": c.metadata,
                "tags": c.tags,
                "managers": c.managers,
            });
            let reply = client.send(
                "POST",
                &format!("/key-buckets/{bucket}/consumers"),
                Some(&body),
            )?;
            match reply.status {
                200 => {
                    created += 1;
                    println!("+ consumer {bucket}/{name}");
                }
                409 => kept += 1,
                _ => bail!("consumer '{bucket}/{name}': {}", describe(&reply)),
            }
        }
    }
    println!("Loaded: {created} created, {kept} already present (left unchanged).");
    Ok(ExitCode::SUCCESS)
}
