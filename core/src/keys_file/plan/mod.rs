//! The plan engine of `keyward plan` and `keyward sync`: what must change so that a bucket
//! of the live Worker matches `keys.yaml`, and the three ways to show it.
//!
//! [`diff`] is a pure function from the desired consumers of one bucket (from
//! [`crate::keys_file::check()`]) and what the Worker holds ([`LiveBucket`]) to a [`Plan`]: an
//! ordered list of [`Change`]s — creates, then updates, then deletes, each sorted by name —
//! with the before and after of every changed field. `sync` runs the very same function and
//! applies its result; `sync --dry-run` stops between the two, so the preview cannot drift
//! from what is applied.
//!
//! The live side is read cheaply: the `$index` endpoint lists names, digests and sources from
//! KV metadata, and only consumers whose digest differs from the file's
//! ([`spec_digest`]) need their full record ([`LiveRecord`]) to say *what* differs, plus,
//! with `prune`, those about to be deleted; [`records_needed`] names them, with the very
//! test of "differs" that [`diff`] applies. A no-op plan of 100,000 consumers is ~100 list
//! calls and no record reads.
//!
//! Rules the plan follows:
//! - a consumer in the file and not in the Worker is created (`source: file`);
//! - a consumer in both whose file-managed state differs is updated; it keeps its source,
//!   so a consumer created through the API stays protected from `--prune`;
//! - a consumer in the Worker and not in the file is deleted only with `prune` and only when
//!   `keys.yaml` created it (`source: file`); otherwise it is counted, never touched.
//!
//! Rendering is pure too and lives here, next to the types it shows, so its exact output is
//! covered by snapshot tests: [`render_text`] (one verb-first line per change and a summary),
//! [`render_markdown`] (a pull-request comment) and [`render_json`] (a documented, versioned
//! shape). None of them can print a key, a hash or a token: a plan never holds one.

mod engine;
mod json;
mod live;
mod markdown;
mod render;
#[cfg(test)]
mod tests;
mod text;

pub use engine::{diff, records_needed, summarize, Change, Field, FieldChange, Plan, Summary};
pub use json::{render_json, JSON_FORMAT_VERSION};
pub use live::{spec_digest, LastSync, LiveBucket, LiveConsumer, LiveRecord};
pub use markdown::{render_markdown, MARKDOWN_MAX_ROWS};
pub use text::render_text;
