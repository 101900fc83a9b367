//! The end-user API, `/v1/me`: the consumers whose managers include the signed-in e-mail,
//! and their keys — listed, created, rolled, described and deleted by the managers
//! themselves. Runs in the bucket's object like the developer API, through the same write
//! path (`Api::change_consumer`: one transaction, outbox, cache), so `keyward plan` sees no
//! drift (keys are not in `keys.yaml`).
//!
//! A consumer the caller does not manage is a 404 worded exactly like one that does not
//! exist. What belongs to `keys.yaml` and the admins (name, description, metadata, tags,
//! managers) is a 403 saying so.

use crate::api::model::{CreateKey, KeyFormat, KeyOut};
use crate::api::query::Query;
use crate::api::Api;
use crate::config::Portal;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::problem;
use crate::selfserve::jwt::Identity;
use crate::storage::bucket::rows;
use crate::storage::bucket::sql::Sql;
use crate::storage::kv::ConsumerRecord;
use crate::storage::store::Store;
use crate::{timestamp, validate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest a manager's roll may keep the old keys working, unless
/// `PORTAL_ROLL_GRACE_SECONDS` is longer: 7 days, the longest choice the portal page offers.
pub const MAX_ROLL_GRACE_MS: i64 = 7 * 86_400_000;
/// How far past [`MAX_ROLL_GRACE_MS`] a roll's `expiresOn` may be, for a fast client clock.
pub const CLOCK_SLACK_MS: i64 = 5 * 60_000;

/// `POST /v1/me/consumers/{name}/keys`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeCreateKey {
    /// Free text.
    pub description: Option<String>,
    /// RFC 3339; none for a key that does not expire.
    pub expires_on: Option<String>,
}

/// `POST /v1/me/consumers/{name}/roll-key`; `{}` rolls with the default grace.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeRollKey {
    /// When the consumer's other keys stop working (RFC 3339); default: now plus
    /// `PORTAL_ROLL_GRACE_SECONDS`. A past time stops them at once.
    pub expires_on: Option<String>,
}

/// `PATCH /v1/me/consumers/{name}/keys/{id}`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MePatchKey {
    /// The key's new description (null clears it). Required: `{}` changes nothing by
    /// accident.
    #[cfg_attr(feature = "schema", schemars(required))]
    #[serde(deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// A field that must be present, and may be null.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A consumer as its managers see it (the shape Zudoku's API-keys plugin reads).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeConsumerOut {
    /// `csmr_…`
    pub id: String,
    /// Name.
    pub name: String,
    /// What a portal shows as its title: the description, else the name.
    pub label: String,
    /// Free text; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub description: Option<String>,
    /// Metadata (read-only here), e.g. the plan.
    pub metadata: Map<String, Value>,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub updated_on: String,
    /// The keys, masked.
    pub api_keys: KeyList,
    /// The bucket keeps keys retrievable: `GET …/keys/{id}?key-format=visible` shows one
    /// again (a portal offers "reveal"). False: a key is shown once, when it is created.
    pub keys_retrievable: bool,
}

/// `{data: [...]}` of keys.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyList {
    /// The keys.
    pub data: Vec<KeyOut>,
}

/// Consumers of `GET /v1/me/consumers` whose keys carry `lastUsedOn` (one call each).
pub const ME_LAST_USED_MAX: usize = 20;

impl MeConsumerOut {
    /// With each key's `lastUsedOn` from `last_used` (key id → ms).
    fn used(mut self, last_used: &std::collections::HashMap<String, timestamp::Millis>) -> Self {
        self.api_keys.data = self
            .api_keys
            .data
            .into_iter()
            .map(|k| k.used(last_used))
            .collect();
        self
    }
}

fn me_consumer(c: &ConsumerRecord, keys_retrievable: bool) -> MeConsumerOut {
    MeConsumerOut {
        id: c.id.clone(),
        name: c.name.clone(),
        label: c.description.clone().unwrap_or_else(|| c.name.clone()),
        description: c.description.clone(),
        metadata: c.metadata.clone(),
        created_on: timestamp::format(c.created_on),
        updated_on: timestamp::format(c.updated_on),
        api_keys: KeyList {
            data: c
                .keys
                .iter()
                .map(|k| KeyOut::stored(k, KeyFormat::Masked))
                .collect(),
        },
        keys_retrievable,
    }
}

/// The one 404 for a consumer that does not exist and one the caller does not manage.
fn not_yours(name: &str) -> Error {
    Error::not_found(format!(
        "consumer '{}' does not exist or is not managed by you",
        name.chars().take(64).collect::<String>()
    ))
}

fn manages(c: &ConsumerRecord, who: &Identity) -> bool {
    c.managers.iter().any(|m| m.email == who.email)
}

fn forbidden(why: &str) -> Error {
    Error::new(ErrorKind::Forbidden, why)
}

fn method_not_allowed() -> Error {
    Error::new(
        ErrorKind::MethodNotAllowed,
        "method not allowed on this path",
    )
}

fn body<T: serde::de::DeserializeOwned + Default>(req: &ApiRequest) -> Result<T, Error> {
    // Zudoku sends `{}`, some clients nothing at all: both mean "no fields".
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::api::router::body(req)
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// Answers a `/v1/me` request (`segs` after `v1/me`) of the signed-in `who`, in bucket
    /// `bucket` (the gateway's), with the portal's settings.
    pub async fn handle_me(
        &self,
        req: &ApiRequest,
        segs: &[&str],
        bucket: &str,
        who: &Identity,
        portal: &Portal,
    ) -> ApiResponse {
        self.handle_me_logged(req, segs, bucket, who, portal, |_| {})
            .await
    }

    /// [`Api::handle_me`], handing every server-side error to `log` (its answer carries no
    /// detail: the log is where on-call reads why, e.g. a missing `KEY_ENCRYPTION_SECRET`).
    pub async fn handle_me_logged(
        &self,
        req: &ApiRequest,
        segs: &[&str],
        bucket: &str,
        who: &Identity,
        portal: &Portal,
        log: impl FnOnce(&Error),
    ) -> ApiResponse {
        match self.route_me(req, segs, bucket, who, portal).await {
            Ok(r) => r,
            Err(e) => {
                if problem::status_of(e.kind()) >= 500 {
                    log(&e);
                }
                problem::from_error(&e)
            }
        }
    }

    fn managed(&self, bucket: &str, name: &str, who: &Identity) -> Result<ConsumerRecord, Error> {
        if validate::consumer_name(name).is_err() {
            return Err(not_yours(name));
        }
        match rows::consumer(self.sql, bucket, name) {
            Ok(c) if manages(&c, who) => Ok(c),
            Ok(_) => Err(not_yours(name)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(not_yours(name)),
            Err(e) => Err(e),
        }
    }

    /// Changes consumer `name` in one transaction, after checking there that `who` manages it.
    /// Its own 404s (a missing key) keep their words; the consumer's become [`not_yours`].
    fn change_managed<T>(
        &self,
        bucket: &str,
        name: &str,
        who: &Identity,
        change: impl FnOnce(&mut ConsumerRecord) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.managed(bucket, name, who)?;
        let result = self.change_consumer(bucket, name, &Query::default(), |c| {
            if !manages(c, who) {
                return Err(not_yours(name));
            }
            change(c)
        });
        match result {
            Ok((out, _)) => Ok(out),
            // Deleted between the check and the change.
            Err(e)
                if e.kind() == ErrorKind::NotFound
                    && rows::consumer(self.sql, bucket, name).is_err() =>
            {
                Err(not_yours(name))
            }
            Err(e) => Err(e),
        }
    }

    async fn route_me(
        &self,
        req: &ApiRequest,
        segs: &[&str],
        bucket: &str,
        who: &Identity,
        portal: &Portal,
    ) -> Result<ApiResponse, Error> {
        let m = req.method.as_str();
        match segs {
            [] => match m {
                "GET" | "HEAD" => {
                    let managed = rows::managed_by(self.sql, bucket, &who.email)?;
                    Ok(ApiResponse::json(
                        200,
                        &serde_json::json!({
                            "email": who.email,
                            "issuer": who.issuer,
                            "consumers": managed.len(),
                        }),
                    ))
                }
                _ => Err(method_not_allowed()),
            },
            ["consumers"] => match m {
                "GET" | "HEAD" => {
                    let retrievable =
                        rows::find_bucket(self.sql, bucket)?.is_some_and(|b| b.retrievable);
                    let managed = rows::managed_by(self.sql, bucket, &who.email)?;
                    let mut data: Vec<MeConsumerOut> = Vec::with_capacity(managed.len());
                    for (i, c) in managed.iter().enumerate() {
                        let out = me_consumer(c, retrievable);
                        // One call to each consumer's limits object, for the first
                        // ME_LAST_USED_MAX only: the page must not wait on hundreds.
                        data.push(if i < ME_LAST_USED_MAX {
                            out.used(&self.last_used(bucket, &c.name).await)
                        } else {
                            out
                        });
                    }
                    Ok(ApiResponse::json(200, &serde_json::json!({ "data": data })))
                }
                _ => Err(method_not_allowed()),
            },
            ["consumers", name] => {
                let c = self.managed(bucket, name, who)?;
                match m {
                    "GET" | "HEAD" => {
                        let retrievable = rows::find_bucket(self.sql, bucket)?.is_some_and(|b| b.retrievable);
                        let last = self.last_used(bucket, name).await;
                        Ok(ApiResponse::json(200, &me_consumer(&c, retrievable).used(&last)))
                    }
                    "PATCH" | "PUT" | "DELETE" => Err(forbidden(
                        "a consumer's name, description, metadata, tags and managers are kept by the API's administrators (keys.yaml); managers change its keys only",
                    )),
                    _ => Err(method_not_allowed()),
                }
            }
            ["consumers", name, "keys"] => match m {
                "GET" | "HEAD" => {
                    let c = self.managed(bucket, name, who)?;
                    let last = self.last_used(bucket, name).await;
                    Ok(ApiResponse::json(
                        200,
                        &me_consumer(&c, false).used(&last).api_keys,
                    ))
                }
                "POST" => self.me_create_key(req, bucket, name, who, portal),
                _ => Err(method_not_allowed()),
            },
            ["consumers", name, "roll-key"] => match m {
                "POST" => self.me_roll_key(req, bucket, name, who, portal),
                _ => Err(method_not_allowed()),
            },
            ["consumers", name, "keys", id] => match m {
                "GET" | "HEAD" => {
                    let q = Query::parse(&req.query)?;
                    let c = self.managed(bucket, name, who)?;
                    let k = c
                        .keys
                        .iter()
                        .find(|k| k.id == *id)
                        .ok_or_else(|| key_not_found(id))?;
                    // A manager may see a key of theirs again where the bucket keeps keys
                    // retrievable, as a write token may (the same check's words).
                    let vault = match q.key_format {
                        KeyFormat::Visible => Some(self.visible_vault(bucket)?),
                        _ => None,
                    };
                    let last = self.last_used(bucket, name).await;
                    Ok(ApiResponse::json(
                        200,
                        &KeyOut::shown(k, q.key_format, vault)?.used(&last),
                    ))
                }
                "PATCH" => {
                    let patch: MePatchKey = crate::api::router::body(req)?;
                    let description = patch.description.flatten();
                    if let Some(d) = &description {
                        validate::description(d)?;
                    }
                    let key = self.change_managed(bucket, name, who, |c| {
                        let k = c
                            .keys
                            .iter_mut()
                            .find(|k| k.id == *id)
                            .ok_or_else(|| key_not_found(id))?;
                        if k.description != description {
                            k.description = description;
                            k.updated_on = self.now;
                        }
                        Ok(k.clone())
                    })?;
                    Ok(ApiResponse::json(
                        200,
                        &KeyOut::stored(&key, KeyFormat::Masked),
                    ))
                }
                "DELETE" => {
                    self.change_managed(bucket, name, who, |c| {
                        let at = c
                            .keys
                            .iter()
                            .position(|k| k.id == *id)
                            .ok_or_else(|| key_not_found(id))?;
                        c.keys.remove(at);
                        Ok(())
                    })?;
                    Ok(ApiResponse::empty(204))
                }
                _ => Err(method_not_allowed()),
            },
            _ => Err(Error::not_found("no such route; see /openapi.json")),
        }
    }

    fn me_create_key(
        &self,
        req: &ApiRequest,
        bucket: &str,
        name: &str,
        who: &Identity,
        portal: &Portal,
    ) -> Result<ApiResponse, Error> {
        // Existence first: a consumer the caller does not manage stays a 404 either way.
        self.managed(bucket, name, who)?;
        if !portal.allow_create {
            return Err(forbidden(
                "managers cannot create keys on this deployment (PORTAL_ALLOW_CREATE=false); roll the consumer's key instead",
            ));
        }
        let input: MeCreateKey = body(req)?;
        let (mut key, plaintext) = self.new_key(
            &CreateKey {
                description: input.description,
                expires_on: input.expires_on,
                ..CreateKey::default()
            },
            self.vault_of(bucket)?,
        )?;
        key.created_by = Some(who.email.clone());
        self.change_managed(bucket, name, who, |c| {
            crate::api::keys::add_keys(c, vec![key.clone()])
        })?;
        Ok(ApiResponse::json(200, &KeyOut::created(&key, plaintext)))
    }

    fn me_roll_key(
        &self,
        req: &ApiRequest,
        bucket: &str,
        name: &str,
        who: &Identity,
        portal: &Portal,
    ) -> Result<ApiResponse, Error> {
        let input: MeRollKey = body(req)?;
        let grace = i64::from(portal.roll_grace_seconds) * 1000;
        let expires_on = match &input.expires_on {
            Some(t) => timestamp::parse(t)?,
            None => self.now + grace,
        };
        // Not later than the longest grace a portal offers (or the configured one, if longer):
        // a roll that left the old keys working for years would be a create (and
        // PORTAL_ALLOW_CREATE=false could be walked around).
        let longest = grace.max(MAX_ROLL_GRACE_MS);
        // A browser's clock may run a little fast: its "in 7 days" is accepted within
        // CLOCK_SLACK_MS.
        if expires_on > self.now + longest + CLOCK_SLACK_MS {
            return Err(Error::invalid(format!(
                "expiresOn may be at most {} seconds from now; the old keys must stop",
                longest / 1000
            )));
        }
        // As the developer API's roll: never blocked by the encryption secret.
        let vault = self.vault_of(bucket).ok().flatten();
        let (mut key, plaintext) = self.new_key(&CreateKey::default(), vault)?;
        key.created_by = Some(who.email.clone());
        self.change_managed(bucket, name, who, |c| {
            crate::api::consumers::roll(c, &key, expires_on, self.now)
        })?;
        Ok(ApiResponse::json(200, &KeyOut::created(&key, plaintext)))
    }
}

fn key_not_found(id: &str) -> Error {
    Error::not_found(format!(
        "key '{}' does not exist on this consumer",
        id.chars().take(64).collect::<String>()
    ))
}
