//! Key handlers: list, create, get, delete — and key generation for every creating path.

use super::{body, Api, Query};
use crate::error::Error;
use crate::http::{ApiRequest, ApiResponse};
use crate::kv::StoredKey;
use crate::model::{self, CreateKey, KeyOut, ListOut};
use crate::store::Store;
use crate::{ids, key_format, records, timestamp, validate};

impl<S: Store> Api<'_, S> {
    /// Validates a key request and makes the key: the stored form and the plaintext.
    pub(super) fn new_key(&self, input: &CreateKey) -> Result<(StoredKey, String), Error> {
        if input.key.is_some() {
            return Err(Error::invalid(
                "field 'key' is not accepted: keyward generates every key so that it carries a valid checksum; omit it",
            ));
        }
        if let Some(d) = &input.description {
            validate::description(d)?;
        }
        let expires_on = input
            .expires_on
            .as_deref()
            .map(timestamp::parse)
            .transpose()?;
        let plaintext = key_format::generate(&self.config.key_prefix, self.entropy)?;
        let stored = StoredKey {
            id: ids::new_id(ids::KEY, self.entropy)?,
            hash: self.hasher.hash(&plaintext),
            masked: model::masked(&plaintext),
            description: input.description.clone(),
            expires_on,
            created_on: self.now,
            updated_on: self.now,
        };
        Ok((stored, plaintext))
    }

    pub(super) async fn list_keys(
        &self,
        bucket: &str,
        consumer: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q).await?;
        let data = c
            .keys
            .iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|k| KeyOut::stored(k, q.key_format))
            .collect();
        Ok(ApiResponse::json(
            200,
            &ListOut {
                data,
                limit: q.limit,
                offset: q.offset,
                total: c.keys.len(),
            },
        ))
    }

    pub(super) async fn create_key(
        &self,
        bucket: &str,
        consumer: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let input: CreateKey = body(req)?;
        let (stored, plaintext) = self.new_key(&input)?;
        let mut c = self.guarded_consumer(bucket, consumer, q).await?;
        if c.keys.len() >= validate::MAX_KEYS {
            return Err(Error::invalid(format!(
                "consumer '{consumer}' already has {} keys, the most allowed; delete or roll old ones",
                validate::MAX_KEYS
            )));
        }
        c.keys.push(stored.clone());
        c.updated_on = self.now;
        records::put_consumer(self.store, bucket, &c).await?;
        records::put_key_records(self.store, self.cache, bucket, &c, &[&stored]).await?;
        Ok(ApiResponse::json(200, &KeyOut::created(&stored, plaintext)))
    }

    pub(super) async fn get_key(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q).await?;
        let k = c
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| key_not_found(consumer, id))?;
        Ok(ApiResponse::json(200, &KeyOut::stored(k, q.key_format)))
    }

    pub(super) async fn delete_key(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let mut c = self.guarded_consumer(bucket, consumer, q).await?;
        let pos = c
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| key_not_found(consumer, id))?;
        let removed = c.keys.remove(pos);
        records::delete_key_records(self.store, self.cache, bucket, &[&removed]).await?;
        c.updated_on = self.now;
        records::put_consumer(self.store, bucket, &c).await?;
        Ok(ApiResponse::empty(204))
    }
}

fn key_not_found(consumer: &str, id: &str) -> Error {
    Error::not_found(format!(
        "key '{id}' does not exist on consumer '{consumer}'"
    ))
}
