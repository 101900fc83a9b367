//! Key handlers: list, create, `$bulk`, get, patch, delete — and key generation for every
//! path that creates one.

use super::query::Query;
use super::router::{array_body, body, Api};
use crate::api::model::{self, CreateKey, KeyOut, ListOut, PatchKey};
use crate::error::Error;
use crate::http::{ApiRequest, ApiResponse};
use crate::key;
use crate::storage::bucket::sql::Sql;
use crate::storage::kv::{ConsumerRecord, StoredKey};
use crate::storage::store::Store;
use crate::{ids, timestamp, validate};

/// Adds `keys` to `c` within the per-consumer limit (the developer API's and the managers'
/// create).
pub(crate) fn add_keys(c: &mut ConsumerRecord, keys: Vec<StoredKey>) -> Result<(), Error> {
    if c.keys.len() + keys.len() > validate::MAX_KEYS {
        return Err(Error::invalid(format!(
            "consumer '{}' may hold at most {} keys; delete or roll old ones",
            c.name,
            validate::MAX_KEYS
        )));
    }
    c.keys.extend(keys);
    Ok(())
}

fn key_not_found(consumer: &str, id: &str) -> Error {
    Error::not_found(format!(
        "key '{id}' does not exist on consumer '{consumer}'"
    ))
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// Validates a key request and makes the key: the stored form and the plaintext.
    pub(crate) fn new_key(&self, input: &CreateKey) -> Result<(StoredKey, String), Error> {
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
        let plaintext = key::format::generate(&self.config.key_prefix, self.entropy)?;
        let stored = StoredKey {
            id: ids::new_id(ids::KEY, self.entropy)?,
            hash: self.hasher.hash(&plaintext),
            masked: model::masked(&plaintext),
            description: input.description.clone(),
            expires_on,
            created_on: self.now,
            updated_on: self.now,
            created_by: None,
            leak: None,
        };
        Ok((stored, plaintext))
    }

    pub(super) fn list_keys(
        &self,
        bucket: &str,
        consumer: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q)?;
        Ok(q.page_of(&c.keys, |k| KeyOut::stored(k, q.key_format)))
    }

    /// Creates keys for `consumer`; the plaintexts are in the answer and nowhere else.
    fn create_keys(
        &self,
        bucket: &str,
        consumer: &str,
        inputs: &[CreateKey],
        q: &Query,
    ) -> Result<Vec<KeyOut>, Error> {
        let mut created = Vec::with_capacity(inputs.len());
        for input in inputs {
            created.push(self.new_key(input)?);
        }
        self.change_consumer(bucket, consumer, q, |c| {
            add_keys(c, created.iter().map(|(k, _)| k.clone()).collect())
        })?;
        Ok(created
            .into_iter()
            .map(|(k, plain)| KeyOut::created(&k, plain))
            .collect())
    }

    pub(super) fn create_key(
        &self,
        bucket: &str,
        consumer: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let input: CreateKey = body(req)?;
        let mut out = self.create_keys(bucket, consumer, &[input], q)?;
        Ok(ApiResponse::json(200, &out.remove(0)))
    }

    pub(super) fn bulk_keys(
        &self,
        bucket: &str,
        consumer: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let inputs: Vec<CreateKey> = array_body(req)?;
        if inputs.is_empty() {
            return Err(Error::invalid(
                "request body is an empty array; send at least one key",
            ));
        }
        let out = self.create_keys(bucket, consumer, &inputs, q)?;
        let n = out.len();
        // Zuplo answers the list envelope: one page holding every key created.
        Ok(ApiResponse::json(
            200,
            &ListOut {
                data: out,
                limit: n,
                offset: 0,
                total: n,
                cursor: None,
            },
        ))
    }

    pub(super) fn get_key(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q)?;
        let k = c
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| key_not_found(consumer, id))?;
        Ok(ApiResponse::json(200, &KeyOut::stored(k, q.key_format)))
    }

    /// Changes a key's description or expiry; the expiry reaches its verification record.
    pub(super) fn patch_key(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let patch: PatchKey = body(req)?;
        if let Some(Some(d)) = &patch.description {
            validate::description(d)?;
        }
        let expires_on = match &patch.expires_on {
            Some(Some(t)) => Some(Some(timestamp::parse(t)?)),
            Some(None) => Some(None),
            None => None,
        };
        let (key, _) = self.change_consumer(bucket, consumer, q, |c| {
            let k = c
                .keys
                .iter_mut()
                .find(|k| k.id == id)
                .ok_or_else(|| key_not_found(consumer, id))?;
            let before = k.clone();
            if let Some(d) = patch.description {
                k.description = d;
            }
            if let Some(t) = expires_on {
                k.expires_on = t;
            }
            if *k != before {
                k.updated_on = self.now;
            }
            Ok(k.clone())
        })?;
        Ok(ApiResponse::json(200, &KeyOut::stored(&key, q.key_format)))
    }

    pub(super) fn delete_key(
        &self,
        bucket: &str,
        consumer: &str,
        id: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        self.change_consumer(bucket, consumer, q, |c| {
            let pos = c
                .keys
                .iter()
                .position(|k| k.id == id)
                .ok_or_else(|| key_not_found(consumer, id))?;
            c.keys.remove(pos);
            Ok(())
        })?;
        Ok(ApiResponse::empty(204))
    }
}
