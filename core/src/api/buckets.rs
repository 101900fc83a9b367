//! Bucket handlers: list, create, get.

use super::{body, Api, Query};
use crate::error::{Error, ErrorKind};
use crate::http::ApiResponse;
use crate::kv::{self, BucketRecord, SCHEMA_VERSION};
use crate::model::{BucketOut, CreateBucket, ListOut};
use crate::store::{Store, LIST_LIMIT};
use crate::{ids, records, validate};

impl<S: Store> Api<'_, S> {
    pub(super) async fn list_buckets(&self, q: &Query) -> Result<ApiResponse, Error> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .list(kv::keys::BUCKET_PREFIX, cursor.as_deref(), LIST_LIMIT)
                .await?;
            names.extend(page.entries.iter().map(|e| e.name.clone()));
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        let total = names.len();
        let window: Vec<String> = names.into_iter().skip(q.offset).take(q.limit).collect();
        let mut data = Vec::with_capacity(window.len());
        for (key, text) in window.iter().zip(self.store.get_many(&window).await?) {
            if let Some(text) = text {
                data.push(BucketOut::from(&kv::decode::<BucketRecord>(key, &text)?));
            }
        }
        Ok(ApiResponse::json(
            200,
            &ListOut {
                data,
                limit: q.limit,
                offset: q.offset,
                total,
            },
        ))
    }

    pub(super) async fn create_bucket(
        &self,
        req: &crate::http::ApiRequest,
    ) -> Result<ApiResponse, Error> {
        let input: CreateBucket = body(req)?;
        validate::bucket_name(&input.name)?;
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
}
