//! Bucket handlers: list, create, get, patch, delete.

use super::bulk::KV_OPERATION_BUDGET;
use super::query::Query;
use super::router::{body, Api};
use crate::api::model::{BucketOut, CheckOut, CheckProblem, CreateBucket, PatchBucket};
use crate::api::token::Grant;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::storage::kv::{self, BucketRecord, SCHEMA_VERSION};
use crate::storage::records;
use crate::storage::store::Store;
use crate::{ids, validate};

impl<S: Store> Api<'_, S> {
    pub(super) async fn list_buckets(
        &self,
        grant: &Grant,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let names: Vec<String> = records::list_all(self.store, kv::keys::BUCKET_PREFIX)
            .await?
            .into_iter()
            .filter(|e| kv::keys::bucket_name_of(&e.name).is_some_and(|b| grant.sees(b)))
            .map(|e| e.name)
            .collect();
        let total = names.len();
        let window: Vec<String> = names.into_iter().skip(q.offset).take(q.limit).collect();
        let mut data = Vec::with_capacity(window.len());
        for (key, text) in window.iter().zip(self.store.get_many(&window).await?) {
            if let Some(text) = text {
                data.push(BucketOut::from(&kv::decode::<BucketRecord>(key, &text)?));
            }
        }
        Ok(q.page(data, total))
    }

    pub(super) async fn create_bucket(
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
        if self
            .store
            .get(&kv::keys::bucket(&input.name))
            .await?
            .is_some()
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("bucket '{}' already exists", input.name),
            ));
        }
        let record = BucketRecord {
            v: SCHEMA_VERSION,
            id: ids::new_id(ids::BUCKET, self.entropy)?,
            name: input.name,
            description: input.description,
            tags,
            created_on: self.now,
            updated_on: self.now,
        };
        records::put_bucket(self.store, &record).await?;
        Ok(ApiResponse::json(200, &BucketOut::from(&record)))
    }

    pub(super) async fn get_bucket(&self, name: &str) -> Result<ApiResponse, Error> {
        let record = records::bucket(self.store, name).await?;
        Ok(ApiResponse::json(200, &BucketOut::from(&record)))
    }

    pub(super) async fn patch_bucket(
        &self,
        name: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, Error> {
        let patch: PatchBucket = body(req)?;
        if let Some(Some(d)) = &patch.description {
            validate::description(d)?;
        }
        if let Some(tags) = &patch.tags {
            validate::tags(tags)?;
        }
        let mut record = records::bucket(self.store, name).await?;
        let before = record.clone();
        if let Some(d) = patch.description {
            record.description = d;
        }
        if let Some(tags) = patch.tags {
            record.tags = tags;
        }
        if record != before {
            record.updated_on = self.now;
            records::put_bucket(self.store, &record).await?;
        }
        Ok(ApiResponse::json(200, &BucketOut::from(&record)))
    }

    /// Deletes the bucket and everything in it: verification records first (keys stop
    /// working), then index entries, consumers, and the bucket record last. A bucket too large
    /// for one invocation's KV budget answers 202: call DELETE again until it answers 204.
    pub(super) async fn delete_bucket(&self, name: &str) -> Result<ApiResponse, Error> {
        records::bucket(self.store, name).await?;
        let prefixes = [
            kv::keys::key_hash_prefix(name),
            kv::keys::manager_bucket_prefix(name),
            kv::keys::consumer_prefix(name),
        ];
        // The last 4 operations are kept for the final emptiness check and the bucket record.
        let mut budget = KV_OPERATION_BUDGET - 1 - prefixes.len() - 1;
        for prefix in &prefixes {
            // Follow the cursor: KV lists are eventually consistent, and listing from the
            // start again could return what was just deleted.
            let mut cursor: Option<String> = None;
            loop {
                if budget < 2 {
                    return Ok(in_progress(name));
                }
                budget -= 1;
                let page = self
                    .store
                    .list(
                        prefix,
                        cursor.as_deref(),
                        budget.min(crate::storage::store::LIST_LIMIT),
                    )
                    .await?;
                for e in &page.entries {
                    self.store.delete(&e.name).await?;
                    self.cache.forget(&e.name);
                    budget -= 1;
                }
                cursor = page.cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
        // The bucket record goes only when a fresh listing finds nothing left; otherwise the
        // client calls again (a stale or partial listing must not orphan records).
        for prefix in &prefixes {
            if !self.store.list(prefix, None, 1).await?.entries.is_empty() {
                return Ok(in_progress(name));
            }
        }
        self.store.delete(&kv::keys::bucket(name)).await?;
        Ok(ApiResponse::empty(204))
    }
}

impl<S: Store> Api<'_, S> {
    /// `GET …/key-buckets/{bucket}/$check`: consistency of the bucket's records (no orphan
    /// verification records or index entries, nothing missing or stale, KV metadata
    /// matching). `POST` also repairs what it finds, from the consumer records (the source of
    /// truth). Reads every record of the bucket: meant for tests and operators.
    pub(super) async fn check_bucket(
        &self,
        name: &str,
        repair: bool,
    ) -> Result<ApiResponse, Error> {
        records::bucket(self.store, name).await?;
        let check = records::check_bucket(self.store, name).await?;
        if repair {
            records::apply(self.store, self.cache, &check.repairs).await?;
        }
        let body = CheckOut {
            consistent: check.problems.is_empty(),
            repaired: repair && !check.problems.is_empty(),
            problems: check
                .problems
                .into_iter()
                .map(|p| CheckProblem {
                    key: p.key,
                    problem: p.problem,
                })
                .collect(),
        };
        Ok(ApiResponse::json(200, &body))
    }
}

fn in_progress(name: &str) -> ApiResponse {
    let mut r = ApiResponse::json(
        202,
        &serde_json::json!({
            "status": "in-progress",
            "detail": format!("bucket '{name}' is too large to delete in one request; send DELETE again until it answers 204"),
        }),
    );
    r.headers.push(("retry-after".into(), "0".into()));
    r
}
