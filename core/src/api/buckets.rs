//! Bucket handlers: list, create, get, patch, delete.

use super::query::Query;
use super::router::{body, Api};
use crate::api::model::{BucketOut, CheckOut, CheckProblem, CreateBucket, PatchBucket};
use crate::api::token::Grant;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::storage::bucket::sql::Sql;
use crate::storage::bucket::{check, rows};
use crate::storage::kv::{BucketRecord, SCHEMA_VERSION};
use crate::storage::store::Store;
use crate::{ids, validate};

/// Why a bucket's `isRetrievable` cannot change.
fn mode_is_fixed(b: &BucketRecord) -> String {
    if b.retrievable {
        format!(
            "bucket '{}' keeps its keys retrievable (isRetrievable: true), and a bucket's mode is fixed when it is created: its keys would have to be forgotten. Create a hash-only bucket and move consumers there, or leave isRetrievable out",
            b.name
        )
    } else {
        format!(
            "bucket '{}' keeps its keys hashed only (isRetrievable: false), and a bucket's mode is fixed when it is created: keyward cannot recover the keys it only hashed. Create a new bucket with isRetrievable: true for new keys, or leave isRetrievable out",
            b.name
        )
    }
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// The buckets the grant may see, from the directory (the object the Worker routes
    /// bucket listings to).
    pub(super) fn list_buckets(&self, grant: &Grant, q: &Query) -> Result<ApiResponse, Error> {
        let visible: Vec<BucketRecord> = rows::buckets(self.sql)?
            .into_iter()
            .filter(|b| grant.sees(&b.name))
            .collect();
        q.page_of(&visible, |b| Ok(BucketOut::from(b)))
    }

    pub(super) fn create_bucket(
        &self,
        grant: &Grant,
        req: &ApiRequest,
    ) -> Result<ApiResponse, Error> {
        let input: CreateBucket = body(req)?;
        validate::bucket_name(&input.name)?;
        grant.check(Some(&input.name), true)?;
        if let Some(d) = &input.description {
            validate::description(d)?;
        }
        let tags = input.tags.unwrap_or_default();
        validate::tags(&tags)?;
        let retrievable = input.is_retrievable.unwrap_or(false);
        if retrievable && self.config.vault()?.is_none() {
            return Err(Error::invalid(
                "isRetrievable: true needs the Worker secret KEY_ENCRYPTION_SECRET (at least 32 random bytes), which encrypts the keys; it is not set, so this deployment keeps keys hashed only. Set it (`wrangler secret put KEY_ENCRYPTION_SECRET`) or create the bucket without isRetrievable",
            ));
        }
        let record = BucketRecord {
            v: SCHEMA_VERSION,
            id: ids::new_id(ids::BUCKET, self.entropy)?,
            name: input.name,
            description: input.description,
            tags,
            retrievable,
            created_on: self.now,
            updated_on: self.now,
        };
        self.sql.atomically(|| {
            if rows::find_bucket(self.sql, &record.name)?.is_some() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("bucket '{}' already exists", record.name),
                ));
            }
            rows::put_bucket(self.sql, &record)
        })?;
        Ok(ApiResponse::json(200, &BucketOut::from(&record)))
    }

    pub(super) fn get_bucket(&self, name: &str) -> Result<ApiResponse, Error> {
        let record = rows::bucket(self.sql, name)?;
        Ok(ApiResponse::json(200, &BucketOut::from(&record)))
    }

    pub(super) fn patch_bucket(&self, name: &str, req: &ApiRequest) -> Result<ApiResponse, Error> {
        let patch: PatchBucket = body(req)?;
        if let Some(Some(d)) = &patch.description {
            validate::description(d)?;
        }
        if let Some(tags) = &patch.tags {
            validate::tags(tags)?;
        }
        let record = self.sql.atomically(|| {
            let mut record = rows::bucket(self.sql, name)?;
            if patch
                .is_retrievable
                .is_some_and(|r| r != record.retrievable)
            {
                return Err(Error::new(ErrorKind::Conflict, mode_is_fixed(&record)));
            }
            let before = record.clone();
            if let Some(d) = patch.description {
                record.description = d;
            }
            if let Some(tags) = patch.tags {
                record.tags = tags;
            }
            if record != before {
                record.updated_on = self.now;
                rows::put_bucket(self.sql, &record)?;
            }
            Ok(record)
        })?;
        Ok(ApiResponse::json(200, &BucketOut::from(&record)))
    }

    /// Deletes the bucket and everything in it in one transaction of its object; the KV
    /// deletes of its verification records are owed in the outbox and applied after.
    pub(super) fn delete_bucket(&self, name: &str) -> Result<ApiResponse, Error> {
        self.sql.atomically(|| {
            rows::bucket(self.sql, name)?;
            rows::delete_bucket(self.sql, name)
        })?;
        Ok(ApiResponse::empty(204))
    }

    /// `$check`: KV against the tables, one budget of KV operations per call; `cursor`
    /// continues a previous call. `POST` enqueues a repair for each problem.
    pub(super) async fn check_bucket(
        &self,
        name: &str,
        raw_query: &str,
        repair: bool,
    ) -> Result<ApiResponse, Error> {
        rows::bucket(self.sql, name)?;
        let cursor = form_urlencoded::parse(raw_query.as_bytes())
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty());
        let page = check::check_keys(
            self.sql,
            self.store,
            name,
            cursor.as_deref(),
            repair,
            check::CHECK_OPERATION_BUDGET,
        )
        .await?;
        let legacy = match crate::storage::bucket::import::state(self.sql, name)? {
            crate::storage::bucket::import::Legacy::Done(n) if n > 0 => Some(n),
            _ => None,
        };
        let body = CheckOut {
            consistent: page.problems.is_empty(),
            repaired: repair && !page.problems.is_empty(),
            problems: page
                .problems
                .into_iter()
                .map(|p| CheckProblem {
                    key: p.key,
                    problem: p.problem,
                })
                .collect(),
            checked: page.checked,
            cursor: page.cursor,
            pending_writes: crate::storage::bucket::outbox::len(self.sql)?.max(0) as u64,
            imported_consumers: legacy,
            unreadable_legacy_records: crate::storage::bucket::import::unreadable(self.sql, name)?,
        };
        Ok(ApiResponse::json(200, &body))
    }
}
