//! `keyward portal-token`: an HS256 end-user token for `/v1/me`, signed with
//! `PORTAL_JWT_SECRET`, for local use and tests. Production tokens come from the customer's
//! identity provider (or their backend, with the same secret).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Mint an HS256 token for the self-serve API (/v1/me) from PORTAL_JWT_SECRET (no network)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  TOKEN=$(keyward portal-token --email alice@example.com)\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8787/_keyward/v1/me/consumers\n\n\
                  The secret comes from the PORTAL_JWT_SECRET environment variable, else from\n\
                  PORTAL_JWT_SECRET= in --dev-vars (default ./.dev.vars)."
)]
pub struct Args {
    /// The signed-in person's e-mail (a manager of the consumers they will see)
    #[arg(long)]
    email: String,
    /// Lifetime, e.g. 90s, 30m, 1h, 7d
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// The `iss` claim (needed when the Worker sets PORTAL_JWT_ISSUER)
    #[arg(long)]
    issuer: Option<String>,
    /// The `aud` claim (needed when the Worker sets PORTAL_JWT_AUDIENCE)
    #[arg(long)]
    audience: Option<String>,
    /// The wrangler secrets file to read PORTAL_JWT_SECRET from
    #[arg(long, default_value = ".dev.vars")]
    dev_vars: PathBuf,
}

/// Seconds in a lifetime such as `90s`, `30m`, `1h` or `7d` (a bare number is seconds).
fn seconds(ttl: &str) -> Result<i64> {
    let ttl = ttl.trim();
    let (number, unit) = ttl.split_at(ttl.find(|c: char| !c.is_ascii_digit()).unwrap_or(ttl.len()));
    let n: i64 = number
        .parse()
        .with_context(|| format!("--ttl {ttl:?}: use a number with s, m, h or d, e.g. 1h"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--ttl {ttl:?}: use a number with s, m, h or d, e.g. 1h"),
    };
    if n <= 0 {
        bail!("--ttl {ttl:?}: must be more than zero");
    }
    n.checked_mul(scale)
        .with_context(|| format!("--ttl {ttl:?}: too long"))
}

fn secret(dev_vars: &PathBuf) -> Result<String> {
    if let Some(s) = std::env::var("PORTAL_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok(s);
    }
    let text = std::fs::read_to_string(dev_vars).with_context(|| {
        format!(
            "PORTAL_JWT_SECRET is not set and {} cannot be read; set the variable or pass --dev-vars",
            dev_vars.display()
        )
    })?;
    // Lines as dotenv writes them: `[export ]NAME = value`, the value maybe quoted.
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (name, value) = l.split_once('=')?;
            (name.trim() == "PORTAL_JWT_SECRET").then(|| value.trim())
        })
        .map(|v| {
            let quoted = v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')));
            if quoted { &v[1..v.len() - 1] } else { v }.to_owned()
        })
        .find(|v| !v.is_empty())
        .with_context(|| {
            format!(
                "{} has no PORTAL_JWT_SECRET=...; add one (the Worker reads it too)",
                dev_vars.display()
            )
        })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let ttl = seconds(&args.ttl)?;
    let email = keyward_core::validate::email(&args.email)
        .map_err(|e| anyhow::anyhow!("--email: {}", e.message()))?;
    let secret = secret(&args.dev_vars)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_millis() as i64;
    let token = keyward_core::selfserve::jwt::mint_hs256(
        secret.as_bytes(),
        &email,
        now,
        ttl,
        args.issuer.as_deref(),
        args.audience.as_deref(),
    )?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn lifetimes() {
        assert_eq!(seconds("90s").unwrap(), 90);
        assert_eq!(seconds("30m").unwrap(), 1800);
        assert_eq!(seconds("1h").unwrap(), 3600);
        assert_eq!(seconds("7d").unwrap(), 604_800);
        assert_eq!(seconds("45").unwrap(), 45);
        assert!(seconds("1w").is_err() && seconds("0h").is_err() && seconds("h").is_err());
    }
}
