//! Consumer handlers: list (and the digest index for `plan`), create (optionally with keys),
//! get, patch, delete, roll-key.

use super::query::Query;
use super::router::{body, Api};
use crate::api::model::{
    ConsumerOut, CreateConsumer, CreateKey, IndexEntryOut, IndexPageOut, KeyOut, ManagerOut,
    PatchConsumer, RollKey,
};
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::key::sealed::Vault;
use crate::storage::bucket::rows;
use crate::storage::bucket::sql::Sql;
use crate::storage::kv::{ConsumerRecord, ManagerRecord, Source, StoredKey, SCHEMA_VERSION};
use crate::storage::store::{Store, LIST_LIMIT};
use crate::timestamp::Millis;
use crate::{ids, timestamp, validate};

/// A consumer as a list or get shows it, per the query's include flags (`visible` keys
/// opened with `vault`).
pub(super) fn render(
    c: &ConsumerRecord,
    q: &Query,
    vault: Option<&Vault>,
) -> Result<ConsumerOut, Error> {
    let mut out = ConsumerOut::from_record(c);
    if q.include_api_keys {
        out.api_keys = Some(
            c.keys
                .iter()
                .map(|k| KeyOut::shown(k, q.key_format, vault))
                .collect::<Result<_, _>>()?,
        );
    }
    if q.include_managers {
        out.managers = Some(c.managers.iter().map(ManagerOut::from).collect());
    }
    if q.include_manager_invites {
        // keyward has no invitations: a manager added by e-mail is a manager at once.
        out.manager_invites = Some(Vec::new());
    }
    Ok(out)
}

/// Managers from e-mails (and subjects): validated, lower-cased, without duplicates. Managers
/// already in `existing` keep their id and creation time.
pub(super) fn managers_from(
    api: &Api<'_, impl Store, impl Sql>,
    input: Vec<(String, Option<String>)>,
    existing: &[ManagerRecord],
) -> Result<Vec<ManagerRecord>, Error> {
    let mut out: Vec<ManagerRecord> = Vec::new();
    for (raw, sub) in input {
        let email = validate::email(&raw)?;
        if out.iter().any(|x| x.email == email) {
            continue;
        }
        match existing.iter().find(|m| m.email == email) {
            Some(m) => out.push(ManagerRecord {
                sub: sub.or_else(|| m.sub.clone()),
                ..m.clone()
            }),
            None => out.push(ManagerRecord {
                id: ids::new_id(ids::MANAGER, api.entropy)?,
                email,
                sub,
                created_on: api.now,
            }),
        }
    }
    if out.len() > validate::MAX_MANAGERS {
        return Err(Error::invalid(format!(
            "at most {} managers per consumer",
            validate::MAX_MANAGERS
        )));
    }
    Ok(out)
}

/// Most entries of one `$index` page. An entry is a name, a digest and a source, read from
/// the consumers table's columns, so large pages are cheap; `plan` asks for this many
/// (100,000 consumers in 10 requests). The default stays 1000.
pub const INDEX_PAGE_MAX: usize = 10_000;

/// Rolls `c`'s keys: every key that would outlive `expires_on` now expires then, and
/// `new_key` joins them (the developer API's and the managers' roll-key).
pub(crate) fn roll(
    c: &mut ConsumerRecord,
    new_key: &StoredKey,
    expires_on: Millis,
    now: Millis,
) -> Result<(), Error> {
    if c.keys.len() >= validate::MAX_KEYS {
        return Err(Error::invalid(format!(
            "consumer '{}' already has {} keys, the most allowed; delete old ones before rolling",
            c.name,
            validate::MAX_KEYS
        )));
    }
    for k in &mut c.keys {
        if k.expires_on.is_none_or(|t| t > expires_on) {
            k.expires_on = Some(expires_on);
            k.updated_on = now;
        }
    }
    c.keys.push(new_key.clone());
    Ok(())
}

fn consumer_not_found(bucket: &str, name: &str) -> Error {
    Error::not_found(format!(
        "consumer '{name}' does not exist in bucket '{bucket}'"
    ))
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// The consumer, or 404 — also when a `tag.*` guard does not match (ownership check).
    pub(crate) fn guarded_consumer(
        &self,
        bucket: &str,
        name: &str,
        q: &Query,
    ) -> Result<ConsumerRecord, Error> {
        let c = rows::consumer(self.sql, bucket, name)?;
        if !q.tags_match(&c.tags) {
            return Err(consumer_not_found(bucket, name));
        }
        Ok(c)
    }

    /// Loads consumer `name` (guarded by the query's tags), lets `change` edit a copy, and
    /// saves it when anything changed — read, decision and write in one transaction of the
    /// bucket's object, so concurrent changes apply one after the other (see
    /// [`rows`]). Returns what `change` returned and the consumer as saved.
    pub(crate) fn change_consumer<T>(
        &self,
        bucket: &str,
        name: &str,
        q: &Query,
        change: impl FnOnce(&mut ConsumerRecord) -> Result<T, Error>,
    ) -> Result<(T, ConsumerRecord), Error> {
        self.sql.atomically(|| {
            let before = self.guarded_consumer(bucket, name, q)?;
            let mut after = before.clone();
            let out = change(&mut after)?;
            if after != before {
                after.updated_on = self.now;
                rows::save_consumer(self.sql, bucket, Some(&before), &after)?;
            }
            Ok((out, after))
        })
    }

    /// A page of consumers by name, filtered by tags (an indexed query); `cursor` (the last
    /// name of the previous page) pages without `offset`'s cost.
    pub(super) fn list_consumers(&self, bucket: &str, q: &Query) -> Result<ApiResponse, Error> {
        rows::bucket(self.sql, bucket)?;
        let vault = self.vault_to_show(q)?;
        if let Some(email) = &q.manager_email {
            let matching: Vec<ConsumerRecord> = rows::managed_by(self.sql, bucket, email)?
                .into_iter()
                .filter(|c| q.tags_match(&c.tags))
                .collect();
            if q.cursor.is_none() && q.offset > 0 {
                return q.page_of(&matching, |c| render(c, q, vault));
            }
            // By name, like the unfiltered list: the page after the cursor (or the first).
            let after = q.cursor.as_deref().unwrap_or("");
            let rest: Vec<&ConsumerRecord> = matching
                .iter()
                .filter(|c| c.name.as_str() > after)
                .collect();
            let data = (rest.iter().take(q.limit))
                .map(|c| render(c, q, vault))
                .collect::<Result<Vec<_>, _>>()?;
            let next = (rest.len() > q.limit).then(|| rest[q.limit - 1].name.clone());
            return Ok(q.page_with_cursor(data, matching.len(), next));
        }
        let page = rows::list_consumers(
            self.sql,
            bucket,
            &q.tags,
            q.cursor.as_deref(),
            q.offset,
            q.limit,
        )?;
        let data = (page.data.iter())
            .map(|c| render(c, q, vault))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(q.page_with_cursor(data, page.total, page.next))
    }

    /// `GET …/consumers/$index?cursor=…&limit=…`: names, digests and sources by name, from
    /// the consumers table's columns (no record is decoded). `plan` diffs with it.
    pub(super) fn consumer_index(
        &self,
        bucket: &str,
        raw_query: &str,
    ) -> Result<ApiResponse, Error> {
        rows::bucket(self.sql, bucket)?;
        let mut cursor = None;
        let mut limit = LIST_LIMIT;
        let bad_limit = || {
            Error::invalid(format!(
                "query parameter limit: use a number from 1 to {INDEX_PAGE_MAX}"
            ))
        };
        for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
            match k.as_ref() {
                "cursor" if !v.is_empty() => cursor = Some(v.into_owned()),
                "limit" => {
                    limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=INDEX_PAGE_MAX).contains(n))
                        .ok_or_else(bad_limit)?
                }
                _ => {}
            }
        }
        let (entries, next) = rows::index_page(self.sql, bucket, cursor.as_deref(), limit)?;
        let data = entries
            .into_iter()
            .map(|e| IndexEntryOut {
                name: e.name,
                digest: e.digest,
                source: e.source,
            })
            .collect();
        Ok(ApiResponse::json(200, &IndexPageOut { data, cursor: next }))
    }

    pub(super) fn create_consumer(
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
        let managers = managers_from(
            self,
            input
                .managers
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.into_parts())
                .collect(),
            &[],
        )?;
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
        let vault = match key_inputs.is_empty() {
            true => None,
            false => self.vault_of(bucket)?,
        };
        let new_keys = self.new_keys(&key_inputs, vault)?;
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
        self.sql.atomically(|| {
            rows::bucket(self.sql, bucket)?;
            if rows::find_consumer(self.sql, bucket, &record.name)?.is_some() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "consumer '{}' already exists in bucket '{bucket}'",
                        record.name
                    ),
                ));
            }
            self.refuse_held(bucket, &key_inputs, &new_keys)?;
            rows::save_consumer(self.sql, bucket, None, &record)
        })?;
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
        let c = self.guarded_consumer(bucket, name, q)?;
        let mut out = render(&c, q, self.vault_to_show(q)?)?;
        if let Some(keys) = out.api_keys.take() {
            let last = self.last_used(bucket, name).await;
            out.api_keys = Some(keys.into_iter().map(|k| k.used(&last)).collect());
        }
        Ok(ApiResponse::json(200, &out))
    }

    /// Replaces the fields given. A metadata change rewrites the consumer's verification
    /// records, so the next verified request forwards the new metadata.
    pub(super) fn patch_consumer(
        &self,
        bucket: &str,
        name: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let patch: PatchConsumer = body(req)?;
        if let Some(Some(d)) = &patch.description {
            validate::description(d)?;
        }
        if let Some(tags) = &patch.tags {
            validate::tags(tags)?;
        }
        let metadata = patch
            .metadata
            .map(|m| validate::metadata_object(Some(m)))
            .transpose()?;
        let ((), after) = self.change_consumer(bucket, name, q, |c| {
            if let Some(d) = patch.description {
                c.description = d;
            }
            if let Some(tags) = patch.tags {
                c.tags = tags;
            }
            if let Some(m) = metadata {
                c.metadata = m;
            }
            Ok(())
        })?;
        Ok(ApiResponse::json(
            200,
            &render(
                &after,
                &Query {
                    include_managers: true,
                    ..Query::default()
                },
                None,
            )?,
        ))
    }

    pub(super) fn delete_consumer(
        &self,
        bucket: &str,
        name: &str,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        self.sql.atomically(|| {
            let c = self.guarded_consumer(bucket, name, q)?;
            rows::delete_consumer(self.sql, bucket, &c)
        })?;
        Ok(ApiResponse::empty(204))
    }

    /// Roll-key: one new key without expiry; every other key that would outlive `expiresOn`
    /// (or never expire) now expires at `expiresOn`; keys expiring earlier keep their date.
    /// A past `expiresOn` revokes them at once. Answers 204 like Zuplo; with
    /// `Prefer: return=representation` it answers 200 with the new key, which keyward can show
    /// only in this response.
    pub(super) fn roll_key(
        &self,
        bucket: &str,
        name: &str,
        req: &ApiRequest,
        q: &Query,
    ) -> Result<ApiResponse, Error> {
        let input: RollKey = body(req)?;
        let expires_on = timestamp::parse(&input.expires_on)?;
        // Rolling answers a leak: it never waits on the encryption secret. Without a usable
        // vault the new key has no encrypted copy (shown masked, with the reason, by
        // `visible`), and this answer is the one place it is shown.
        let vault = self.vault_of(bucket).ok().flatten();
        let (new_key, plaintext) = self.new_key(&CreateKey::default(), vault)?;
        self.change_consumer(bucket, name, q, |c| roll(c, &new_key, expires_on, self.now))?;
        let wants_key = req
            .prefer
            .as_deref()
            .is_some_and(|p| p.to_ascii_lowercase().contains("return=representation"));
        if wants_key {
            Ok(ApiResponse::json(
                200,
                &KeyOut::created(&new_key, plaintext),
            ))
        } else {
            Ok(ApiResponse::empty(204))
        }
    }
}
