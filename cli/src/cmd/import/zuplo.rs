//! `keyward import zuplo`: a Zuplo bucket's consumers into `keys.yaml` and the Worker, and
//! their keys into the Worker, unchanged.
//!
//! Steps, in this order, so that every refusal comes before any write:
//! 1. read the source bucket through Zuplo's Developer API (`--from-url`, `ZUPLO_API_KEY`):
//!    the bucket, then its consumers page by page with their managers and, unless
//!    `--skip-keys`, their keys in plaintext (`key-format=visible`); core checks each
//!    consumer as it comes (`keys_file::import::Source`);
//! 2. merge them into the file's model in memory (`keys_file::import::merge`);
//! 3. ask the target which keys it holds and whether it can verify each
//!    (`POST /v1/keys/$lookup`, 1000 at a time; `keys_file::import::plan_keys` refuses
//!    keys it cannot verify);
//! 4. write the file (only when it changed), then apply its target bucket with `sync`'s
//!    own code ([`crate::cmd::sync::sync_file`]): the consumers are created there;
//! 5. send each consumer's new keys in one `POST …/consumers/{name}/keys/$bulk`.
//!
//! `--dry-run` runs 1–3 and prints the plan and the keys it would send; it writes nothing.
//! A rerun finds the file unchanged, an empty plan and every key held: no write at all.
//! Keys appear only masked in what is printed.

use crate::client::{describe, encode, Client, Peer, Remote, Secret};
use crate::cmd::export::TempFile;
use crate::cmd::{plural, sync};
use crate::terminal;
use anyhow::{anyhow, bail, Context, Result};
use keyward_core::keys_file::import::{
    self, lookup_order, masked, merge, next_offset, page_query, plan_keys, KeyPlan, Lookup, Merged,
    OnConflict, Page, Source, LOOKUP_MAX, PAGE_LIMIT,
};
use keyward_core::keys_file::plan::DesiredFile;
use keyward_core::keys_file::{self, KeysFile};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The environment variable holding the source's API key.
const TOKEN_ENV: &str = "ZUPLO_API_KEY";

/// Zuplo's Developer API (or a keyward Worker speaking it), for messages.
static SOURCE: Peer = Peer {
    flag: "--from-url",
    token: "ZUPLO_API_KEY",
    name: "the source",
    example: "e.g. https://dev.zuplo.com",
};

/// What to do with a consumer keys.yaml lists with other values than the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Conflicts {
    /// Stop and write nothing, listing the consumers and fields that differ
    Error,
    /// Keep the file's values (the consumer's keys are still imported)
    KeepFile,
    /// Replace the file's values with the source's
    TakeSource,
}

/// Import a Zuplo bucket (network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  export ZUPLO_API_KEY=zpka_...  KEYWARD_TOKEN=...\n  keyward import zuplo --account acme --bucket acme-production --to-bucket default --dry-run\n  keyward import zuplo --account acme --bucket acme-production --to-bucket default\n  # from another keyward Worker, which speaks Zuplo's API:\n  ZUPLO_API_KEY=$OTHER_TOKEN keyward import zuplo --from-url https://old.example/_keyward --account local --bucket default\n\n\
                  The Worker must verify the keys: set IMPORTED_KEY_PATTERN in its wrangler.toml [vars]\n\
                  (Zuplo's keys: ^zpka_[0-9a-f]{32}_[0-9a-f]{8}$) before importing them.\n\n\
                  Exit codes: 0 imported (or nothing to do, or a dry run); 1 any error (nothing is written when the source or the file is refused)."
)]
pub struct Args {
    /// The keys.yaml to write, or merge into when it exists
    #[arg(default_value = "keys.yaml")]
    file: PathBuf,
    /// Base URL of the source's Developer API: Zuplo's, or a keyward Worker's API base. The
    /// token is ZUPLO_API_KEY
    #[arg(long, value_name = "URL", default_value = "https://dev.zuplo.com")]
    from_url: String,
    /// The source's account name
    #[arg(long)]
    account: String,
    /// The source's bucket
    #[arg(long)]
    bucket: String,
    /// The Worker's bucket to import into [default: the name of --bucket]
    #[arg(long, value_name = "BUCKET")]
    to_bucket: Option<String>,
    /// When keys.yaml lists a consumer with other values than the source
    #[arg(long, value_enum, default_value_t = Conflicts::Error)]
    on_conflict: Conflicts,
    /// Import consumers only, not their keys (for a source that keeps only hashes)
    #[arg(long)]
    skip_keys: bool,
    /// Print what would be done and stop: neither keys.yaml nor the Worker is written
    #[arg(long)]
    dry_run: bool,
    /// The Worker's API base, as for `sync`
    #[arg(
        long,
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:8787/_keyward"
    )]
    url: String,
    /// File holding the Worker's management token (else KEYWARD_TOKEN), as for `sync`
    #[arg(long, value_name = "PATH", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The Worker's management token on the command line (warns; prefer KEYWARD_TOKEN)
    #[arg(long, value_name = "TOKEN")]
    token: Option<Secret>,
    /// Allow http:// to Worker hosts other than this machine (only on a network you trust)
    #[arg(
        long,
        env = "KEYWARD_INSECURE_HTTP",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    insecure_http: bool,
    /// Allow http:// to a source other than this machine: ZUPLO_API_KEY and every key would
    /// cross the network in clear. A flag of its own, with no environment variable, so a CI
    /// setting for the Worker never allows it
    #[arg(long)]
    from_insecure_http: bool,
    /// The Worker's account name [default: the Worker's, from GET /v1/info]
    #[arg(long, value_name = "ACCOUNT", env = "KEYWARD_ACCOUNT")]
    to_account: Option<String>,
}

impl Args {
    /// The Worker's settings, as every other networked command takes them.
    fn remote(&self) -> Remote {
        Remote {
            url: self.url.clone(),
            token_file: self.token_file.clone(),
            token: self.token.clone(),
            insecure_http: self.insecure_http,
            account: self.to_account.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let to_bucket = args
        .to_bucket
        .clone()
        .unwrap_or_else(|| args.bucket.clone());
    keyward_core::validate::bucket_name(&to_bucket).map_err(|e| {
        anyhow!("{e}; keyward's bucket names are Zuplo's rule too, so pass --to-bucket NAME")
    })?;
    let rule = match args.on_conflict {
        Conflicts::Error => OnConflict::Error,
        Conflicts::KeepFile => OnConflict::KeepFile,
        Conflicts::TakeSource => OnConflict::TakeSource,
    };
    let with_keys = !args.skip_keys;
    let from = Client::of(
        &SOURCE,
        &args.from_url,
        args.from_insecure_http,
        source_token()?,
        &args.account,
    )?;
    let target = Client::new(&args.remote())?;

    // 1. The source, checked consumer by consumer.
    let source = read_source(&from, &args.bucket, with_keys)?;
    eprintln!(
        "import: read {} and {} from bucket '{}' ({} requests)",
        plural(source.consumers.len(), "consumer"),
        plural(source.key_count(), "key"),
        terminal::field(&args.bucket),
        from.requests()
    );

    // 2. The file, merged in memory.
    let (mut file, before) = read_file(&args.file)?;
    let merged = merge(&mut file, &to_bucket, &source.consumers, rule)?;

    // 3. The keys, against what the Worker holds and can verify.
    let keys = if with_keys {
        plan_keys(&source, &to_bucket, &lookup(&target, &source)?)?
    } else {
        KeyPlan::default()
    };

    // 4. The file, written when it changed, then applied as `sync` applies it.
    let text = match &before {
        Some(text) if !merged.changed() => text.clone(),
        _ => keys_file::to_yaml_checked(&file, &header(before.as_deref()))?,
    };
    drop(file);
    print_merge(&args.file, &merged, args.dry_run);
    let mut desired =
        DesiredFile::check(&text).map_err(|problems| {
            anyhow!(
            "the merged keys.yaml does not pass validation ({}); this is a bug in keyward import",
            problems.first().map(ToString::to_string).unwrap_or_default()
        )
        })?;
    desired.buckets.retain(|name, _| *name == to_bucket);
    let file_changed = before.as_deref() != Some(text.as_str());
    if file_changed && !args.dry_run {
        write_file(&args.file, &text)?;
    }
    let planned = sync::sync_file(&target, &desired, &args.file, false, args.dry_run)?;

    // 5. The keys.
    if args.dry_run {
        for (consumer, list) in &keys.send {
            println!("{}", key_line(&to_bucket, consumer, list));
        }
        println!(
            "Dry run: nothing was written ({} and the Worker); {} to import, {} already there.",
            args.file.display(),
            plural(keys.count(), "key"),
            keys.held
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sent = send_keys(&target, &to_bucket, &keys)?;
    eprintln!(
        "import: {} requests to the Worker, {} to the source",
        target.requests(),
        from.requests()
    );
    if !file_changed && planned == 0 && sent == 0 {
        println!(
            "Nothing to import: {} and bucket '{to_bucket}' already hold the source's {} and {}; nothing was written.",
            args.file.display(),
            plural(source.consumers.len(), "consumer"),
            plural(keys.held, "key"),
        );
    } else {
        println!(
            "Import: {} in {} ({} added), {} imported, {} already there.",
            plural(source.consumers.len(), "consumer"),
            args.file.display(),
            merged.added.len(),
            plural(sent, "key"),
            keys.held
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The source's token, from `ZUPLO_API_KEY` only (never the command line).
fn source_token() -> Result<Secret> {
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Ok(Secret::new(token.trim())),
        _ => bail!(
            "no source token; set {TOKEN_ENV} to an API key of the Zuplo account (Zuplo portal: Account → API Keys), or to the management token of a keyward Worker given as --from-url"
        ),
    }
}

/// The source bucket's consumers, page by page (by offset, until `total`).
fn read_source(client: &Client, bucket: &str, with_keys: bool) -> Result<Source> {
    let path = format!("/key-buckets/{}", encode(bucket));
    let reply = client.send("GET", &path, None)?;
    match reply.status {
        200 => {}
        404 => bail!(
            "GET {path}: the source has no bucket '{bucket}' in this account; check --account and --bucket"
        ),
        401 | 403 => bail!("GET {path}: {}; check {TOKEN_ENV}", describe(&reply)),
        _ => bail!("GET {path}: {}", describe(&reply)),
    }
    if with_keys && reply.body.get("isRetrievable") == Some(&Value::Bool(false)) {
        bail!("{}", hash_only(bucket));
    }
    let mut source = Source::default();
    let mut offset = Some(0);
    let (mut first_total, mut last_total, mut read) = (None, None, 0usize);
    while let Some(at) = offset {
        let page_path = format!("{path}/consumers?{}", page_query(at, with_keys));
        let reply = client.send("GET", &page_path, None)?;
        if reply.status == 400 && with_keys {
            bail!(
                "GET {page_path}: {}; {}",
                describe(&reply),
                hash_only(bucket)
            );
        }
        if !reply.ok() {
            bail!("GET {page_path}: {}", describe(&reply));
        }
        // serde's messages quote what they could not read — here, keys: never shown.
        let page: Page = match reply.body {
            Value::Object(_) => serde_json::from_value(reply.body).map_err(|_| {
                anyhow!("GET {page_path}: the answer is not a page of consumers ({{data, total}} as Zuplo's API sends it); its content is not shown, since it may hold keys")
            })?,
            _ => bail!("GET {page_path}: the answer is not JSON; its content is not shown, since it may hold keys"),
        };
        let (received, total) = (page.data.len(), page.total);
        source.add_page(page, with_keys)?;
        first_total = first_total.or(total);
        read += received;
        import::check_paging(first_total, total, read)?;
        last_total = total;
        offset = next_offset(at, received, total, PAGE_LIMIT);
        if let (Some(next), Some(total)) = (offset, total) {
            eprintln!("import: {next}/{total} consumers read");
        }
    }
    if let Some(total) = last_total.filter(|t| *t != read) {
        eprintln!(
            "import: warning: the source said {total} consumers and listed {read} (it changed while being read); run the import again to pick up what changed"
        );
    }
    Ok(source)
}

/// Why a hash-only source's keys cannot be imported, and what to do.
fn hash_only(bucket: &str) -> String {
    format!(
        "bucket '{bucket}' keeps only hashes of its keys (it is not retrievable), so they cannot be read or imported; \
         import from a bucket created with isRetrievable: true, or pass --skip-keys to import the consumers only (their users then need new keys)"
    )
}

/// `keys.yaml` as its model and text, or an empty model when it does not exist yet.
fn read_file(path: &Path) -> Result<(KeysFile, Option<String>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((import::new_file(), None))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    match keys_file::check(&text) {
        Ok(file) => Ok((file, Some(text))),
        Err(problems) => {
            let mut err = std::io::stderr().lock();
            for p in &problems {
                let line = format!("{}:{p}", path.display());
                writeln!(err, "{}", terminal::field(&line))?;
            }
            bail!(
                "nothing was imported: {}: {} found; fix the file first (keyward validate)",
                path.display(),
                plural(problems.len(), "problem")
            )
        }
    }
}

/// The comment lines a rewritten file starts with: the old file's leading comments, or, for
/// a new file, the schema line and what the file is.
fn header(before: Option<&str>) -> Vec<String> {
    match before {
        Some(text) => text
            .lines()
            .map_while(|l| l.strip_prefix('#'))
            .map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned())
            .collect(),
        None => vec![
            "yaml-language-server: $schema=./schemas/keys.schema.json".to_owned(),
            "Written by `keyward import zuplo`: consumers and their managers, never keys."
                .to_owned(),
        ],
    }
}

/// Writes `text` over `path` through a temporary file beside it (never half-written),
/// keeping the old file's permissions.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = std::fs::metadata(path).map(|m| m.permissions()).ok();
    let (mut temp, mut file) = TempFile::create(&dir)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .context("writing the temporary file")?;
    drop(file);
    #[cfg(unix)]
    let mode = mode.or_else(|| {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o644))
    });
    if let Some(mode) = mode {
        std::fs::set_permissions(temp.path(), mode)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::rename(temp.path(), path).with_context(|| format!("writing {}", path.display()))?;
    temp.keep();
    Ok(())
}

/// What the merge did to the file, one line.
fn print_merge(path: &Path, merged: &Merged, dry_run: bool) {
    let mut parts = Vec::new();
    let verb = if dry_run { "to add" } else { "added" };
    if !merged.added.is_empty() {
        parts.push(format!("{} {verb}", plural(merged.added.len(), "consumer")));
    }
    if !merged.replaced.is_empty() {
        parts.push(format!(
            "{} replaced by the source's (--on-conflict take-source)",
            merged.replaced.len()
        ));
    }
    if !merged.kept.is_empty() {
        parts.push(format!(
            "{} kept as the file has them (--on-conflict keep-file)",
            merged.kept.len()
        ));
    }
    parts.push(format!("{} already as the source has them", merged.same));
    println!("{}: {}.", path.display(), parts.join(", "));
}

/// `$lookup` of every key of `source`, in [`lookup_order`], [`LOOKUP_MAX`] at a time.
fn lookup(target: &Client, source: &Source) -> Result<Vec<Lookup>> {
    #[derive(Deserialize)]
    struct Answer {
        data: Vec<Lookup>,
    }
    let keys: Vec<&str> = lookup_order(source).map(|(_, k)| k.key.as_str()).collect();
    let mut answers = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(LOOKUP_MAX) {
        let body = target.post_root("/v1/keys/$lookup", &json!({ "keys": chunk }))?;
        let answer: Answer = serde_json::from_value(body)
            .context("POST /v1/keys/$lookup: unexpected answer; is --url a keyward Worker?")?;
        answers.extend(answer.data);
    }
    Ok(answers)
}

/// `+ keys bucket/consumer: ****…, ****…`
fn key_line(bucket: &str, consumer: &str, keys: &[import::ImportKey]) -> String {
    let shown: Vec<String> = keys.iter().map(|k| masked(&k.key)).collect();
    format!("+ keys {bucket}/{consumer}: {}", shown.join(", "))
}

/// One `keys/$bulk` request per consumer with keys to import; how many keys went.
fn send_keys(target: &Client, bucket: &str, plan: &KeyPlan) -> Result<usize> {
    let mut sent = 0;
    let consumers = plan.send.len();
    for (n, (consumer, keys)) in plan.send.iter().enumerate() {
        let path = format!(
            "/key-buckets/{}/consumers/{}/keys/$bulk",
            encode(bucket),
            encode(consumer)
        );
        let body = serde_json::to_vec(keys)?;
        let reply = target.post_json_bytes(&path, &body)?;
        drop(body);
        if !reply.ok() {
            bail!(
                "importing the keys of '{consumer}': {}; {} imported before it. Run the import again: keys already imported are skipped",
                describe(&reply),
                plural(sent, "key")
            );
        }
        sent += keys.len();
        println!("{}", key_line(bucket, consumer, keys));
        if (n + 1) % 1000 == 0 {
            eprintln!("import: keys of {}/{consumers} consumers imported", n + 1);
        }
    }
    Ok(sent)
}
