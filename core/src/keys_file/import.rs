//! Importing a bucket from Zuplo's Developer API (or from another keyward, which speaks it):
//! what `keyward import zuplo` decides, without any I/O.
//!
//! The CLI fetches pages of consumers (`include-api-keys=true&key-format=visible&
//! include-managers=true`), and hands each to [`Source::add_page`], which checks every
//! consumer with the rules `keys.yaml` and the developer API apply and splits it into its
//! file entry (a [`ConsumerSpec`]) and its keys ([`ImportKey`]); [`next_offset`] says
//! which page comes next. [`merge`] puts the consumers into a `keys.yaml` model under the
//! merge rule of [`OnConflict`]; [`plan_keys`] reads the target's `$lookup` answers and
//! says which keys to send through `keys/$bulk`, refusing keys the target cannot verify.
//!
//! **Invariant:** a key's plaintext leaves this module only in the `$bulk` body
//! ([`ImportKey`]'s `Serialize`); its `Debug`, every error and every report show the
//! masked form ([`masked`]).

use super::model::{ConsumerSpec, KeysFile, FORMAT_VERSION};
use super::plan::spec_digest;
use crate::key;
use crate::policy::PolicyError;
use crate::validate::{self, MetadataError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Consumers asked per page (Zuplo's maximum `limit`).
pub const PAGE_LIMIT: usize = 1000;

/// Keys per `POST /v1/keys/$lookup` request (the endpoint's maximum).
pub const LOOKUP_MAX: usize = 1000;

/// Zuplo's key format, the value to give `IMPORTED_KEY_PATTERN` for its keys.
pub const ZUPLO_KEY_PATTERN: &str = "^zpka_[0-9a-f]{32}_[0-9a-f]{8}$";

/// Most consumers one import reads: a source that never stops paging stops here.
pub const MAX_SOURCE_CONSUMERS: usize = 1_000_000;

/// The offset of the page after one that started at `offset` and held `received`
/// consumers, or `None` when that was the last: an empty page, or the `total` reached.
/// Without a `total` only an empty page ends the read (a server may cap its pages below
/// the `limit` asked). The next page starts after what was received, not after `limit`.
///
/// ```
/// use keyward_core::keys_file::import::next_offset;
///
/// assert_eq!(next_offset(0, 1000, Some(2500), 1000), Some(1000));
/// assert_eq!(next_offset(2000, 500, Some(2500), 1000), None);
/// assert_eq!(next_offset(0, 3, Some(5), 1000), Some(3)); // a server that caps pages at 3
/// assert_eq!(next_offset(0, 1000, None, 1000), Some(1000));
/// assert_eq!(next_offset(1000, 7, None, 1000), Some(1007)); // no total: on to an empty page
/// assert_eq!(next_offset(1007, 0, None, 1000), None);
/// assert_eq!(next_offset(3, 0, Some(5), 1000), None); // nothing more came: stop
/// ```
pub fn next_offset(
    offset: usize,
    received: usize,
    total: Option<usize>,
    _limit: usize,
) -> Option<usize> {
    let next = offset.checked_add(received)?;
    match total {
        _ if received == 0 => None,
        Some(total) if next >= total => None,
        _ => Some(next),
    }
}

/// Checks a page against the read so far: `first_total` is the first page's `total`,
/// `total` this page's, `read` the consumers read with it. A source whose `total` keeps
/// growing, or that pages past [`MAX_SOURCE_CONSUMERS`], is stopped (a broken or hostile
/// server must not keep the import reading forever).
///
/// ```
/// use keyward_core::keys_file::import::check_paging;
///
/// assert!(check_paging(Some(2500), Some(2501), 2000).is_ok());
/// assert!(check_paging(Some(2500), Some(9000), 2000).is_err());
/// assert!(check_paging(None, None, 2_000_000).is_err());
/// ```
pub fn check_paging(
    first_total: Option<usize>,
    total: Option<usize>,
    read: usize,
) -> Result<(), ImportError> {
    if read > MAX_SOURCE_CONSUMERS {
        return Err(ImportError::Paging(format!(
            "the source listed more than {MAX_SOURCE_CONSUMERS} consumers; nothing was written"
        )));
    }
    if let (Some(first), Some(now)) = (first_total, total) {
        // Some growth is a busy source; more is a source that never ends.
        if now > first.saturating_add((first / 10).max(100)) {
            return Err(ImportError::Paging(format!(
                "the source's total grew from {first} to {now} consumers while it was read; nothing was written: run the import again when it is quieter"
            )));
        }
    }
    Ok(())
}

/// The query of a consumer page, as Zuplo's Developer API takes it.
pub fn page_query(offset: usize, with_keys: bool) -> String {
    if with_keys {
        format!(
            "limit={PAGE_LIMIT}&offset={offset}&include-api-keys=true&key-format=visible&include-managers=true"
        )
    } else {
        format!("limit={PAGE_LIMIT}&offset={offset}&include-managers=true")
    }
}

/// A page of `GET …/consumers`, as Zuplo (and keyward) answer it; unknown fields ignored.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// The consumers.
    pub data: Vec<Consumer>,
    /// How many consumers the bucket has.
    #[serde(default)]
    pub total: Option<usize>,
}

/// A consumer as Zuplo's Developer API answers it; unknown fields (`id`, `createdOn`, …)
/// ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// Its name, unique in the bucket.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Forwarded to the upstream (Zuplo's `request.user.data`).
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Labels for management queries.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, Value>>,
    /// Managers: objects with `email` (Zuplo's `{id, email, sub, createdOn}`), or e-mails.
    #[serde(default)]
    pub managers: Option<Vec<Manager>>,
    /// Its keys, with `key-format=visible` in plaintext.
    #[serde(default)]
    pub api_keys: Option<Vec<SourceKey>>,
}

/// A manager as a source lists it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Manager {
    /// Just the e-mail.
    Email(String),
    /// Zuplo's object (`id`, `sub`, `createdOn` ignored).
    Object {
        /// The e-mail.
        email: String,
    },
}

/// A key as a source lists it; `Debug` masks the key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceKey {
    /// The key itself (absent or masked unless the source shows it).
    #[serde(default)]
    pub key: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339 expiry; `null` = never.
    #[serde(default)]
    pub expires_on: Option<String>,
}

impl fmt::Debug for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceKey")
            .field("key", &self.key.as_deref().map(masked))
            .field("description", &self.description)
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

/// A key to import: an item of `POST …/consumers/{name}/keys/$bulk`. `Serialize` writes
/// the plaintext (the only place it goes); `Debug` masks it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportKey {
    /// The key, as the source holds it.
    pub key: String,
    /// RFC 3339 expiry, kept as the source gave it (an expired key stays expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl fmt::Debug for ImportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportKey")
            .field("key", &masked(&self.key))
            .field("expires_on", &self.expires_on)
            .field("description", &self.description)
            .finish()
    }
}

/// A key's masked form for every message: keyward's (`kw_****1vXtxm`) for a key of its
/// format, else the imported form (`****fb7009`, nothing of a short one).
pub fn masked(key_text: &str) -> String {
    if key::format::parse(key_text).is_ok() {
        key::format::mask(key_text)
    } else {
        key::imported::mask(key_text)
    }
}

/// Why an import cannot go on; nothing was written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportError {
    /// A consumer keyward would refuse (name, description, metadata, tags, managers, keys).
    Invalid {
        /// The consumer's name, shortened.
        consumer: String,
        /// What is wrong, with a hint.
        message: String,
    },
    /// A consumer whose metadata has a `rateLimit` or `quota` keyward cannot read: keyward
    /// reads these two fields as the consumer's limits, where Zuplo keeps them as any other
    /// metadata.
    Limits {
        /// The consumer's name, shortened.
        consumer: String,
        /// Which field, what is wrong and what to write (one or both).
        errors: Vec<PolicyError>,
    },
    /// The source listed a consumer without its keys in plaintext: a hash-only bucket.
    KeysNotVisible {
        /// The first consumer found so.
        consumer: String,
    },
    /// The same consumer name twice in the source's pages.
    DuplicateConsumer(String),
    /// The same key on two consumers of the source.
    DuplicateKey {
        /// The masked key.
        key: String,
        /// The two consumers.
        consumers: (String, String),
    },
    /// Consumers in `keys.yaml` that differ from the source, with [`OnConflict::Error`].
    Conflicts(Vec<Conflict>),
    /// Keys the target cannot verify at its edge (`$lookup` answered `valid: false`).
    Unverifiable {
        /// How many.
        count: usize,
        /// The first few, masked, with their consumers.
        examples: Vec<(String, String)>,
    },
    /// A key the target bucket holds for another consumer.
    HeldByOther {
        /// The masked key.
        key: String,
        /// The consumer it belongs to in the source.
        consumer: String,
        /// The consumer holding it in the target.
        holder: String,
    },
    /// The source's paging cannot be trusted (its total keeps growing, or it never ends).
    Paging(String),
    /// `$lookup` answered something other than one item per key asked.
    LookupAnswer {
        /// Keys asked.
        asked: usize,
        /// Items answered.
        answered: usize,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Paging(why) => f.write_str(why),
            ImportError::Invalid { consumer, message } => write!(
                f,
                "consumer '{consumer}': {message}; keyward refuses it, so nothing was imported (fix it in the source first)"
            ),
            ImportError::Limits { consumer, errors } => {
                write!(f, "consumer '{consumer}': ")?;
                for e in errors {
                    write!(f, "{e}; ")?;
                }
                f.write_str(
                    "keyward reads metadata.rateLimit and metadata.quota as a consumer's limits, \
                     so nothing was imported: write the field in keyward's form in the source, \
                     or rename it there if it means something else",
                )
            }
            ImportError::KeysNotVisible { consumer } => write!(
                f,
                "consumer '{consumer}': the source does not show its keys (a hash-only bucket, or a token that may not read them), so they cannot be imported; \
                 import from a bucket created with isRetrievable: true, or pass --skip-keys to import the consumers only (their users then need new keys)"
            ),
            ImportError::DuplicateConsumer(name) => write!(
                f,
                "the source listed consumer '{name}' twice (it changed while being read?); run the import again"
            ),
            ImportError::DuplicateKey { key, consumers } => write!(
                f,
                "key {key} belongs to both '{}' and '{}' in the source; a key has one consumer, remove it from one of them",
                consumers.0, consumers.1
            ),
            ImportError::Conflicts(list) => {
                write!(
                    f,
                    "{} in keys.yaml {} from the source: ",
                    if list.len() == 1 {
                        "1 consumer".to_owned()
                    } else {
                        format!("{} consumers", list.len())
                    },
                    if list.len() == 1 { "differs" } else { "differ" }
                )?;
                for (i, c) in list.iter().take(10).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{}' ({})", c.consumer, c.fields.join(", "))?;
                }
                if list.len() > 10 {
                    write!(f, " and {} more", list.len() - 10)?;
                }
                f.write_str("; nothing was written. Pass --on-conflict keep-file to keep the file's entries, or --on-conflict take-source to replace them")
            }
            ImportError::Unverifiable { count, examples } => {
                write!(
                    f,
                    "the target cannot verify {} at its edge (neither its own key format nor IMPORTED_KEY_PATTERN): ",
                    if *count == 1 {
                        "1 key".to_owned()
                    } else {
                        format!("{count} keys")
                    }
                )?;
                for (i, (k, c)) in examples.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} of '{c}'")?;
                }
                if *count > examples.len() {
                    write!(f, " and {} more", count - examples.len())?;
                }
                write!(
                    f,
                    "; nothing was written. Set IMPORTED_KEY_PATTERN in the Worker's wrangler.toml [vars] to a pattern of these keys (Zuplo's: {ZUPLO_KEY_PATTERN}), deploy, and run the import again"
                )
            }
            ImportError::HeldByOther {
                key,
                consumer,
                holder,
            } => write!(
                f,
                "key {key} of '{consumer}' is already held by consumer '{holder}' in the target bucket; nothing was written. Delete it there, or rename the consumer in the source"
            ),
            ImportError::LookupAnswer { asked, answered } => write!(
                f,
                "the target's $lookup answered {answered} items for {asked} keys; is it a keyward Worker?"
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// What the source holds: consumers as file entries and their keys, read page by page.
/// `Debug` shows keys masked only.
#[derive(Default)]
pub struct Source {
    /// Consumers by name, as `keys.yaml` entries.
    pub consumers: BTreeMap<String, ConsumerSpec>,
    /// Keys by consumer, in the source's order.
    pub keys: BTreeMap<String, Vec<ImportKey>>,
    /// Consumer of each key seen (for duplicates).
    owners: BTreeMap<String, String>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("consumers", &self.consumers)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Takes one page: each consumer checked ([`ImportError::Invalid`] names it, or
    /// [`ImportError::Limits`] for a limit in metadata), its keys required in plaintext when
    /// `with_keys`.
    pub fn add_page(&mut self, page: Page, with_keys: bool) -> Result<(), ImportError> {
        for consumer in page.data {
            self.add(consumer, with_keys)?;
        }
        Ok(())
    }

    /// How many keys were read.
    pub fn key_count(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    fn add(&mut self, c: Consumer, with_keys: bool) -> Result<(), ImportError> {
        let name = c.name;
        let invalid = |e: crate::Error| ImportError::Invalid {
            consumer: shorten(&name),
            message: e.message().to_owned(),
        };
        validate::consumer_name(&name).map_err(|e| ImportError::Invalid {
            consumer: shorten(&name),
            message: e.message().to_owned(),
        })?;
        if self.consumers.contains_key(&name) {
            return Err(ImportError::DuplicateConsumer(name));
        }
        let description = c.description.filter(|d| !d.is_empty());
        if let Some(d) = &description {
            validate::description(d).map_err(invalid)?;
        }
        let metadata = match c.metadata {
            None | Some(Value::Null) => Map::new(),
            Some(value) => {
                match validate::metadata_detail(&value) {
                    Ok(()) => {}
                    Err(MetadataError::Shape(e)) => return Err(invalid(e)),
                    Err(MetadataError::Limits(errors)) => {
                        return Err(ImportError::Limits {
                            consumer: shorten(&name),
                            errors,
                        })
                    }
                }
                match value {
                    Value::Object(map) => map,
                    _ => Map::new(),
                }
            }
        };
        let mut tags = BTreeMap::new();
        for (k, v) in c.tags.unwrap_or_default() {
            let Value::String(v) = v else {
                return Err(invalid(crate::Error::invalid(format!(
                    "tag '{}' is not a string; keyward's tags are strings",
                    shorten(&k)
                ))));
            };
            tags.insert(k, v);
        }
        validate::tags(&tags).map_err(invalid)?;
        let mut managers = BTreeSet::new();
        for m in c.managers.unwrap_or_default() {
            let (Manager::Email(e) | Manager::Object { email: e }) = m;
            managers.insert(validate::email(&e).map_err(invalid)?);
        }
        if managers.len() > validate::MAX_MANAGERS {
            return Err(invalid(crate::Error::invalid(format!(
                "{} managers, at most {} are allowed",
                managers.len(),
                validate::MAX_MANAGERS
            ))));
        }
        let mut keys = Vec::new();
        if with_keys {
            let listed = c.api_keys.unwrap_or_default();
            if listed.len() > validate::MAX_KEYS {
                return Err(invalid(crate::Error::invalid(format!(
                    "{} keys, at most {} per consumer are allowed",
                    listed.len(),
                    validate::MAX_KEYS
                ))));
            }
            for k in listed {
                let text = match k.key {
                    Some(text) if !text.starts_with("****") && !text.is_empty() => text,
                    _ => {
                        return Err(ImportError::KeysNotVisible {
                            consumer: name.clone(),
                        })
                    }
                };
                if key::imported::check_supplied(&text).is_err() {
                    return Err(invalid(crate::Error::invalid(format!(
                        "key {} is not a key keyward can store (at most 256 visible ASCII characters)",
                        masked(&text)
                    ))));
                }
                let description = k.description.filter(|d| !d.is_empty());
                if let Some(d) = &description {
                    validate::description(d).map_err(|e| {
                        invalid(crate::Error::invalid(format!(
                            "key {}: {}",
                            masked(&text),
                            e.message()
                        )))
                    })?;
                }
                if let Some(at) = &k.expires_on {
                    crate::timestamp::parse(at).map_err(|_| {
                        invalid(crate::Error::invalid(format!(
                            "key {}: expiresOn is not an RFC 3339 time",
                            masked(&text)
                        )))
                    })?;
                }
                if let Some(other) = self.owners.insert(text.clone(), name.clone()) {
                    return Err(ImportError::DuplicateKey {
                        key: masked(&text),
                        consumers: (other, name),
                    });
                }
                keys.push(ImportKey {
                    key: text,
                    expires_on: k.expires_on,
                    description,
                });
            }
        }
        let spec = ConsumerSpec {
            description,
            metadata,
            tags,
            managers: managers.into_iter().collect(),
        };
        if !keys.is_empty() {
            self.keys.insert(name.clone(), keys);
        }
        self.consumers.insert(name, spec);
        Ok(())
    }
}

/// What to do with a consumer that `keys.yaml` already lists with other values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Stop, write nothing, and list the differences.
    #[default]
    Error,
    /// Keep the file's entry (the source's keys are still imported).
    KeepFile,
    /// Replace the file's entry with the source's.
    TakeSource,
}

/// A consumer of the file that differs from the source's, and in which fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Its name.
    pub consumer: String,
    /// `description`, `metadata`, `tags`, `managers`: those that differ.
    pub fields: Vec<&'static str>,
}

/// What [`merge`] did to the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Merged {
    /// Consumers added to the file.
    pub added: Vec<String>,
    /// Consumers of the file replaced by the source's ([`OnConflict::TakeSource`]).
    pub replaced: Vec<String>,
    /// Consumers of the file kept although the source differs ([`OnConflict::KeepFile`]).
    pub kept: Vec<String>,
    /// Consumers the file already lists exactly as the source does.
    pub same: usize,
}

impl Merged {
    /// Whether the file changed.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.replaced.is_empty()
    }
}

/// Puts the source's consumers into `bucket` of `file` (created when missing; a new file is
/// `KeysFile::default()`-like, version 1). A consumer the file lacks is added; one it lists
/// with the same values (as the plan compares them: managers in any order and case) is
/// left; one that differs follows `rule`. Consumers of the file the source does not have are
/// left alone. On [`OnConflict::Error`] with a difference, `file` is unchanged.
pub fn merge(
    file: &mut KeysFile,
    bucket: &str,
    source: &BTreeMap<String, ConsumerSpec>,
    rule: OnConflict,
) -> Result<Merged, ImportError> {
    let mut out = Merged::default();
    let mut conflicts = Vec::new();
    let existing = file.buckets.get(bucket).map(|b| &b.consumers);
    for (name, spec) in source {
        match existing.and_then(|c| c.get(name)) {
            None => out.added.push(name.clone()),
            Some(ours) if spec_digest(ours) == spec_digest(spec) => out.same += 1,
            Some(ours) => match rule {
                OnConflict::Error => conflicts.push(Conflict {
                    consumer: name.clone(),
                    fields: differing(ours, spec),
                }),
                OnConflict::KeepFile => out.kept.push(name.clone()),
                OnConflict::TakeSource => out.replaced.push(name.clone()),
            },
        }
    }
    if !conflicts.is_empty() {
        return Err(ImportError::Conflicts(conflicts));
    }
    if out.changed() {
        let target = file.buckets.entry(bucket.to_owned()).or_default();
        for name in out.added.iter().chain(&out.replaced) {
            if let Some(spec) = source.get(name) {
                target.consumers.insert(name.clone(), spec.clone());
            }
        }
    }
    Ok(out)
}

/// An empty `keys.yaml` model, for a file that does not exist yet.
pub fn new_file() -> KeysFile {
    KeysFile {
        version: FORMAT_VERSION,
        buckets: BTreeMap::new(),
    }
}

fn differing(a: &ConsumerSpec, b: &ConsumerSpec) -> Vec<&'static str> {
    let only = |f: fn(&ConsumerSpec) -> ConsumerSpec| spec_digest(&f(a)) != spec_digest(&f(b));
    let mut fields = Vec::new();
    if only(|c| ConsumerSpec {
        description: c.description.clone(),
        ..ConsumerSpec::default()
    }) {
        fields.push("description");
    }
    if a.metadata != b.metadata {
        fields.push("metadata");
    }
    if a.tags != b.tags {
        fields.push("tags");
    }
    if only(|c| ConsumerSpec {
        managers: c.managers.clone(),
        ..ConsumerSpec::default()
    }) {
        fields.push("managers");
    }
    fields
}

/// One item of a `$lookup` answer, as far as an import reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Lookup {
    /// The target can verify this key at its edge.
    pub valid: bool,
    /// The target holds it.
    pub found: bool,
    /// Where.
    #[serde(default)]
    pub bucket: Option<String>,
    /// Whose.
    #[serde(default)]
    pub consumer: Option<String>,
}

/// The keys an import sends, by consumer, and those the target holds already.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyPlan {
    /// `keys/$bulk` bodies, by consumer.
    pub send: BTreeMap<String, Vec<ImportKey>>,
    /// Keys the target bucket holds for their consumer already (a rerun).
    pub held: usize,
}

impl KeyPlan {
    /// How many keys are to be sent.
    pub fn count(&self) -> usize {
        self.send.values().map(Vec::len).sum()
    }
}

/// The keys of `source` in lookup order: every key, consumer by consumer, as `$lookup` is
/// asked (in requests of [`LOOKUP_MAX`]) and as [`plan_keys`] reads the answers.
pub fn lookup_order(source: &Source) -> impl Iterator<Item = (&str, &ImportKey)> {
    source
        .keys
        .iter()
        .flat_map(|(c, keys)| keys.iter().map(move |k| (c.as_str(), k)))
}

/// Which keys to import into `bucket`, from `answers` (one per key of [`lookup_order`]):
/// a key the target cannot verify refuses the whole import ([`ImportError::Unverifiable`],
/// naming `IMPORTED_KEY_PATTERN`); one the bucket holds for the same consumer is skipped
/// (already imported); one it holds for another is [`ImportError::HeldByOther`]; the rest —
/// new, or held in another bucket only — are sent.
pub fn plan_keys(
    source: &Source,
    bucket: &str,
    answers: &[Lookup],
) -> Result<KeyPlan, ImportError> {
    let asked = source.key_count();
    if answers.len() != asked {
        return Err(ImportError::LookupAnswer {
            asked,
            answered: answers.len(),
        });
    }
    let mut plan = KeyPlan::default();
    let mut unverifiable = 0;
    let mut examples = Vec::new();
    for ((consumer, k), answer) in lookup_order(source).zip(answers) {
        if !answer.valid {
            unverifiable += 1;
            if examples.len() < 3 {
                examples.push((masked(&k.key), consumer.to_owned()));
            }
            continue;
        }
        let here = answer.found && answer.bucket.as_deref() == Some(bucket);
        match answer.consumer.as_deref() {
            Some(holder) if here && holder == consumer => plan.held += 1,
            Some(holder) if here => {
                return Err(ImportError::HeldByOther {
                    key: masked(&k.key),
                    consumer: consumer.to_owned(),
                    holder: holder.to_owned(),
                })
            }
            _ => plan
                .send
                .entry(consumer.to_owned())
                .or_default()
                .push(k.clone()),
        }
    }
    if unverifiable > 0 {
        return Err(ImportError::Unverifiable {
            count: unverifiable,
            examples,
        });
    }
    Ok(plan)
}

/// The first 64 characters of a name from the source, for messages.
fn shorten(text: &str) -> String {
    text.chars().take(64).collect()
}
