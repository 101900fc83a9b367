//! Per-consumer rate limits and quotas (issue 14): the arithmetic, pure and natively tested;
//! the consumer's Durable Object and the isolates' side are thin adapters over it (not built
//! yet).
//!
//! May use: shared modules only (`timestamp`, `error`). `policy` reads a consumer's
//! `rateLimit`/`quota` from its metadata; `counter` keeps the authoritative counts (a sliding
//! window of 60 slots that never counts short, calendar periods in UTC); `lease` is how an
//! isolate admits requests on its own between calls to the object, with the bound on what
//! that costs in precision.

pub mod counter;
pub mod isolate;
pub mod lease;
pub mod object;
pub mod policy;
pub mod settings;
pub mod wire;
