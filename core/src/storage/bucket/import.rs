//! Import of the old KV layout: before buckets had objects, a bucket lived in KV as `b:`
//! (bucket), `c:` (consumers, with their keys and managers) and `m:` (manager index)
//! entries. The first time a bucket's object is used it imports them, once, then owes KV
//! their deletion. The `k:` verification records stay where they are (same layout), so the
//! edge never notices.
//!
//! The import is resumable: `meta` holds where it stands (`legacy:{bucket}` = `c:{cursor}`,
//! `m:{cursor}` or `done:{consumers}`), each call spends at most a budget of KV
//! operations, and the adapter lets no other request change the bucket until it is done.

use super::outbox::{self, Kind};
use super::rows;
use super::schema::{meta, set_meta};
use super::sql::Sql;
use crate::error::Error;
use crate::storage::kv::{self, BucketRecord, ConsumerRecord};
use crate::storage::store::{Store, LIST_LIMIT};

/// Where an object stands with the old layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Legacy {
    /// Not looked at yet.
    NotStarted,
    /// Importing.
    InProgress,
    /// Done: how many consumers came from the old layout.
    Done(u64),
}

fn state_key(bucket: &str) -> String {
    format!("legacy:{bucket}")
}

fn unreadable_key(bucket: &str) -> String {
    format!("legacy-unreadable:{bucket}")
}

/// The old layout's consumer records of `bucket` that the import could not read (KV keys).
/// They stay in KV; their keys' verification records keep working and are listed by no
/// consumer, so `$check` reports them but never deletes them while this list is not empty.
pub fn unreadable(sql: &impl Sql, bucket: &str) -> Result<Vec<String>, Error> {
    Ok(meta(sql, &unreadable_key(bucket))?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

/// The import state of `bucket`.
pub fn state(sql: &impl Sql, bucket: &str) -> Result<Legacy, Error> {
    Ok(match meta(sql, &state_key(bucket))? {
        None => Legacy::NotStarted,
        Some(v) => match v.strip_prefix("done:") {
            Some(n) => Legacy::Done(n.parse().unwrap_or(0)),
            None => Legacy::InProgress,
        },
    })
}

/// Imports the old layout of `bucket`, spending at most `budget` KV operations. Returns the
/// state afterwards (`InProgress` when the budget ran out: call again).
pub async fn import<Q: Sql, S: Store>(
    sql: &Q,
    kv_store: &S,
    bucket: &str,
    budget: usize,
) -> Result<Legacy, Error> {
    let key = state_key(bucket);
    let mut spent = 0;
    let mut stage = match meta(sql, &key)? {
        Some(v) if v.starts_with("done:") => return state(sql, bucket),
        Some(v) => v,
        None => {
            let bucket_key = kv::keys::bucket(bucket);
            let old = kv_store.get(&bucket_key).await?;
            spent += 1;
            // Unreadable: the bucket keeps no record of its own (its consumers still come).
            let record = old.and_then(|t| kv::decode::<BucketRecord>(&bucket_key, &t).ok());
            if let Some(b) = record {
                if rows::find_bucket(sql, bucket)?.is_none() {
                    rows::put_bucket(sql, &b)?;
                }
                outbox::enqueue(sql, Kind::Legacy, bucket, &bucket_key, None)?;
            }
            set_meta(sql, &key, "c:0:")?;
            "c:0:".to_owned()
        }
    };
    loop {
        if spent + 1 + LIST_LIMIT / 100 > budget {
            return Ok(Legacy::InProgress);
        }
        // Stage text: `c:{imported}:{cursor}` or `m:{imported}:{cursor}`.
        let mut parts = stage.splitn(3, ':');
        let phase = parts.next().unwrap_or("c").to_owned();
        let imported: u64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let cursor = parts.next().filter(|c| !c.is_empty()).map(str::to_owned);
        let prefix = if phase == "m" {
            kv::keys::manager_bucket_prefix(bucket)
        } else {
            kv::keys::consumer_prefix(bucket)
        };
        let page = kv_store
            .list(&prefix, cursor.as_deref(), LIST_LIMIT)
            .await?;
        spent += 1;
        let names: Vec<String> = page.entries.iter().map(|e| e.name.clone()).collect();
        let mut count = imported;
        let mut unreadable = Vec::new();
        if phase == "c" {
            let texts = kv_store.get_many(&names).await?;
            spent += names.len().div_ceil(100);
            for (name, text) in names.iter().zip(texts) {
                let Some(text) = text else { continue };
                // A record this build cannot read (another schema version, damage) must not
                // stop the bucket for good: it stays in KV, untouched, for an operator.
                let Ok(c) = kv::decode::<ConsumerRecord>(name, &text) else {
                    unreadable.push(name.clone());
                    continue;
                };
                if rows::find_consumer(sql, bucket, &c.name)?.is_none() {
                    rows::import_consumer(sql, bucket, &c)?;
                    count += 1;
                }
            }
        }
        for name in names.iter().filter(|n| !unreadable.contains(n)) {
            outbox::enqueue(sql, Kind::Legacy, bucket, name, None)?;
        }
        if !unreadable.is_empty() {
            let mut all = self::unreadable(sql, bucket)?;
            all.extend(
                unreadable
                    .iter()
                    .filter(|n| !all.contains(n))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            set_meta(
                sql,
                &unreadable_key(bucket),
                &serde_json::to_string(&all).unwrap_or_default(),
            )?;
        }
        stage = match (phase.as_str(), page.cursor) {
            (_, Some(next)) => format!("{phase}:{count}:{next}"),
            ("c", None) => format!("m:{count}:"),
            (_, None) => format!("done:{count}"),
        };
        set_meta(sql, &key, &stage)?;
        if stage.starts_with("done:") {
            return state(sql, bucket);
        }
    }
}

const DIRECTORY_STATE: &str = "legacy-directory";

/// Whether the directory has taken in the old layout's bucket list.
pub fn directory_imported(sql: &impl Sql) -> Result<bool, Error> {
    Ok(meta(sql, DIRECTORY_STATE)?.is_some_and(|v| v == "done"))
}

/// Copies the old layout's bucket records (`b:`) into the directory's `buckets` table,
/// once; the bucket objects remove the `b:` entries when they import their buckets.
/// Returns whether it finished within `budget` KV operations.
pub async fn import_directory<Q: Sql, S: Store>(
    sql: &Q,
    kv_store: &S,
    budget: usize,
) -> Result<bool, Error> {
    if directory_imported(sql)? {
        return Ok(true);
    }
    let mut cursor = meta(sql, DIRECTORY_STATE)?.filter(|c| !c.is_empty());
    let mut spent = 0;
    loop {
        if spent + 1 + LIST_LIMIT / 100 > budget {
            return Ok(false);
        }
        let page = kv_store
            .list(kv::keys::BUCKET_PREFIX, cursor.as_deref(), LIST_LIMIT)
            .await?;
        let names: Vec<String> = page.entries.iter().map(|e| e.name.clone()).collect();
        let texts = kv_store.get_many(&names).await?;
        spent += 1 + names.len().div_ceil(100);
        for (key, text) in names.iter().zip(texts) {
            let (Some(name), Some(text)) = (kv::keys::bucket_name_of(key), text) else {
                continue;
            };
            // An unreadable record is left out of the list rather than stopping it.
            if rows::find_bucket(sql, name)?.is_none()
                && kv::decode::<BucketRecord>(key, &text).is_ok()
            {
                outbox::apply_directory(sql, name, Some(&text))?;
            }
        }
        cursor = page.cursor;
        match &cursor {
            Some(c) => set_meta(sql, DIRECTORY_STATE, c)?,
            None => {
                set_meta(sql, DIRECTORY_STATE, "done")?;
                return Ok(true);
            }
        }
    }
}
