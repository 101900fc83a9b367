//! `keyward sync`: applies `keys.yaml` to the live Worker.
//!
//! It computes the plan with the very code `keyward plan` runs ([`super::plan::read_live`],
//! [`super::plan::plans`]), prints it, and — unless `--dry-run` — applies it: missing
//! buckets first, then creates and updates, then deletes, through `POST …/consumers/$bulk`.
//! Each request is filled as the changes are made, up to [`BULK_MAX_ITEMS`] items and a body
//! under the Worker's limit, and sent before the next is made, so no list of changes or
//! request bodies is ever held whole. Items a Worker answers `deferred` (older Workers did,
//! when a request spent its KV budget) are sent again first.
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
use crate::terminal;
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyward_core::api::model::{BulkOut, BulkStatus};
use keyward_core::api::BULK_MAX_ITEMS;
use keyward_core::http::MAX_BODY_BYTES;
use keyward_core::keys_file::plan::{
    self, BucketPlan, Change, DesiredBucket, DesiredFile, PlanView,
};
use keyward_core::storage::kv::Source;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

/// Bytes of a `$bulk` body: the Worker's limit, less room for everything but the items.
const BODY_BUDGET: usize = MAX_BODY_BYTES - 4096;
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
    let desired = super::validate::read(&args.file).context("nothing was sent")?;
    let client = Client::new(&args.remote)?;
    sync_file(&client, &desired, &args.file, args.prune, args.dry_run)?;
    if args.dry_run {
        println!("Dry run: nothing was changed.");
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole of `sync` once the file is read: plans `desired` (the file at `file`, whose
/// commit is recorded) against the Worker, prints the plan, and — unless `dry_run` —
/// applies it and prints the summary line. Returns how many changes were planned.
/// `keyward import` applies the file it wrote through here too.
pub fn sync_file(
    client: &Client,
    desired: &DesiredFile,
    file: &Path,
    prune: bool,
    dry_run: bool,
) -> Result<usize> {
    let live = plan_cmd::read_live(client, desired, prune)?;
    let none = DesiredBucket::default();
    let plans = plan_cmd::plans(desired, &live, &none, prune);
    plan_cmd::print(&plans, Format::Text)?;
    let summary = plan::summarize(&plans);
    let planned = summary.create + summary.update + summary.delete;
    if dry_run {
        return Ok(planned);
    }
    let commit = commit_of(file);
    let mut tally = Tally {
        planned,
        ..Tally::default()
    };
    let progress = Progress::new(tally.planned);
    let result = apply(client, &plans, commit.as_deref(), &mut tally, &progress);
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
            Ok(planned)
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
        // With --prune, bucket names come from the Worker.
        let bucket = terminal::field(bucket);
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

/// One item of a `$bulk` request, serialized: an upsert (the consumer's JSON) or a delete
/// (the name's JSON string).
struct Item {
    name: String,
    delete: bool,
    json: Vec<u8>,
}

impl Item {
    fn of(change: Change) -> Result<Item> {
        match change {
            Change::Delete { name, .. } => Ok(Item {
                json: serde_json::to_vec(&name)?,
                name,
                delete: true,
            }),
            other => {
                let upsert = other
                    .into_upsert()
                    .context("a create or update makes an upsert")?;
                Ok(Item {
                    json: serde_json::to_vec(&upsert)?,
                    name: upsert.name,
                    delete: false,
                })
            }
        }
    }
}

/// A `$bulk` request being filled: at most [`BULK_MAX_ITEMS`] items in at most
/// [`BODY_BUDGET`] bytes.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    bytes: usize,
}

impl Batch {
    fn fits(&self, item: &Item) -> bool {
        self.items.is_empty()
            || (self.items.len() < BULK_MAX_ITEMS && self.bytes + item.json.len() < BODY_BUDGET)
    }

    fn push(&mut self, item: Item) {
        self.bytes += item.json.len() + 1;
        self.items.push(item);
    }

    /// The body: `{"upsert":[…],"delete":[…],"source":…,"deleteOnlySource":"file","commit":…}`.
    fn body(&self, source: Source, commit: Option<&str>) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.bytes + 256);
        for (key, delete) in [(&b"{\"upsert\":["[..], false), (b"],\"delete\":[", true)] {
            out.extend_from_slice(key);
            let items = self.items.iter().filter(|i| i.delete == delete);
            for (n, item) in items.enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&item.json);
            }
        }
        out.extend_from_slice(b"],");
        let rest = serde_json::to_vec(&json!({
            "source": source,
            "deleteOnlySource": Source::File,
            "commit": commit,
        }))?;
        out.extend_from_slice(rest.get(1..).unwrap_or_default());
        Ok(out)
    }
}

fn apply(
    client: &Client,
    plans: &[BucketPlan<'_>],
    commit: Option<&str>,
    tally: &mut Tally,
    progress: &Progress,
) -> Result<()> {
    for plan in plans {
        let bucket = plan.bucket();
        if plan.create_bucket() {
            let mut body = json!({"name": bucket, "description": plan.description()});
            // Only when asked: a Worker from before retrievable buckets refuses the field.
            if plan.is_retrievable() {
                body["isRetrievable"] = true.into();
            }
            let reply = client.send("POST", "/key-buckets", Some(&body))?;
            // 409: created meanwhile (or by an interrupted run): what we wanted, if in the
            // file's mode.
            if reply.status == 409 {
                let live = client.send("GET", &format!("/key-buckets/{bucket}"), None)?;
                let retrievable = live.body.get("isRetrievable") == Some(&Value::Bool(true));
                if let Some(why) =
                    plan::retrievable_conflict(bucket, plan.is_retrievable(), retrievable)
                {
                    bail!("{why}");
                }
            } else if !reply.ok() {
                bail!("creating bucket '{bucket}': {}", describe(&reply));
            }
        }
        let api_made = |c: &Change| {
            matches!(
                c,
                Change::Update {
                    source: Source::Api,
                    ..
                }
            )
        };
        // Creates and updates first, deletes last.
        let file_upserts = plan
            .creates()
            .chain(plan.updates().filter(|c| !api_made(c)));
        let mut send = |source, changes: &mut dyn Iterator<Item = Change>| {
            send_group(client, bucket, source, changes, commit, tally, progress)
        };
        send(Source::File, &mut file_upserts.into_iter())?;
        send(Source::Api, &mut plan.updates().filter(api_made))?;
        send(Source::File, &mut plan.deletes())?;
    }
    Ok(())
}

/// Sends `changes` (all upserts of one source, or all deletes) in requests filled as the
/// changes are made; items a Worker deferred go out first in the next request.
fn send_group(
    client: &Client,
    bucket: &str,
    source: Source,
    changes: &mut dyn Iterator<Item = Change>,
    commit: Option<&str>,
    tally: &mut Tally,
    progress: &Progress,
) -> Result<()> {
    // Made but not sent yet: deferred items first, then one that did not fit the last request.
    let mut pending: VecDeque<Item> = VecDeque::new();
    let mut stalled = 0;
    loop {
        let mut batch = Batch::default();
        loop {
            let item = match pending.pop_front() {
                Some(item) => item,
                None => match changes.next() {
                    Some(change) => Item::of(change)?,
                    None => break,
                },
            };
            if !batch.fits(&item) {
                pending.push_front(item);
                break;
            }
            batch.push(item);
        }
        if batch.items.is_empty() {
            return Ok(());
        }
        let sent = batch.items.len();
        let out = post_bulk(client, bucket, &batch.body(source, commit)?)?;
        // One result per item sent, each naming one: anything else is not an answer this
        // client can count (it would report changes as applied that were not).
        let answered = out.results.len() == sent
            && out.results.iter().all(|r| {
                let delete = r.op == "delete";
                batch
                    .items
                    .iter()
                    .any(|i| i.name == r.name && i.delete == delete)
            });
        if !answered {
            bail!(
                "bucket '{bucket}': the Worker answered {} results for {sent} items, not one per item",
                out.results.len()
            );
        }
        tally.writes += out.writes;
        let mut again = Vec::new();
        for result in &out.results {
            if result.status != BulkStatus::Deferred {
                tally.count(result.status);
                continue;
            }
            let delete = result.op == "delete";
            let at = batch
                .items
                .iter()
                .position(|i| i.name == result.name && i.delete == delete);
            if let Some(at) = at {
                again.push(batch.items.swap_remove(at));
            }
        }
        let deferred_now = again.len();
        stalled = if deferred_now == sent { stalled + 1 } else { 0 };
        if deferred_now == sent && (out.writes == 0 || stalled >= MAX_STALLED_ROUNDS) {
            bail!(
                "bucket '{bucket}': the Worker deferred every item of a request and wrote nothing; \
                 a consumer may need more KV operations than one request allows (many keys or managers)"
            );
        }
        // Deferred items go out first in the next request.
        for item in again.into_iter().rev() {
            pending.push_front(item);
        }
        progress.advance(bucket, sent - deferred_now, tally.done());
    }
}

/// Requests in a row whose every item the Worker deferred before sync gives up.
const MAX_STALLED_ROUNDS: usize = 3;

/// `POST …/$bulk`, tried again (after 1 s, then 3 s) when the Worker gives no answer or a
/// 429/5xx: every request is idempotent. A 400 means the request was rejected whole.
fn post_bulk(client: &Client, bucket: &str, body: &[u8]) -> Result<BulkOut> {
    let path = format!("/key-buckets/{bucket}/consumers/$bulk");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let retry_in = Duration::from_secs(if attempt == 1 { 1 } else { 3 });
        match client.post_json_bytes(&path, body) {
            Ok(reply) if reply.ok() => {
                return serde_json::from_value(reply.body)
                    .with_context(|| format!("POST {path}: unexpected answer"));
            }
            Ok(reply) if (reply.status == 429 || reply.status >= 500) && attempt < ATTEMPTS => {
                eprintln!(
                    "sync: {}; trying again in {} s",
                    terminal::field(&describe(&reply)),
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
                eprintln!(
                    "sync: {}; trying again in {} s",
                    terminal::field(&format!("{e:#}")),
                    retry_in.as_secs()
                );
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(retry_in);
    }
}

/// The commit being applied: `GITHUB_SHA`, else `git rev-parse HEAD` in the file's
/// directory, else none.
fn commit_of(file: &Path) -> Option<String> {
    // A commit id is up to 64 hex digits (SHA-256 repositories); anything else is not one.
    let is_sha = |s: &str| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(sha) = std::env::var("GITHUB_SHA")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| is_sha(s))
    {
        return Some(sha);
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
    (out.status.success() && is_sha(&sha)).then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::api::model::{BulkConsumers, UpsertConsumer};
    use keyward_core::keys_file::ConsumerSpec;

    fn upsert(name: &str, description: &str) -> Item {
        Item::of(Change::Create {
            name: name.to_owned(),
            spec: ConsumerSpec {
                description: Some(description.to_owned()),
                ..ConsumerSpec::default()
            },
        })
        .unwrap()
    }

    fn delete(name: &str) -> Item {
        Item::of(Change::Delete {
            name: name.to_owned(),
            last_sync: None,
        })
        .unwrap()
    }

    /// The body assembled from serialized items is the `BulkConsumers` the Worker parses
    /// (strictly: unknown fields are refused).
    #[test]
    fn a_batch_body_is_a_bulk_request() {
        for (source, commit) in [(Source::File, None), (Source::Api, Some("5e1f00d"))] {
            let mut batch = Batch::default();
            for item in [upsert("a", "x \"y\""), delete("old"), upsert("b", "z")] {
                assert!(batch.fits(&item));
                batch.push(item);
            }
            let body = batch.body(source, commit).unwrap();
            let parsed: BulkConsumers = serde_json::from_slice(&body).unwrap();
            let names: Vec<&str> = parsed.upsert.iter().map(|u| u.name.as_str()).collect();
            assert_eq!(names, ["a", "b"]);
            assert_eq!(
                parsed.upsert[0],
                UpsertConsumer {
                    name: "a".into(),
                    description: Some("x \"y\"".into()),
                    metadata: Default::default(),
                    tags: Default::default(),
                    managers: vec![],
                }
            );
            assert_eq!(parsed.delete, ["old"]);
            assert_eq!(parsed.source, source);
            assert_eq!(parsed.delete_only_source, Some(Source::File));
            assert_eq!(parsed.commit.as_deref(), commit);
        }
        let empty = Batch::default().body(Source::File, None).unwrap();
        let parsed: BulkConsumers = serde_json::from_slice(&empty).unwrap();
        assert!(parsed.upsert.is_empty() && parsed.delete.is_empty());
    }

    /// A request holds at most BULK_MAX_ITEMS items and stays under the body limit; a
    /// single item always goes (the Worker judges it).
    #[test]
    fn a_batch_is_full_at_the_item_count_or_the_body_budget() {
        let mut batch = Batch::default();
        while batch.fits(&delete("c")) {
            batch.push(delete("c"));
        }
        assert_eq!(batch.items.len(), BULK_MAX_ITEMS);

        let big = "x".repeat(1000);
        let mut batch = Batch::default();
        while batch.fits(&upsert("c", &big)) {
            batch.push(upsert("c", &big));
        }
        let body = batch.body(Source::File, Some("5e1f00d")).unwrap();
        assert!(batch.items.len() < BULK_MAX_ITEMS, "{}", batch.items.len());
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        assert!(body.len() > BODY_BUDGET - 2 * 1100, "{}", body.len());

        let huge = upsert("c", &"x".repeat(2 * MAX_BODY_BYTES));
        assert!(Batch::default().fits(&huge));
    }
}
