//! The developer-API client the CLI uses: base URL, token, account, JSON in and out.
//!
//! The account in the API's paths comes from `--account`/`KEYWARD_ACCOUNT`, or is learned
//! from the Worker (`GET /v1/info`) when neither is given. Errors carry the method, path
//! and the server's problem detail, never the token.

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

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
    /// Account name in the API's paths [default: the Worker's, from GET /v1/info]
    #[arg(long, env = "KEYWARD_ACCOUNT")]
    pub account: Option<String>,
}

/// A response: status and JSON body (if any).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client bound to one Worker and account.
pub struct Client {
    /// Requests sent so far (for `sync`'s statistics line).
    requests: std::cell::Cell<usize>,
    agent: ureq::Agent,
    /// `{url}` without a trailing slash.
    root: String,
    /// `{url}/v1/accounts/{account}`
    base: String,
    token: String,
}

impl Client {
    /// A client from the command line's settings; fails when no token is given. Learns the
    /// account from the Worker when it is not given (one request).
    pub fn new(remote: &Remote) -> Result<Client> {
        let Some(token) = remote.token.clone().filter(|t| !t.is_empty()) else {
            bail!("no management token; pass --token or set KEYWARD_TOKEN");
        };
        let root = remote.url.trim_end_matches('/').to_owned();
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            bail!(
                "--url '{}' is not an http(s) URL; use the Worker's API base, e.g. http://127.0.0.1:8787/_keyward",
                remote.url
            );
        }
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .build();
        let mut client = Client {
            requests: std::cell::Cell::new(0),
            agent,
            base: String::new(),
            root,
            token,
        };
        let account = match remote.account.clone().filter(|a| !a.is_empty()) {
            Some(a) => a,
            None => client.learn_account()?,
        };
        client.base = format!("{}/v1/accounts/{}", client.root, encode(&account));
        Ok(client)
    }

    /// Requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests.get()
    }

    /// `GET /v1/info` → `account`.
    fn learn_account(&self) -> Result<String> {
        let url = format!("{}/v1/info", self.root);
        let reply = self.exchange("GET", &url, None, &[])?;
        if !reply.ok() {
            bail!(
                "GET {url}: {}; pass --account or set KEYWARD_ACCOUNT to skip this request",
                describe(&reply)
            );
        }
        reply
            .body
            .get("account")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "GET {url}: the answer names no account; pass --account or set KEYWARD_ACCOUNT"
                )
            })
    }

    /// Sends a request to `path` (below `/v1/accounts/{account}`) and returns any status.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        self.send_with(method, path, body, &[])
    }

    /// [`Client::send`] with extra request headers.
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        self.exchange(method, &url, body, headers)
    }

    fn exchange(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let body = match body {
            Some(b) => Body::Json(b),
            None => Body::None,
        };
        let response = self.respond(method, url, headers, body)?;
        reply(method, url, response)
    }

    /// Sends one request and returns the response of any status.
    fn respond(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<ureq::Response> {
        // A read answered 429 or 503 (a bucket being imported from the old layout says
        // `Retry-After`) is asked again, twice at most: reads change nothing.
        let mut waits = [1u64, 3].into_iter();
        loop {
            self.requests.set(self.requests.get() + 1);
            let mut req = self
                .agent
                .request(method, url)
                .set("authorization", &format!("Bearer {}", self.token));
            for (k, v) in headers {
                req = req.set(k, v);
            }
            let result = match body {
                Body::None => req.call(),
                Body::Json(b) => req.send_json(b),
                Body::Bytes(b) => req.set("content-type", "application/json").send_bytes(b),
            };
            let response = match result {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("{method} {url}: no answer; is the Worker running?")
                    })
                }
            };
            let busy = matches!(response.status(), 429 | 503);
            match waits.next() {
                Some(secs) if busy && method == "GET" => {
                    let asked = response
                        .header("retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(secs)
                        .min(10);
                    std::thread::sleep(std::time::Duration::from_secs(asked));
                }
                _ => return Ok(response),
            }
        }
    }

    /// `POST` of a JSON body already serialized (`$bulk` builds its bodies item by item).
    pub fn post_json_bytes(&self, path: &str, body: &[u8]) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let response = self.respond("POST", &url, &[], Body::Bytes(body))?;
        reply("POST", &url, response)
    }

    /// `GET` of `path`, a 2xx answer deserialized as it is read (no JSON tree in between);
    /// any other status is an error with the detail.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self.respond("GET", &url, &[], Body::None)?;
        if !(200..300).contains(&response.status()) {
            let answer = reply("GET", &url, response)?;
            bail!("GET {path}: {}", describe(&answer));
        }
        let reader = std::io::BufReader::with_capacity(1 << 16, response.into_reader());
        serde_json::from_reader(reader).with_context(|| format!("GET {path}: unexpected answer"))
    }

    /// Every item of a paged list, as [`Client::list_all`] reads it, handed to `each` a page
    /// at a time instead of collected: only one page is held at once.
    pub fn each_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &str,
        mut each: impl FnMut(Vec<T>) -> Result<()>,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Page<T> {
            data: Vec<T>,
            total: Option<usize>,
            #[serde(default)]
            cursor: Option<String>,
        }
        // By cursor when the list gives one (consumer lists: a consumer deleted meanwhile
        // cannot shift another past a page boundary), else by offset.
        let mut read = 0;
        let mut cursor: Option<String> = None;
        loop {
            let sep = if query.is_empty() { "" } else { "&" };
            let at = match &cursor {
                Some(c) => format!("cursor={}", encode(c)),
                None => format!("offset={read}"),
            };
            let page: Page<T> = self.get(&format!("{path}?limit=1000&{at}{sep}{query}"))?;
            let count = page.data.len();
            read += count;
            each(page.data)?;
            match page.cursor {
                Some(next) => cursor = Some(next),
                None if cursor.is_some() || count == 0 => return Ok(()),
                None => {
                    let total = page.total.with_context(|| {
                        format!("GET {path}: the answer has no total; is this a keyward Worker?")
                    })?;
                    if read >= total {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Like [`Client::send`], but any status other than 2xx is an error with the detail.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let reply = self.send(method, path, body)?;
        if reply.ok() {
            Ok(reply.body)
        } else {
            bail!("{method} {path}: {}", describe(&reply))
        }
    }

    /// Every item of a paged list (`{data, total}` pages of up to 1000 at `offset`);
    /// `query` is added to each page's query string (e.g. `include-managers=true`).
    pub fn list_all(&self, path: &str, query: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let sep = if query.is_empty() { "" } else { "&" };
            let page = self.call(
                "GET",
                &format!("{path}?limit=1000&offset={}{sep}{query}", out.len()),
                None,
            )?;
            let data = page
                .get("data")
                .and_then(Value::as_array)
                .with_context(|| format!("GET {path}: the answer has no data list"))?;
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
            out.extend(data.iter().cloned());
            if data.is_empty() || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// Names of every bucket the token sees.
    pub fn bucket_names(&self) -> Result<Vec<String>> {
        Ok(self
            .list_all("/key-buckets", "")?
            .iter()
            .filter_map(|b| b.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }
}

/// The body of a request.
enum Body<'a> {
    None,
    Json(&'a Value),
    /// JSON already serialized.
    Bytes(&'a [u8]),
}

/// A response's status and its body as JSON (a string when it is not JSON).
fn reply(method: &str, url: &str, response: ureq::Response) -> Result<Reply> {
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

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encode_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(super::encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(super::encode("a b/c=d+é"), "a%20b%2Fc%3Dd%2B%C3%A9");
    }
}
