//! `keyward`: the command line of keyward.
//!
//! One module per subcommand under `cmd/`, each an `Args` struct and a `run`. `main` maps
//! errors to `keyward: error: …` on stderr and exit code 1 (clap usage errors too, so CI
//! never mistakes them for "changes"). Error messages carry the Worker's words (problem
//! details, redirect targets), so they are printed through [`terminal::field`].

mod client;
mod cmd;
mod terminal;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `scan` keeps 1 for "a key was found": its usage errors are 2.
            let error = if std::env::args().nth(1).as_deref() == Some("scan") {
                2
            } else {
                1
            };
            let code = if e.use_stderr() { error } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let quiet_on_closed_output = cli.closed_output_is_success();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) && quiet_on_closed_output {
                return ExitCode::SUCCESS;
            }
            eprintln!("keyward: error: {}", terminal::field(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
