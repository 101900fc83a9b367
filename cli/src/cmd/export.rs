//! `keyward export`: the live state as a `keys.yaml`, to adopt existing consumers.
//!
//! It reads every bucket (or one, `--bucket`) and its consumers with their managers through
//! the paged listing, and writes a file that `keyward validate` accepts and on which
//! `keyward plan` reports no changes. Never keys: the file format has no place for them.
//!
//! The YAML comes from `keyward_core::keys_file::to_yaml_checked`, which writes it and reads
//! it back with `keys_file::check` before anything is written here, so a file that would
//! not round-trip is an error, not a surprise in the next plan. This module only fetches
//! the live state and writes the text to a file or stdout.

use crate::client::{describe, Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::keys_file::plan::LiveRecord;
use keyward_core::keys_file::{self, BucketSpec, KeysFile, FORMAT_VERSION};
use serde_json::Value;
use std::collections::BTreeMap;
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
    let text = keys_file::to_yaml_checked(&file, &header)?;
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
