//! Harness for keyward's end-to-end tests.
//!
//! [`Worker::start`] runs the real Worker bundle (`worker/build/index.js`, built by
//! `make worker`) in workerd through `wrangler dev`, on a free port of 127.0.0.1, with a
//! local KV persisted in a fresh temporary directory and fresh secrets. [`Echo`] is an
//! upstream on 127.0.0.1 that records what it receives, built on [`Stub`], a server that
//! answers as a test says. Missing prerequisites make a test fail with what to run, never
//! skip.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The management token every test Worker accepts.
pub const TOKEN: &str = "e2e-management-token";

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `keyward` binary built by cargo for this workspace.
pub fn cli_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let bin = target.join("debug").join("keyward");
    assert!(
        bin.exists(),
        "{} is missing; run `make test` (or `cargo build -p keyward`) first",
        bin.display()
    );
    bin
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A running Worker; stopped (with its workerd) when dropped.
pub struct Worker {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:{port}`
    pub origin: String,
}

impl Worker {
    /// Starts the Worker with `vars` on top of the defaults and waits until it answers.
    pub fn start(vars: &[(&str, &str)]) -> Worker {
        Worker::start_with_bindings(vars, "")
    }

    /// Like [`Worker::start`], with `bindings` (TOML, e.g. a `[[ratelimits]]` table) added
    /// to its `wrangler.toml`.
    pub fn start_with_bindings(vars: &[(&str, &str)], bindings: &str) -> Worker {
        let root = root();
        let bundle = root.join("worker/build/index.js");
        assert!(
            bundle.exists(),
            "{} is missing; run `make worker` first",
            bundle.display()
        );
        let wrangler = root.join("node_modules/.bin/wrangler");
        assert!(
            wrangler.exists(),
            "{} is missing; run `make setup` first",
            wrangler.display()
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let mut toml = format!(
            "name = \"keyward-e2e\"\nmain = {:?}\ncompatibility_date = \"2026-04-01\"\n\n\
             [[kv_namespaces]]\nbinding = \"KEYWARD_KV\"\nid = \"keyward-e2e\"\n\n\
             [[durable_objects.bindings]]\nname = \"KEYWARD_BUCKETS\"\nclass_name = \"BucketObject\"\n\n\
             [[durable_objects.bindings]]\nname = \"KEYWARD_LIMITS\"\nclass_name = \"LimiterObject\"\n\n\
             [[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"BucketObject\"]\n\n\
             [[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"LimiterObject\"]\n\n{bindings}\n[vars]\n",
            bundle.display().to_string()
        );
        for (k, v) in vars {
            toml.push_str(&format!("{k} = {v:?}\n"));
        }
        std::fs::write(dir.path().join("wrangler.toml"), toml).expect("write wrangler.toml");
        std::fs::write(
            dir.path().join(".dev.vars"),
            format!(
                "KEY_HASH_SECRET=e2e-hash-secret-{}\nMANAGEMENT_TOKEN={TOKEN}\n",
                free_port()
            ),
        )
        .expect("write .dev.vars");

        let (child, origin) = spawn(&wrangler, dir.path());
        let mut worker = Worker { child, dir, origin };
        worker.wait_ready(0);
        worker
    }

    /// Starts `wrangler dev` again when it exited because its port was taken: `free_port`
    /// releases the port before wrangler binds it, so another process may take it between.
    fn respawn_if_port_taken(&mut self, log_start: usize) -> bool {
        let log = self.log();
        if !log
            .get(log_start..)
            .is_some_and(|since| since.contains("Address already in use"))
        {
            return false;
        }
        let (child, origin) = spawn(&root().join("node_modules/.bin/wrangler"), self.dir.path());
        self.child = child;
        self.origin = origin;
        true
    }

    /// Stops the Worker and starts it again on the same KV state and secrets (a new free
    /// port: read [`Worker::origin`] again), as after a crash or a redeploy.
    pub fn restart(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.stop();
        }
        let log_start = self.log().len();
        let (child, origin) = spawn(&root().join("node_modules/.bin/wrangler"), self.dir.path());
        self.child = child;
        self.origin = origin;
        self.wait_ready(log_start);
    }

    /// The Worker's own socket in workerd, behind `wrangler dev`'s proxy (which serves
    /// [`Worker::origin`]). For tests of answers sent before a request body ends: the proxy
    /// (wrangler 4's `ProxyWorker`) loses its connection to the Worker after one and leaves
    /// the next request hanging, which a deployed Worker has no part in. Found as the one
    /// loopback socket, among those workerd processes under this `wrangler dev` listen on,
    /// other than the proxy's, that answers `/_keyward/health` with 200 (Linux `/proc`).
    pub fn direct_origin(&self) -> String {
        let proxy = self
            .origin
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut pids = vec![self.child.id()];
        let mut i = 0;
        while i < pids.len() {
            for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(pids[i]) && !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
            i += 1;
        }
        let mut inodes = std::collections::HashSet::new();
        for pid in &pids {
            for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let link = std::fs::read_link(fd.path()).unwrap_or_default();
                let link = link.to_string_lossy();
                if let Some(inode) = link
                    .strip_prefix("socket:[")
                    .and_then(|l| l.strip_suffix(']'))
                {
                    inodes.insert(inode.to_owned());
                }
            }
        }
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        let ports: Vec<u16> = table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
                let (addr, port) = local.split_once(':')?;
                (*state == "0A" && addr == "0100007F" && inodes.contains(*inode))
                    .then(|| u16::from_str_radix(port, 16).ok())
                    .flatten()
            })
            .collect();
        for port in ports {
            if port.to_string() == proxy {
                continue;
            }
            let url = format!("http://127.0.0.1:{port}/_keyward/health");
            if let Ok(r) = ureq::get(&url).timeout(Duration::from_secs(2)).call() {
                if r.status() == 200 && r.into_string().unwrap_or_default().contains("\"ok\"") {
                    return format!("http://127.0.0.1:{port}");
                }
            }
        }
        panic!(
            "no workerd socket of this Worker besides the proxy's:\n{}",
            self.log()
        );
    }

    /// Waits for the health check; `log_start` is where this start's lines begin in the log.
    fn wait_ready(&mut self, mut log_start: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut url = format!("{}/_keyward/health", self.origin);
        let mut retries = 3;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let next_start = self.log().len();
                if retries > 0 && self.respawn_if_port_taken(log_start) {
                    retries -= 1;
                    log_start = next_start;
                    url = format!("{}/_keyward/health", self.origin);
                    continue;
                }
                panic!("wrangler dev exited with {status}:\n{}", self.log());
            }
            if let Ok(r) = ureq::get(&url).timeout(Duration::from_secs(2)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "the Worker did not answer {url} within 90 s:\n{}",
            self.log()
        );
    }

    /// What wrangler printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wrangler.log")).unwrap_or_default()
    }

    /// The log once it holds `needle`, waiting up to 10 s (an object's lines reach it late);
    /// fails the test with the log if it never does.
    #[track_caller]
    pub fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gateway's status for `GET /orders` with `key` as a bearer token: 200 forwarded
    /// (or answered), 401 refused.
    pub fn gateway(&self, key: &str) -> u16 {
        http(
            "GET",
            &format!("{}/orders", self.origin),
            &[("authorization", &format!("Bearer {key}"))],
            None,
        )
        .status
    }

    /// Base URL of the developer API, as a Zuplo client takes it.
    pub fn api_base(&self) -> String {
        format!("{}/_keyward", self.origin)
    }

    /// `…/v1/accounts/local`
    pub fn account(&self) -> String {
        format!("{}/_keyward/v1/accounts/local", self.origin)
    }

    /// Directory of the local KV state on disk.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The Worker's directory: its `wrangler.toml`, `.dev.vars`, `state/` and `wrangler.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `KEY_HASH_SECRET` this Worker was started with (from its `.dev.vars`).
    pub fn hash_secret(&self) -> String {
        let vars = std::fs::read_to_string(self.dir.path().join(".dev.vars")).expect(".dev.vars");
        vars.lines()
            .find_map(|l| l.strip_prefix("KEY_HASH_SECRET="))
            .expect("KEY_HASH_SECRET in .dev.vars")
            .to_owned()
    }

    /// Stops wrangler and workerd.
    pub fn stop(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
}

/// Runs `wrangler dev` in `dir` (its wrangler.toml, .dev.vars and `state/`) on a free port,
/// appending to `dir/wrangler.log`.
fn spawn(wrangler: &Path, dir: &Path) -> (Child, String) {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("wrangler.log"))
        .expect("log file");
    let mut cmd = Command::new(wrangler);
    cmd.current_dir(dir)
        .args(["dev", "--config", "wrangler.toml", "--ip", "127.0.0.1"])
        .args([
            "--port",
            &port.to_string(),
            "--inspector-port",
            &free_port().to_string(),
        ])
        .arg("--persist-to")
        .arg(dir.join("state"))
        .args(["--log-level", "warn"])
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("spawn wrangler dev");
    (child, format!("http://127.0.0.1:{port}"))
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub text: String,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// Sends a request; any status is an answer.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.set("content-type", "application/json").send_string(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or("").to_owned();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let text = response.into_string().unwrap_or_default();
    Answer {
        status,
        headers,
        text,
    }
}

/// A management-API call with the test token.
pub fn admin(method: &str, url: &str, body: Option<&str>) -> Answer {
    http(
        method,
        url,
        &[("authorization", &format!("Bearer {TOKEN}"))],
        body,
    )
}

/// Whether any file under `dir` contains `needle`.
pub fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if any_file_contains(&path, needle) {
                return true;
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
    }
    false
}

/// Number of files under `dir` (to make sure a grep looked at something).
pub fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        count_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A request a [`Stub`] (or the [`Echo`] upstream) received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a [`Stub`] answers a request: status, content type and body.
pub type Reply = (u16, &'static str, String);

/// An HTTP/1.1 server on 127.0.0.1 (a free port) that records each request and answers it
/// with `respond`: a stand-in for another service (Zuplo's Developer API, an upstream).
pub struct Stub {
    /// `http://127.0.0.1:{port}`
    pub origin: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Stub {
    /// Starts the server (a thread that lives as long as the test).
    pub fn start(respond: fn(&Received) -> Reply) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = Arc::clone(&sink);
                std::thread::spawn(move || serve(stream, &sink, respond));
            }
        });
        Stub { origin, received }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// An upstream on 127.0.0.1 that answers 200 `{"echo": true}` and records each request.
pub struct Echo {
    /// `http://127.0.0.1:{port}`
    pub origin: String,
    stub: Stub,
}

impl Echo {
    /// Starts the echo server on a free port (a thread that lives as long as the test).
    pub fn start() -> Echo {
        let stub = Stub::start(|_| (200, "application/json", "{\"echo\":true}".to_owned()));
        Echo {
            origin: stub.origin.clone(),
            stub,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.stub.received()
    }
}

fn serve(stream: TcpStream, sink: &Mutex<Vec<Received>>, respond: fn(&Received) -> Reply) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Received {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let (status, kind, reply) = respond(&request);
        if let Ok(mut s) = sink.lock() {
            s.push(request);
        }
        let reason = if status == 200 { "OK" } else { "Answered" };
        let mut out = &stream;
        let _ = write!(
            out,
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
    }
}

/// Streams a POST body (8 KiB every 10 ms, up to `total` bytes) to `path` on `origin` until
/// the server answers; returns the status (0 for none) and how many body bytes had been sent
/// when the answer arrived. `chunked` sends without `Content-Length`. For answers that come
/// before a body ends: the server may close the connection then, which a client that writes
/// the whole body before reading (ureq) reports as a reset instead of the answer.
pub fn upload(
    origin: &str,
    path: &str,
    headers: &[(&str, &str)],
    total: usize,
    chunked: bool,
) -> (u16, usize) {
    use std::io::{BufRead, BufReader, Write};
    let addr = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {total}")
    };
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = stream.try_clone().expect("clone");
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        let _ = tx.send(status.unwrap_or(0u16));
    });
    let chunk = vec![b' '; 8 * 1024];
    let mut sent = 0;
    while sent < total {
        if let Ok(status) = rx.try_recv() {
            return (status, sent);
        }
        let piece = &chunk[..chunk.len().min(total - sent)];
        let mut framed = Vec::with_capacity(piece.len() + 16);
        if chunked {
            framed.extend(format!("{:x}\r\n", piece.len()).into_bytes());
        }
        framed.extend_from_slice(piece);
        if chunked {
            framed.extend_from_slice(b"\r\n");
        }
        if stream.write_all(&framed).is_err() {
            break; // the server closed the connection: its answer is on the way
        }
        sent += piece.len();
        std::thread::sleep(Duration::from_millis(10));
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let status = rx.recv_timeout(Duration::from_secs(30)).unwrap_or(0);
    (status, sent)
}

/// `openssl ARGS` run in `dir`: its standard output; a failure fails the test with
/// openssl's message (scripts/setup.sh installs openssl).
pub fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A self-serve token from `keyward portal-token --email EMAIL --ttl 10m EXTRA…`, signed
/// with `secret` (as a developer or a customer's backend would make one).
pub fn portal_token(email: &str, secret: &str, extra: &[&str]) -> String {
    let out = Command::new(cli_binary())
        .args(["portal-token", "--email", email, "--ttl", "10m"])
        .args(extra)
        .env("PORTAL_JWT_SECRET", secret)
        .output()
        .expect("run keyward portal-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The SHA-256 hex digest of `bytes`: how `MANAGEMENT_TOKENS` lists a token.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a `keyward` run left: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

/// Runs the CLI, `keyward args…`, in `dir` against the developer API at `api` with the
/// management token, without colour, with `env` added.
pub fn keyward_at(api: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(cli_binary());
    cmd.args(args)
        .current_dir(dir)
        .env("KEYWARD_URL", api)
        .env("KEYWARD_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("KEYWARD_ACCOUNT")
        .env_remove("GITHUB_SHA");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run keyward");
    Run {
        code: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`keyward_at`] against `w`.
pub fn keyward(w: &Worker, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    keyward_at(&w.api_base(), dir, args, env)
}

/// Creates bucket `default` (if needed) and the consumer `body` describes, with one key;
/// returns the creating answer (its `apiKeys[0].key` is the plaintext).
pub fn create_consumer(w: &Worker, body: &Value) -> Value {
    let bucket = admin(
        "POST",
        &format!("{}/key-buckets", w.account()),
        Some(r#"{"name":"default"}"#),
    );
    assert!(bucket.status == 200 || bucket.status == 409, "{bucket:?}");
    let created = admin(
        "POST",
        &format!(
            "{}/key-buckets/default/consumers?with-api-key=true",
            w.account()
        ),
        Some(&body.to_string()),
    );
    assert_eq!(created.status, 200, "{created:?}");
    created.json()
}

/// [`create_consumer`] of consumer `name` with `metadata`; returns its key.
pub fn new_consumer(w: &Worker, name: &str, metadata: Value) -> String {
    create_consumer(w, &serde_json::json!({"name": name, "metadata": metadata}))["apiKeys"][0]
        ["key"]
        .as_str()
        .expect("plaintext key in the creating response")
        .to_owned()
}
