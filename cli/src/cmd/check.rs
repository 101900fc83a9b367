//! `keyward check`: asks the Worker whether a bucket's KV records are consistent.
//!
//! Calls `GET …/key-buckets/{bucket}/$check` for one bucket, or for every bucket, and
//! prints each problem: the KV key concerned (a key hash shortened to its first 8
//! characters: never a key, never a full hash) and what is wrong. Exits 1 when any bucket is
//! inconsistent, so it can gate a deploy or follow an interrupted sync. `--repair` sends
//! `POST …/$check`, which rewrites every derived entry from the consumer records.

use super::plural;
use crate::client::{Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::api::model::CheckOut;
use std::io::Write;
use std::process::ExitCode;

/// Check that buckets' KV records are consistent (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward check\n  keyward check --bucket production\n  keyward check --repair\n\n\
                  Exit codes: 0 consistent (or repaired with --repair); 1 a problem was found, or any error."
)]
pub struct Args {
    /// Check only this bucket [default: every bucket]
    #[arg(long)]
    bucket: Option<String>,
    /// Repair what is found: rewrite derived entries from the consumer records (needs write access)
    #[arg(long)]
    repair: bool,
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
        let method = if args.repair { "POST" } else { "GET" };
        let answer: CheckOut = serde_json::from_value(client.call(method, &path, None)?)
            .with_context(|| format!("GET {path}: unexpected answer"))?;
        if answer.consistent {
            writeln!(out, "{bucket}: consistent")?;
            continue;
        }
        if !answer.repaired {
            bad += 1;
        }
        problems += answer.problems.len();
        for p in &answer.problems {
            writeln!(
                out,
                "{bucket}: {}: {}{}",
                keyward_core::storage::kv::keys::redacted(&p.key),
                p.problem,
                if answer.repaired { " (repaired)" } else { "" }
            )?;
        }
    }
    out.flush()?;
    if bad > 0 {
        bail!(
            "{} found in {}; an interrupted change leaves these: run keyward check --repair to rewrite them from the consumer records",
            plural(problems, "problem"),
            plural(bad, "bucket"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
