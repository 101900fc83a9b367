//! Storage: the KV layout, the [`store::Store`] trait keyward runs on, the write path that
//! orders every change so an interruption converges, the consumer digests `plan` compares,
//! and the in-isolate cache of verification records that the write path invalidates.
//!
//! May use: the shared modules ([`crate::error`], [`crate::timestamp`]) only. The edge, the
//! developer API and the plan engine build on it; it knows nothing of HTTP or `keys.yaml`.

pub mod cache;
pub mod digest;
pub mod kv;
pub mod records;
pub mod store;
