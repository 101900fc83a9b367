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
            writeln!(out, "{bucket}: {}: {}", shorten_hash(&p.key), p.problem)?;
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

/// `k:{bucket}:{hash}` with the hash cut to 8 characters; other KV keys unchanged.
fn shorten_hash(kv_key: &str) -> String {
    match kv_key
        .strip_prefix("k:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((bucket, hash)) if hash.chars().count() > 8 => {
            let head: String = hash.chars().take(8).collect();
            format!("k:{bucket}:{head}…")
        }
        _ => kv_key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_hashes_are_shortened() {
        let hash = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
        assert_eq!(
            super::shorten_hash(&format!("k:default:{hash}")),
            "k:default:AbCdEfGh…"
        );
        assert_eq!(super::shorten_hash("c:default:acme"), "c:default:acme");
        assert_eq!(
            super::shorten_hash("m:default:a@b.example:acme"),
            "m:default:a@b.example:acme"
        );
    }
}
