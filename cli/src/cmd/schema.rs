//! `keyward schema`: prints the JSON Schema of `keys.yaml`, or with `--openapi` the OpenAPI
//! document of the developer API (`schemas/openapi.json`, which the Worker serves).
//!
//! The schema is generated from core's `keys_file` types and `validate` limits, so it cannot
//! drift from the checker; `schemas/keys.schema.json` is this output, committed for editors
//! (a test fails when it is stale).

use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;

/// Print the JSON Schema of keys.yaml (for editors; no network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  keyward schema > schemas/keys.schema.json\n  keyward schema --openapi > schemas/openapi.json"
)]
pub struct Args {
    /// Print the developer API's OpenAPI 3.1 document instead
    #[arg(long)]
    openapi: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.openapi {
        out.write_all(keyward_core::selfserve::openapi::document_text().as_bytes())?;
    } else {
        serde_json::to_writer_pretty(&mut out, &keyward_core::keys_file::json_schema())?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}
