//! History, diffs and the index, through the `git` command (in the current directory's
//! repository).
//!
//! - `--git RANGE`: `git rev-list --reverse RANGE` → `git diff-tree --stdin` lists the blobs
//!   each commit adds (`keyward_core::scan::history`); `git cat-file --batch` streams them.
//!   A blob is scanned once, reported with the oldest commit in the range that adds it.
//! - `--diff RANGE` / `--staged`: `git diff [--cached] --unified=0`; only added lines are
//!   scanned (`keyward_core::scan::diff`), with their line numbers in the new file.

use super::{scan_bytes, Finding, Stats};
use anyhow::{bail, Context, Result};
use keyward_core::scan::{diff as unified, history, looks_binary, utf16_text, Finder};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

/// The words of a range, refusing options: a range comes from a pipeline's settings (a
/// branch name), and `git diff --output=FILE` would write where it says.
fn range_words(range: &str) -> Result<Vec<&str>> {
    let words: Vec<&str> = range.split_whitespace().collect();
    if words.is_empty() {
        bail!("an empty range; give one like main..HEAD");
    }
    for w in &words {
        if w.starts_with('-') && *w != "--all" {
            bail!(
                "'{w}' in the range is an option, not a revision; give revisions like main..HEAD"
            );
        }
    }
    Ok(words)
}

/// `git ARGS`'s standard output; a failure is an error with git's own message.
fn git(args: &[&str], input: Option<Vec<u8>>) -> Result<Vec<u8>> {
    let mut child = Command::new("git")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running git (is it installed and on PATH?)")?;
    // Written from another thread: git may fill its output pipe before reading all input.
    let writer = input.map(|bytes| {
        let mut stdin = child.stdin.take().expect("piped stdin");
        std::thread::spawn(move || stdin.write_all(&bytes))
    });
    let out = child.wait_with_output().context("running git")?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Every blob reachable in `range` (`--all` for every ref).
pub fn history(finder: &Finder, range: &str, max_size: u64) -> Result<(Vec<Finding>, Stats)> {
    // Parents before children, whatever the commit dates: a blob's first commit is then
    // the one that adds it.
    let mut rev_list = vec!["rev-list", "--reverse", "--topo-order"];
    rev_list.extend(range_words(range)?);
    let commits = git(&rev_list, None)?;
    let listing = git(
        &[
            "diff-tree",
            "--stdin",
            "-r",
            "-z",
            "--no-renames",
            "--root",
            "-m",
        ],
        Some(commits),
    )?;
    let blobs = history::introduced(&listing);
    let mut findings = Vec::new();
    let mut stats = Stats::default();
    if blobs.is_empty() {
        return Ok((findings, stats));
    }

    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running git cat-file")?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let ids: Vec<u8> = blobs
        .iter()
        .flat_map(|b| format!("{}\n", b.blob).into_bytes())
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(&ids));
    let mut out = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped stdout"));
    let mut header = String::new();
    let mut content = Vec::new();
    for blob in &blobs {
        header.clear();
        out.read_line(&mut header).context("reading git cat-file")?;
        // `<oid> blob <size>`, or `<oid> missing`.
        let size: Option<u64> = match header.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "blob", size] => size.parse().ok(),
            _ => None,
        };
        let Some(size) = size else {
            continue;
        };
        if size > max_size {
            // Skipped unread: a blob of gigabytes must not be held in memory.
            std::io::copy(&mut (&mut out).take(size + 1), &mut std::io::sink())
                .context("reading git cat-file")?;
            stats.skipped_large += 1;
            continue;
        }
        content.clear();
        (&mut out)
            .take(size + 1) // and the newline after it
            .read_to_end(&mut content)
            .context("reading git cat-file")?;
        content.truncate(size as usize);
        let utf16 = utf16_text(&content);
        let text = match &utf16 {
            Some(t) => t.as_bytes(),
            None if looks_binary(&content[..content.len().min(8 << 10)]) => {
                stats.skipped_binary += 1;
                continue;
            }
            None => &content[..],
        };
        stats.files += 1;
        stats.bytes += size;
        scan_bytes(
            finder,
            text,
            &blob.path,
            Some(&blob.commit),
            0,
            &mut findings,
        );
    }
    let _ = writer.join();
    let status = child.wait().context("waiting for git cat-file")?;
    if !status.success() {
        bail!("git cat-file --batch failed ({status})");
    }
    Ok((findings, stats))
}

/// The lines `git diff RANGE` adds, or, with `None`, those staged (`git diff --cached`).
pub fn diff(finder: &Finder, range: Option<&str>) -> Result<(Vec<Finding>, Stats)> {
    // --text: a path marked `-diff` or `binary` in .gitattributes (which a pull request can
    // add itself) would otherwise show as "Binary files differ" and hide its lines.
    let mut args = vec![
        "diff",
        "--text",
        "--unified=0",
        "--no-color",
        "--no-ext-diff",
        "--no-prefix",
        "--no-textconv",
    ];
    match range {
        Some(r) => args.extend(range_words(r)?),
        None => args.push("--cached"),
    }
    let text = git(&args, None)?;
    let mut findings = Vec::new();
    let mut stats = Stats::default();
    let mut files = std::collections::HashSet::new();
    for added in unified::added_lines(&text) {
        let line = &text[added.text.clone()];
        stats.bytes += line.len() as u64 + 1;
        files.insert(added.path.clone());
        // One line: positions come out as line 1; the diff says which line it is.
        scan_bytes(
            finder,
            line,
            &added.path,
            None,
            added.line - 1,
            &mut findings,
        );
    }
    stats.files = files.len() as u64;
    Ok((findings, stats))
}
