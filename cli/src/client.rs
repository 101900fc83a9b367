//! The developer-API client the CLI uses: base URL, token, account, JSON in and out.
//!
//! Errors carry the method, path and the server's problem detail, never the token.

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Connection settings shared by every networked subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// Base URL of the Worker's API, as a Zuplo client would take it
    #[arg(
        long,
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:8787/_keyward"
    )]
    pub url: String,
    /// Management token
    #[arg(long, env = "KEYWARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Account name in the API's paths
    #[arg(long, env = "KEYWARD_ACCOUNT", default_value = "local")]
    pub account: String,
}

/// A response: status and JSON body (if any).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// A client bound to one Worker.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    /// A client from the command line's settings; fails when no token is given.
    pub fn new(remote: &Remote) -> Result<Client> {
        let Some(token) = remote.token.clone().filter(|t| !t.is_empty()) else {
            bail!("no management token; pass --token or set KEYWARD_TOKEN");
        };
        let base = format!(
            "{}/v1/accounts/{}",
            remote.url.trim_end_matches('/'),
            remote.account
        );
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(60))
            .build();
        Ok(Client { agent, base, token })
    }

    /// Sends a request to `path` (below `/v1/accounts/{account}`) and returns any status.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let req = self
            .agent
            .request(method, &url)
            .set("authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("{method} {url}: no answer; is the Worker running?"))
            }
        };
        let status = response.status();
        let text = response
            .into_string()
            .with_context(|| format!("{method} {url}: reading the answer"))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply { status, body })
    }

    /// Like [`Client::send`], but any status other than 2xx is an error with the detail.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let reply = self.send(method, path, body)?;
        if (200..300).contains(&reply.status) {
            Ok(reply.body)
        } else {
            bail!("{method} {path}: {}", describe(&reply))
        }
    }
}

/// A short description of an error answer: status and problem detail.
pub fn describe(reply: &Reply) -> String {
    let title = reply
        .body
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("error");
    match reply.body.get("detail").and_then(Value::as_str) {
        Some(detail) => format!("{} {title}: {detail}", reply.status),
        None => format!("{} {title}", reply.status),
    }
}
