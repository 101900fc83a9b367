//! Key handlers: list, create, `$bulk`, get, patch, delete — and key generation for every
//! path that creates one.

use super::query::Query;
use super::router::{array_body, body, Api};
use crate::api::model::{self, CreateKey, KeyOut, ListOut, PatchKey};
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::key;
use crate::key::sealed::Vault;
use crate::storage::bucket::rows;
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
    /// Whether a client-supplied key may be stored: a valid key of this deployment's prefix
    /// (`Ok(false)`) or one matching `IMPORTED_KEY_PATTERN` (`Ok(true)`, imported). The
    /// messages never quote the key.
    fn supplied_key(&self, text: &str) -> Result<bool, Error> {
        key::imported::check_supplied(text)
            .map_err(|e| Error::invalid(format!("field 'key' {e}")))?;
        let prefix = &self.config.key_prefix;
        let parsed = key::format::parse(text);
        if parsed.is_ok_and(|p| p.prefix() == prefix) {
            return Ok(false);
        }
        let pattern = self.config.imported_key_pattern.as_ref();
        if pattern.is_some_and(|p| p.matches(text)) {
            return Ok(true);
        }
        let what = match parsed {
            Ok(p) => format!(
                "is a keyward key of prefix '{}', not of this deployment's '{prefix}'",
                p.prefix()
            ),
            Err(e) => format!("is not a keyward key of prefix '{prefix}' ({e})"),
        };
        let hint = match pattern {
            None => "and IMPORTED_KEY_PATTERN is not set, so no other key can be imported; set it to a regular expression for the keys to import (Zuplo's: ^zpka_[0-9a-f]{32}_[0-9a-f]{8}$), or omit 'key' to have one generated",
            Some(_) => "and does not match IMPORTED_KEY_PATTERN; omit 'key' to have one generated",
        };
        Err(Error::invalid(format!("field 'key' {what} {hint}")))
    }

    /// A stored key as the query asks to see it (`key-format`); `visible` opens its
    /// encrypted copy (the router has checked who asks and where: `may_show_keys`).
    pub(crate) fn key_out(&self, k: &StoredKey, q: &Query) -> Result<KeyOut, Error> {
        KeyOut::shown(k, q.key_format, self.vault_to_show(q)?)
    }

    /// The vault, when the query shows keys in plaintext (else not even a refused secret
    /// matters).
    pub(crate) fn vault_to_show(&self, q: &Query) -> Result<Option<&Vault>, Error> {
        match q.key_format {
            model::KeyFormat::Visible => self.config.vault(),
            _ => Ok(None),
        }
    }

    /// The vault that seals `bucket`'s keys: `None` for a hash-only bucket. A retrievable
    /// bucket on a Worker without `KEY_ENCRYPTION_SECRET` is a configuration error (a new
    /// key would not be retrievable).
    pub fn vault_of(&self, bucket: &str) -> Result<Option<&Vault>, Error> {
        if !rows::bucket(self.sql, bucket)?.retrievable {
            return Ok(None);
        }
        self.config.vault()?.map(Some).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("bucket '{bucket}' keeps keys retrievable, and the secret KEY_ENCRYPTION_SECRET is not set: set it again, to the value its keys were stored with"),
            )
        })
    }

    /// The vault that shows `bucket`'s keys (`key-format=visible`): a hash-only bucket is a
    /// 400 that says why (the developer API and `/v1/me` give the same answer).
    pub(crate) fn visible_vault(&self, bucket: &str) -> Result<&Vault, Error> {
        self.vault_of(bucket)?.ok_or_else(|| {
            Error::invalid(format!(
                "key-format=visible is not possible in bucket '{bucket}': it keeps keys hashed only (isRetrievable: false), so a key is shown in full once, in the response that creates it; use masked or none"
            ))
        })
    }

    /// Validates a key request and makes the key: the stored form and the plaintext. A
    /// supplied `key` (an import) is checked (`supplied_key`) and hashed like a generated
    /// one; that it is new to the bucket is checked where it is saved ([`Api::refuse_held`]).
    /// With a `vault` (a retrievable bucket) the key is also kept encrypted.
    pub(crate) fn new_key(
        &self,
        input: &CreateKey,
        vault: Option<&Vault>,
    ) -> Result<(StoredKey, String), Error> {
        let imported = match &input.key {
            Some(text) => self.supplied_key(text)?,
            None => false,
        };
        if let Some(d) = &input.description {
            validate::description(d)?;
        }
        let expires_on = input
            .expires_on
            .as_deref()
            .map(timestamp::parse)
            .transpose()?;
        let plaintext = match &input.key {
            Some(text) => text.clone(),
            None => key::format::generate(&self.config.key_prefix, self.entropy)?,
        };
        let id = ids::new_id(ids::KEY, self.entropy)?;
        let sealed = vault
            .map(|v| v.seal(&id, &plaintext, self.entropy))
            .transpose()?;
        let stored = StoredKey {
            id,
            hash: self.hasher.hash(&plaintext),
            masked: if imported {
                key::imported::mask(&plaintext)
            } else {
                model::masked(&plaintext)
            },
            description: input.description.clone(),
            expires_on,
            created_on: self.now,
            updated_on: self.now,
            created_by: None,
            leak: None,
            sealed,
        };
        Ok((stored, plaintext))
    }

    /// Makes the keys `inputs` ask for, refusing (400) a request that supplies one key twice.
    pub(crate) fn new_keys(
        &self,
        inputs: &[CreateKey],
        vault: Option<&Vault>,
    ) -> Result<Vec<(StoredKey, String)>, Error> {
        let mut created: Vec<(StoredKey, String)> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let (k, plain) = self.new_key(input, vault)?;
            if input.key.is_some() && created.iter().any(|(c, _)| c.hash == k.hash) {
                return Err(Error::invalid(
                    "the same 'key' is supplied twice in this request; supply each key once",
                ));
            }
            created.push((k, plain));
        }
        Ok(created)
    }

    /// Refuses (409) supplied keys the bucket already holds, whichever consumer holds them:
    /// a key belongs to one consumer (and saving it would move its row). Called in the
    /// transaction that saves them, before any write; generated keys are not looked up
    /// (190 random bits).
    pub(crate) fn refuse_held(
        &self,
        bucket: &str,
        inputs: &[CreateKey],
        created: &[(StoredKey, String)],
    ) -> Result<(), Error> {
        let supplied: Vec<String> = inputs
            .iter()
            .zip(created)
            .filter(|(input, _)| input.key.is_some())
            .map(|(_, (k, _))| k.hash.clone())
            .collect();
        if supplied.is_empty() {
            return Ok(());
        }
        if let Some(holder) = rows::consumers_holding(self.sql, bucket, &supplied)?.first() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "a supplied 'key' is already stored in bucket '{bucket}', for consumer '{}'; a key belongs to one consumer: delete it there first, or leave it out of this request",
                    holder.name
                ),
            ));
        }
        Ok(())
    }

    pub(super) async fn list_keys(
        &self,
        bucket: &str,
        consumer: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, consumer, q)?;
        let last = self.last_used(bucket, consumer).await;
        q.page_of(&c.keys, |k| Ok(self.key_out(k, q)?.used(&last)))
    }

    /// Creates keys for `consumer`; the plaintexts are in the answer and nowhere else.
    fn create_keys(
        &self,
        bucket: &str,
        consumer: &str,
        inputs: &[CreateKey],
        q: &Query,
    ) -> Result<Vec<KeyOut>, Error> {
        let created = self.new_keys(inputs, self.vault_of(bucket)?)?;
        self.change_consumer(bucket, consumer, q, |c| {
            self.refuse_held(bucket, inputs, &created)?;
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

    pub(super) async fn get_key(
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
        let last = self.last_used(bucket, consumer).await;
        Ok(ApiResponse::json(200, &self.key_out(k, q)?.used(&last)))
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
        Ok(ApiResponse::json(200, &self.key_out(&key, q)?))
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
