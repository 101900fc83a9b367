//! The key itself: its format and checksum, the base62 alphabet it is written in, and the
//! keyed hash that is its only stored form.
//!
//! May use: [`crate::entropy`] and [`crate::error`] only. Everything that handles a key
//! (the edge, the developer API, a leak scanner) builds on this subsystem and nothing here
//! knows where keys are stored. `imported` holds the rules for keys a client supplies
//! (`IMPORTED_KEY_PATTERN`), matched by an engine the adapter installs; `sealed` the encrypted
//! copy retrievable buckets keep (`KEY_ENCRYPTION_SECRET`).

pub mod base62;
pub mod format;
pub mod hash;
pub mod imported;
pub mod sealed;
