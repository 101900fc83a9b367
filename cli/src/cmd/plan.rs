//! `keyward plan`: what `sync` would change, as text, markdown or JSON.
//!
//! The file is checked first (as `validate` does; nothing is sent when it has a problem),
//! its consumers packed as they are checked. Then, per bucket of the file, [`live_bucket`]
//! reads what the Worker holds the cheap way — `$index` pages of names, digests and sources,
//! packed page by page, and full records only for the consumers that
//! `LiveIndex::records_needed` names — and `keyward_core::keys_file::plan::BucketPlan`
//! decides. `sync` calls [`read_live`] and [`plans`] too, so the preview and the apply share
//! one path. Rendering lives in core (pure, snapshot tested) and writes change by change;
//! this module only hands it stdout, coloured on a terminal. Nothing here holds the file's
//! model, a list of changes or the printed plan whole.

use crate::client::{describe, encode, Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::api::model::IndexPageOut;
use keyward_core::api::INDEX_PAGE_MAX;
use keyward_core::keys_file::plan::{
    self, BucketPlan, DesiredBucket, DesiredFile, LiveIndex, LiveRecord, PlanView,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The largest `$index` page of a Worker from before the bucket objects.
const OLD_INDEX_PAGE_MAX: usize = 1000;

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
    pub exit_code: bool,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let desired = super::validate::read(&args.file).context("nothing was sent")?;
    let client = Client::new(&args.remote)?;
    let live = read_live(&client, &desired, args.prune)?;
    let none = DesiredBucket::default();
    let plans = plans(&desired, &live, &none, args.prune);
    print(&plans, args.format)?;
    if args.exit_code && plan::summarize(&plans).has_changes() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints plans in `format` on stdout, change by change as they are made.
pub fn print<P: PlanView>(plans: &[P], format: Format) -> Result<()> {
    let stdout = std::io::stdout().lock();
    let paint = format == Format::Text && super::colour_stdout();
    let escape = match format {
        Format::Text | Format::Markdown => super::Escape::Text,
        Format::Json => super::Escape::Json,
    };
    let mut out = super::Out::new(stdout, paint, escape);
    let written = match format {
        Format::Text => plan::write_text(plans, &mut out),
        Format::Markdown => plan::write_markdown(plans, &mut out),
        Format::Json => plan::write_json(plans, &mut out).and_then(|()| out.write_char('\n')),
    };
    out.finish(written)
}

/// What the Worker holds for every bucket of `desired`, in bucket order, and with `prune`
/// for every other bucket too (the consumers the file created there are missing from it).
pub fn read_live(client: &Client, desired: &DesiredFile, prune: bool) -> Result<Vec<LiveIndex>> {
    let mut live = Vec::with_capacity(desired.buckets.len());
    for (bucket, consumers) in &desired.buckets {
        let l = live_bucket(client, bucket, consumers, prune)
            .with_context(|| format!("reading bucket '{bucket}'"))?;
        if let Some(why) = (l.exists)
            .then(|| plan::retrievable_conflict(bucket, consumers.is_retrievable, l.is_retrievable))
            .flatten()
        {
            bail!("{why}");
        }
        live.push(l);
    }
    if prune {
        let none = DesiredBucket::default();
        for bucket in client.bucket_names()? {
            if desired.buckets.contains_key(&bucket) {
                continue;
            }
            if keyward_core::validate::bucket_name(&bucket).is_err() {
                bail!(
                    "the Worker listed a bucket name that is not valid: {:?}",
                    bucket.chars().take(80).collect::<String>()
                );
            }
            live.push(
                live_bucket(client, &bucket, &none, prune)
                    .with_context(|| format!("reading bucket '{bucket}'"))?,
            );
        }
    }
    Ok(live)
}

/// The plan of every bucket read by [`read_live`]: the file's buckets in order, then (with
/// `prune`) each other bucket with consumers to delete. `none` is an empty bucket, what the
/// file declares for a bucket it does not list.
pub fn plans<'a>(
    desired: &'a DesiredFile,
    live: &'a [LiveIndex],
    none: &'a DesiredBucket,
    prune: bool,
) -> Vec<BucketPlan<'a>> {
    live.iter()
        .filter_map(|l| match desired.buckets.get(&l.name) {
            Some(d) => Some(BucketPlan::new(d, l, prune)),
            None => {
                // A bucket removed from the file: its API-made consumers are none of the
                // file's business (not counted); the bucket itself stays.
                let mut removed = BucketPlan::new(none, l, prune);
                removed.ignore_unmanaged();
                let s = PlanView::summary(&removed);
                (s.create + s.update + s.delete > 0).then_some(removed)
            }
        })
        .collect()
}

/// A consumer of the paged listing: its name and the fields a plan reads.
#[derive(Deserialize)]
pub struct Listed {
    pub name: String,
    #[serde(flatten)]
    pub record: LiveRecord,
}

/// What the Worker holds for `bucket`: every consumer's digest and source from `$index`
/// pages, packed as they come, and the full record of each consumer that
/// [`LiveIndex::records_needed`] names (the plan shows it in detail: a differing digest, or
/// a delete with `prune`).
pub fn live_bucket(
    client: &Client,
    bucket: &str,
    desired: &DesiredBucket,
    prune: bool,
) -> Result<LiveIndex> {
    let path = format!("/key-buckets/{bucket}");
    let reply = client.send("GET", &path, None)?;
    match reply.status {
        200 => {}
        404 => return Ok(LiveIndex::new(bucket, false)),
        _ => bail!("GET {path}: {}", describe(&reply)),
    }
    let mut live = LiveIndex::new(bucket, true);
    live.is_retrievable = reply.body.get("isRetrievable") == Some(&serde_json::Value::Bool(true));
    let mut cursor: Option<String> = None;
    let mut limit = INDEX_PAGE_MAX;
    loop {
        let mut page_path = format!("{path}/consumers/$index?limit={limit}");
        if let Some(c) = &cursor {
            page_path.push_str(&format!("&cursor={}", encode(c)));
        }
        let page: IndexPageOut = if cursor.is_none() && limit > OLD_INDEX_PAGE_MAX {
            // A Worker from before the bucket objects pages by at most 1000 (400 otherwise).
            let reply = client.send("GET", &page_path, None)?;
            match reply.status {
                200 => serde_json::from_value(reply.body)
                    .with_context(|| format!("GET {page_path}: unexpected answer"))?,
                400 => {
                    limit = OLD_INDEX_PAGE_MAX;
                    continue;
                }
                _ => bail!("GET {page_path}: {}", describe(&reply)),
            }
        } else {
            client.get(&page_path)?
        };
        for e in &page.data {
            // Names end up in the plan's text and in URLs: one the API could never have
            // stored means a Worker we must not believe (or a newline injected into a plan).
            if keyward_core::validate::consumer_name(&e.name).is_err() {
                bail!(
                    "GET {page_path}: the Worker listed a consumer name that is not valid: {:?}",
                    e.name.chars().take(80).collect::<String>()
                );
            }
            live.push(&e.name, e.source, &e.digest);
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }

    let wanted = live.records_needed(desired, prune);
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
                    live.set_record(name, &record);
                }
                // Deleted since the index was read: plan it as absent.
                404 => live.remove(name),
                _ => bail!("GET consumer '{name}': {}", describe(&reply)),
            }
        }
    } else {
        let mut seen = BTreeSet::new();
        client.each_page(
            &format!("{path}/consumers"),
            "include-managers=true",
            |items: Vec<Listed>| {
                for item in items {
                    if wanted.contains(&item.name) {
                        live.set_record(&item.name, &item.record);
                        seen.insert(item.name);
                    }
                }
                Ok(())
            },
        )?;
        for gone in wanted.difference(&seen) {
            live.remove(gone);
        }
    }
    Ok(live)
}
