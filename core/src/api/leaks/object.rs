//! The leak routes' part inside the objects: the directory names the buckets; a bucket's
//! object finds its keys among hashes and records reports on them — one synchronous run
//! with the outbox, so a revoked key's verification record follows to KV.
//!
//! Objects see hashes only: the front hashed the keys and kept the plaintexts to itself.

use super::wire::{Answer, Call, Hit, Mark};
use crate::error::{Error, ErrorKind};
use crate::http::ApiResponse;
use crate::problem;
use crate::storage::bucket::rows;
use crate::storage::bucket::sql::Sql;
use crate::storage::kv::{ConsumerRecord, Leak, StoredKey};
use crate::timestamp::Millis;
use std::collections::{BTreeMap, BTreeSet};

/// Answers the front's call `body` in the object of `bucket` (`None`: the directory) at
/// `now`: 200 with the [`Answer`], or a problem (a body the front did not make is a 400);
/// a 5xx error goes to `log` first.
pub fn serve_object(
    sql: &impl Sql,
    bucket: Option<&str>,
    body: &[u8],
    now: Millis,
    log: impl FnOnce(&Error),
) -> ApiResponse {
    match serve(sql, bucket, body, now) {
        Ok(answer) => ApiResponse::json(200, &answer),
        Err(e) => {
            if problem::status_of(e.kind()) >= 500 {
                log(&e);
            }
            problem::from_error(&e)
        }
    }
}

pub(super) fn serve(
    sql: &impl Sql,
    bucket: Option<&str>,
    body: &[u8],
    now: Millis,
) -> Result<Answer, Error> {
    let call: Call =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("leak call: {e}")))?;
    match (call, bucket) {
        (Call::Buckets, None) => Ok(Answer {
            buckets: rows::buckets(sql)?.into_iter().map(|b| b.name).collect(),
            hits: Vec::new(),
        }),
        (Call::Lookup { hashes }, Some(b)) => Ok(Answer {
            buckets: Vec::new(),
            hits: lookup(sql, b, &hashes)?,
        }),
        (Call::Report { marks }, Some(b)) => Ok(Answer {
            buckets: Vec::new(),
            hits: report(sql, b, &marks, now)?,
        }),
        _ => Err(Error::new(
            ErrorKind::Invalid,
            "leak call: the directory lists buckets, bucket objects look up and report keys",
        )),
    }
}

fn hit(consumer: &ConsumerRecord, k: &StoredKey) -> Hit {
    Hit {
        hash: k.hash.clone(),
        consumer: consumer.name.clone(),
        key_id: k.id.clone(),
        expires_on: k.expires_on,
        leaked_on: k.leak.as_ref().map(|l| l.on),
        leaked_at: k.leak.as_ref().and_then(|l| l.at.clone()),
    }
}

/// The keys of `bucket` among `hashes`.
fn lookup(sql: &impl Sql, bucket: &str, hashes: &[String]) -> Result<Vec<Hit>, Error> {
    let wanted: BTreeSet<&str> = hashes.iter().map(String::as_str).collect();
    let mut hits = Vec::new();
    for c in rows::consumers_holding(sql, bucket, hashes)? {
        for k in c.keys.iter().filter(|k| wanted.contains(k.hash.as_str())) {
            hits.push(hit(&c, k));
        }
    }
    Ok(hits)
}

/// Records `marks` on the keys of `bucket` they name, in one transaction: the first report's
/// time and place are kept (a later one only fills a missing place), and a mark asking to
/// revoke sets the expiry to `now` unless the key had expired already. Every change goes
/// through [`rows::save_consumer`], which owes KV the changed verification records.
fn report(sql: &impl Sql, bucket: &str, marks: &[Mark], now: Millis) -> Result<Vec<Hit>, Error> {
    let by_hash: BTreeMap<&str, &Mark> = marks.iter().map(|m| (m.hash.as_str(), m)).collect();
    let hashes: Vec<String> = by_hash.keys().map(|h| (*h).to_owned()).collect();
    sql.atomically(|| {
        let mut hits = Vec::new();
        for before in rows::consumers_holding(sql, bucket, &hashes)? {
            let mut after = before.clone();
            for k in after.keys.iter_mut() {
                if let Some(mark) = by_hash.get(k.hash.as_str()) {
                    apply(k, mark, now);
                }
            }
            if after != before {
                after.updated_on = now;
                rows::save_consumer(sql, bucket, Some(&before), &after)?;
            }
            for k in after
                .keys
                .iter()
                .filter(|k| by_hash.contains_key(k.hash.as_str()))
            {
                hits.push(hit(&after, k));
            }
        }
        Ok(hits)
    })
}

/// One report on one key.
fn apply(k: &mut StoredKey, mark: &Mark, now: Millis) {
    let before = k.clone();
    match &mut k.leak {
        None => {
            k.leak = Some(Leak {
                on: now,
                at: mark.at.clone(),
            })
        }
        Some(leak) if leak.at.is_none() => leak.at.clone_from(&mark.at),
        Some(_) => {}
    }
    if mark.revoke && k.expires_on.is_none_or(|t| t > now) {
        k.expires_on = Some(now);
    }
    if *k != before {
        k.updated_on = now;
    }
}
