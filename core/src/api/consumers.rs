//! Consumer handlers: list, create (optionally with keys), get, delete.

use super::{body, Api, Query};
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::kv::{self, ConsumerIndex, ConsumerRecord, ManagerRecord, Source, SCHEMA_VERSION};
use crate::model::{ConsumerOut, CreateConsumer, CreateKey, KeyOut, ListOut, ManagerOut};
use crate::store::{Store, LIST_LIMIT};
use crate::{ids, records, validate};

/// A consumer as a list or get shows it, per the query's include flags.
pub(super) fn render(c: &ConsumerRecord, q: &Query) -> ConsumerOut {
    let mut out = ConsumerOut::from_record(c);
    if q.include_api_keys {
        out.api_keys = Some(
            c.keys
                .iter()
                .map(|k| KeyOut::stored(k, q.key_format))
                .collect(),
        );
    }
    if q.include_managers {
        out.managers = Some(c.managers.iter().map(ManagerOut::from).collect());
    }
    out
}

/// Managers from request input: validated, lower-cased, without duplicates.
pub(super) fn new_managers(
    api: &Api<'_, impl Store>,
    input: Vec<crate::model::ManagerInput>,
) -> Result<Vec<ManagerRecord>, Error> {
    let mut out: Vec<ManagerRecord> = Vec::new();
    for m in input {
        let (email, sub) = m.into_parts();
        let email = validate::email(&email)?;
        if out.iter().any(|x| x.email == email) {
            continue;
        }
        out.push(ManagerRecord {
            id: ids::new_id(ids::MANAGER, api.entropy)?,
            email,
            sub,
            created_on: api.now,
        });
    }
    if out.len() > validate::MAX_MANAGERS {
        return Err(Error::invalid(format!(
            "at most {} managers per consumer",
            validate::MAX_MANAGERS
        )));
    }
    Ok(out)
}

impl<S: Store> Api<'_, S> {
    /// The consumer, or 404 — also when a `tag.*` guard does not match (ownership check).
    pub(super) async fn guarded_consumer(
        &self,
        bucket: &str,
        name: &str,
        q: &Query,
    ) -> Result<ConsumerRecord, Error> {
        let c = records::consumer(self.store, bucket, name).await?;
        if !q.tags_match(&c.tags) {
            return Err(Error::not_found(format!(
                "consumer '{name}' does not exist in bucket '{bucket}'"
            )));
        }
        Ok(c)
    }

    pub(super) async fn list_consumers(
        &self,
        bucket: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        records::bucket(self.store, bucket).await?;
        if let Some(email) = &q.manager_email {
            return self.list_managed_consumers(bucket, email, q).await;
        }
        let prefix = kv::keys::consumer_prefix(bucket);
        let mut window = Vec::new();
        let mut total = 0usize;
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .list(&prefix, cursor.as_deref(), LIST_LIMIT)
                .await?;
            for entry in page.entries {
                let index: Option<ConsumerIndex> =
                    entry.metadata.and_then(|m| serde_json::from_value(m).ok());
                let tags = index.map(|i| i.t).unwrap_or_default();
                if !q.tags_match(&tags) {
                    continue;
                }
                if total >= q.offset && window.len() < q.limit {
                    window.push(entry.name);
                }
                total += 1;
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut data = Vec::with_capacity(window.len());
        for (key, text) in window.iter().zip(self.store.get_many(&window).await?) {
            if let Some(text) = text {
                data.push(render(&kv::decode::<ConsumerRecord>(key, &text)?, q));
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

    /// `manager-email=…`: candidates from the manager index, confirmed on their records (the
    /// index may lag an interrupted write), filtered by tags, then paged.
    async fn list_managed_consumers(
        &self,
        bucket: &str,
        email: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let names = records::managed_by(self.store, bucket, email).await?;
        let keys: Vec<String> = names
            .iter()
            .map(|n| kv::keys::consumer(bucket, n))
            .collect();
        let mut matching = Vec::new();
        for (key, text) in keys.iter().zip(self.store.get_many(&keys).await?) {
            if let Some(text) = text {
                let c: ConsumerRecord = kv::decode(key, &text)?;
                if c.managers.iter().any(|m| m.email == email) && q.tags_match(&c.tags) {
                    matching.push(c);
                }
            }
        }
        let total = matching.len();
        let data = matching
            .iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|c| render(c, q))
            .collect();
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

    pub(super) async fn create_consumer(
        &self,
        bucket: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let input: CreateConsumer = body(req)?;
        validate::consumer_name(&input.name)?;
        if let Some(d) = &input.description {
            validate::description(d)?;
        }
        let tags = input.tags.unwrap_or_default();
        validate::tags(&tags)?;
        let metadata = validate::metadata_object(input.metadata)?;
        let managers = new_managers(self, input.managers.unwrap_or_default())?;
        let mut key_inputs = input.api_keys.unwrap_or_default();
        if q.with_api_key {
            key_inputs.push(CreateKey::default());
        }
        if key_inputs.len() > validate::MAX_KEYS {
            return Err(Error::invalid(format!(
                "at most {} keys per consumer",
                validate::MAX_KEYS
            )));
        }
        let mut new_keys = Vec::with_capacity(key_inputs.len());
        for k in &key_inputs {
            new_keys.push(self.new_key(k)?);
        }
        records::bucket(self.store, bucket).await?;
        if records::find_consumer(self.store, bucket, &input.name)
            .await?
            .is_some()
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "consumer '{}' already exists in bucket '{bucket}'",
                    input.name
                ),
            ));
        }
        let record = ConsumerRecord {
            v: SCHEMA_VERSION,
            id: ids::new_id(ids::CONSUMER, self.entropy)?,
            name: input.name,
            description: input.description,
            metadata,
            tags,
            managers,
            keys: new_keys.iter().map(|(stored, _)| stored.clone()).collect(),
            created_on: self.now,
            updated_on: self.now,
            source: Source::Api,
            last_sync: None,
        };
        records::put_consumer(self.store, bucket, &record).await?;
        let emails: Vec<&str> = record.managers.iter().map(|m| m.email.as_str()).collect();
        records::put_manager_index(self.store, bucket, &record.name, &emails).await?;
        let stored: Vec<_> = record.keys.iter().collect();
        records::put_key_records(self.store, self.cache, bucket, &record, &stored).await?;
        let mut out = ConsumerOut::from_record(&record);
        out.api_keys = Some(
            new_keys
                .into_iter()
                .map(|(k, plain)| KeyOut::created(&k, plain))
                .collect(),
        );
        out.managers = Some(record.managers.iter().map(ManagerOut::from).collect());
        Ok(ApiResponse::json(200, &out))
    }

    pub(super) async fn get_consumer(
        &self,
        bucket: &str,
        name: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, name, q).await?;
        Ok(ApiResponse::json(200, &render(&c, q)))
    }

    pub(super) async fn delete_consumer(
        &self,
        bucket: &str,
        name: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let c = self.guarded_consumer(bucket, name, q).await?;
        records::delete_consumer(self.store, self.cache, bucket, &c).await?;
        Ok(ApiResponse::empty(204))
    }
}
