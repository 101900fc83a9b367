//! `keyward check`: asks the Worker whether a bucket's KV records are consistent.
//!
//! Calls `GET …/key-buckets/{bucket}/$check` for one bucket, or for every bucket, and
//! prints each problem: the KV key concerned (a key hash shortened to its first 8
//! characters: never a key, never a full hash) and what is wrong. Exits 1 when any bucket is
//! inconsistent, so it can gate a deploy or follow an interrupted sync.

use super::plural;
use crate::client::{Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::model::CheckOut;
use std::io::Write;
use std::process::ExitCode;

/// Check that buckets' KV records are consistent (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward check\n  keyward check --bucket production\n\n\
                  Exit codes: 0 consistent; 1 a problem was found, or any error."
)]
pub struct Args {
    /// Check only this bucket [default: every bucket]
    #[arg(long)]
    bucket: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let buckets = match args.bucket {
        Some(b) => vec![b],
        None => client.bucket_names()?,
    };
    let mut out = std::io::stdout().lock();
    let mut problems = 0usize;
    let mut bad = 0usize;
    for bucket in &buckets {
        let path = format!("/key-buckets/{bucket}/$check");
        let answer: CheckOut = serde_json::from_value(client.call("GET", &path, None)?)
            .with_context(|| format!("GET {path}: unexpected answer"))?;
        if answer.consistent {
            writeln!(out, "{bucket}: consistent")?;
            continue;
        }
        bad += 1;
        problems += answer.problems.len();
        for p in &answer.problems {
            writeln!(
                out,
                "{bucket}: {}: {}",
                keyward_core::kv::keys::redacted(&p.key),
                p.problem
            )?;
        }
    }
    out.flush()?;
    if bad > 0 {
        bail!(
            "{} found in {}; an interrupted change leaves these: run it again (keyward sync for keys.yaml) to repair them",
            plural(problems, "problem"),
            plural(bad, "bucket"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
