//! `$check`: does KV hold exactly the verification records the tables say, page by page?
//!
//! The tables are the source of truth. One call walks KV's listing of `k:{bucket}:` from a
//! cursor and, for the hash range each page covers, reads the same range of the `keys`
//! table (both sort bytewise), within an operation budget; the answer carries the cursor
//! to continue from. Records the outbox still owes are not problems: they are on their way.
//! A repair enqueues the fix in the outbox (the single writer applies it).

use super::outbox::{self, Kind};
use super::sql::{Sql, SqlValue};
use crate::error::Error;
use crate::storage::kv::{self, KeyRecord};
use crate::storage::store::{Store, LIST_LIMIT};
use std::collections::BTreeMap;

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inconsistency {
    /// The KV key concerned, redacted ([`kv::keys::redacted`]).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// What one call found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckPage {
    /// Inconsistencies in the range checked.
    pub problems: Vec<Inconsistency>,
    /// Where to continue; `None` when the whole bucket has been checked.
    pub cursor: Option<String>,
    /// Verification records compared.
    pub checked: usize,
}

/// KV operations one call may spend (a list per page, a bulk read per 100 records).
pub const CHECK_OPERATION_BUDGET: usize = 600;

fn split_cursor(cursor: Option<&str>) -> Result<(String, Option<String>), Error> {
    let Some(c) = cursor else {
        return Ok((String::new(), None));
    };
    let bad = || Error::invalid("query parameter cursor: not a cursor from a previous $check; start without one");
    let (hash, kv_cursor) = c.split_once('.').ok_or_else(bad)?;
    if kv_cursor.is_empty() || !hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(bad());
    }
    Ok((hash.to_owned(), Some(kv_cursor.to_owned())))
}

/// Checks `bucket` from `cursor` on; with `repair`, enqueues a fix for each problem.
pub async fn check_keys<Q: Sql, S: Store>(
    sql: &Q,
    kv_store: &S,
    bucket: &str,
    cursor: Option<&str>,
    repair: bool,
) -> Result<CheckPage, Error> {
    let (mut after, mut kv_cursor) = split_cursor(cursor)?;
    let prefix = kv::keys::key_hash_prefix(bucket);
    let mut out = CheckPage::default();
    let mut budget = CHECK_OPERATION_BUDGET;
    loop {
        let page = kv_store
            .list(&prefix, kv_cursor.as_deref(), LIST_LIMIT)
            .await
            .map_err(|e| match kv_cursor {
                Some(_) => Error::invalid("query parameter cursor: KV no longer accepts it; start without one"),
                None => e,
            })?;
        budget -= 1;
        let present: Vec<String> = page
            .entries
            .iter()
            .filter_map(|e| e.name.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        if present.is_empty() && page.cursor.is_some() {
            // KV may answer an empty page that is not the last; it covers no range.
            kv_cursor = page.cursor;
            continue;
        }
        let upper = page.cursor.as_ref().and_then(|_| present.last().cloned());
        let mut params = vec![SqlValue::from(bucket), after.as_str().into()];
        let mut statement =
            "SELECT hash, record FROM keys WHERE bucket = ? AND hash > ?".to_owned();
        if let Some(u) = &upper {
            statement.push_str(" AND hash <= ?");
            params.push(u.as_str().into());
        }
        statement.push_str(" ORDER BY hash");
        let expected: BTreeMap<String, String> = sql
            .exec(&statement, &params)?
            .iter()
            .map(|r| Ok((r.text(0)?.to_owned(), r.text(1)?.to_owned())))
            .collect::<Result<_, Error>>()?;
        let shared: Vec<String> = present
            .iter()
            .filter(|h| expected.contains_key(*h))
            .map(|h| kv::keys::key_hash(bucket, h))
            .collect();
        let values = kv_store.get_many(&shared).await?;
        budget = budget.saturating_sub(shared.len().div_ceil(100));
        let stored: BTreeMap<&str, Option<String>> = shared
            .iter()
            .map(|k| &k[prefix.len()..])
            .zip(values)
            .collect();
        let mut report = |hash: &str, problem: &str, fix: Option<String>| -> Result<(), Error> {
            if outbox::owes_key(sql, bucket, hash)? {
                return Ok(());
            }
            out.problems.push(Inconsistency {
                key: kv::keys::redacted(&kv::keys::key_hash(bucket, hash)),
                problem: problem.to_owned(),
            });
            if repair {
                outbox::enqueue(sql, Kind::Key, bucket, hash, fix)?;
            }
            Ok(())
        };
        for hash in present.iter().filter(|h| !expected.contains_key(*h)) {
            report(hash, "verification record of a key no consumer lists", None)?;
        }
        for (hash, record) in &expected {
            match stored.get(hash.as_str()) {
                None => report(
                    hash,
                    "a listed key has no verification record (it cannot verify)",
                    Some(record.clone()),
                )?,
                Some(value) => {
                    let want = kv::decode::<KeyRecord>("k", record).ok();
                    let have = value
                        .as_deref()
                        .and_then(|t| kv::decode::<KeyRecord>("k", t).ok());
                    if want.is_none() || want != have {
                        report(
                            hash,
                            "verification record differs from its consumer (metadata or expiry)",
                            Some(record.clone()),
                        )?;
                    }
                }
            }
        }
        out.checked += present.len().max(expected.len());
        match (page.cursor, upper) {
            (Some(c), Some(u)) => {
                after = u;
                kv_cursor = Some(c);
                if budget < 1 + LIST_LIMIT / 100 {
                    out.cursor = Some(format!("{after}.{}", kv_cursor.unwrap_or_default()));
                    return Ok(out);
                }
            }
            _ => return Ok(out),
        }
    }
}
