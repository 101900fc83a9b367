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

/// An orphan kept while old-layout records could not be imported.
const KEPT_ORPHAN: &str = "verification record of a key no consumer lists (kept: it may belong \
     to a consumer record of the old layout that could not be imported)";

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
    let bad = || {
        Error::invalid(
            "query parameter cursor: not a cursor from a previous $check; start without one",
        )
    };
    let (hash, kv_cursor) = c.split_once('.').ok_or_else(bad)?;
    if kv_cursor.is_empty()
        || !hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad());
    }
    Ok((hash.to_owned(), Some(kv_cursor.to_owned())))
}

/// Checks `bucket` from `cursor` on, spending at most `budget` KV operations (the API passes
/// [`CHECK_OPERATION_BUDGET`]); with `repair`, enqueues a fix for each problem.
pub async fn check_keys<Q: Sql, S: Store>(
    sql: &Q,
    kv_store: &S,
    bucket: &str,
    cursor: Option<&str>,
    repair: bool,
    budget: usize,
) -> Result<CheckPage, Error> {
    let (mut after, mut kv_cursor) = split_cursor(cursor)?;
    let prefix = kv::keys::key_hash_prefix(bucket);
    let mut out = CheckPage::default();
    let mut budget = budget;
    let mut first = true;
    loop {
        if budget < 1 + LIST_LIMIT / 100 {
            // Out of budget: hand back where to continue (only reachable with a cursor).
            out.cursor = kv_cursor.as_ref().map(|c| format!("{after}.{c}"));
            return Ok(out);
        }
        let page = kv_store
            .list(&prefix, kv_cursor.as_deref(), LIST_LIMIT)
            .await
            .map_err(|e| match (&kv_cursor, first) {
                // Only the client's cursor can be the client's mistake; a later failure is KV's.
                (Some(_), true) => Error::invalid(
                    "query parameter cursor: KV did not accept it; start without one",
                ),
                _ => e,
            })?;
        first = false;
        budget = budget.saturating_sub(1);
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
        // KV first, the tables after: other requests run in the object while KV answers, so
        // what the tables say is read after the last await and everything from here on is
        // synchronous — a repair never writes back a record deleted meanwhile.
        let keys: Vec<String> = present
            .iter()
            .map(|h| kv::keys::key_hash(bucket, h))
            .collect();
        let values = kv_store.get_many(&keys).await?;
        budget = budget.saturating_sub(keys.len().div_ceil(100));
        let stored: BTreeMap<&str, Option<String>> =
            present.iter().map(String::as_str).zip(values).collect();
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
        let mut report = |hash: &str,
                          problem: &str,
                          fix: Option<String>,
                          repairable: bool|
         -> Result<(), Error> {
            if outbox::owes_key(sql, bucket, hash)? {
                return Ok(());
            }
            out.problems.push(Inconsistency {
                key: kv::keys::redacted(&kv::keys::key_hash(bucket, hash)),
                problem: problem.to_owned(),
            });
            if repair && repairable {
                outbox::enqueue(sql, Kind::Key, bucket, hash, fix)?;
            }
            Ok(())
        };
        // Listed but gone by the time its value was read: deleted meanwhile, not an orphan.
        // While some consumer records of the old layout could not be imported, an orphan may
        // be one of their keys: reported, never deleted.
        let keep_orphans = !super::import::unreadable(sql, bucket)?.is_empty();
        for hash in present.iter().filter(|h| {
            !expected.contains_key(*h) && matches!(stored.get(h.as_str()), Some(Some(_)))
        }) {
            if keep_orphans {
                report(hash, KEPT_ORPHAN, None, false)?;
            } else {
                report(
                    hash,
                    "verification record of a key no consumer lists",
                    None,
                    true,
                )?;
            }
        }
        for (hash, record) in &expected {
            match stored.get(hash.as_str()) {
                // Listed by KV, but its value gone by the time it was read: missing too.
                None | Some(None) => report(
                    hash,
                    "a listed key has no verification record (it cannot verify)",
                    Some(record.clone()),
                    true,
                )?,
                Some(Some(value)) => {
                    let want = kv::decode::<KeyRecord>("k", record).ok();
                    let have = kv::decode::<KeyRecord>("k", value).ok();
                    if want.is_none() || want != have {
                        report(
                            hash,
                            "verification record differs from its consumer (metadata or expiry)",
                            Some(record.clone()),
                            true,
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
            }
            _ => return Ok(out),
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::storage::bucket::{import, rows, schema, sqlite::Sqlite};
    use crate::storage::kv::{ConsumerRecord, StoredKey, SCHEMA_VERSION};
    use crate::storage::store::{ListPage, MemoryStore};
    use pollster::block_on;
    use std::cell::Cell;

    /// KV with a script: it answers `empties` empty pages (with a cursor) before its real
    /// listing, and lets another change run (`meanwhile`) during its first bulk read, as a
    /// Durable Object does while a KV call is in flight.
    struct Scripted<'a> {
        inner: &'a MemoryStore,
        empties: Cell<usize>,
        meanwhile: std::cell::RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    }

    impl<'a> Scripted<'a> {
        fn new(inner: &'a MemoryStore) -> Self {
            Scripted {
                inner,
                empties: Cell::new(0),
                meanwhile: std::cell::RefCell::new(None),
            }
        }
    }

    impl Store for Scripted<'_> {
        async fn get(&self, key: &str) -> Result<Option<String>, Error> {
            self.inner.get(key).await
        }
        async fn put(
            &self,
            key: &str,
            value: &str,
            m: Option<&serde_json::Value>,
        ) -> Result<(), Error> {
            self.inner.put(key, value, m).await
        }
        async fn delete(&self, key: &str) -> Result<(), Error> {
            self.inner.delete(key).await
        }
        async fn list(
            &self,
            prefix: &str,
            cursor: Option<&str>,
            limit: usize,
        ) -> Result<ListPage, Error> {
            if self.empties.get() > 0 {
                self.empties.set(self.empties.get() - 1);
                return Ok(ListPage {
                    entries: Vec::new(),
                    cursor: Some("0".into()),
                });
            }
            let cursor = cursor.filter(|c| *c != "0");
            self.inner.list(prefix, cursor, limit).await
        }
        async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
            if let Some(change) = self.meanwhile.borrow_mut().take() {
                change();
            }
            self.inner.get_many(keys).await
        }
    }

    /// A bucket of `n` single-key consumers whose verification records KV holds.
    fn bucket_of(n: usize) -> (Sqlite, MemoryStore) {
        let sql = Sqlite::in_memory().unwrap();
        schema::ensure(&sql).unwrap();
        let kv_store = MemoryStore::new();
        for i in 0..n {
            let c = one_key_consumer(&format!("c{i:05}"), &format!("h{i:05}"));
            rows::import_consumer(&sql, "b", &c).unwrap();
            let record = kv::encode(&c.key_record(&c.keys[0]));
            block_on(kv_store.put(&kv::keys::key_hash("b", &c.keys[0].hash), &record, None))
                .unwrap();
        }
        (sql, kv_store)
    }

    #[test]
    fn a_small_budget_pages_through_the_bucket_with_cursors() {
        let (sql, kv_store) = bucket_of(2500);
        block_on(kv_store.delete(&kv::keys::key_hash("b", "h01500"))).unwrap();
        let mut cursor = None;
        let mut calls = 0;
        let mut problems = Vec::new();
        let mut checked = 0;
        loop {
            let page = block_on(check_keys(
                &sql,
                &kv_store,
                "b",
                cursor.as_deref(),
                false,
                12,
            ))
            .unwrap();
            calls += 1;
            checked += page.checked;
            problems.extend(page.problems);
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(calls, 3, "one list page of 1000 per call");
        assert_eq!(checked, 2500);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].problem.contains("no verification record"));
    }

    #[test]
    fn empty_pages_with_a_cursor_spend_the_budget_and_hand_back_a_cursor() {
        let (sql, inner) = bucket_of(3);
        let kv_store = Scripted::new(&inner);
        kv_store.empties.set(700);
        let page = block_on(check_keys(
            &sql,
            &kv_store,
            "b",
            None,
            false,
            CHECK_OPERATION_BUDGET,
        ))
        .unwrap();
        assert!(page.problems.is_empty(), "{:?}", page.problems);
        assert!(
            page.cursor.is_some(),
            "the budget ran out: a cursor to continue"
        );
        let mut cursor = page.cursor;
        let mut rounds = 0;
        while let Some(c) = cursor {
            rounds += 1;
            assert!(rounds < 5);
            let page = block_on(check_keys(
                &sql,
                &kv_store,
                "b",
                Some(&c),
                false,
                CHECK_OPERATION_BUDGET,
            ))
            .unwrap();
            assert!(page.problems.is_empty(), "{:?}", page.problems);
            cursor = page.cursor;
        }
    }

    /// A consumer deleted (and its key's record removed from KV) while a repairing check
    /// waits for KV: the repair must not write the deleted key's record back.
    #[test]
    fn a_repair_never_writes_back_what_was_deleted_while_it_read_kv() {
        let (sql, kv_store) = bucket_of(3);
        let doomed = rows::find_consumer(&sql, "b", "c00001").unwrap().unwrap();
        let kv_key = kv::keys::key_hash("b", &doomed.keys[0].hash);
        let store = Scripted::new(&kv_store);
        *store.meanwhile.borrow_mut() = Some(Box::new(|| {
            rows::delete_consumer(&sql, "b", &doomed).unwrap();
            // The other request's drain: the delete is applied and no longer owed.
            block_on(kv_store.delete(&kv_key)).unwrap();
            sql.exec("DELETE FROM outbox", &[]).unwrap();
        }));
        let page = block_on(check_keys(
            &sql,
            &store,
            "b",
            None,
            true,
            CHECK_OPERATION_BUDGET,
        ))
        .unwrap();
        assert!(page.problems.is_empty(), "{:?}", page.problems);
        assert_eq!(
            outbox::len(&sql).unwrap(),
            0,
            "no repair of the deleted key queued"
        );
    }

    /// A consumer `name` with one key whose hash is `hash`.
    fn one_key_consumer(name: &str, hash: &str) -> ConsumerRecord {
        ConsumerRecord {
            v: SCHEMA_VERSION,
            id: format!("csmr_{name}"),
            name: name.into(),
            description: None,
            metadata: Default::default(),
            tags: Default::default(),
            managers: Vec::new(),
            keys: vec![StoredKey {
                id: format!("key_{name}"),
                hash: hash.into(),
                masked: "kw_****".into(),
                description: None,
                expires_on: None,
                created_on: 0,
                updated_on: 0,
                created_by: None,
                leak: None,
                sealed: None,
            }],
            created_on: 0,
            updated_on: 0,
            source: Default::default(),
            last_sync: None,
        }
    }

    /// A consumer record this build cannot read is left in KV and listed; its key's
    /// verification record is reported by `$check` but never deleted by a repair.
    #[test]
    fn an_unreadable_record_is_kept_and_its_keys_are_never_repaired_away() {
        let sql = Sqlite::in_memory().unwrap();
        schema::ensure(&sql).unwrap();
        let kv_store = MemoryStore::new();
        let bucket = kv::BucketRecord {
            v: SCHEMA_VERSION,
            id: "bckt_1".into(),
            name: "b".into(),
            description: None,
            tags: Default::default(),
            retrievable: false,
            created_on: 0,
            updated_on: 0,
        };
        let good = one_key_consumer("good", "hgood");
        let key_record = |c: &ConsumerRecord| -> KeyRecord { c.key_record(&c.keys[0]) };
        block_on(async {
            kv_store
                .put("b:b", &kv::encode(&bucket), None)
                .await
                .unwrap();
            kv_store
                .put("c:b:good", &kv::encode(&good), None)
                .await
                .unwrap();
            kv_store
                .put("c:b:odd", r#"{"v":9,"name":"odd"}"#, None)
                .await
                .unwrap();
            let good_key = kv::encode(&key_record(&good));
            kv_store.put("k:b:hgood", &good_key, None).await.unwrap();
            let odd_key = kv::encode(&key_record(&one_key_consumer("odd", "hodd")));
            kv_store.put("k:b:hodd", &odd_key, None).await.unwrap();
        });
        let state = block_on(import::import(&sql, &kv_store, "b", 800)).unwrap();
        assert_eq!(state, import::Legacy::Done(1));
        assert_eq!(import::unreadable(&sql, "b").unwrap(), ["c:b:odd"]);
        assert!(rows::find_consumer(&sql, "b", "good").unwrap().is_some());
        let owed: Vec<String> = outbox::pending(&sql, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(owed.contains(&"c:b:good".to_owned()), "{owed:?}");
        assert!(!owed.contains(&"c:b:odd".to_owned()), "{owed:?}");
        sql.exec("DELETE FROM outbox", &[]).unwrap();
        let page = block_on(check_keys(&sql, &kv_store, "b", None, true, 600)).unwrap();
        assert_eq!(page.problems.len(), 1, "{:?}", page.problems);
        assert!(page.problems[0].problem.contains("kept"));
        assert_eq!(
            outbox::len(&sql).unwrap(),
            0,
            "no repair deletes the kept record"
        );
    }
}
