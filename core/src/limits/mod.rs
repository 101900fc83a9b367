//! Per-consumer rate limits, quotas and usage (issue 14). The consumer's Durable Object and
//! the isolates' side are thin adapters over what is here; all of it runs natively.
//!
//! May use: `storage::bucket::sql` (the object's SQL), `problem`, `http` and the shared
//! modules. `policy` reads a consumer's `rateLimit`/`quota` from its metadata; `counter`
//! keeps the authoritative counts (a sliding window of 60 slots that never counts short,
//! calendar periods in UTC); `lease` is how an isolate admits requests on its own between
//! calls to the object, with the bound on what that costs in precision; `object` is the
//! consumer's object (counters and usage in its SQL); `isolate` is the isolate's side (leases,
//! usage to report, the answers); `wire` the calls between them and the `Counters` port;
//! `settings` the Worker variables.

pub mod counter;
pub mod isolate;
pub mod lease;
pub mod object;
pub mod policy;
pub mod settings;
pub mod wire;
