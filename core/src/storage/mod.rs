//! Storage: a bucket's tables and their single writer ([`bucket`]), the KV layout, the
//! [`store::Store`] trait keyward reads and writes KV through, the consumer digests `plan`
//! compares, and the in-isolate cache of verification records that applying a KV write
//! invalidates.
//!
//! May use: the shared modules ([`crate::error`], [`crate::timestamp`]) only. The edge, the
//! developer API and the plan engine build on it; it knows nothing of HTTP or `keys.yaml`.

pub mod bucket;
pub mod cache;
pub mod digest;
pub mod kv;
pub mod store;
