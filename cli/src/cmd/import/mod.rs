//! `keyward import`: consumers and keys brought in from another system, one subcommand per
//! source. Each writes (or merges into) `keys.yaml`, applies it with `sync`'s own path, and
//! imports the keys through the developer API; what is decided lives in
//! `keyward_core::keys_file::import`.

mod zuplo;

use anyhow::Result;
use std::process::ExitCode;

/// The sources.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import a bucket from Zuplo's Developer API: consumers into keys.yaml, keys into the
    /// Worker (network)
    ///
    /// Reads every consumer of the Zuplo bucket with its managers and keys (the bucket must
    /// be retrievable to read keys), merges the consumers into keys.yaml, applies the file to
    /// the target bucket exactly as `keyward sync` does, then imports each consumer's keys
    /// through `keys/$bulk`, keeping their expiry. Keys are never printed, only masked.
    /// Refuses, before writing anything, keys the Worker cannot verify (set
    /// IMPORTED_KEY_PATTERN). Running it again changes nothing.
    Zuplo(zuplo::Args),
}

/// Runs the subcommand.
pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Zuplo(args) => zuplo::run(args),
    }
}
