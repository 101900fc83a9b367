//! Names of the Worker's bindings, in one place (they must match wrangler.toml).

/// The KV namespace holding every keyward record.
pub const KV: &str = "KEYWARD_KV";

/// The Durable Object namespace of the bucket objects (class `BucketObject`).
pub const BUCKETS: &str = "KEYWARD_BUCKETS";

/// Optional rate-limiting binding (`[[ratelimits]]`): when bound, lookups of unknown keys
/// count per client address and a client over its limit gets 429 before any KV read.
pub const UNKNOWN_KEY_LIMIT: &str = "UNKNOWN_KEY_LIMIT";

/// The Durable Object namespace of the limits objects (class `LimiterObject`), one per
/// consumer: rate limits, quotas and key usage.
pub const LIMITS: &str = "KEYWARD_LIMITS";
