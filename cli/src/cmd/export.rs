//! `keyward export`: the live state as a `keys.yaml`, to adopt existing consumers.
//!
//! It reads every bucket (or one, `--bucket`) and its consumers with their managers through
//! the paged listing, and writes a file that `keyward validate` accepts and on which
//! `keyward plan` reports no changes. Never keys: the file format has no place for them.
//!
//! The YAML is written page by page as the listing is read (`keys_file::write_head`,
//! `write_bucket`, `write_consumer`: the very pieces of `to_yaml`), first to a temporary
//! file (beside the target with `-o`, created exclusively, mode 0600), while
//! `keys_file::Written` keeps a fingerprint of every consumer written. Then the file is read
//! back with `keys_file::check` and compared with the fingerprint, and only a text that
//! passes reaches the output (renamed over the target, or copied to stdout): `to_yaml_checked`'s
//! guarantee — a file that would not round-trip is an error, not a surprise in the next
//! plan — without holding the live state or the text while reading. This module fetches the
//! live state and moves bytes; the YAML and the check live in core.

use super::plan::Listed;
use crate::client::{describe, Client, Remote};
use anyhow::{bail, Context, Result};
use keyward_core::keys_file::{self, BucketSpec, Written, FORMAT_VERSION};
use serde_json::Value;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write the live state as a keys.yaml (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward export > keys.yaml\n  keyward export --bucket production -o keys.yaml\n  keyward export -o keys.yaml && keyward plan keys.yaml   # no changes"
)]
pub struct Args {
    /// Export only this bucket [default: every bucket]
    #[arg(long)]
    bucket: Option<String>,
    /// Write to this file instead of stdout
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The JSON Schema the first line points editors at
    #[arg(long, default_value = "./schemas/keys.schema.json")]
    schema: String,
    #[command(flatten)]
    remote: Remote,
}

/// Text is handed to the temporary file in pieces of about this size.
const CHUNK: usize = 1 << 16;

pub fn run(args: Args) -> Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let mut buckets = match &args.bucket {
        Some(b) => vec![b.clone()],
        None => client.bucket_names()?,
    };
    buckets.sort();
    buckets.dedup();
    let header = [
        format!("yaml-language-server: $schema={}", args.schema),
        "Exported by `keyward export`: consumers and their managers, never keys.".to_owned(),
    ];
    // With `-o`, the temporary file sits beside the target and is renamed over it once
    // checked: the target is never left half-written.
    let dir = match &args.output {
        Some(path) => match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
        None => std::env::temp_dir(),
    };
    let (mut temp, file) = TempFile::create(&dir)?;
    let mut out = BufWriter::new(file);
    let mut text = String::with_capacity(CHUNK * 2);
    let mut written = Written::default();
    let mut consumers = 0;
    keys_file::write_head(&mut text, &header, FORMAT_VERSION, !buckets.is_empty());
    for bucket in &buckets {
        let path = format!("/key-buckets/{bucket}");
        let reply = client.send("GET", &path, None)?;
        if !reply.ok() {
            bail!("bucket '{bucket}': {}", describe(&reply));
        }
        let head = BucketSpec {
            description: (reply.body.get("description").and_then(Value::as_str))
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            is_retrievable: reply.body.get("isRetrievable") == Some(&Value::Bool(true)),
            ..BucketSpec::default()
        };
        written.bucket(bucket, &head);
        // The bucket's line waits for its first page: `consumers: {}` when it has none.
        let mut opened = false;
        let mut last: Option<String> = None;
        client.each_page(
            &format!("{path}/consumers"),
            "include-managers=true",
            |page: Vec<Listed>| {
                if !opened {
                    let has_consumers = !page.is_empty();
                    keys_file::write_bucket(&mut text, bucket, &head, has_consumers);
                    opened = true;
                }
                for item in page {
                    // The listing is by name; a name again (paging by offset while a
                    // consumer was added) is written once.
                    if last.as_deref().is_some_and(|l| item.name.as_str() <= l) {
                        continue;
                    }
                    let spec = item.record.to_spec();
                    keys_file::write_consumer(&mut text, &item.name, &spec);
                    written.consumer(bucket, &item.name, &spec);
                    consumers += 1;
                    last = Some(item.name);
                    if text.len() >= CHUNK {
                        out.write_all(text.as_bytes())?;
                        text.clear();
                    }
                }
                Ok(())
            },
        )?;
        if !opened {
            keys_file::write_bucket(&mut text, bucket, &head, false);
        }
    }
    out.write_all(text.as_bytes())?;
    drop(text);
    let mut file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all().map(|()| f))
        .context("writing a temporary file")?;

    // Read back (through the same handle: the path is never opened again) and compared
    // before anything reaches the output.
    let mut back = String::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut back))
        .context("reading the temporary file back")?;
    written.verify(&back)?;
    drop(back);
    match &args.output {
        Some(path) => {
            std::fs::rename(&temp.0, path)
                .with_context(|| format!("writing {}", path.display()))?;
            temp.keep();
            eprintln!(
                "{}: {} buckets, {} consumers",
                path.display(),
                buckets.len(),
                consumers
            );
        }
        None => {
            file.seek(SeekFrom::Start(0))?;
            let mut stdout = std::io::stdout().lock();
            std::io::copy(&mut file, &mut stdout)?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A temporary file, removed when dropped unless kept. Only its owner may read it: it holds
/// managers' e-mail addresses.
pub(crate) struct TempFile(PathBuf, bool);

impl TempFile {
    /// A new file in `dir`, created exclusively (never an existing file or link), read and
    /// write.
    pub(crate) fn create(dir: &std::path::Path) -> Result<(TempFile, File)> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        for n in 0..100u32 {
            let path = dir.join(format!(
                ".keyward-export-{}-{nanos}-{n}.yaml",
                std::process::id()
            ));
            let mut options = File::options();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => return Ok((TempFile(path, false), file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        bail!("could not create a temporary file in {}", dir.display())
    }
}

impl TempFile {
    /// Where it is.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// It became the output: not removed.
    pub(crate) fn keep(&mut self) {
        self.1 = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
