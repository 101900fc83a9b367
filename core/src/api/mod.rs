//! The developer API: routing, authentication, the handlers, management tokens, the wire
//! model and the OpenAPI document, independent of any runtime.
//!
//! May use: [`crate::edge`] (for `POST /v1/verify`), [`crate::storage`], [`crate::key`] and
//! the shared modules. Only the adapters import this subsystem, and `keys_file::plan`, for the
//! wire shape of a `$bulk` item.
//!
//! Paths follow Zuplo's developer API below the Worker's prefix, so that a Zuplo client only
//! changes its base URL:
//!
//! ```text
//! GET  /health                 GET /openapi.json               POST /v1/verify
//! POST /v1/keys/$lookup         POST /v1/leaks                  (leaked keys, see `leaks`)
//! /v1/accounts/{account}/key-buckets[/{bucket}]
//!   …/consumers[/$bulk | /$index | /{consumer}[/roll-key | /keys[/$bulk | /{id}] | /managers[/{id}]]]
//! ```
//!
//! Every error leaves through [`crate::problem`], as `application/problem+json`.

mod buckets;
mod bulk;
pub(crate) mod consumers;
pub(crate) mod keys;
pub mod leaks;
mod managers;
pub mod model;
#[cfg(feature = "schema")]
pub mod openapi;
pub(crate) mod query;
pub(crate) mod router;
pub mod token;
mod usage;

pub use bulk::BULK_MAX_ITEMS;
pub use consumers::INDEX_PAGE_MAX;
pub use query::Query;
pub use router::{is_v1, Api, Target};
