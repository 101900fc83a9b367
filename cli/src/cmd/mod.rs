//! The subcommands, one module each.

mod completions;
mod keys;
mod load;
mod schema;
mod validate;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Manage API keys verified at the edge by keyward's Cloudflare Worker.
///
/// Exit codes: 0 success, 1 any error (including usage errors).
#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    propagate_version = true,
    after_help = "Examples:\n  keyward validate keys.yaml\n  KEYWARD_TOKEN=... keyward load keys.yaml\n  KEY=$(keyward keys create --consumer acme-corp)\n\n\
                  Output is plain when it is not a terminal or when NO_COLOR is set."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check keys.yaml offline and report every problem with file:line:col (no network)
    ///
    /// Checks syntax, unknown fields, types, duplicate keys, the version, names, e-mails,
    /// metadata and tags, with the same rules as the developer API. Prints every problem as
    /// `file:line:col: message` on stderr, sorted by position, and exits 1; prints a one-line
    /// summary on stdout and exits 0 when the file is clean.
    Validate(validate::Args),
    /// Load keys.yaml's buckets and consumers into the Worker, creating what is missing (network)
    Load(load::Args),
    /// Create, list and delete a consumer's API keys (network)
    #[command(
        subcommand,
        after_help = "Examples:\n  KEY=$(keyward keys create --consumer acme-corp --description ci)\n  keyward keys list --consumer acme-corp\n  keyward keys delete --consumer acme-corp key_..."
    )]
    Keys(keys::Command),
    /// Print the JSON Schema of keys.yaml (no network)
    Schema(schema::Args),
    /// Print a shell completion script (no network)
    Completions(completions::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Load(args) => load::run(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Schema(args) => schema::run(args),
        Command::Completions(args) => completions::run(args),
    }
}
