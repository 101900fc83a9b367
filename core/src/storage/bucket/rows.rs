//! keyward's records in a bucket's tables: the same [`BucketRecord`] and [`ConsumerRecord`]
//! the developer API has always worked with, stored as JSON beside the columns and index
//! tables that lists and filters query.
//!
//! Every function here is synchronous: an operation that reads, decides and writes without
//! an `await` is one transaction in a Durable Object. A write that owes KV something (a key
//! created, changed or removed) enqueues it in the [`outbox`] in the same run, so the rows
//! and the debt commit together.
//!
//! A Durable Object commits such a run even when a statement in it fails (workers-rs 0.8.7
//! has no `transactionSync`; natively [`Sql::atomically`] rolls back). So every operation
//! checks what it can before writing, and orders its writes for the failure in between: a
//! removed key's KV delete is owed before its row goes, a new key's row exists before its
//! KV put is owed — a failure leaves a listed key that does not verify (which `$check`
//! reports), never one that verifies and is listed nowhere.

use super::outbox::{self, Kind};
use super::sql::{scalar, Row, Sql, SqlValue};
use crate::error::Error;
use crate::storage::kv::{self, BucketRecord, ConsumerRecord, Source};
use std::collections::BTreeMap;

fn bucket_not_found(name: &str) -> Error {
    Error::not_found(format!("bucket '{name}' does not exist"))
}

fn consumer_not_found(bucket: &str, name: &str) -> Error {
    Error::not_found(format!(
        "consumer '{name}' does not exist in bucket '{bucket}'"
    ))
}

fn source_str(s: Source) -> &'static str {
    match s {
        Source::Api => "api",
        Source::File => "file",
    }
}

fn source_of(s: &str) -> Source {
    if s == "file" {
        Source::File
    } else {
        Source::Api
    }
}

/// The bucket `name`, if it exists.
pub fn find_bucket(sql: &impl Sql, name: &str) -> Result<Option<BucketRecord>, Error> {
    let rows = sql.exec("SELECT record FROM buckets WHERE name = ?", &[name.into()])?;
    rows.first()
        .map(|r| kv::decode(&kv::keys::bucket(name), r.text(0)?))
        .transpose()
}

/// The bucket `name`, or a 404 error.
pub fn bucket(sql: &impl Sql, name: &str) -> Result<BucketRecord, Error> {
    find_bucket(sql, name)?.ok_or_else(|| bucket_not_found(name))
}

/// Writes a bucket record (created or changed) and owes the directory its copy.
pub fn put_bucket(sql: &impl Sql, b: &BucketRecord) -> Result<(), Error> {
    let json = kv::encode(&b.with_version());
    sql.exec(
        "INSERT INTO buckets (name, record) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET record = excluded.record",
        &[b.name.as_str().into(), json.as_str().into()],
    )?;
    outbox::enqueue(sql, Kind::Bucket, &b.name, &b.name, Some(json))
}

/// Every bucket in this database, by name.
pub fn buckets(sql: &impl Sql) -> Result<Vec<BucketRecord>, Error> {
    sql.exec("SELECT name, record FROM buckets ORDER BY name", &[])?
        .iter()
        .map(|r| kv::decode(&kv::keys::bucket(r.text(0)?), r.text(1)?))
        .collect()
}

/// Deletes bucket `name` and everything in it at once, owing KV the delete of every
/// verification record and the directory the removal of its copy. A key created after
/// this cannot exist: writes to the bucket go through the same object, which now answers
/// 404.
pub fn delete_bucket(sql: &impl Sql, name: &str) -> Result<(), Error> {
    outbox::enqueue_key_deletes_of_bucket(sql, name)?;
    for table in ["keys", "managers", "consumer_tags", "consumers"] {
        sql.exec(
            &format!("DELETE FROM {table} WHERE bucket = ?"),
            &[name.into()],
        )?;
    }
    sql.exec("DELETE FROM buckets WHERE name = ?", &[name.into()])?;
    outbox::enqueue(sql, Kind::Bucket, name, name, None)
}

fn consumer_of(bucket: &str, row: &Row) -> Result<ConsumerRecord, Error> {
    let name = row.text(0)?;
    kv::decode(&kv::keys::consumer(bucket, name), row.text(1)?)
}

/// The consumer `name` of `bucket`, if it exists.
pub fn find_consumer(
    sql: &impl Sql,
    bucket: &str,
    name: &str,
) -> Result<Option<ConsumerRecord>, Error> {
    sql.exec(
        "SELECT name, record FROM consumers WHERE bucket = ? AND name = ?",
        &[bucket.into(), name.into()],
    )?
    .first()
    .map(|r| consumer_of(bucket, r))
    .transpose()
}

/// The consumer `name` of `bucket`, or a 404 error.
pub fn consumer(sql: &impl Sql, bucket: &str, name: &str) -> Result<ConsumerRecord, Error> {
    find_consumer(sql, bucket, name)?.ok_or_else(|| consumer_not_found(bucket, name))
}

/// Many consumers of `bucket`, in the order of `names`; missing ones are `None`.
pub fn consumers(
    sql: &impl Sql,
    bucket: &str,
    names: &[String],
) -> Result<Vec<Option<ConsumerRecord>>, Error> {
    names
        .iter()
        .map(|n| find_consumer(sql, bucket, n))
        .collect()
}

/// Key hashes one statement of [`consumers_holding`] binds: a Durable Object's SQLite takes at
/// most 100 parameters per statement, and the bucket is bound twice.
const HASHES_PER_STATEMENT: usize = 90;

/// The consumers of `bucket` holding any key whose hash is in `hashes`, by name, each once
/// (an indexed lookup of the keys table, a statement per 90 hashes).
pub fn consumers_holding(
    sql: &impl Sql,
    bucket: &str,
    hashes: &[String],
) -> Result<Vec<ConsumerRecord>, Error> {
    let mut found = BTreeMap::new();
    for chunk in hashes.chunks(HASHES_PER_STATEMENT) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut params: Vec<SqlValue> = vec![bucket.into(), bucket.into()];
        params.extend(chunk.iter().map(|h| SqlValue::from(h.as_str())));
        let rows = sql.exec(
            &format!(
                "SELECT name, record FROM consumers WHERE bucket = ? AND name IN \
                 (SELECT consumer FROM keys WHERE bucket = ? AND hash IN ({marks}))"
            ),
            &params,
        )?;
        for row in &rows {
            let name = row.text(0)?;
            if !found.contains_key(name) {
                found.insert(name.to_owned(), consumer_of(bucket, row)?);
            }
        }
    }
    Ok(found.into_values().collect())
}

/// Saves consumer `before` (absent = new) → `after`: its row, tag and manager rows, key
/// rows, and in the outbox each verification record that changes (removed keys deleted,
/// changed and new ones written). Returns the number of KV writes owed.
pub fn save_consumer(
    sql: &impl Sql,
    bucket: &str,
    before: Option<&ConsumerRecord>,
    after: &ConsumerRecord,
) -> Result<usize, Error> {
    write_consumer(sql, bucket, before, after, true)
}

/// Inserts a consumer read from the old KV layout, whose verification records KV already
/// holds: the rows only, nothing owed (`keyward check` compares them afterwards).
pub fn import_consumer(sql: &impl Sql, bucket: &str, c: &ConsumerRecord) -> Result<(), Error> {
    write_consumer(sql, bucket, None, c, false).map(|_| ())
}

fn write_consumer(
    sql: &impl Sql,
    bucket: &str,
    before: Option<&ConsumerRecord>,
    after: &ConsumerRecord,
    owe_kv: bool,
) -> Result<usize, Error> {
    if before == Some(after) {
        return Ok(0);
    }
    let name = after.name.as_str();
    sql.exec(
        "INSERT INTO consumers (bucket, name, record, digest, source) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (bucket, name) DO UPDATE SET record = excluded.record, \
         digest = excluded.digest, source = excluded.source",
        &[
            bucket.into(),
            name.into(),
            kv::encode(&ConsumerRecord {
                v: after.schema_version(),
                ..after.clone()
            })
            .into(),
            after.digest().into(),
            source_str(after.source).into(),
        ],
    )?;
    if before.map(|b| &b.tags) != Some(&after.tags) {
        sql.exec(
            "DELETE FROM consumer_tags WHERE bucket = ? AND consumer = ?",
            &[bucket.into(), name.into()],
        )?;
        for (k, v) in &after.tags {
            sql.exec(
                "INSERT INTO consumer_tags (bucket, consumer, tag, value) VALUES (?, ?, ?, ?)",
                &[
                    bucket.into(),
                    name.into(),
                    k.as_str().into(),
                    v.as_str().into(),
                ],
            )?;
        }
    }
    let old_emails: Vec<&str> = before
        .map(|b| b.managers.iter().map(|m| m.email.as_str()).collect())
        .unwrap_or_default();
    let new_emails: Vec<&str> = after.managers.iter().map(|m| m.email.as_str()).collect();
    for gone in old_emails.iter().filter(|e| !new_emails.contains(e)) {
        sql.exec(
            "DELETE FROM managers WHERE bucket = ? AND email = ? AND consumer = ?",
            &[bucket.into(), (*gone).into(), name.into()],
        )?;
    }
    for added in new_emails.iter().filter(|e| !old_emails.contains(e)) {
        sql.exec(
            "INSERT INTO managers (bucket, email, consumer) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
            &[bucket.into(), (*added).into(), name.into()],
        )?;
    }
    let old_keys = before.map(|b| b.keys.as_slice()).unwrap_or_default();
    let mut owed = 0;
    for k in old_keys
        .iter()
        .filter(|k| !after.keys.iter().any(|n| n.hash == k.hash))
    {
        // The delete is owed before the row goes: should the object's storage fail between
        // the two (the object has no rollback), the key stops verifying while still listed —
        // never the other way round.
        if owe_kv {
            outbox::enqueue(sql, Kind::Key, bucket, &k.hash, None)?;
            owed += 1;
        }
        sql.exec(
            "DELETE FROM keys WHERE bucket = ? AND hash = ?",
            &[bucket.into(), k.hash.as_str().into()],
        )?;
    }
    for k in &after.keys {
        let record = after.key_record(k);
        let unchanged = old_keys
            .iter()
            .find(|o| o.hash == k.hash)
            .zip(before)
            .is_some_and(|(o, b)| b.key_record(o) == record);
        if unchanged {
            continue;
        }
        let json = kv::encode(&record);
        sql.exec(
            "INSERT INTO keys (bucket, hash, consumer, record) VALUES (?, ?, ?, ?) \
             ON CONFLICT (bucket, hash) DO UPDATE SET consumer = excluded.consumer, \
             record = excluded.record",
            &[
                bucket.into(),
                k.hash.as_str().into(),
                name.into(),
                json.as_str().into(),
            ],
        )?;
        if owe_kv {
            outbox::enqueue(sql, Kind::Key, bucket, &k.hash, Some(json))?;
            owed += 1;
        }
    }
    Ok(owed)
}

/// Deletes consumer `c` of `bucket` with its keys (their verification records owed as
/// deletes), tags and managers. Returns the number of KV writes owed.
pub fn delete_consumer(sql: &impl Sql, bucket: &str, c: &ConsumerRecord) -> Result<usize, Error> {
    let name = c.name.as_str();
    for k in &c.keys {
        outbox::enqueue(sql, Kind::Key, bucket, &k.hash, None)?;
    }
    for table in ["keys", "managers", "consumer_tags"] {
        sql.exec(
            &format!("DELETE FROM {table} WHERE bucket = ? AND consumer = ?"),
            &[bucket.into(), name.into()],
        )?;
    }
    sql.exec(
        "DELETE FROM consumers WHERE bucket = ? AND name = ?",
        &[bucket.into(), name.into()],
    )?;
    Ok(c.keys.len())
}

/// The `FROM … WHERE` of the consumers of `bucket` matching every tag filter, and its
/// parameters in order. With filters, the query starts from the `consumer_tags` index of the
/// first one (`CROSS JOIN` keeps SQLite's planner, which has no statistics, from walking
/// every consumer instead), so its cost follows the matches, not the bucket.
fn matching(bucket: &str, tags: &BTreeMap<String, String>) -> (String, Vec<SqlValue>) {
    let mut filters = tags.iter();
    let Some((k0, v0)) = filters.next() else {
        return (
            "FROM consumers c WHERE c.bucket = ?".to_owned(),
            vec![bucket.into()],
        );
    };
    let mut from = "FROM consumer_tags t0".to_owned();
    let mut params = Vec::new();
    for (i, (k, v)) in filters.enumerate() {
        let t = format!("t{}", i + 1);
        from.push_str(&format!(
            " CROSS JOIN consumer_tags {t} ON {t}.bucket = t0.bucket \
             AND {t}.consumer = t0.consumer AND {t}.tag = ? AND {t}.value = ?"
        ));
        params.push(k.as_str().into());
        params.push(v.as_str().into());
    }
    from.push_str(
        " CROSS JOIN consumers c ON c.bucket = t0.bucket AND c.name = t0.consumer \
         WHERE t0.bucket = ? AND t0.tag = ? AND t0.value = ?",
    );
    params.extend([bucket.into(), k0.as_str().into(), v0.as_str().into()]);
    (from, params)
}

/// A page of consumers of `bucket`, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerPage {
    /// The consumers of the page.
    pub data: Vec<ConsumerRecord>,
    /// How many match in all.
    pub total: usize,
    /// The cursor of the next page (the last name of this one), when there is one.
    pub next: Option<String>,
}

/// A page of consumers of `bucket` matching `tags`, by name: those after `after` (a cursor:
/// the last name of the previous page) or else skipping `offset`.
pub fn list_consumers(
    sql: &impl Sql,
    bucket: &str,
    tags: &BTreeMap<String, String>,
    after: Option<&str>,
    offset: usize,
    limit: usize,
) -> Result<ConsumerPage, Error> {
    let (from, params) = matching(bucket, tags);
    let total = scalar(sql, &format!("SELECT COUNT(*) {from}"), &params)?;
    let mut page_params = params;
    let mut statement = format!("SELECT c.name, c.record {from}");
    if let Some(a) = after {
        statement.push_str(" AND c.name > ?");
        page_params.push(a.into());
    }
    statement.push_str(" ORDER BY c.name LIMIT ? OFFSET ?");
    page_params.push(SqlValue::Integer(limit as i64 + 1));
    page_params.push(SqlValue::Integer(if after.is_some() {
        0
    } else {
        offset as i64
    }));
    let mut data = sql
        .exec(&statement, &page_params)?
        .iter()
        .map(|r| consumer_of(bucket, r))
        .collect::<Result<Vec<_>, _>>()?;
    let next = if data.len() > limit {
        data.truncate(limit);
        data.last().map(|c| c.name.clone())
    } else {
        None
    };
    Ok(ConsumerPage {
        data,
        total: usize::try_from(total).unwrap_or(0),
        next,
    })
}

/// The consumers `email` manages in `bucket` (an indexed lookup), by name.
pub fn managed_by(sql: &impl Sql, bucket: &str, email: &str) -> Result<Vec<ConsumerRecord>, Error> {
    sql.exec(
        // CROSS JOIN: start from the manager's index entries, not from every consumer.
        "SELECT c.name, c.record FROM managers m CROSS JOIN consumers c \
         ON c.bucket = m.bucket AND c.name = m.consumer \
         WHERE m.bucket = ? AND m.email = ? ORDER BY c.name",
        &[bucket.into(), email.into()],
    )?
    .iter()
    .map(|r| consumer_of(bucket, r))
    .collect()
}

/// One entry of the digest index `plan` diffs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Consumer name.
    pub name: String,
    /// Digest of its file-managed state.
    pub digest: String,
    /// Who created it.
    pub source: Source,
}

/// Up to `limit` index entries of `bucket` after `after`, by name, and the cursor of the next
/// page (`None` on the last).
pub fn index_page(
    sql: &impl Sql,
    bucket: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<IndexEntry>, Option<String>), Error> {
    let rows = sql.exec(
        "SELECT name, digest, source FROM consumers WHERE bucket = ? AND name > ? \
         ORDER BY name LIMIT ?",
        &[
            bucket.into(),
            after.unwrap_or("").into(),
            SqlValue::Integer(limit as i64 + 1),
        ],
    )?;
    let mut entries = rows
        .iter()
        .map(|r| {
            Ok(IndexEntry {
                name: r.text(0)?.to_owned(),
                digest: r.text(1)?.to_owned(),
                source: source_of(r.text(2)?),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let next = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| e.name.clone())
    } else {
        None
    };
    Ok((entries, next))
}

/// Number of consumers in `bucket`.
pub fn consumer_count(sql: &impl Sql, bucket: &str) -> Result<usize, Error> {
    Ok(usize::try_from(scalar(
        sql,
        "SELECT COUNT(*) FROM consumers WHERE bucket = ?",
        &[bucket.into()],
    )?)
    .unwrap_or(0))
}
