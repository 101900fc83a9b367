//! `keys.yaml`, consumers as code: its model, the checker that reads it with a position for
//! every problem, the writer `export` uses, the plan engine that compares it with a live
//! bucket, and the importer that brings a Zuplo bucket into it (`import`).
//!
//! May use: the shared modules ([`crate::validate`], [`crate::error`]), [`crate::key`]'s
//! masked forms, [`crate::storage`]'s digest and sources, and [`crate::api`]'s wire model
//! (a plan's upserts are `$bulk` items).
//! Nothing else in core imports this subsystem: the Worker never reads `keys.yaml`.

pub mod check;
pub mod import;
pub mod model;
pub mod plan;
pub mod write;
pub mod yaml_tree;

pub use check::{check, check_each, summarize, Diagnostic, Summary};
#[cfg(feature = "schema")]
pub use model::json_schema;
pub use model::{
    bucket_name_pattern, consumer_name_pattern, tag_key_pattern, BucketSpec, ConsumerSpec,
    KeysFile, FORMAT_VERSION,
};
pub use write::{to_yaml, to_yaml_checked, write_bucket, write_consumer, write_head, Written};
