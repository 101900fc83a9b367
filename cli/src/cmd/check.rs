//! `keyward check`: asks the Worker whether KV holds exactly the verification records each
//! bucket's tables say.
//!
//! Calls `GET …/key-buckets/{bucket}/$check` for one bucket, or for every bucket, following
//! its `cursor` until the bucket is done (each call spends one budget of KV operations), and
//! prints each problem: the KV key concerned (a key hash shortened to its first 8
//! characters: never a key, never a full hash) and what is wrong; also the KV writes still
//! on their way and, for a bucket moved from the old KV-only layout, how many consumers were
//! imported. Exits 1 when any bucket is inconsistent, so it can gate a deploy. `--repair`
//! sends `POST …/$check`, which queues a fix of each problem from the bucket's tables.
//! Everything printed from an answer goes through [`terminal::field`].

use super::plural;
use crate::client::{Client, Remote};
use crate::terminal;
use anyhow::{bail, Context, Result};
use keyward_core::api::model::CheckOut;
use std::io::Write;
use std::process::ExitCode;

/// Check that KV holds exactly the verification records the buckets' tables say (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward check\n  keyward check --bucket production\n  keyward check --repair\n\n\
                  Exit codes: 0 consistent (or repaired with --repair); 1 a problem was found, or any error."
)]
pub struct Args {
    /// Check only this bucket [default: every bucket]
    #[arg(long)]
    bucket: Option<String>,
    /// Repair what is found: queue each fix from the bucket's tables (needs write access)
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
        // Bucket names come from the Worker when not given, problems and records always.
        let shown = terminal::field(bucket);
        let method = if args.repair { "POST" } else { "GET" };
        let mut cursor: Option<String> = None;
        let mut found = 0usize;
        let mut checked = 0usize;
        let last = loop {
            let mut path = format!("/key-buckets/{bucket}/$check");
            if let Some(c) = &cursor {
                path.push_str(&format!("?cursor={}", crate::client::encode(c)));
            }
            let answer: CheckOut = serde_json::from_value(client.call(method, &path, None)?)
                .with_context(|| format!("{method} {path}: unexpected answer"))?;
            checked += answer.checked;
            for p in &answer.problems {
                writeln!(
                    out,
                    "{shown}: {}: {}{}",
                    terminal::field(&keyward_core::storage::kv::keys::redacted(&p.key)),
                    terminal::field(&p.problem),
                    if answer.repaired {
                        " (repair queued)"
                    } else {
                        ""
                    }
                )?;
            }
            found += answer.problems.len();
            cursor = answer.cursor.clone();
            if cursor.is_none() {
                break answer;
            }
        };
        let mut notes = vec![format!(
            "{} compared",
            plural(checked, "verification record")
        )];
        if last.pending_writes > 0 {
            notes.push(format!(
                "{} on the way",
                plural(last.pending_writes as usize, "KV write")
            ));
        }
        for record in &last.unreadable_legacy_records {
            writeln!(
                out,
                "{shown}: {}: a consumer record of the old KV layout that could not be imported; it stays in KV, and its keys' records are kept",
                terminal::field(record)
            )?;
        }
        if let Some(n) = last.imported_consumers {
            notes.push(format!(
                "{} imported from the old KV layout",
                plural(n as usize, "consumer")
            ));
        }
        if found == 0 {
            writeln!(out, "{shown}: consistent ({})", notes.join(", "))?;
            continue;
        }
        if !args.repair {
            bad += 1;
        }
        problems += found;
    }
    out.flush()?;
    if bad > 0 {
        bail!(
            "{} found in {}; run keyward check --repair to rewrite them from the bucket's tables",
            plural(problems, "problem"),
            plural(bad, "bucket"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
