//! The plan engine of `keyward plan` and `keyward sync`: what must change so that a bucket
//! of the live Worker matches `keys.yaml`, and the three ways to show it.
//!
//! [`BucketPlan`] is the plan of one bucket, from the consumers the file declares for it
//! ([`DesiredBucket`], read by [`DesiredFile::check`]) and what the Worker holds
//! ([`LiveIndex`]), both packed: an ordered sequence of [`Change`]s — creates, then updates,
//! then deletes, each sorted by name — with the before and after of every changed field.
//! Its counts are known at once; its changes are made one at a time as they are printed or
//! sent, so planning 100,000 consumers holds the packed sides and one change, never a model
//! of the file or a list of changes. [`diff`] is the same plan collected into a [`Plan`],
//! from the unpacked types. `sync` applies the very changes `plan` shows; `sync --dry-run`
//! stops between the two, so the preview cannot drift from what is applied.
//!
//! The live side is read cheaply: the `$index` endpoint lists names, digests and sources
//! from the bucket's table, and only consumers whose digest differs from the file's
//! ([`spec_digest`]) need their full record ([`LiveRecord`]) to say *what* differs, plus,
//! with `prune`, those about to be deleted; [`LiveIndex::records_needed`] (and
//! [`records_needed`]) names them, with the very test of "differs" that the plan applies. A
//! no-op plan of 100,000 consumers is ~100 `$index` pages and no record reads.
//!
//! Rules the plan follows:
//! - a consumer in the file and not in the Worker is created (`source: file`);
//! - a consumer in both whose file-managed state differs is updated; it keeps its source,
//!   so a consumer created through the API stays protected from `--prune`;
//! - a consumer in the Worker and not in the file is deleted only with `prune` and only when
//!   `keys.yaml` created it (`source: file`); otherwise it is counted, never touched.
//!
//! Rendering is pure too and lives here, next to the types it shows, so its exact output is
//! covered by snapshot tests. Each renderer writes to any [`std::fmt::Write`] as it reads the
//! changes ([`write_text`], [`write_markdown`], [`write_json`]; the CLI hands them stdout),
//! and has a `render_*` form returning the whole text: text (one verb-first line per change
//! and a summary), markdown (a pull-request comment) and JSON (a documented, versioned
//! shape). None of them can print a key, a hash or a token: a plan never holds one.

mod engine;
mod json;
mod live;
mod markdown;
mod packed;
mod render;
#[cfg(test)]
mod tests;
mod text;

pub use engine::{
    diff, records_needed, retrievable_conflict, summarize, BucketPlan, Change, Field, FieldChange,
    Plan, PlanView, Summary,
};
pub use json::{render_json, write_json, JSON_FORMAT_VERSION};
pub use live::{spec_digest, LastSync, LiveBucket, LiveConsumer, LiveRecord};
pub use markdown::{render_markdown, write_markdown, MARKDOWN_MAX_ROWS};
pub(crate) use packed::pack_spec;
pub use packed::{DesiredBucket, DesiredFile, LiveIndex};
pub use text::{render_text, write_text};
