//! `keyward validate`: checks a `keys.yaml` offline and reports every problem at once.
//!
//! All the rules live in `keyward_core::keys_file::check`; this module reads the file,
//! prints each diagnostic as `file:line:col: message` on stderr (sorted by position) and
//! turns them into exit code 1. `plan` and `sync` read the file through [`read`], so no
//! command sends a file that `validate` rejects.

use anyhow::{bail, Context, Result};
use keyward_core::keys_file::plan::DesiredFile;
use keyward_core::keys_file::{self, Diagnostic};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Check keys.yaml offline: syntax, fields, names, e-mails, metadata, tags (no network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  keyward validate keys.yaml\n  keys.yaml: ok, 1 bucket, 3 consumers, 4 managers"
)]
pub struct Args {
    /// The file to check
    #[arg(default_value = "keys.yaml")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Only the counts are printed: `summarize` checks exactly as `read` does, without
    // keeping the model of every consumer.
    let text = read_text(&args.file)?;
    let summary = report(&args.file, keys_file::summarize(&text))?;
    writeln!(
        std::io::stdout(),
        "{}: ok, {}, {}, {}",
        args.file.display(),
        plural(summary.buckets, "bucket"),
        plural(summary.consumers, "consumer"),
        plural(summary.managers, "manager"),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks a `keys.yaml`: its consumers packed bucket by bucket (the model is
/// never built whole, and the text is dropped once checked), or an error after printing
/// every diagnostic as `file:line:col: message` on stderr.
pub fn read(path: &Path) -> Result<DesiredFile> {
    let text = read_text(path)?;
    report(path, DesiredFile::check(&text))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The checked value, or an error after printing every diagnostic on stderr.
fn report<T>(path: &Path, checked: Result<T, Vec<Diagnostic>>) -> Result<T> {
    match checked {
        Ok(value) => Ok(value),
        Err(problems) => {
            let mut err = std::io::stderr().lock();
            for p in &problems {
                // keys.yaml may come from an untrusted pull request: its text reaches CI logs
                // with control characters escaped.
                let line = format!("{}:{p}", path.display());
                writeln!(err, "{}", crate::terminal::field(&line))?;
            }
            bail!(
                "{}: {} found",
                path.display(),
                plural(problems.len(), "problem")
            )
        }
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
