//! The outbox: KV writes (and directory updates) that a committed change still owes.
//!
//! A change writes its rows and its outbox entries in the same synchronous run of SQL, so
//! they commit together. [`drain`] then applies the entries, oldest first, and removes each
//! one only if nobody replaced it meanwhile (its `version` is unchanged). There is one entry
//! per target (`kind`, `bucket`, `name`): a newer change to the same KV key replaces the
//! entry, so a rerun applies only the latest state and can never bring back a deleted key —
//! once a key's row is gone, nothing writes its verification record again.
//!
//! Exactly one drain may run per object at a time (the adapter guarantees it): two drains
//! could otherwise apply an old put after a newer delete of the same KV key.

use super::sql::{scalar, Row, Sql, SqlValue};
use crate::error::Error;
use crate::storage::cache::VerifyCache;
use crate::storage::kv::{self, BucketRecord};
use crate::storage::store::Store;

/// What an outbox entry targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The verification record `k:{bucket}:{name}` (`name` is the key hash).
    Key,
    /// A KV key of the old layout (`b:`, `c:`, `m:`), named in full; only ever deleted.
    Legacy,
    /// The directory's copy of bucket `name` (the list of buckets).
    Bucket,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Legacy => "legacy",
            Kind::Bucket => "bucket",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "key" => Some(Kind::Key),
            "legacy" => Some(Kind::Legacy),
            "bucket" => Some(Kind::Bucket),
            _ => None,
        }
    }
}

/// One entry: put `value` at the target, or delete it when `value` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What the entry targets.
    pub kind: Kind,
    /// The bucket.
    pub bucket: String,
    /// Key hash, full KV key or bucket name, per `kind`.
    pub name: String,
    /// The value to put; `None` deletes.
    pub value: Option<String>,
    /// Replaced entries get a higher version.
    pub version: i64,
    /// Failed deliveries so far (for backoff).
    pub attempts: i64,
}

impl Entry {
    /// The KV key this entry writes, for `Key` and `Legacy` entries.
    pub fn kv_key(&self) -> Option<String> {
        match self.kind {
            Kind::Key => Some(kv::keys::key_hash(&self.bucket, &self.name)),
            Kind::Legacy => Some(self.name.clone()),
            Kind::Bucket => None,
        }
    }
}

const UPSERT: &str = "INSERT INTO outbox (kind, bucket, name, value, version, attempts) \
     VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(version), 0) + 1 FROM outbox), 0) \
     ON CONFLICT (kind, bucket, name) DO UPDATE SET value = excluded.value, \
     version = excluded.version, attempts = 0";

/// Owes `value` (or a delete) at the target; replaces what was owed there before.
pub fn enqueue(
    sql: &impl Sql,
    kind: Kind,
    bucket: &str,
    name: &str,
    value: Option<String>,
) -> Result<(), Error> {
    sql.exec(
        UPSERT,
        &[
            kind.as_str().into(),
            bucket.into(),
            name.into(),
            value.into(),
        ],
    )?;
    Ok(())
}

/// Owes the delete of every verification record of `bucket` whose key row still exists: one
/// statement, however many keys (bucket deletion).
pub fn enqueue_key_deletes_of_bucket(sql: &impl Sql, bucket: &str) -> Result<(), Error> {
    let version = scalar(sql, "SELECT COALESCE(MAX(version), 0) + 1 FROM outbox", &[])?;
    sql.exec(
        "INSERT INTO outbox (kind, bucket, name, value, version, attempts) \
         SELECT 'key', bucket, hash, NULL, ?, 0 FROM keys WHERE bucket = ? \
         ON CONFLICT (kind, bucket, name) DO UPDATE SET value = NULL, \
         version = excluded.version, attempts = 0",
        &[version.into(), bucket.into()],
    )?;
    Ok(())
}

fn entry(row: &Row) -> Result<Entry, Error> {
    Ok(Entry {
        kind: Kind::parse(row.text(0)?).ok_or_else(|| {
            Error::new(
                crate::error::ErrorKind::Corrupt,
                format!(
                    "outbox entry of unknown kind '{}'",
                    row.text(0).unwrap_or("?")
                ),
            )
        })?,
        bucket: row.text(1)?.to_owned(),
        name: row.text(2)?.to_owned(),
        value: row.opt_text(3)?.map(str::to_owned),
        version: row.int(4)?,
        attempts: row.int(5)?,
    })
}

/// Up to `limit` entries, oldest first.
pub fn pending(sql: &impl Sql, limit: usize) -> Result<Vec<Entry>, Error> {
    pending_after(sql, 0, limit)
}

/// Up to `limit` entries with a version above `after`, oldest first.
fn pending_after(sql: &impl Sql, after: i64, limit: usize) -> Result<Vec<Entry>, Error> {
    sql.exec(
        "SELECT kind, bucket, name, value, version, attempts FROM outbox \
         WHERE version > ? ORDER BY version LIMIT ?",
        &[after.into(), SqlValue::Integer(limit as i64)],
    )?
    .iter()
    .map(entry)
    .collect()
}

/// Whether `e` is still the entry owed at its target (not replaced, not applied).
fn is_current(sql: &impl Sql, e: &Entry) -> Result<bool, Error> {
    Ok(scalar(
        sql,
        "SELECT COUNT(*) FROM outbox WHERE kind = ? AND bucket = ? AND name = ? AND version = ?",
        &identity(e),
    )? > 0)
}

/// Number of entries still owed.
pub fn len(sql: &impl Sql) -> Result<i64, Error> {
    scalar(sql, "SELECT COUNT(*) FROM outbox", &[])
}

/// Whether a write of verification record `hash` of `bucket` is still owed.
pub fn owes_key(sql: &impl Sql, bucket: &str, hash: &str) -> Result<bool, Error> {
    Ok(scalar(
        sql,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'key' AND bucket = ? AND name = ?",
        &[bucket.into(), hash.into()],
    )? > 0)
}

/// Most failed deliveries of any entry (the adapter's backoff).
pub fn max_attempts(sql: &impl Sql) -> Result<i64, Error> {
    scalar(sql, "SELECT COALESCE(MAX(attempts), 0) FROM outbox", &[])
}

/// The parameters that name `e` exactly: its target and its version.
fn identity(e: &Entry) -> [SqlValue; 4] {
    [
        e.kind.as_str().into(),
        e.bucket.as_str().into(),
        e.name.as_str().into(),
        e.version.into(),
    ]
}

fn done(sql: &impl Sql, e: &Entry) -> Result<(), Error> {
    sql.exec(
        "DELETE FROM outbox WHERE kind = ? AND bucket = ? AND name = ? AND version = ?",
        &identity(e),
    )?;
    Ok(())
}

fn failed(sql: &impl Sql, e: &Entry) -> Result<(), Error> {
    sql.exec(
        "UPDATE outbox SET attempts = attempts + 1 \
         WHERE kind = ? AND bucket = ? AND name = ? AND version = ?",
        &identity(e),
    )?;
    Ok(())
}

/// Where entries are delivered.
#[allow(async_fn_in_trait)]
pub trait Sink {
    /// Applies `entry` (idempotent: it may be delivered again after a crash).
    async fn deliver(&self, entry: &Entry) -> Result<(), Error>;
}

/// Delivers `Key` and `Legacy` entries to KV and drops each touched verification record from
/// this isolate's cache; `Bucket` entries go to `directory`.
pub struct KvSink<'a, S, D> {
    /// The KV namespace.
    pub kv: &'a S,
    /// This isolate's verification cache.
    pub cache: &'a VerifyCache,
    /// Where directory updates go.
    pub directory: D,
}

impl<S: Store, D: Sink> Sink for KvSink<'_, S, D> {
    async fn deliver(&self, entry: &Entry) -> Result<(), Error> {
        let Some(key) = entry.kv_key() else {
            return self.directory.deliver(entry).await;
        };
        match &entry.value {
            Some(v) => self.kv.put(&key, v, None).await?,
            None => self.kv.delete(&key).await?,
        }
        self.cache.forget(&key);
        Ok(())
    }
}

/// Applies directory entries to a database's `buckets` table: what the directory object
/// does with them (and, natively, what tests do with one shared database).
pub struct DirectorySink<'a, Q>(pub &'a Q);

impl<Q: Sql> Sink for DirectorySink<'_, Q> {
    async fn deliver(&self, entry: &Entry) -> Result<(), Error> {
        apply_directory(self.0, &entry.name, entry.value.as_deref())
    }
}

/// The directory's side: a bucket's copy written (`record`) or removed (`None`).
pub fn apply_directory(sql: &impl Sql, name: &str, record: Option<&str>) -> Result<(), Error> {
    match record {
        Some(json) => {
            // Refuse what would not read back: the directory serves these as they are.
            kv::decode::<BucketRecord>(&kv::keys::bucket(name), json)?;
            sql.exec(
                "INSERT INTO buckets (name, record) VALUES (?, ?) \
                 ON CONFLICT (name) DO UPDATE SET record = excluded.record",
                &[name.into(), json.into()],
            )?;
        }
        None => {
            sql.exec("DELETE FROM buckets WHERE name = ?", &[name.into()])?;
        }
    }
    Ok(())
}

/// What one [`drain`] did.
#[derive(Debug, Default)]
pub struct Drained {
    /// Entries applied and removed.
    pub applied: usize,
    /// Why the first failed delivery failed, if one did.
    pub failed: Option<Error>,
    /// Deliveries that failed (each counted in its entry's `attempts`).
    pub failures: usize,
    /// Entries still owed afterwards.
    pub left: i64,
}

/// When to try again after a drain that left entries owed, in ms: at once when it only ran
/// out of budget, else 1 s doubling with the most failed entry's `attempts`, at most 5 min.
pub fn retry_delay_ms(sql: &impl Sql, drained: &Drained) -> Result<i64, Error> {
    if drained.failed.is_none() {
        return Ok(1);
    }
    let attempts = max_attempts(sql)?.clamp(0, 8);
    Ok((1_000i64 << attempts).min(300_000))
}

/// Failed deliveries after which a drain gives up (KV is likely down; the alarm retries).
pub const MAX_FAILURES_PER_DRAIN: usize = 3;

/// Applies up to `budget` entries, oldest first. An entry whose delivery fails stays owed
/// (its `attempts` counted, for backoff) and the drain goes on with the others — order only
/// matters within one target, which has one entry — until [`MAX_FAILURES_PER_DRAIN`]
/// deliveries failed. Each entry is checked to be still current just before delivery, so a
/// put replaced by a newer delete meanwhile is never sent. Only one drain may run at a time
/// per database.
pub async fn drain<Q: Sql, K: Sink>(sql: &Q, sink: &K, budget: usize) -> Result<Drained, Error> {
    let mut out = Drained::default();
    let mut after = 0;
    let mut tried = 0;
    'batches: while tried < budget {
        let batch = pending_after(sql, after, (budget - tried).min(100))?;
        if batch.is_empty() {
            break;
        }
        for e in &batch {
            after = e.version;
            if !is_current(sql, e)? {
                continue;
            }
            tried += 1;
            match sink.deliver(e).await {
                Ok(()) => {
                    done(sql, e)?;
                    out.applied += 1;
                }
                Err(err) => {
                    failed(sql, e)?;
                    out.failures += 1;
                    out.failed.get_or_insert(err);
                    if out.failures >= MAX_FAILURES_PER_DRAIN {
                        break 'batches;
                    }
                }
            }
        }
    }
    out.left = len(sql)?;
    Ok(out)
}
