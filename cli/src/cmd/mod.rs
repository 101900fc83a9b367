//! The subcommands, one module each.

mod keys;
mod load;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Manage API keys verified at the edge by keyward's Cloudflare Worker.
///
/// Exit codes: 0 success, 1 any error (including usage errors).
#[derive(Debug, Parser)]
#[command(name = "keyward", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load keys.yaml's buckets and consumers into the Worker, creating what is missing (network)
    Load(load::Args),
    /// Create, list and delete a consumer's API keys (network)
    #[command(subcommand)]
    Keys(keys::Command),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Load(args) => load::run(args),
        Command::Keys(cmd) => keys::run(cmd),
    }
}
