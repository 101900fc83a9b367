//! `keyward scan`: finds keyward keys in files, stdin, git history, a diff or the index, and
//! reports each with its place and its masked form, never the key.
//!
//! Candidates are confirmed by their checksum (`keyward_core::scan`), so a report is never a
//! look-alike. `--check` asks the Worker who owns each key; `--revoke` reports the active ones
//! as leaked with `revoke: true`. Exit codes: 0 no key, 1 a key was found, 2 an error
//! (usage errors included).
//!
//! Modules: [`files`] (the parallel walk, ripgrep's `ignore` crate), [`git`] (history, diff,
//! index through the `git` command), [`owners`] (the Worker's `$lookup` and `leaks`), and
//! [`report`] (text, JSON, SARIF 2.1.0).

mod files;
mod git;
mod owners;
mod report;

use crate::client::Remote;
use anyhow::{bail, Result};
use keyward_core::scan::rules::{self, Tool};
use keyward_core::scan::{Finder, Lines};
use std::process::ExitCode;
use std::time::Instant;

/// Find keyward keys in files, git history, a diff or the index (no network unless --check)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward scan .\n  keyward scan --git\n  keyward scan --diff origin/main...HEAD --format sarif > keys.sarif\n  \
                        git diff | keyward scan -\n  keyward scan --staged          # in .git/hooks/pre-commit\n  \
                        keyward scan --git --check --revoke\n  keyward scan --print-rules gitleaks --prefix acme\n\n\
                        A candidate counts only when its checksum holds: no look-alikes. Columns count Unicode\n\
                        code points from 1. Exit codes: 0 no key found; 1 a key was found; 2 an error."
)]
pub struct Args {
    /// Files and directories to scan (.gitignore respected, binary files and symlinks skipped);
    /// `-` reads stdin [default: .]
    #[arg(value_name = "PATH", conflicts_with_all = ["git", "diff", "staged", "print_rules"])]
    paths: Vec<String>,
    /// Scan every blob reachable in RANGE (e.g. `main..feature`) [default: all refs], each
    /// reported with the commit that added it
    #[arg(long, value_name = "RANGE", num_args = 0..=1, default_missing_value = "--all", conflicts_with_all = ["diff", "staged"])]
    git: Option<String>,
    /// Scan only the lines a diff adds (`git diff RANGE`), e.g. a pull request's
    /// `origin/main...HEAD`
    #[arg(long, value_name = "RANGE", conflicts_with = "staged")]
    diff: Option<String>,
    /// Scan only the lines staged for the next commit (a pre-commit hook)
    #[arg(long)]
    staged: bool,
    /// Keys of this prefix only [default: any prefix; `kw` for --print-rules]
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Also scan files that .gitignore, .ignore or git's excludes leave out (`.env` often
    /// is)
    #[arg(long)]
    no_ignore: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: report::Format,
    /// Skip files larger than this (bytes, or with K, M or G)
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = parse_size)]
    max_filesize: u64,
    /// Threads for the walk [default: the machine's cores]
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// Ask the Worker who owns each key found and whether it is active (network)
    #[arg(long)]
    check: bool,
    /// Report each active key found as leaked with `revoke: true`: it stops working at once
    /// (network; implies --check)
    #[arg(long)]
    revoke: bool,
    /// Print a rule for another scanner instead of scanning: gitleaks, github, trufflehog or
    /// regex
    #[arg(long, value_name = "TOOL", value_parser = ["gitleaks", "github", "trufflehog", "regex"])]
    print_rules: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// A key found: where, and the key itself (kept in memory for `--check`, never printed).
pub struct Finding {
    /// File path, or `<stdin>`.
    pub path: String,
    /// Line, from 1.
    pub line: u64,
    /// Column of the key's first character, in code points from 1.
    pub column: u64,
    /// The commit that added it (`--git`).
    pub commit: Option<String>,
    /// The key. Private to this module tree: output shows [`Finding::masked`].
    key: String,
    /// Who owns it, from `--check`.
    pub owner: Option<owners::Owner>,
    /// What `--revoke` did.
    pub action: Option<String>,
}

impl Finding {
    /// The masked key (prefix and last 6 characters).
    pub fn masked(&self) -> String {
        keyward_core::key::format::mask(&self.key)
    }

    /// The key's prefix.
    pub fn prefix(&self) -> &str {
        keyward_core::key::format::parse(&self.key).map_or("", |k| k.prefix())
    }

    /// Length of the key in characters (keys are ASCII).
    pub fn len(&self) -> u64 {
        self.key.len() as u64
    }

    /// A fingerprint for deduplication (SARIF): SHA-256 of the key, which nobody can turn
    /// back into it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(self.key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What a scan covered, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub skipped_binary: u64,
    pub skipped_large: u64,
    /// Files or directories that could not be read (a warning each).
    pub unreadable: u64,
}

/// The findings in `haystack` (one file, blob or line), appended to `out`.
fn scan_bytes(
    finder: &Finder,
    haystack: &[u8],
    path: &str,
    commit: Option<&str>,
    line_offset: u64,
    out: &mut Vec<Finding>,
) {
    let found = finder.find(haystack);
    if found.is_empty() {
        return;
    }
    let mut lines = Lines::new(haystack);
    for f in found {
        let pos = lines.position(f.start);
        out.push(Finding {
            path: path.to_owned(),
            line: pos.line + line_offset,
            column: pos.column,
            commit: commit.map(str::to_owned),
            key: String::from_utf8_lossy(&haystack[f.start..f.end]).into_owned(),
            owner: None,
            action: None,
        });
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Every error, usage included, is exit 2 here: 1 means "a key was found".
    match scan(args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!(
                "keyward: error: {}",
                crate::terminal::field(&format!("{e:#}"))
            );
            Ok(ExitCode::from(2))
        }
    }
}

fn scan(args: Args) -> Result<ExitCode> {
    if let Some(tool) = &args.print_rules {
        let prefix = args
            .prefix
            .as_deref()
            .unwrap_or(keyward_core::key::format::DEFAULT_PREFIX);
        if !keyward_core::key::format::is_valid_prefix(prefix) {
            bail!("{}", keyward_core::scan::BadPrefix(prefix.to_owned()));
        }
        let tool = Tool::from_name(tool).expect("clap checked the name");
        print!("{}", rules::render(tool, prefix));
        return Ok(ExitCode::SUCCESS);
    }
    let finder = Finder::new(args.prefix.as_deref())?;
    let started = Instant::now();
    let (mut findings, stats) = if let Some(range) = &args.git {
        git::history(&finder, range, args.max_filesize)?
    } else if let Some(range) = &args.diff {
        git::diff(&finder, Some(range))?
    } else if args.staged {
        git::diff(&finder, None)?
    } else {
        let paths = if args.paths.is_empty() {
            vec![".".to_owned()]
        } else {
            args.paths.clone()
        };
        files::scan(
            &finder,
            &paths,
            args.max_filesize,
            args.threads,
            !args.no_ignore,
        )?
    };
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.commit).cmp(&(&b.path, b.line, b.column, &b.commit))
    });
    // The findings are printed even when the Worker could not be asked (or answered only
    // part): what was found and done is news either way; the error follows, exit 2.
    let checked = if args.check || args.revoke {
        owners::check(&args.remote, &mut findings, args.revoke)
    } else {
        Ok(())
    };
    report::write(args.format, &findings, &stats, started.elapsed())?;
    checked?;
    if findings.is_empty() && stats.unreadable > 0 {
        // "No key" would be a claim about files nobody read.
        bail!(
            "{} could not be read (see the warnings above); no key found in the rest",
            super::plural(stats.unreadable as usize, "file")
        );
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `100`, `64K`, `100M`, `2G` (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size; use a number of bytes, or with K, M or G"))?;
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("'{text}': unknown unit '{unit}'; use K, M or G")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("12"), Ok(12));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5T").is_err());
    }
}
