//! Files and directories: ripgrep's walker (`ignore`), in parallel. `.gitignore`,
//! `.ignore` and git's excludes are respected in any tree (a git repository or not); hidden
//! files are scanned (`.env` is where keys hide), `.git` is not (`--git` reads history);
//! symlinks are not followed, so nothing outside the tree is read. A file whose first 8 KiB
//! hold a NUL byte is binary and skipped, as is one over `--max-filesize`.

use super::{scan_bytes, Finding, Stats};
use anyhow::{Context, Result};
use ignore::{WalkBuilder, WalkState};
use keyward_core::scan::{looks_binary, utf16_text, Finder};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// Files at least this big are memory-mapped; smaller ones are read into a reused buffer
/// (a map costs more than a read for small files).
const MMAP_FROM: u64 = 1 << 20;
/// How much of a file decides whether it is binary.
const BINARY_HEAD: usize = 8 << 10;

pub fn scan(
    finder: &Finder,
    paths: &[String],
    max_size: u64,
    threads: Option<usize>,
    ignore_files: bool,
) -> Result<(Vec<Finding>, Stats)> {
    let mut findings = Vec::new();
    let mut stats = Stats::default();
    let mut walked: Vec<&str> = Vec::new();
    for p in paths {
        if p == "-" {
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .context("reading stdin")?;
            stats.files += 1;
            stats.bytes += buf.len() as u64;
            scan_bytes(finder, &buf, "<stdin>", None, 0, &mut findings);
        } else {
            // A missing path is an error (exit 2), not "no key".
            std::fs::symlink_metadata(p).with_context(|| format!("{p}: cannot read it"))?;
            walked.push(p);
        }
    }
    let Some((first, rest)) = walked.split_first() else {
        return Ok((findings, stats));
    };
    let mut builder = WalkBuilder::new(first);
    for p in rest {
        builder.add(p);
    }
    builder
        // Ignore files only (`standard_filters` would also skip hidden files).
        .standard_filters(ignore_files)
        .hidden(false)
        .follow_links(false)
        .require_git(false)
        .threads(threads.unwrap_or(0))
        .filter_entry(|e| e.file_name() != ".git");
    let shared = Mutex::new(Results {
        findings,
        stats,
        errors: Vec::new(),
    });
    builder.build_parallel().run(|| {
        // Each thread keeps its own results and hands them over when it ends (`Drop`).
        let mut local = Local {
            shared: &shared,
            results: Results::default(),
        };
        let mut buf = Vec::new();
        Box::new(move |entry| {
            let r = &mut local.results;
            match entry {
                Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => {
                    let path = e.path();
                    if let Err(err) = file(finder, path, max_size, &mut buf, r) {
                        r.errors.push(format!("{}: {err}", path.display()));
                        r.stats.unreadable += 1;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    r.errors.push(err.to_string());
                    r.stats.unreadable += 1;
                }
            }
            WalkState::Continue
        })
    });
    let Results {
        findings,
        stats,
        errors,
    } = shared.into_inner().expect("scan results lock");
    for e in &errors {
        eprintln!("keyward: warning: {}", crate::terminal::field(e));
    }
    Ok((findings, stats))
}

#[derive(Default)]
struct Results {
    findings: Vec<Finding>,
    stats: Stats,
    errors: Vec<String>,
}

/// One walker thread's results, added to the shared ones when the thread is done.
struct Local<'a> {
    shared: &'a Mutex<Results>,
    results: Results,
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        // A poisoned lock means another thread panicked; its panic is the news.
        if let Ok(mut s) = self.shared.lock() {
            s.findings.append(&mut self.results.findings);
            add(&mut s.stats, &self.results.stats);
            s.errors.append(&mut self.results.errors);
        }
    }
}

fn add(total: &mut Stats, s: &Stats) {
    total.files += s.files;
    total.bytes += s.bytes;
    total.skipped_binary += s.skipped_binary;
    total.skipped_large += s.skipped_large;
    total.unreadable += s.unreadable;
}

/// Scans one file.
fn file(
    finder: &Finder,
    path: &Path,
    max_size: u64,
    buf: &mut Vec<u8>,
    results: &mut Results,
) -> std::io::Result<()> {
    let (out, stats) = (&mut results.findings, &mut results.stats);
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    if size > max_size {
        stats.skipped_large += 1;
        return Ok(());
    }
    let shown = path.strip_prefix("./").unwrap_or(path).to_string_lossy();
    if size >= MMAP_FROM {
        // SAFETY: the map is read-only and dropped before this function returns. A file
        // another process changes meanwhile gives wrong bytes; one it truncates kills this
        // process with SIGBUS (ripgrep maps files the same way and takes the same risk).
        let map = unsafe { memmap2::Mmap::map(&f)? };
        content(finder, &map, &shown, out, stats);
        return Ok(());
    }
    buf.clear();
    f.read_to_end(buf)?;
    content(finder, buf, &shown, out, stats);
    Ok(())
}

/// Scans a file's bytes: UTF-16 (with its byte-order mark) as text, other binary files not.
fn content(finder: &Finder, bytes: &[u8], shown: &str, out: &mut Vec<Finding>, stats: &mut Stats) {
    if let Some(text) = utf16_text(bytes) {
        stats.files += 1;
        stats.bytes += bytes.len() as u64;
        scan_bytes(finder, text.as_bytes(), shown, None, 0, out);
    } else if looks_binary(&bytes[..bytes.len().min(BINARY_HEAD)]) {
        stats.skipped_binary += 1;
    } else {
        stats.files += 1;
        stats.bytes += bytes.len() as u64;
        scan_bytes(finder, bytes, shown, None, 0, out);
    }
}
