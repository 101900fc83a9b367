//! The subcommands, one module each, and the little they share: colour on terminals, and
//! the writers that pass server text through [`crate::terminal`] on its way out.

mod check;
mod completions;
mod consumers;
mod export;
mod import;
mod keys;
mod plan;
mod portal_token;
mod scan;
mod schema;
mod sync;
mod validate;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};
use std::fmt;
use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

/// Manage API keys verified at the edge by keyward's Cloudflare Worker.
///
/// Exit codes: 0 success (and no changes for `plan --exit-code`), 1 any error (including
/// usage errors and an invalid keys.yaml), 2 changes present (`plan --exit-code` only).
/// `scan` has its own: 0 no key, 1 a key found, 2 any error.
#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    propagate_version = true,
    after_help = "Examples:\n  keyward validate keys.yaml\n  KEYWARD_TOKEN=... keyward plan keys.yaml\n  KEYWARD_TOKEN=... keyward sync keys.yaml\n  KEY=$(keyward keys create --consumer acme-corp)\n\n\
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
    /// Show what sync would change: keys.yaml against the live Worker (network)
    ///
    /// Checks the file first (as `validate` does; nothing is sent when it has a problem),
    /// reads the live state of each of its buckets, and prints one line per change: `+`
    /// create, `~` update (each changed field before → after), `-` delete (only with
    /// --prune, only consumers created from the file), then
    /// `Plan: N to create, N to update, N to delete, N unmanaged left alone.`
    Plan(plan::Args),
    /// Apply keys.yaml to the live Worker: the plan, then its changes (network)
    ///
    /// Computes the plan exactly as `plan` does and applies it through the bulk endpoint,
    /// up to 1000 consumers per request. Idempotent (a second run writes nothing) and resumable
    /// (after an interruption, run it again). Deletes only with --prune, and never a
    /// consumer created through the API or the portal.
    Sync(sync::Args),
    /// Write the live state as a keys.yaml, to adopt existing consumers (network)
    Export(export::Args),
    /// Import consumers and their keys from another system into keys.yaml and the Worker (network)
    #[command(
        subcommand,
        after_help = "Example:\n  ZUPLO_API_KEY=... KEYWARD_TOKEN=... keyward import zuplo --account acme --bucket acme-production --to-bucket default"
    )]
    Import(import::Command),
    /// List and show consumers (network)
    #[command(
        subcommand,
        after_help = "Examples:\n  keyward consumers list\n  keyward consumers get acme-corp --json"
    )]
    Consumers(consumers::Command),
    /// Create, list, roll and delete a consumer's API keys (network)
    #[command(
        subcommand,
        after_help = "Examples:\n  KEY=$(keyward keys create --consumer acme-corp --description ci)\n  keyward keys list --consumer acme-corp\n  NEW=$(keyward keys roll --consumer acme-corp --expires-on 2027-01-31T00:00:00Z)\n  keyward keys delete --consumer acme-corp key_..."
    )]
    Keys(keys::Command),
    /// Check that KV holds exactly the verification records the buckets' tables say (network)
    Check(check::Args),
    /// Find keyward keys in files, git history, a diff or the index (no network unless --check)
    ///
    /// Reports each key as `path:line:col` and its masked form (never the key); a candidate
    /// counts only when its checksum holds. Exit codes: 0 none found, 1 found, 2 an error.
    Scan(scan::Args),
    /// Mint an HS256 token for the self-serve API (/v1/me) from PORTAL_JWT_SECRET (no network)
    PortalToken(portal_token::Args),
    /// Print the JSON Schema of keys.yaml (no network)
    Schema(schema::Args),
    /// Print a shell completion script (no network)
    Completions(completions::Args),
}

impl Cli {
    /// Whether a reader that goes away early (`| head`) leaves the command a success: only for
    /// commands that just print. A command whose exit code carries an answer (`plan
    /// --exit-code`, `validate`, `check`) or that changes something (`sync`, `keys`) must not
    /// report success when its output could not be written.
    pub fn closed_output_is_success(&self) -> bool {
        match &self.command {
            Command::Plan(args) => !args.exit_code,
            Command::Export(_)
            | Command::Consumers(_)
            | Command::Schema(_)
            | Command::PortalToken(_)
            | Command::Completions(_) => true,
            Command::Validate(_)
            | Command::Sync(_)
            | Command::Import(_)
            | Command::Keys(_)
            | Command::Check(_)
            | Command::Scan(_) => false,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(cmd) => import::run(cmd),
        Command::Consumers(cmd) => consumers::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Check(args) => check::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Schema(args) => schema::run(args),
        Command::PortalToken(args) => portal_token::run(args),
        Command::Completions(args) => completions::run(args),
    }
}

/// Whether to colour what goes to stdout: only on a terminal, never with `NO_COLOR` set
/// (to anything) or `TERM=dumb`.
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Colours a plan's text by each line's verb: `+` green, `~` yellow, `-` red.
pub fn paint_plan(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let colour = match line.as_bytes() {
            [b'+', b' ', ..] => Some("32"),
            [b'~', b' ', ..] => Some("33"),
            [b'-', b' ', ..] => Some("31"),
            _ => None,
        };
        match colour {
            Some(c) => out.push_str(&format!("\x1b[{c}m{line}\x1b[0m\n")),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// How [`Out`] makes the text it is given safe to print (see [`crate::terminal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Lines laid out by a renderer, holding names and values from the Worker.
    Text,
    /// JSON text.
    Json,
}

/// Text written as it is made (core's renderers write to a `fmt::Write`) to an `io::Write`
/// through a buffer, escaped as `escape` says (the renderers copy names and values from the
/// Worker), then each complete line coloured by [`paint_plan`] when `paint` is set (after
/// escaping: the colours are the only escape sequences that get through). An I/O error (a
/// closed pipe) is kept and returned by [`Out::finish`].
pub struct Out<W: Write> {
    inner: BufWriter<W>,
    paint: bool,
    escape: Escape,
    line: String,
    error: Option<std::io::Error>,
}

impl<W: Write> Out<W> {
    pub fn new(inner: W, paint: bool, escape: Escape) -> Out<W> {
        Out {
            inner: BufWriter::with_capacity(1 << 16, inner),
            paint,
            escape,
            line: String::new(),
            error: None,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> fmt::Result {
        if self.error.is_some() {
            return Err(fmt::Error);
        }
        self.inner.write_all(bytes).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }

    /// Flushes what is left; the result of the writing (`written`) or its I/O error.
    pub fn finish(mut self, written: fmt::Result) -> Result<()> {
        let rest = std::mem::take(&mut self.line);
        let flushed = self.put(rest.as_bytes()).and_then(|()| {
            self.inner.flush().map_err(|e| {
                self.error = Some(e);
                fmt::Error
            })
        });
        if let Some(e) = self.error {
            return Err(e.into());
        }
        written
            .and(flushed)
            .map_err(|_| anyhow!("the output could not be written"))
    }
}

impl<W: Write> fmt::Write for Out<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Character by character, so any cut of the text into writes escapes alike.
        let s = match self.escape {
            Escape::Text => crate::terminal::text(s),
            Escape::Json => crate::terminal::json(s),
        };
        if !self.paint {
            return self.put(s.as_bytes());
        }
        let mut rest = &*s;
        while let Some(end) = rest.find('\n') {
            self.line.push_str(&rest[..=end]);
            let line = std::mem::take(&mut self.line);
            self.put(paint_plan(&line).as_bytes())?;
            rest = &rest[end + 1..];
        }
        self.line.push_str(rest);
        Ok(())
    }
}

/// `value` as pretty JSON and a newline, DEL, C1 and bidi controls escaped
/// ([`crate::terminal::json`]): the same document, safe on a terminal.
pub fn write_json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    out.write_all(crate::terminal::json(&text).as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `1 noun` or `N nouns`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// Lines are coloured whole however the text is cut into writes; without colour the
    /// text goes through as it is.
    #[test]
    fn out_paints_whole_lines_across_writes() {
        let text = "+ consumer b/a\n    tags: {}\n~ consumer b/c\n- consumer b/d\n\nPlan: 1\n";
        for paint in [false, true] {
            let mut bytes = Vec::new();
            let mut out = Out::new(&mut bytes, paint, Escape::Text);
            for piece in text.as_bytes().chunks(5) {
                out.write_str(std::str::from_utf8(piece).unwrap()).unwrap();
            }
            out.finish(Ok(())).unwrap();
            let expected = if paint {
                paint_plan(text)
            } else {
                text.to_owned()
            };
            assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        }
    }

    /// Names and values from the Worker reach the output escaped, whatever the format;
    /// only the colours added afterwards are escape sequences.
    #[test]
    fn out_escapes_before_it_paints() {
        let text = "- consumer b/x\u{1b}[2J\u{202e}\n    description: \"\u{9b}\"\r\n";
        let mut bytes = Vec::new();
        let mut out = Out::new(&mut bytes, true, Escape::Text);
        out.write_str(text).unwrap();
        out.finish(Ok(())).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\x1b[31m- consumer b/x\\x1b[2J\\u{202e}\x1b[0m\n    description: \"\\u{9b}\"\\r\n"
        );

        let json = "{\n  \"name\": \"x\\u001b\u{9b}\u{202e}\"\n}\n";
        let mut bytes = Vec::new();
        let mut out = Out::new(&mut bytes, false, Escape::Json);
        out.write_str(json).unwrap();
        out.finish(Ok(())).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\n  \"name\": \"x\\u001b\\u009b\\u202e\"\n}\n"
        );
    }

    /// The parsed command line shows no token in `Debug`.
    #[test]
    fn the_command_line_debug_hides_the_token() {
        let cli = Cli::try_parse_from(["keyward", "plan", "--token", "s3cret"]).unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("\"***\""),
            "{shown}"
        );
    }

    /// An output that fails (a closed pipe) is an error, with its cause.
    #[test]
    fn out_returns_the_io_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut out = Out::new(Closed, false, Escape::Text);
        let big = "x".repeat(1 << 17);
        let written = out.write_str(&big);
        assert!(written.is_err());
        let err = out.finish(written).unwrap_err();
        let io = err.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe);
    }
}
