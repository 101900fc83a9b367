//! The tables of a bucket's object. One object holds one bucket, but every row names its
//! bucket, so one native database can hold several (tests) and the directory object (the
//! list of buckets) uses the same `buckets` table.
//!
//! | table | what | looked up by |
//! | --- | --- | --- |
//! | `buckets` | [`BucketRecord`](crate::storage::kv::BucketRecord) as JSON | name |
//! | `consumers` | [`ConsumerRecord`](crate::storage::kv::ConsumerRecord) as JSON, its digest and source | (bucket, name) |
//! | `consumer_tags` | one row per tag of a consumer | (bucket, tag, value) for `tag.*` filters |
//! | `managers` | one row per manager e-mail of a consumer | (bucket, email) for `manager-email` and `/v1/me` |
//! | `keys` | the verification record each key should have in KV | (bucket, hash); (bucket, consumer) |
//! | `outbox` | KV writes (and directory updates) committed but not yet applied | (kind, bucket, name) |
//! | `meta` | schema version, import state of the old KV layout | key |

use super::sql::{Sql, SqlValue};
use crate::error::Error;

/// The version of these tables; `meta.schema` holds the version an object was built with.
pub const VERSION: i64 = 1;

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consumers (bucket TEXT NOT NULL, name TEXT NOT NULL, \
     record TEXT NOT NULL, digest TEXT NOT NULL, source TEXT NOT NULL, \
     PRIMARY KEY (bucket, name))",
    "CREATE TABLE IF NOT EXISTS consumer_tags (bucket TEXT NOT NULL, consumer TEXT NOT NULL, \
     tag TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (bucket, consumer, tag))",
    "CREATE INDEX IF NOT EXISTS consumer_tags_by_value ON consumer_tags (bucket, tag, value, consumer)",
    "CREATE TABLE IF NOT EXISTS managers (bucket TEXT NOT NULL, email TEXT NOT NULL, \
     consumer TEXT NOT NULL, PRIMARY KEY (bucket, email, consumer))",
    "CREATE TABLE IF NOT EXISTS keys (bucket TEXT NOT NULL, hash TEXT NOT NULL, \
     consumer TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (bucket, hash))",
    "CREATE INDEX IF NOT EXISTS keys_by_consumer ON keys (bucket, consumer)",
    "CREATE TABLE IF NOT EXISTS outbox (kind TEXT NOT NULL, bucket TEXT NOT NULL, \
     name TEXT NOT NULL, value TEXT, version INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, \
     PRIMARY KEY (kind, bucket, name))",
    "CREATE INDEX IF NOT EXISTS outbox_by_version ON outbox (version)",
];

/// Creates the tables when missing (idempotent) and records the schema version.
pub fn ensure(sql: &impl Sql) -> Result<(), Error> {
    for statement in TABLES {
        sql.exec(statement, &[])?;
    }
    sql.exec(
        "INSERT INTO meta (k, v) VALUES ('schema', ?) ON CONFLICT (k) DO NOTHING",
        &[SqlValue::Text(VERSION.to_string())],
    )?;
    Ok(())
}

/// The value at `key` in `meta`.
pub fn meta(sql: &impl Sql, key: &str) -> Result<Option<String>, Error> {
    let rows = sql.exec("SELECT v FROM meta WHERE k = ?", &[key.into()])?;
    rows.first()
        .map(|r| r.text(0).map(str::to_owned))
        .transpose()
}

/// Sets `key` in `meta`.
pub fn set_meta(sql: &impl Sql, key: &str, value: &str) -> Result<(), Error> {
    sql.exec(
        "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        &[key.into(), value.into()],
    )?;
    Ok(())
}
