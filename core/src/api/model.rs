//! The developer API's wire shapes: request bodies (strict: unknown fields are rejected) and
//! responses, named and shaped like Zuplo's so its clients work unchanged.
//!
//! Two rules follow from Zuplo's schema: a response omits an optional string it has no value
//! for (Zuplo types `description` and `sub` as strings, so `null` breaks typed clients; only
//! `expiresOn` is `null` for "never", as Zuplo answers it), and a request body may echo the
//! read-only fields Zuplo returns (`id`, `createdOn`, `updatedOn`): they are [`ReadOnly`],
//! accepted and ignored, while any other unknown field is still refused.

use crate::error::{Error, ErrorKind};
use crate::key;
use crate::key::sealed::Vault;
use crate::storage::kv::{
    BucketRecord, ConsumerRecord, ManagerRecord, Source, StoredKey, SyncStamp,
};
use crate::timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A read-only field Zuplo returns (`id`, `createdOn`, `updatedOn`) echoed in a request body,
/// as Zuplo's clients do when they send back what they read: a string, accepted and ignored
/// (the server owns these values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOnly;

impl<'de> Deserialize<'de> for ReadOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ReadOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string (a read-only field, ignored)")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<ReadOnly, E> {
                Ok(ReadOnly)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ReadOnly {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReadOnly".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "readOnly": true})
    }
}

/// Body of `POST /key-buckets`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBucket {
    /// Bucket name.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[a-z0-9-]{5,128}$")))]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Keep each key also encrypted (`KEY_ENCRYPTION_SECRET`) so `key-format=visible` can show
    /// it again. Fixed at creation; default false: keys are kept hashed only.
    #[serde(default, rename = "isRetrievable")]
    pub is_retrievable: Option<bool>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "updatedOn")]
    pub updated_on: ReadOnly,
}

/// A manager as given in a request: an e-mail, or an object with the e-mail and the identity's
/// subject (also a manager as Zuplo returns it, with its read-only `id` and `createdOn`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ManagerInput {
    /// Just the e-mail.
    Email(String),
    /// E-mail and subject.
    Full(NewManager),
}

/// Body of `POST …/managers`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewManager {
    /// E-mail (normalized to lower case).
    #[cfg_attr(feature = "schema", schemars(email))]
    pub email: String,
    /// Subject at the identity provider.
    #[serde(default)]
    pub sub: Option<String>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
}

impl ManagerInput {
    /// The e-mail and subject.
    pub fn into_parts(self) -> (String, Option<String>) {
        match self {
            ManagerInput::Email(e) => (e, None),
            ManagerInput::Full(m) => (m.email, m.sub),
        }
    }
}

/// Body of `POST …/keys` (and an item of `$bulk` and of `apiKeys` at consumer creation).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateKey {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339 expiry.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub expires_on: Option<String>,
    /// A key to import instead of a generated one (migrating from Zuplo): a valid keyward
    /// key of this deployment's prefix, or one matching the Worker's `IMPORTED_KEY_PATTERN`;
    /// at most 256 visible ASCII characters. Stored as its hash only; a key the bucket
    /// already holds is a 409.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 256)))]
    pub key: Option<String>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "updatedOn")]
    pub updated_on: ReadOnly,
}

/// Body of `POST /key-buckets/{bucket}/consumers`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateConsumer {
    /// Unique name in the bucket.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[a-z0-9-]{1,128}$")))]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// For management queries.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("maxProperties" = 5)))]
    pub tags: Option<BTreeMap<String, String>>,
    /// Forwarded on verified requests; a JSON object.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Managers.
    #[serde(default)]
    pub managers: Option<Vec<ManagerInput>>,
    /// Keys to create with the consumer.
    #[serde(default)]
    pub api_keys: Option<Vec<CreateKey>>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "updatedOn")]
    pub updated_on: ReadOnly,
}

/// Body of `POST /v1/verify`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key to check.
    pub key: String,
    /// Bucket to check in (default: the Worker's `BUCKET`).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Charge one request to the consumer's rate limit and quota, as the edge would (and
    /// answer `RATE_LIMITED`/`QUOTA_EXCEEDED` when one is spent); by default they are only
    /// reported.
    #[serde(default)]
    pub consume: bool,
}

/// A bucket in responses.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BucketOut {
    /// `bckt_…`
    pub id: String,
    /// Name.
    pub name: String,
    /// Free text; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub description: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Whether keys are also kept encrypted and `key-format=visible` shows them (fixed at
    /// creation).
    pub is_retrievable: bool,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub updated_on: String,
}

impl From<&BucketRecord> for BucketOut {
    fn from(b: &BucketRecord) -> Self {
        BucketOut {
            id: b.id.clone(),
            name: b.name.clone(),
            description: b.description.clone(),
            tags: b.tags.clone(),
            is_retrievable: b.retrievable,
            created_on: timestamp::format(b.created_on),
            updated_on: timestamp::format(b.updated_on),
        }
    }
}

/// How keys appear in responses (`key-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum KeyFormat {
    /// No `key` field.
    None,
    /// `key` holds the masked form.
    Masked,
    /// `key` holds the plaintext: retrievable buckets only, write tokens or managers only.
    Visible,
}

/// An API key in responses.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyOut {
    /// `key_…`
    pub id: String,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub updated_on: String,
    /// RFC 3339, or null for never (as Zuplo answers it).
    pub expires_on: Option<String>,
    /// Free text; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub description: Option<String>,
    /// The key: plaintext in the response that creates it and with `key-format=visible`
    /// (retrievable buckets), else masked or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// With `key-format=visible`: why this key is shown masked instead (its encrypted copy
    /// is missing or was made under another `KEY_ENCRYPTION_SECRET`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_unavailable: Option<String>,
    /// E-mail of the manager who created it in the self-serve API; absent for admins' keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// RFC 3339: when the key was first reported leaked (`POST /v1/leaks`); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub leaked_on: Option<String>,
    /// Where it was reported found (a URL or a source name, at most 2048 bytes), when the
    /// report said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaked_at: Option<String>,
    /// RFC 3339: when it last passed the edge (as of its isolate's last report to the
    /// consumer's limits object, about 10 s behind while the isolate serves requests);
    /// absent if never, and in lists of consumers (one consumer's keys, a key, or one
    /// consumer carry it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub last_used_on: Option<String>,
}

impl KeyOut {
    /// With `lastUsedOn` from `last_used` (key id → ms).
    pub fn used(
        mut self,
        last_used: &std::collections::HashMap<String, crate::timestamp::Millis>,
    ) -> Self {
        self.last_used_on = last_used.get(&self.id).copied().map(timestamp::format);
        self
    }

    /// A stored key, shown per `format`.
    pub fn stored(k: &StoredKey, format: KeyFormat) -> Self {
        KeyOut {
            id: k.id.clone(),
            created_on: timestamp::format(k.created_on),
            updated_on: timestamp::format(k.updated_on),
            expires_on: k.expires_on.map(timestamp::format),
            description: k.description.clone(),
            key: (format == KeyFormat::Masked).then(|| k.masked.clone()),
            created_by: k.created_by.clone(),
            leaked_on: k.leak.as_ref().map(|l| timestamp::format(l.on)),
            leaked_at: k.leak.as_ref().and_then(|l| l.at.clone()),
            key_unavailable: None,
            last_used_on: None,
        }
    }

    /// A stored key shown per `format`; `Visible` opens its encrypted copy with `vault` (the
    /// caller has checked that the bucket is retrievable and the caller may see keys).
    pub fn shown(k: &StoredKey, format: KeyFormat, vault: Option<&Vault>) -> Result<Self, Error> {
        if format != KeyFormat::Visible {
            return Ok(KeyOut::stored(k, format));
        }
        let vault = vault.ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "key '{}' cannot be shown: the secret KEY_ENCRYPTION_SECRET is not set",
                    k.id
                ),
            )
        })?;
        // One key that cannot be opened does not fail the page: it is shown masked, with
        // the reason (which names no key).
        let opened = match k.sealed.as_deref() {
            Some(sealed) => vault.open(&k.id, sealed).map_err(|e| e.message().to_owned()),
            None => Err("it has no encrypted copy (made while KEY_ENCRYPTION_SECRET was not available, or before the bucket kept keys retrievable)".to_owned()),
        };
        Ok(match opened {
            Ok(plain) => KeyOut {
                key: Some(plain),
                ..KeyOut::stored(k, KeyFormat::None)
            },
            Err(why) => KeyOut {
                key_unavailable: Some(why),
                ..KeyOut::stored(k, KeyFormat::Masked)
            },
        })
    }

    /// A key just created: the only time its plaintext is shown.
    pub fn created(k: &StoredKey, plaintext: String) -> Self {
        KeyOut {
            key: Some(plaintext),
            ..KeyOut::stored(k, KeyFormat::None)
        }
    }
}

/// Answer of `GET …/consumers/{consumerName}/usage`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageOut {
    /// The consumer.
    pub consumer: String,
    /// First day counted (UTC, `YYYY-MM-DD`).
    pub from: String,
    /// Last day counted.
    pub to: String,
    /// Requests of all its keys in these days.
    pub requests: u64,
    /// Each key the consumer holds.
    pub keys: Vec<KeyUsageOut>,
    /// Calls the consumer's limits object has served since it was made (lease asks,
    /// refusals, usage reports): what its limits cost, for operators.
    pub limiter_calls: u64,
}

/// One key's usage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyUsageOut {
    /// `key_…`
    pub id: String,
    /// RFC 3339: when it last passed the edge, whenever that was; absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_on: Option<String>,
    /// Its requests in these days.
    pub requests: u64,
    /// The days with requests, oldest first.
    pub days: Vec<DayOut>,
}

/// Requests on one UTC day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DayOut {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Requests admitted at the edge.
    pub requests: u64,
}

/// A manager in responses.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ManagerOut {
    /// `eusr_…`
    pub id: String,
    /// Lower-cased e-mail.
    pub email: String,
    /// Subject at the identity provider; absent when the manager was added by e-mail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub sub: Option<String>,
    /// RFC 3339.
    pub created_on: String,
}

impl From<&ManagerRecord> for ManagerOut {
    fn from(m: &ManagerRecord) -> Self {
        ManagerOut {
            id: m.id.clone(),
            email: m.email.clone(),
            sub: m.sub.clone(),
            created_on: timestamp::format(m.created_on),
        }
    }
}

/// The last sync that changed a consumer, in responses.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncOut {
    /// Commit applied.
    pub commit: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// A consumer in responses.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsumerOut {
    /// `csmr_…`
    pub id: String,
    /// Name.
    pub name: String,
    /// Free text; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub description: Option<String>,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub updated_on: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// `api` or `file` (created by `keyward sync`).
    pub source: Source,
    /// The last sync that changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SyncOut>,
    /// Keys, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<Vec<KeyOut>>,
    /// Managers, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managers: Option<Vec<ManagerOut>>,
    /// Pending manager invitations, with `include-manager-invites=true`: always empty, as
    /// keyward has no invitations (a manager added by e-mail is a manager at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<ManagerOut>"))]
    pub manager_invites: Option<Vec<ManagerOut>>,
}

impl ConsumerOut {
    /// A consumer without keys or managers.
    pub fn from_record(c: &ConsumerRecord) -> Self {
        ConsumerOut {
            id: c.id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            created_on: timestamp::format(c.created_on),
            updated_on: timestamp::format(c.updated_on),
            tags: c.tags.clone(),
            metadata: c.metadata.clone(),
            source: c.source,
            last_sync: c.last_sync.as_ref().map(|s: &SyncStamp| SyncOut {
                commit: s.commit.clone(),
                at: timestamp::format(s.at),
            }),
            api_keys: None,
            managers: None,
            manager_invites: None,
        }
    }
}

/// The list envelope: `{data, limit, offset, total}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListOut<T> {
    /// This page.
    pub data: Vec<T>,
    /// Page size asked for.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
    /// Items matching in all.
    pub total: usize,
    /// Pass as `cursor` for the next page (consumer lists); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Masked form of a new key, as stored.
pub fn masked(key: &str) -> String {
    key::format::mask(key)
}

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /key-buckets/{bucket}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchBucket {
    /// New description (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// New tags (replace the old ones).
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Accepted when it is the bucket's mode (what a client echoing the bucket sends); a
    /// different value is a 409, since a bucket's mode is fixed at creation.
    #[serde(default, rename = "isRetrievable")]
    pub is_retrievable: Option<bool>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "updatedOn")]
    pub updated_on: ReadOnly,
}

/// Body of `PATCH …/consumers/{consumer}`: the fields given replace the old ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchConsumer {
    /// New description (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// New tags.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// New metadata (a JSON object); forwarded from the next verified request on.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "updatedOn")]
    pub updated_on: ReadOnly,
}

/// Body of `PATCH …/keys/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchKey {
    /// New description (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// New expiry, RFC 3339 (`null` = never).
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub expires_on: Option<Option<String>>,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default)]
    pub id: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "createdOn")]
    pub created_on: ReadOnly,
    /// Read-only, as Zuplo returns it: accepted and ignored.
    #[serde(default, rename = "updatedOn")]
    pub updated_on: ReadOnly,
}

/// Body of `POST …/roll-key`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollKey {
    /// When the consumer's other keys stop working (a past time revokes them at once).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub expires_on: String,
}

/// One consumer of a bulk upsert: the file-managed fields, replacing the live ones.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpsertConsumer {
    /// Name.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[a-z0-9-]{1,128}$")))]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Metadata object.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Tags.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("maxProperties" = 5)))]
    pub tags: BTreeMap<String, String>,
    /// Manager e-mails (the whole set).
    #[serde(default)]
    pub managers: Vec<String>,
}

/// Body of `POST /key-buckets/{bucket}/consumers/$bulk`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkConsumers {
    /// Consumers to create or update.
    #[serde(default)]
    pub upsert: Vec<UpsertConsumer>,
    /// Names of consumers to delete.
    #[serde(default)]
    pub delete: Vec<String>,
    /// Who owns what this request creates: `file` (keyward sync) or `api` (default).
    #[serde(default)]
    pub source: Source,
    /// Delete only consumers created by this source (`file` for `sync --prune`).
    #[serde(default)]
    pub delete_only_source: Option<Source>,
    /// Commit of `keys.yaml` being applied, recorded on each consumer this request changes.
    #[serde(default)]
    pub commit: Option<String>,
}

/// What a bulk request did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum BulkStatus {
    /// A new consumer.
    Created,
    /// Changed.
    Updated,
    /// Already as asked: nothing written.
    Unchanged,
    /// Deleted.
    Deleted,
    /// Nothing to delete.
    Absent,
    /// Not deleted: created by another source (e.g. through the API, when pruning a file).
    Protected,
    /// Not done in this request (KV operation budget spent); send it again.
    Deferred,
}

/// One item's outcome in a bulk answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BulkItem {
    /// Consumer name.
    pub name: String,
    /// `upsert` or `delete`.
    pub op: String,
    /// Outcome.
    pub status: BulkStatus,
}

/// Answer of `POST …/consumers/$bulk`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkOut {
    /// One entry per item, upserts first, in request order.
    pub results: Vec<BulkItem>,
    /// KV writes made.
    pub writes: usize,
    /// Items to send again.
    pub deferred: usize,
}

/// One entry of `GET …/consumers/$index`: what `plan` needs without reading records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IndexEntryOut {
    /// Consumer name.
    pub name: String,
    /// Digest of the file-managed state.
    pub digest: String,
    /// Who created it.
    pub source: Source,
}

/// Answer of `GET …/consumers/$index`: a page of the consumers table's names, digests and
/// sources, by name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IndexPageOut {
    /// This page.
    pub data: Vec<IndexEntryOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Answer of `POST /v1/verify`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyOut {
    /// Whether the key is valid now.
    pub valid: bool,
    /// `VALID`, `MALFORMED`, `NOT_FOUND` or `EXPIRED`.
    pub code: crate::edge::verify::Code,
    /// The consumer, for valid and expired keys.
    pub consumer: Option<String>,
    /// The key id, for valid and expired keys.
    pub key_id: Option<String>,
    /// The consumer's metadata, for valid and expired keys.
    pub metadata: Option<Map<String, Value>>,
    /// The key's expiry (RFC 3339), if any.
    pub expires_on: Option<String>,
    /// The consumer's rate limit, for a valid key of a consumer that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<LimitOut>,
    /// The consumer's quota, for a valid key of a consumer that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<LimitOut>,
}

/// Where a consumer's rate limit or quota stands (`POST /v1/verify`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LimitOut {
    /// Requests per window (rate limit) or period (quota).
    pub limit: u64,
    /// What is left (isolates may hold part of it in leases).
    pub remaining: u64,
    /// RFC 3339: when it is whole again.
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub reset: String,
}

/// One problem found by `GET …/key-buckets/{bucket}/$check`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckProblem {
    /// The KV key concerned, a key hash cut to 8 characters (`kv::keys::redacted`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// Answer of `GET …/key-buckets/{bucket}/$check`: one page of the comparison of the
/// bucket's tables with KV.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CheckOut {
    /// True when nothing was wrong in the range checked.
    pub consistent: bool,
    /// True when the problems below were repaired (`POST`: the fixes are queued and applied
    /// by the bucket's object).
    pub repaired: bool,
    /// Each inconsistency.
    pub problems: Vec<CheckProblem>,
    /// Verification records compared in this call.
    #[serde(default)]
    pub checked: usize,
    /// Send it back as `?cursor=` to check the rest; absent when the bucket is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// KV writes committed but not applied yet (they are not problems: they are on their way).
    #[serde(default)]
    pub pending_writes: u64,
    /// Consumers imported from the old KV-only layout, when this bucket had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_consumers: Option<u64>,
    /// Consumer records of the old layout the import could not read (their KV keys): left in
    /// KV for an operator; their keys' verification records are never deleted by a repair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_legacy_records: Vec<String>,
}
