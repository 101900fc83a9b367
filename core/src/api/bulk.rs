//! `POST /key-buckets/{bucket}/consumers/$bulk`: create, update and delete many consumers in
//! one request — what `keyward sync` writes through.
//!
//! A request holds at most [`BULK_MAX_ITEMS`] items and runs in the bucket's object as one
//! synchronous run of SQL: consumers are rows there, so creating one costs no KV write at all; only
//! verification records (keys whose consumer's metadata changed, keys of deleted consumers)
//! are owed to KV, through the outbox. `deferred` stays in the answer for older clients and
//! is always 0.
//!
//! Every item is validated before anything is written: one bad item rejects the request
//! with 400 and changes nothing. Unchanged items cost no write.

use super::consumers::managers_from;
use super::router::{body, Api};
use crate::api::model::{BulkConsumers, BulkItem, BulkOut, BulkStatus, UpsertConsumer};
use crate::error::Error;
use crate::http::{ApiRequest, ApiResponse};
use crate::storage::bucket::rows;
use crate::storage::bucket::sql::Sql;
use crate::storage::kv::{ConsumerRecord, Source, SyncStamp, SCHEMA_VERSION};
use crate::storage::store::Store;
use crate::{ids, validate};
use std::collections::BTreeSet;

/// Most items (upserts plus deletes) in one bulk request.
pub const BULK_MAX_ITEMS: usize = 1000;

/// The KV operations left to this request. Once an item does not fit, every later item is
/// deferred too, so the client resends a contiguous tail.
fn check_item(u: &UpsertConsumer) -> Result<(), Error> {
    validate::consumer_name(&u.name)?;
    if let Some(d) = &u.description {
        validate::description(d)?;
    }
    validate::metadata(&serde_json::Value::Object(u.metadata.clone()))?;
    validate::tags(&u.tags)?;
    let mut emails = BTreeSet::new();
    for m in &u.managers {
        emails.insert(validate::email(m)?);
    }
    // Checked here, not while applying, so that one bad item rejects the whole request.
    if emails.len() > validate::MAX_MANAGERS {
        return Err(Error::invalid(format!(
            "consumer '{}': {} managers, at most {} are allowed",
            u.name,
            emails.len(),
            validate::MAX_MANAGERS
        )));
    }
    Ok(())
}

fn check_request(input: &BulkConsumers) -> Result<(), Error> {
    let count = input.upsert.len() + input.delete.len();
    if count > BULK_MAX_ITEMS {
        return Err(Error::invalid(format!(
            "{count} items in one request, at most {BULK_MAX_ITEMS} are allowed; split the request"
        )));
    }
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, u) in input.upsert.iter().enumerate() {
        if let Err(e) = check_item(u) {
            problems.push(format!("upsert[{i}]: {e}"));
        }
        if !seen.insert(u.name.as_str()) {
            problems.push(format!("upsert[{i}]: consumer '{}' appears twice", u.name));
        }
    }
    for (i, name) in input.delete.iter().enumerate() {
        if let Err(e) = validate::consumer_name(name) {
            problems.push(format!("delete[{i}]: {e}"));
        } else if !seen.insert(name.as_str()) {
            problems.push(format!("delete[{i}]: consumer '{name}' appears twice"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown = problems.len().min(20);
    let mut message = problems[..shown].join("; ");
    if problems.len() > shown {
        message.push_str(&format!("; and {} more", problems.len() - shown));
    }
    Err(Error::invalid(message))
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// The record an upsert asks for, given the current one.
    fn upserted(
        &self,
        u: &UpsertConsumer,
        before: Option<&ConsumerRecord>,
        input: &BulkConsumers,
    ) -> Result<ConsumerRecord, Error> {
        let existing = before.map(|b| b.managers.as_slice()).unwrap_or_default();
        let managers = managers_from(
            self,
            u.managers.iter().map(|m| (m.clone(), None)).collect(),
            existing,
        )?;
        let mut after = match before {
            Some(b) => b.clone(),
            None => ConsumerRecord {
                v: SCHEMA_VERSION,
                id: ids::new_id(ids::CONSUMER, self.entropy)?,
                name: u.name.clone(),
                description: None,
                metadata: Default::default(),
                tags: Default::default(),
                managers: Vec::new(),
                keys: Vec::new(),
                created_on: self.now,
                updated_on: self.now,
                source: input.source,
                last_sync: None,
            },
        };
        after.description = u.description.clone().filter(|d| !d.is_empty());
        after.metadata = u.metadata.clone();
        after.tags = u.tags.clone();
        after.managers = managers;
        Ok(after)
    }

    /// Applies every item in one synchronous run of the bucket's object: no other request
    /// sees half of it (natively, and in the object for everything but a storage failure
    /// mid-way, it is all or nothing; see `storage::bucket::rows`). The KV writes they owe (verification records whose metadata
    /// changed, keys of deleted consumers) are applied from the outbox afterwards.
    pub(super) fn bulk_consumers(
        &self,
        bucket: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, Error> {
        let input: BulkConsumers = body(req)?;
        check_request(&input)?;
        let (results, writes) = self.sql.atomically(|| {
            rows::bucket(self.sql, bucket)?;
            let mut results = Vec::with_capacity(input.upsert.len() + input.delete.len());
            let mut writes = 0;
            for u in &input.upsert {
                let before = rows::find_consumer(self.sql, bucket, &u.name)?;
                let mut after = self.upserted(u, before.as_ref(), &input)?;
                let unchanged = before
                    .as_ref()
                    .is_some_and(|b| b.digest() == after.digest());
                let status = if unchanged {
                    BulkStatus::Unchanged
                } else {
                    after.updated_on = self.now;
                    if input.commit.is_some() || input.source == Source::File {
                        after.last_sync = Some(SyncStamp {
                            commit: input.commit.clone(),
                            at: self.now,
                        });
                    }
                    writes += rows::save_consumer(self.sql, bucket, before.as_ref(), &after)?;
                    if before.is_some() {
                        BulkStatus::Updated
                    } else {
                        BulkStatus::Created
                    }
                };
                results.push(BulkItem {
                    name: u.name.clone(),
                    op: "upsert".into(),
                    status,
                });
            }
            for name in &input.delete {
                let status = match rows::find_consumer(self.sql, bucket, name)? {
                    None => BulkStatus::Absent,
                    Some(c) if input.delete_only_source.is_some_and(|s| s != c.source) => {
                        BulkStatus::Protected
                    }
                    Some(c) => {
                        writes += rows::delete_consumer(self.sql, bucket, &c)?;
                        BulkStatus::Deleted
                    }
                };
                results.push(BulkItem {
                    name: name.clone(),
                    op: "delete".into(),
                    status,
                });
            }
            Ok((results, writes))
        })?;
        let out = BulkOut {
            results,
            writes,
            deferred: 0,
        };
        Ok(ApiResponse::json(200, &out))
    }
}
