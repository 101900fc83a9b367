//! `keyward sync`: applies `keys.yaml` to the live Worker.
//!
//! It computes the plan with the very code `keyward plan` runs ([`super::plan::compute`]),
//! prints it, and — unless `--dry-run` — applies it: missing buckets first, then creates
//! and updates, then deletes, through `POST …/consumers/$bulk` in requests of at most
//! [`BATCH`] items. Items the Worker answers `deferred` (its KV operation budget for one
//! request was spent) are sent again until none are left.
//!
//! Properties:
//! - idempotent: a second run finds an empty plan and sends no `$bulk` request at all;
//! - resumable: every request is a set of idempotent upserts/deletes, and the plan is
//!   recomputed from the live state, so after an interruption a rerun converges;
//! - `--prune` deletes only consumers created from the file (`deleteOnlySource: file`
//!   makes the Worker refuse anything else, even if the plan were stale);
//! - updates keep a consumer's source: one created through the API stays protected;
//! - the commit applied (`GITHUB_SHA`, else `git rev-parse HEAD` next to the file) is
//!   recorded on each consumer changed (`lastSync` in the API);
//! - a summary line is printed even when the apply fails part-way.

use super::plan::{self as plan_cmd, Format};
use super::plural;
use crate::client::{describe, Client, Remote};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyward_core::api::model::{BulkConsumers, BulkOut, BulkStatus, UpsertConsumer};
use keyward_core::keys_file::plan::{self, Change, Plan};
use keyward_core::keys_file::KeysFile;
use keyward_core::storage::kv::Source;
use serde_json::json;
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

/// Items per `$bulk` request.
pub const BATCH: usize = 250;
/// Attempts of one `$bulk` request when the Worker does not answer or answers 5xx/429.
const ATTEMPTS: u32 = 3;

/// Apply keys.yaml to the live Worker (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward sync keys.yaml\n  keyward sync --dry-run        # print the plan, change nothing\n  keyward sync --prune          # also delete consumers removed from the file\n  GITHUB_SHA=$(git rev-parse HEAD) keyward sync\n\n\
                  Exit codes: 0 applied (or nothing to do); 1 any error (an invalid file included)."
)]
pub struct Args {
    /// The file to apply
    #[arg(default_value = "keys.yaml")]
    file: PathBuf,
    /// Also delete consumers created from the file that it no longer lists
    #[arg(long)]
    prune: bool,
    /// Print the plan and stop before changing anything
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    remote: Remote,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let file = super::validate::read(&args.file).context("nothing was sent")?;
    let client = Client::new(&args.remote)?;
    let plans = plan_cmd::compute(&client, &file, args.prune)?;
    plan_cmd::print(&plans, Format::Text)?;
    if args.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    let commit = commit_of(&args.file);
    let summary = plan::summarize(&plans);
    let mut tally = Tally {
        planned: summary.create + summary.update + summary.delete,
        ..Tally::default()
    };
    let progress = Progress::new(tally.planned);
    let result = apply(
        &client,
        &file,
        &plans,
        commit.as_deref(),
        &mut tally,
        &progress,
    );
    progress.finish();
    // Statistics on stderr, so stdout stays the plan and the summary.
    eprintln!(
        "sync: {} KV writes, {} requests",
        tally.writes,
        client.requests()
    );
    match result {
        Ok(()) => {
            println!("{}", tally.line());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", tally.stopped_line());
            Err(e)
        }
    }
}

/// What the Worker answered, item by item.
#[derive(Debug, Default)]
struct Tally {
    planned: usize,
    created: usize,
    updated: usize,
    deleted: usize,
    unchanged: usize,
    absent: usize,
    protected: usize,
    /// KV writes the Worker reported.
    writes: usize,
}

impl Tally {
    fn done(&self) -> usize {
        self.created + self.updated + self.deleted + self.unchanged + self.absent + self.protected
    }

    fn counts(&self) -> String {
        let mut text = format!(
            "{} created, {} updated, {} deleted",
            self.created, self.updated, self.deleted
        );
        if self.unchanged + self.absent > 0 {
            text.push_str(&format!(
                ", {} already as planned",
                self.unchanged + self.absent
            ));
        }
        if self.protected > 0 {
            text.push_str(&format!(
                ", {} not deleted (created through the API)",
                self.protected
            ));
        }
        text
    }

    /// The summary of a complete run.
    fn line(&self) -> String {
        format!("Sync: {}.", self.counts())
    }

    /// The summary of a run that failed part-way.
    fn stopped_line(&self) -> String {
        let left = self.planned.saturating_sub(self.done());
        format!(
            "Sync stopped part-way: {}; {} not applied. Run keyward sync again to finish.",
            self.counts(),
            plural(left, "change"),
        )
    }

    fn count(&mut self, status: BulkStatus) {
        match status {
            BulkStatus::Created => self.created += 1,
            BulkStatus::Updated => self.updated += 1,
            BulkStatus::Deleted => self.deleted += 1,
            BulkStatus::Unchanged => self.unchanged += 1,
            BulkStatus::Absent => self.absent += 1,
            BulkStatus::Protected => self.protected += 1,
            BulkStatus::Deferred => {}
        }
    }
}

/// A progress bar on a terminal (stderr), plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = (std::io::stderr().is_terminal() && total > 0).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            // No colour tokens in the template: the bar looks the same with NO_COLOR.
            if let Ok(style) =
                ProgressStyle::with_template("sync {bar:40} {pos}/{len} consumers {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress { bar, total }
    }

    fn advance(&self, bucket: &str, by: usize, done: usize) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("({bucket})"));
                bar.inc(by as u64);
            }
            None => {
                if by > 0 {
                    eprintln!("sync: {bucket}: {done}/{} applied", self.total);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The work of one `$bulk` request group: upserts with a source, or deletes.
enum Group {
    Upsert(Source, Vec<UpsertConsumer>),
    Delete(Vec<String>),
}

fn apply(
    client: &Client,
    file: &KeysFile,
    plans: &[Plan],
    commit: Option<&str>,
    tally: &mut Tally,
    progress: &Progress,
) -> Result<()> {
    for plan in plans {
        let bucket = &plan.bucket;
        if plan.create_bucket {
            let description = file.buckets.get(bucket).and_then(|b| b.description.clone());
            let reply = client.send(
                "POST",
                "/key-buckets",
                Some(&json!({"name": bucket, "description": description})),
            )?;
            // 409: created meanwhile (or by an interrupted run): what we wanted.
            if !reply.ok() && reply.status != 409 {
                bail!("creating bucket '{bucket}': {}", describe(&reply));
            }
        }
        let (mut file_upserts, mut api_upserts, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
        for change in &plan.changes {
            match change {
                Change::Update {
                    source: Source::Api,
                    ..
                } => api_upserts.extend(change.upsert()),
                Change::Create { .. } | Change::Update { .. } => {
                    file_upserts.extend(change.upsert())
                }
                Change::Delete { name, .. } => deletes.push(name.clone()),
            }
        }
        // Creates and updates first, deletes last.
        let groups = [
            Group::Upsert(Source::File, file_upserts),
            Group::Upsert(Source::Api, api_upserts),
            Group::Delete(deletes),
        ];
        for group in groups {
            send_group(client, bucket, group, commit, tally, progress)?;
        }
    }
    Ok(())
}

/// Sends one group in requests of at most [`BATCH`] items, deferred items first again.
fn send_group(
    client: &Client,
    bucket: &str,
    group: Group,
    commit: Option<&str>,
    tally: &mut Tally,
    progress: &Progress,
) -> Result<()> {
    let (source, mut upserts, mut deletes): (Source, VecDeque<UpsertConsumer>, VecDeque<String>) =
        match group {
            Group::Upsert(source, items) => (source, items.into(), VecDeque::new()),
            Group::Delete(names) => (Source::File, VecDeque::new(), names.into()),
        };
    while !upserts.is_empty() || !deletes.is_empty() {
        let up: Vec<UpsertConsumer> = upserts.drain(..upserts.len().min(BATCH)).collect();
        let del: Vec<String> = deletes.drain(..deletes.len().min(BATCH)).collect();
        let sent = up.len() + del.len();
        let body = BulkConsumers {
            upsert: up.clone(),
            delete: del.clone(),
            source,
            delete_only_source: Some(Source::File),
            commit: commit.map(str::to_owned),
        };
        let out = post_bulk(client, bucket, &body)?;
        tally.writes += out.writes;
        let mut deferred_up = Vec::new();
        let mut deferred_del = Vec::new();
        for item in &out.results {
            if item.status == BulkStatus::Deferred {
                if item.op == "delete" {
                    deferred_del.push(item.name.clone());
                } else if let Some(u) = up.iter().find(|u| u.name == item.name) {
                    deferred_up.push(u.clone());
                }
            } else {
                tally.count(item.status);
            }
        }
        let deferred = deferred_up.len() + deferred_del.len();
        if deferred == sent && out.writes == 0 {
            bail!(
                "bucket '{bucket}': the Worker deferred every item of a request and wrote nothing; \
                 a consumer may need more KV operations than one request allows (many keys or managers)"
            );
        }
        // Deferred items go out first in the next request.
        for u in deferred_up.into_iter().rev() {
            upserts.push_front(u);
        }
        for d in deferred_del.into_iter().rev() {
            deletes.push_front(d);
        }
        progress.advance(bucket, sent - deferred, tally.done());
    }
    Ok(())
}

/// `POST …/$bulk`, tried again (after 1 s, then 3 s) when the Worker gives no answer or a
/// 429/5xx: every request is idempotent. A 400 means the request was rejected whole.
fn post_bulk(client: &Client, bucket: &str, body: &BulkConsumers) -> Result<BulkOut> {
    let path = format!("/key-buckets/{bucket}/consumers/$bulk");
    let body = serde_json::to_value(body)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let retry_in = Duration::from_secs(if attempt == 1 { 1 } else { 3 });
        match client.send("POST", &path, Some(&body)) {
            Ok(reply) if reply.ok() => {
                return serde_json::from_value(reply.body)
                    .with_context(|| format!("POST {path}: unexpected answer"));
            }
            Ok(reply) if (reply.status == 429 || reply.status >= 500) && attempt < ATTEMPTS => {
                eprintln!(
                    "sync: {}; trying again in {} s",
                    describe(&reply),
                    retry_in.as_secs()
                );
            }
            Ok(reply) if reply.status == 400 => {
                return Err(anyhow!(
                    "POST {path}: {} (the request was rejected whole: nothing in it was written)",
                    describe(&reply)
                ));
            }
            Ok(reply) => return Err(anyhow!("POST {path}: {}", describe(&reply))),
            Err(e) if attempt < ATTEMPTS => {
                eprintln!("sync: {e:#}; trying again in {} s", retry_in.as_secs());
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(retry_in);
    }
}

/// The commit being applied: `GITHUB_SHA`, else `git rev-parse HEAD` in the file's
/// directory, else none.
fn commit_of(file: &Path) -> Option<String> {
    if let Some(sha) = std::env::var("GITHUB_SHA")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Some(sha.trim().to_owned());
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let out = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "HEAD"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(sha)
}
