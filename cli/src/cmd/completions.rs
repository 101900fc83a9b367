//! `keyward completions`: prints a shell completion script (clap_complete).

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::process::ExitCode;

/// Print a completion script for a shell (no network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward completions bash > ~/.local/share/bash-completion/completions/keyward\n  keyward completions zsh > \"${fpath[1]}/_keyward\"\n  keyward completions fish > ~/.config/fish/completions/keyward.fish"
)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "keyward", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
