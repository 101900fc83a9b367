//! Self-serve: the people who manage a consumer, signed in with their own identity provider,
//! see and change that consumer's keys through `/v1/me`.
//!
//! May use: [`crate::storage`], [`crate::api`]'s wire shapes and write path, and the shared
//! modules. Beside `api/`, not inside it: the developer API knows nothing of end users.

pub mod jwt;
pub mod me;
