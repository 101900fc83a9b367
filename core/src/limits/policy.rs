//! A consumer's limits as its metadata states them: [`crate::policy`], re-exported under the
//! name the limiter's modules use. The rule lives below `limits`, as a shared module, because
//! `validate` applies it to every metadata object (the developer API, `keys.yaml`, the
//! import), and `limits` imports `storage`, which imports `validate`.

pub use crate::policy::*;
