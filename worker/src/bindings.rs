//! Names of the Worker's bindings, in one place (they must match wrangler.toml).

/// The KV namespace holding every keyward record.
pub const KV: &str = "KEYWARD_KV";
