//! Names of the Worker's bindings, in one place (they must match wrangler.toml).

/// The KV namespace holding every keyward record.
pub const KV: &str = "KEYWARD_KV";

/// The Durable Object namespace of the bucket objects (class `BucketObject`).
pub const BUCKETS: &str = "KEYWARD_BUCKETS";
