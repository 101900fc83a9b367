//! What the Worker sends a consumer's object and what it answers (JSON between the Worker's
//! isolates and the object; never a public shape), and the port through which core asks
//! ([`Counters`]: the Durable Object in the Worker, [`super::object`] over SQLite natively).

use super::lease::{Grant, Returned, Standing};
use super::policy::Limits;
use crate::error::{Error, ErrorKind};
use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// Milliseconds in a UTC day; usage is counted per day number (`ms / DAY_MS`).
pub const DAY_MS: Millis = 86_400_000;

/// Most usage entries and returned leases one call carries (an isolate sends what it counted
/// since its last call: one entry per key and day; a consumer has at most 100 keys).
pub const MAX_ENTRIES: usize = 1000;

/// One key's admitted requests on one UTC day, counted by an isolate since its last call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Use {
    /// `key_…`
    pub key_id: String,
    /// Day number (`ms / DAY_MS`).
    pub day: i64,
    /// Requests admitted.
    pub requests: u64,
    /// The last of them.
    pub last_used: Millis,
}

/// What a call asks of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Want {
    /// A lease for an isolate (the edge) of up to `wanted` requests (the isolate's recent
    /// demand; the object grants at most a tenth of the limit).
    Lease {
        /// At most this many.
        wanted: u64,
    },
    /// Where the limits stand; nothing charged (`/v1/verify`).
    Peek,
    /// Exactly one request, charged now (`/v1/verify` with `consume: true`).
    One,
}

/// A call from an isolate: refund `returned`, record `usage`, then `want`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ask {
    /// The consumer's limits as this isolate read them (metadata or the defaults).
    pub limits: Limits,
    /// What is asked.
    pub want: Want,
    /// Unspent requests of earlier leases.
    #[serde(default)]
    pub returned: Vec<Returned>,
    /// Requests admitted since the last call.
    #[serde(default)]
    pub usage: Vec<Use>,
}

/// The object's answer to an [`Ask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// The lease (`Want::Lease`), the one request (`Want::One`: `requests` is 1 or 0), or
    /// nothing (`Want::Peek`: 0 requests, no retry).
    pub grant: Grant,
    /// The rate limit after the grant, if there is one.
    pub rate: Option<Standing>,
    /// The quota after the grant, if there is one.
    pub quota: Option<Standing>,
}

/// Daily counts from day `from` to day `to` (day numbers, both included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageQuery {
    /// First day.
    pub from: i64,
    /// Last day.
    pub to: i64,
}

/// One key's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsage {
    /// `key_…`
    pub key_id: String,
    /// When it was last used, whenever that was (not only in the days asked).
    pub last_used: Option<Millis>,
    /// `(day number, requests)` of the days asked that had requests, oldest first.
    pub days: Vec<(i64, u64)>,
}

/// The object's answer to a [`UsageQuery`]: every key it has counted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// By key id.
    pub keys: Vec<KeyUsage>,
    /// Asks the object has served (leases, refusals, usage reports, `/v1/verify`).
    #[serde(default)]
    pub calls: u64,
}

/// One call to a consumer's object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "lowercase")]
pub enum Call {
    /// Leases, peeks and charges.
    Ask(Ask),
    /// Daily counts.
    Usage(UsageQuery),
}

/// A consumer, as its object is named: limits are per consumer, shared by its keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Consumer {
    /// The bucket.
    pub bucket: String,
    /// The consumer's name.
    pub name: String,
}

impl Consumer {
    /// The object's name: bucket and consumer names never hold `/`.
    pub fn object_name(&self) -> String {
        format!("{}/{}", self.bucket, self.name)
    }
}

/// What a [`Counters`] call returns.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + 'a>>;

/// The port to consumers' objects.
pub trait Counters {
    /// Sends `ask` to `consumer`'s object.
    fn ask<'a>(&'a self, consumer: &'a Consumer, ask: &'a Ask) -> Pending<'a, Answer>;
    /// Reads `consumer`'s usage.
    fn usage<'a>(&'a self, consumer: &'a Consumer, query: UsageQuery) -> Pending<'a, Usage>;
}

/// No objects (the developer API's tests, tools): asks fail, usage is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCounters;

impl Counters for NoCounters {
    fn ask<'a>(&'a self, _consumer: &'a Consumer, _ask: &'a Ask) -> Pending<'a, Answer> {
        Box::pin(async {
            Err(Error::new(
                ErrorKind::Storage,
                "no consumer objects here: limits are kept by the Worker's KEYWARD_LIMITS",
            ))
        })
    }

    fn usage<'a>(&'a self, _consumer: &'a Consumer, _query: UsageQuery) -> Pending<'a, Usage> {
        Box::pin(async { Ok(Usage::default()) })
    }
}
