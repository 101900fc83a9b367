//! One writer per bucket: the tables a bucket's Durable Object holds, the operations it runs
//! on them, and the outbox through which it owes KV the verification records.
//!
//! A bucket's object is the source of truth for the bucket, its consumers, keys and
//! managers ([`schema`] lists the tables). Every developer-API change to a bucket runs in its
//! object, one at a time: [`rows`] reads and writes synchronously, so each change commits
//! as one, together with the KV writes it owes ([`outbox`]). The object then applies them,
//! retrying from an alarm until done. KV keeps only what the edge reads: `k:{bucket}:{hash}`.
//!
//! [`check`] compares the tables with KV page by page; [`import`] moves a bucket of the old
//! KV-only layout into its object, once. The SQL runs behind [`sql::Sql`], which the Worker
//! implements over the object's SQLite storage and `sqlite` (feature `sqlite`) natively, so
//! all of this is tested without a Worker.

pub mod check;
pub mod import;
pub mod outbox;
pub mod rows;
pub mod schema;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
