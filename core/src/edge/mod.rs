//! The edge's decision: verify a key (format, checksum, cache, one KV read) and decide what
//! a gateway request becomes — forwarded upstream with the consumer's identity, or one 401.
//!
//! May use: [`crate::key`], [`crate::storage`] and the shared modules ([`crate::config`],
//! [`crate::http`], [`crate::problem`], …). The developer API uses [`verify`] for
//! `POST /v1/verify`; nothing here knows the developer API.

pub mod gateway;
pub mod signature;
pub mod throttle;
pub mod verify;
