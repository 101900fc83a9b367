//! keyward-core: everything keyward does that is not I/O.
//!
//! The Worker (`keyward-worker`) and the CLI (`keyward`) are thin adapters around this crate.
//! It holds the key format and its checksum, key hashing, the data model, input validation,
//! the KV layout, edge verification with its in-isolate cache, and the developer API's
//! handlers. Storage is reached only through the [`store::Store`] trait; time and random
//! bytes come in as arguments ([`entropy::Entropy`], `now_ms`), so every path here runs
//! natively under `cargo test` and compiles unchanged to wasm32.

pub mod api;
pub mod base62;
pub mod cache;
pub mod config;
pub mod digest;
pub mod entropy;
pub mod error;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod key_format;
pub mod key_hash;
pub mod keys_file;
pub mod kv;
pub mod model;
#[cfg(feature = "schema")]
pub mod openapi;
pub mod plan;
pub mod problem;
pub mod records;
pub mod store;
pub mod timestamp;
pub mod token;
pub mod validate;
pub mod verify;
pub mod yaml_tree;

pub use error::{Error, ErrorKind};
