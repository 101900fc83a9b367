//! keyward-core: everything keyward does that is not I/O.
//!
//! The Worker (`keyward-worker`) and the CLI (`keyward`) are thin adapters around this crate.
//! Storage is reached only through the [`storage::store::Store`] trait; time and random bytes
//! come in as arguments ([`entropy::Entropy`], `now_ms`), so every path here runs natively
//! under `cargo test` and compiles unchanged to wasm32.
//!
//! The crate is grouped by subsystem, and imports only point down this list (a test,
//! `tests/layers.rs`, fails on any import circle between modules):
//!
//! | subsystem | owns |
//! | --- | --- |
//! | [`keys_file`] | `keys.yaml`: model, positioned YAML, checker, writer, plan engine and renderers |
//! | [`api`] | the developer API: routing, handlers, tokens, wire model, OpenAPI |
//! | [`edge`] | verification and the gateway decision |
//! | [`storage`] | KV layout, the `Store` trait, the write path, digests, the verification cache |
//! | [`key`] | the key format, base62, the key hash, imported keys, retrievable buckets' sealing |
//! | [`limits`] | per-consumer rate limits, quotas and usage: policy from metadata, counters, leases, the consumer object's logic, the isolate's side, the `Counters` port |
//! | `scan` (feature `scan`) | finding keys in text for `keyward scan`: candidates confirmed by checksum, positions, diffs, history listings, rules for other scanners |
//! | shared | [`config`], [`validate`], [`policy`], [`problem`], [`http`], [`ids`], [`timestamp`], [`entropy`], [`error`] |
//!
//! The shared modules are small and usable from every subsystem; of them only [`config`]
//! and [`ids`] reach into [`key`] (the default prefix, base62).

pub mod api;
pub mod edge;
pub mod key;
pub mod keys_file;
pub mod limits;
#[cfg(feature = "scan")]
pub mod scan;
pub mod selfserve;
pub mod storage;

pub mod config;
pub mod entropy;
pub mod error;
pub mod http;
pub mod ids;
pub mod policy;
pub mod problem;
pub mod timestamp;
pub mod validate;

pub use error::{Error, ErrorKind};
