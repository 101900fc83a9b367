//! The developer-API client the CLI uses: base URL, token, account, JSON in and out.
//!
//! The account in the API's paths comes from `--account`/`KEYWARD_ACCOUNT`, or is learned
//! from the Worker (`GET /v1/info`) when neither is given. Errors carry the method, path
//! and the server's problem detail, never the token.
//!
//! The token is sent only where it cannot be read on the way: `https://`, or `http://` to
//! this machine (127.0.0.0/8, `::1`, `localhost`); plain http to anywhere else needs
//! `--insecure-http`. Redirects are not followed (a 3xx is an error naming its target), so
//! no request goes to a host or scheme the user did not name. The token lives in a
//! [`Secret`], whose `Debug` prints `"***"`.

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A management token: its `Debug` never shows it, so neither does the `Debug` of anything
/// holding it (`Remote`, the parsed command line, [`Client`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(token: impl Into<String>) -> Secret {
        Secret(token.into())
    }

    /// The token itself, for the one place that sends it.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Secret, Self::Err> {
        Ok(Secret::new(s))
    }
}

/// The environment variable holding the management token.
pub const TOKEN_ENV: &str = "KEYWARD_TOKEN";

/// What `--token` costs, said once on stderr whenever it is used.
pub const TOKEN_ARGV_WARNING: &str = "keyward: warning: --token puts the token in your shell history and the process list; use KEYWARD_TOKEN or --token-file";

/// The most a token file may hold: a token is short, and a wrong path (a device, a big
/// file) must not be read whole.
const TOKEN_FILE_MAX: u64 = 64 * 1024;

/// Connection settings shared by every networked subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// Base URL of the Worker's API, as a Zuplo client would take it: https://, or http:// to
    /// this machine only (127.0.0.0/8, ::1, localhost) unless --insecure-http
    #[arg(
        long,
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:8787/_keyward"
    )]
    pub url: String,
    /// File holding the management token (whitespace around it trimmed). Taken before
    /// KEYWARD_TOKEN, which is read when neither --token-file nor --token is given
    #[arg(long, value_name = "PATH", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Management token on the command line. Warns: the process list and shell history show
    /// it; use KEYWARD_TOKEN or --token-file. Taken before KEYWARD_TOKEN
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<Secret>,
    /// Allow http:// to hosts other than this machine: the token and every answer cross the
    /// network unencrypted. Only on a network you trust
    #[arg(
        long,
        env = "KEYWARD_INSECURE_HTTP",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub insecure_http: bool,
    /// Account name in the API's paths [default: the Worker's, from GET /v1/info]
    #[arg(long, env = "KEYWARD_ACCOUNT")]
    pub account: Option<String>,
}

impl Remote {
    /// The token, from the first source given: `--token-file`, `--token` (the two
    /// conflict), then `KEYWARD_TOKEN`; a flag beats the environment, as for `--url` and
    /// `--account`. Warns on stderr when it comes from `--token`.
    pub fn token(&self) -> Result<Secret> {
        if let Some(path) = &self.token_file {
            return read_token_file(path);
        }
        if let Some(token) = self.token.as_ref().filter(|t| !t.0.is_empty()) {
            eprintln!("{TOKEN_ARGV_WARNING}");
            return Ok(token.clone());
        }
        match std::env::var(TOKEN_ENV) {
            Ok(token) if !token.is_empty() => Ok(Secret(token)),
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("{TOKEN_ENV} is not valid UTF-8; a management token is printable ASCII")
            }
            _ => bail!("no management token; set {TOKEN_ENV} or pass --token-file PATH"),
        }
    }
}

/// The token in `path`: the whole file, surrounding whitespace (a final newline) trimmed.
fn read_token_file(path: &Path) -> Result<Secret> {
    let shown = path.display();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(TOKEN_FILE_MAX + 1).read_to_string(&mut text))
        .map_err(|e| anyhow!("--token-file {shown}: {e}; check the path and its permissions"))?;
    if text.len() as u64 > TOKEN_FILE_MAX {
        bail!("--token-file {shown}: larger than {TOKEN_FILE_MAX} bytes; the file must hold only the token");
    }
    let token = text.trim();
    if token.is_empty() {
        bail!("--token-file {shown}: the file is empty; write the management token into it");
    }
    if token.contains(|c: char| c.is_whitespace() || c.is_control()) {
        bail!("--token-file {shown}: holds more than the token (whitespace inside it); the file must hold only the token");
    }
    Ok(Secret(token.to_owned()))
}

/// Whether the token may be sent to `url`: https, or http to this machine, or any http with
/// `insecure_http`. An error says what is wrong and what to do.
pub fn check_url(url: &str, insecure_http: bool) -> Result<()> {
    check_url_of(&Peer::WORKER, url, insecure_http)
}

/// Whom a [`Client`] talks to, for its messages: the flag naming the URL, what the token
/// is, and what the API is.
#[derive(Debug)]
pub struct Peer {
    /// The flag giving the URL (`--url`).
    pub flag: &'static str,
    /// The token, as messages call it.
    pub token: &'static str,
    /// What answers (`the Worker`).
    pub name: &'static str,
    /// An example of the URL.
    pub example: &'static str,
}

impl Peer {
    /// keyward's Worker, the peer of every command.
    pub const WORKER: Peer = Peer {
        flag: "--url",
        token: "management token",
        name: "the Worker",
        example: "e.g. https://keyward.example.workers.dev/_keyward",
    };
}

/// [`check_url`] for any peer.
pub fn check_url_of(peer: &Peer, url: &str, insecure_http: bool) -> Result<()> {
    let Peer {
        flag,
        token,
        name,
        example,
    } = peer;
    let parsed = url::Url::parse(url).map_err(|e| {
        anyhow!("{flag} '{url}' is not a URL ({e}); use {name}'s API base, {example}")
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" if insecure_http || is_loopback(&parsed) => {}
        "http" => bail!(
            "{flag} '{url}': plain http to a host other than this machine would send the {token} unencrypted, \
             so nothing was sent; use https://, or pass --insecure-http (KEYWARD_INSECURE_HTTP=1) if you trust every network in between"
        ),
        other => bail!("{flag} '{url}': '{other}' is not http(s); use {name}'s API base, {example}"),
    }
    if parsed.host().is_none() {
        bail!("{flag} '{url}' names no host; use {name}'s API base, {example}");
    }
    Ok(())
}

/// Whether the URL's host is this machine: 127.0.0.0/8, `::1` (also as `::ffff:127.x.y.z`)
/// or `localhost`. Any other name could resolve anywhere.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
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
#[derive(Debug)]
pub struct Client {
    /// Requests sent so far (for `sync`'s statistics line).
    requests: std::cell::Cell<usize>,
    agent: ureq::Agent,
    /// `{url}` without a trailing slash.
    root: String,
    /// `{url}/v1/accounts/{account}`
    base: String,
    token: Secret,
    /// Whom it talks to, for messages.
    peer: &'static Peer,
}

impl Client {
    /// A client from the command line's settings; fails, before sending anything, when no
    /// token is given or the URL would expose it. Learns the account from the Worker when it
    /// is not given (one request).
    pub fn new(remote: &Remote) -> Result<Client> {
        check_url(&remote.url, remote.insecure_http)?;
        let token = remote.token()?;
        check_token(&Peer::WORKER, &token)?;
        let mut client = Client::unbound(&Peer::WORKER, &remote.url, token);
        let account = match remote.account.clone().filter(|a| !a.is_empty()) {
            Some(a) => a,
            None => client.learn_account()?,
        };
        client.base = format!("{}/v1/accounts/{}", client.root, encode(&account));
        Ok(client)
    }

    /// A client of another Developer API (Zuplo's, or a keyward Worker as a source) at
    /// `url`, for `account`, with `token`; fails, before sending anything, when the URL would
    /// expose the token.
    pub fn of(
        peer: &'static Peer,
        url: &str,
        insecure_http: bool,
        token: Secret,
        account: &str,
    ) -> Result<Client> {
        check_url_of(peer, url, insecure_http)?;
        check_token(peer, &token)?;
        let mut client = Client::unbound(peer, url, token);
        client.base = format!("{}/v1/accounts/{}", client.root, encode(account));
        Ok(client)
    }

    /// A client with no account yet (`base` empty).
    fn unbound(peer: &'static Peer, url: &str, token: Secret) -> Client {
        let root = url.trim_end_matches('/').to_owned();
        // No redirects: ureq would follow one without the Authorization header, to any host
        // and from https to http, and hand back that host's answer as the Worker's. The
        // developer API never redirects; a 3xx is reported (see `respond`).
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .redirects(0)
            .build();
        Client {
            requests: std::cell::Cell::new(0),
            agent,
            base: String::new(),
            root,
            token,
            peer,
        }
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
                .set("authorization", &format!("Bearer {}", self.token.expose()));
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
                        format!("{method} {url}: no answer; is {} running?", self.peer.name)
                    })
                }
            };
            if (300..400).contains(&response.status()) {
                bail!(
                    "{method} {url}: {} answered {} redirecting to '{}'; keyward follows no redirect, so the token goes only where {flag} says; point {flag} at the API's real base URL",
                    self.peer.name,
                    response.status(),
                    response.header("location").unwrap_or("nowhere"),
                    flag = self.peer.flag
                );
            }
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

    /// `POST` of `body` to `path` below the API's root (`{url}`, not the account), e.g.
    /// `/v1/leaks`; any status other than 2xx is an error with the detail.
    pub fn post_root(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}{path}", self.root);
        let reply = self.exchange("POST", &url, Some(body), &[])?;
        if reply.ok() {
            Ok(reply.body)
        } else {
            bail!("POST {url}: {}", describe(&reply))
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

/// Refuses, before anything is sent, a token that cannot go in an HTTP header (a space, a
/// line break, a non-ASCII character): the HTTP library's own error would quote the header,
/// token and all.
fn check_token(peer: &Peer, token: &Secret) -> Result<()> {
    if token.expose().bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    bail!(
        "{} holds a space, a line break or a non-ASCII character, which cannot go in an HTTP header; check its value (not printed)",
        peer.token
    )
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
    use super::*;

    #[test]
    fn encode_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(super::encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(super::encode("a b/c=d+é"), "a%20b%2Fc%3Dd%2B%C3%A9");
    }

    /// https anywhere; http to this machine only, unless `insecure_http`; nothing else.
    #[test]
    fn check_url_lets_the_token_travel_only_where_it_cannot_be_read() {
        for url in [
            "https://keyward.example/_keyward",
            "https://203.0.113.7:8443/_keyward",
            "http://127.0.0.1:8787/_keyward",
            "http://127.9.8.7/",
            "http://[::1]:8787/_keyward",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8787/_keyward",
            "http://LocalHost/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "http://keyward.example/_keyward",
            "http://203.0.113.7/_keyward",
            "http://0.0.0.0:8787/",
            "http://[::2]/",
            "http://[::ffff:203.0.113.7]/",
            "http://localhost.attacker.example/",
            "http://127.0.0.1.nip.io/",
        ] {
            let err = check_url(url, false).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "--url '{url}': plain http to a host other than this machine would send the \
                     management token unencrypted, so nothing was sent; use https://, or pass \
                     --insecure-http (KEYWARD_INSECURE_HTTP=1) if you trust every network in between"
                )
            );
            assert!(check_url(url, true).is_ok(), "{url} with --insecure-http");
        }
        for (url, says) in [
            ("ftp://keyward.example/", "'ftp' is not http(s)"),
            ("file:///etc/passwd", "'file' is not http(s)"),
            (
                "keyward.example/_keyward",
                "is not a URL (relative URL without a base)",
            ),
            ("", "is not a URL"),
        ] {
            for insecure in [false, true] {
                let err = check_url(url, insecure).unwrap_err().to_string();
                assert!(err.contains(says), "{url}: {err}");
                assert!(err.ends_with("e.g. https://keyward.example.workers.dev/_keyward"));
            }
        }
    }

    fn remote(token: Option<&str>, token_file: Option<&Path>) -> Remote {
        Remote {
            url: "http://127.0.0.1:9/_keyward".into(),
            token_file: token_file.map(Path::to_path_buf),
            token: token.map(Secret::new),
            insecure_http: false,
            account: Some("local".into()),
        }
    }

    /// Neither the settings nor the client show the token in `Debug` (plain or pretty).
    #[test]
    fn debug_redacts_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret-from-file\n").unwrap();
        let from_argv = remote(Some("s3cret-from-argv"), None);
        let from_file = remote(None, Some(&file));
        // An account is given: building the client sends nothing.
        let client = Client::new(&from_file).unwrap();
        assert_eq!(client.token.expose(), "s3cret-from-file");
        for shown in [
            format!("{from_argv:?}"),
            format!("{from_argv:#?}"),
            format!("{client:?}"),
            format!("{client:#?}"),
            format!("{:?}", Secret::new("s3cret")),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("\"***\""), "{shown}");
        }
    }

    /// A token file is read whole, whitespace around it trimmed; empty, missing or
    /// multi-token files are errors naming the file.
    #[test]
    fn token_files_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        for (content, expected) in [
            ("tok\n", "tok"),
            ("tok\r\n", "tok"),
            ("  tok \t\n\n", "tok"),
        ] {
            std::fs::write(&file, content).unwrap();
            assert_eq!(read_token_file(&file).unwrap().expose(), expected);
        }
        let shown = file.display().to_string();
        for (content, says) in [
            ("", "the file is empty; write the management token into it"),
            (" \n\n", "the file is empty"),
            ("tok\nother\n", "whitespace inside it"),
        ] {
            std::fs::write(&file, content).unwrap();
            let err = read_token_file(&file).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--token-file {shown}: ")), "{err}");
            assert!(err.contains(says), "{err}");
        }
        std::fs::write(&file, "x".repeat(TOKEN_FILE_MAX as usize + 1)).unwrap();
        let err = read_token_file(&file).unwrap_err().to_string();
        assert!(err.contains("larger than 65536 bytes"), "{err}");
        let missing = dir.path().join("missing");
        let err = read_token_file(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("--token-file {}: ", missing.display()))
                && err.ends_with("; check the path and its permissions"),
            "{err}"
        );
    }
}
