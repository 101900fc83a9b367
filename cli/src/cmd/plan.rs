//! `keyward plan`: what `sync` would change, as text, markdown or JSON.
//!
//! The file is checked first (as `validate` does; nothing is sent when it has a problem).
//! Then, per bucket of the file, [`live_bucket`] reads what the Worker holds the cheap way —
//! `$index` pages of names, digests and sources, and full records only for the consumers
//! that `keyward_core::keys_file::plan::records_needed` names — and
//! `keyward_core::keys_file::plan::diff` decides. `sync` calls [`compute`] too, so the
//! preview and the apply share one path. Rendering lives in core (pure, snapshot
//! tested); this module only prints it, coloured on a terminal.

use crate::client::{describe, encode, Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::api::model::IndexPageOut;
use keyward_core::keys_file::plan::{self, LiveBucket, LiveConsumer, LiveRecord, Plan};
use keyward_core::keys_file::{ConsumerSpec, KeysFile};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Above this many consumers to read, the full records come from the paged listing (1000
/// per request) instead of one request each.
pub const PER_CONSUMER_READS_MAX: usize = 200;

/// Output format of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One verb-first line per change and a summary
    Text,
    /// A pull-request comment
    Markdown,
    /// The documented JSON shape (formatVersion 1)
    Json,
}

/// Show what sync would change (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward plan keys.yaml\n  keyward plan --format markdown > plan.md\n  keyward plan --exit-code      # 0 no changes, 2 changes, 1 error\n\n\
                  Exit codes: 0 success; 1 any error (an invalid file included); with --exit-code, 2 when there are changes."
)]
pub struct Args {
    /// The file to plan
    #[arg(default_value = "keys.yaml")]
    file: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also plan deleting consumers created from the file that it no longer lists
    #[arg(long)]
    prune: bool,
    /// Exit 2 when there are changes, 0 when there are none
    #[arg(long)]
    exit_code: bool,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = super::validate::read(&args.file).context("nothing was sent")?;
    let client = Client::new(&args.remote)?;
    let plans = compute(&client, &file, args.prune)?;
    print(&plans, args.format)?;
    if args.exit_code && plan::summarize(&plans).has_changes() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints plans in `format` on stdout.
pub fn print(plans: &[Plan], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => {
            let text = plan::render_text(plans);
            if super::colour_stdout() {
                out.write_all(super::paint_plan(&text).as_bytes())?;
            } else {
                out.write_all(text.as_bytes())?;
            }
        }
        Format::Markdown => out.write_all(plan::render_markdown(plans).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &plan::render_json(plans))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The plan of every bucket of `file`, in bucket order.
pub fn compute(client: &Client, file: &KeysFile, prune: bool) -> Result<Vec<Plan>> {
    let mut plans = Vec::with_capacity(file.buckets.len());
    for (bucket, spec) in &file.buckets {
        let live = live_bucket(client, bucket, &spec.consumers, prune)
            .with_context(|| format!("reading bucket '{bucket}'"))?;
        plans.push(plan::diff(&spec.consumers, &live, prune));
    }
    if prune {
        // A bucket removed from the file: the consumers the file created there are missing
        // from it too. Its API-made consumers are none of the file's business (not counted);
        // the bucket itself stays.
        let none = BTreeMap::new();
        for bucket in client.bucket_names()? {
            if file.buckets.contains_key(&bucket) {
                continue;
            }
            let live = live_bucket(client, &bucket, &none, prune)
                .with_context(|| format!("reading bucket '{bucket}'"))?;
            let mut removed = plan::diff(&none, &live, prune);
            removed.unmanaged = 0;
            if !removed.changes.is_empty() {
                plans.push(removed);
            }
        }
    }
    Ok(plans)
}

/// What the Worker holds for `bucket`: every consumer's digest and source from `$index`, and
/// the full record of each consumer that `keyward_core::keys_file::plan::records_needed` names (the
/// plan shows it in detail: a differing digest, or a delete with `prune`).
pub fn live_bucket(
    client: &Client,
    bucket: &str,
    desired: &BTreeMap<String, ConsumerSpec>,
    prune: bool,
) -> Result<LiveBucket> {
    let path = format!("/key-buckets/{bucket}");
    let reply = client.send("GET", &path, None)?;
    match reply.status {
        200 => {}
        404 => {
            return Ok(LiveBucket {
                name: bucket.to_owned(),
                exists: false,
                consumers: BTreeMap::new(),
            })
        }
        _ => bail!("GET {path}: {}", describe(&reply)),
    }
    let mut consumers = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_path = format!("{path}/consumers/$index?limit=1000");
        if let Some(c) = &cursor {
            page_path.push_str(&format!("&cursor={}", encode(c)));
        }
        let page: IndexPageOut = serde_json::from_value(client.call("GET", &page_path, None)?)
            .with_context(|| format!("GET {page_path}: unexpected answer"))?;
        for e in page.data {
            consumers.insert(
                e.name,
                LiveConsumer {
                    source: e.source,
                    digest: e.digest,
                    record: None,
                },
            );
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }

    let wanted = plan::records_needed(desired, &consumers, prune);
    if wanted.len() <= PER_CONSUMER_READS_MAX {
        for name in &wanted {
            let reply = client.send(
                "GET",
                &format!("{path}/consumers/{name}?include-managers=true"),
                None,
            )?;
            match reply.status {
                200 => {
                    let record: LiveRecord = serde_json::from_value(reply.body)
                        .with_context(|| format!("consumer '{name}': unexpected answer"))?;
                    if let Some(c) = consumers.get_mut(name) {
                        c.record = Some(record);
                    }
                }
                // Deleted since the index was read: plan it as absent.
                404 => {
                    consumers.remove(name);
                }
                _ => bail!("GET consumer '{name}': {}", describe(&reply)),
            }
        }
    } else {
        let all = client.list_all(&format!("{path}/consumers"), "include-managers=true")?;
        let mut seen = BTreeSet::new();
        for item in all {
            let Some(name) = item.get("name").and_then(|n| n.as_str()).map(str::to_owned) else {
                continue;
            };
            if !wanted.contains(&name) {
                continue;
            }
            let record: LiveRecord = serde_json::from_value(item)
                .with_context(|| format!("consumer '{name}': unexpected answer"))?;
            if let Some(c) = consumers.get_mut(&name) {
                c.record = Some(record);
            }
            seen.insert(name);
        }
        for gone in wanted.difference(&seen) {
            consumers.remove(gone);
        }
    }
    Ok(LiveBucket {
        name: bucket.to_owned(),
        exists: true,
        consumers,
    })
}
