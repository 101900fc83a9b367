//! The `keyward` binary end to end, offline: `validate` on good and bad files (each class
//! of problem at its `file:line:col`), `schema` against the committed schema, completions,
//! help and exit codes; and the networked commands' safety against a canned HTTP server on
//! 127.0.0.1 ([`Fake`]): where the token may go and where it comes from, redirects, and
//! server text printed escaped. Every test runs the built binary in its own temporary
//! directory.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The repository root (the CLI crate's parent).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate has a parent")
        .to_path_buf()
}

/// Runs `keyward args…` in `dir` with colour settings cleared.
fn keyward(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("KEYWARD_TOKEN")
        .output()
        .expect("keyward runs")
}

/// [`keyward`] with `env` set (e.g. `KEYWARD_TOKEN`).
fn keyward_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("KEYWARD_TOKEN")
        .env_remove("KEYWARD_URL")
        .env_remove("KEYWARD_ACCOUNT")
        .env_remove("KEYWARD_INSECURE_HTTP")
        .envs(env.iter().copied())
        .output()
        .expect("keyward runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `keys.yaml` with `content` into a new temporary directory and validates it there.
fn validate(content: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.yaml"), content).unwrap();
    let out = keyward(dir.path(), &["validate", "keys.yaml"]);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn validate_passes_on_the_repository_keys_yaml() {
    let out = keyward(&repo(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "keys.yaml: ok, 1 bucket, 3 consumers, 4 managers\n"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn validate_reads_keys_yaml_of_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.yaml"),
        "version: 1\nbuckets:\n  default:\n    consumers:\n      acme:\n        managers: [a@b.example]\n",
    )
    .unwrap();
    let out = keyward(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "keys.yaml: ok, 1 bucket, 1 consumer, 1 manager\n"
    );
}

/// A file with one consumer `acme` in bucket `default` whose body is `body`; the body's
/// first line is line 6, indented to column 9.
fn consumer(body: &str) -> String {
    let mut text = String::from("version: 1\nbuckets:\n  default:\n    consumers:\n      acme:\n");
    for line in body.lines() {
        text.push_str("        ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[test]
fn validate_points_at_each_class_of_problem() {
    let big = "x".repeat(1100);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "yaml syntax",
            "version: 1\nbuckets:\n  default: [1, 2\n  other: 3\n".into(),
            "keys.yaml:4:8: invalid yaml",
        ),
        (
            "unknown field",
            consumer("managres: [a@b.example]"),
            "keys.yaml:6:9: consumer 'acme': unknown field 'managres'",
        ),
        (
            "wrong type",
            consumer("tags: [team]"),
            "keys.yaml:6:15: consumer 'acme': tags must be a mapping, found a list",
        ),
        (
            "duplicate key in metadata",
            consumer("metadata:\n  plan: gold\n  plan: silver"),
            "keys.yaml:8:11: consumer 'acme': metadata key 'plan' is defined twice",
        ),
        (
            "duplicate consumer",
            "version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n      acme: {}\n"
                .into(),
            "keys.yaml:6:7: bucket 'default': consumer 'acme' is defined twice",
        ),
        (
            "invalid consumer name",
            "version: 1\nbuckets:\n  default:\n    consumers:\n      Acme: {}\n".into(),
            "keys.yaml:5:7: consumer name 'Acme' is invalid",
        ),
        (
            "invalid bucket name",
            "version: 1\nbuckets:\n  prod: {}\n".into(),
            "keys.yaml:3:3: bucket name 'prod' is invalid",
        ),
        (
            "invalid e-mail",
            consumer("managers:\n  - bob@"),
            "keys.yaml:7:13: consumer 'acme': manager 'bob@' is not an e-mail address",
        ),
        (
            "duplicate e-mail after lower-casing",
            consumer("managers:\n  - bob@acme.example\n  - Bob@ACME.example"),
            "keys.yaml:8:13: consumer 'acme': manager 'Bob@ACME.example' is listed twice",
        ),
        (
            "metadata not an object",
            consumer("metadata: gold"),
            "keys.yaml:6:19: consumer 'acme': metadata must be a JSON object",
        ),
        (
            "metadata too large",
            consumer(&format!("metadata:\n  note: {big}")),
            "keys.yaml:6:9: consumer 'acme': metadata is 1111 bytes serialized",
        ),
        (
            "too many tags",
            consumer("tags: {a: '1', b: '2', c: '3', d: '4', e: '5', f: '6'}"),
            "keys.yaml:6:9: consumer 'acme': 6 tags given, at most 5 are allowed",
        ),
        (
            "bad tag key",
            consumer("tags:\n  bad key: x"),
            "keys.yaml:7:11: consumer 'acme': tag key 'bad key' is invalid",
        ),
        (
            "missing version",
            "buckets: {}\n".into(),
            "keys.yaml:1:1: version is missing",
        ),
        (
            "unsupported version",
            "version: 2\nbuckets: {}\n".into(),
            "keys.yaml:1:10: version 2 is not supported; use version: 1",
        ),
    ];
    for (class, content, expected) in cases {
        let (code, stdout, stderr) = validate(&content);
        assert_eq!(code, 1, "{class}: exit code\n{stderr}");
        assert!(
            stderr.contains(expected),
            "{class}: expected {expected:?} in stderr:\n{stderr}"
        );
        assert!(
            stderr.ends_with(" found\n") && stderr.contains("\nkeyward: error: keys.yaml: "),
            "{class}: stderr ends with the summary:\n{stderr}"
        );
        assert_eq!(stdout, "", "{class}: nothing on stdout");
    }
}

#[test]
fn validate_reports_every_problem_sorted_by_position() {
    let content = "\
version: 3
buckets:
  default:
    consumers:
      acme:
        tags: {'bad key': x}
      Acme:
        managers: [bob@]
";
    let (code, _, stderr) = validate(content);
    assert_eq!(code, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "keys.yaml:1:10: version 3 is not supported; use version: 1",
            "keys.yaml:6:16: consumer 'acme': tag key 'bad key' is invalid; use 1 to 32 letters, digits, '_', '.' or '-'",
            "keys.yaml:7:7: consumer name 'Acme' is invalid; use 1 to 128 lowercase letters, digits and '-'",
            "keys.yaml:8:20: consumer 'Acme': manager 'bob@' is not an e-mail address; use name@domain",
            "keyward: error: keys.yaml: 4 problems found",
        ]
    );
}

/// `metadata.rateLimit` and `metadata.quota` are the consumer's limits: a value of another
/// shape is pointed at (the field inside it when it is there), and `plan` sends nothing.
#[test]
fn validate_points_at_limits_in_metadata_that_are_not_limits() {
    let content = "\
version: 1
buckets:
  default:
    consumers:
      acme:
        metadata:
          plan: gold
          rateLimit:
            requestsPerMinute: 1.5
      globex:
        metadata: {rateLimit: 600, quota: {requests: 100, period: week}}
      initech:
        metadata:
          rateLimit: {requestsPerMinute: 600.0}
          quota: {requests: 10000, period: month}
";
    let (code, stdout, stderr) = validate(content);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "keys.yaml:9:32: consumer 'acme': metadata.rateLimit: requestsPerMinute must be a whole number from 1 to 1000000000",
            "keys.yaml:11:31: consumer 'globex': metadata.rateLimit: must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}",
            "keys.yaml:11:67: consumer 'globex': metadata.quota: period must be day or month (calendar periods in UTC)",
            "keyward: error: keys.yaml: 3 problems found",
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.yaml"), content).unwrap();
    let out = keyward_env(
        dir.path(),
        &["plan", "--url", "http://127.0.0.1:9/_keyward"],
        &[("KEYWARD_TOKEN", "t")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("keyward: error: nothing was sent: keys.yaml: 3 problems found"),
        "{stderr}"
    );

    // Fixed (a whole number may be written 600.0), the file is clean.
    let fixed = content
        .replace("requestsPerMinute: 1.5", "requestsPerMinute: 60")
        .replace(
            "rateLimit: 600,",
            "rateLimit: {requests: 10, periodSeconds: 1},",
        )
        .replace("period: week", "period: day");
    let (code, stdout, stderr) = validate(&fixed);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout, "keys.yaml: ok, 1 bucket, 3 consumers, 0 managers\n");
}

#[test]
fn validate_of_a_missing_file_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path(), &["validate", "nope.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("keyward: error: reading nope.yaml: "),
        "{stderr}"
    );
}

#[test]
fn plan_and_sync_refuse_a_bad_file_before_any_network() {
    let (dir, url) = (tempfile::tempdir().unwrap(), "http://127.0.0.1:9/_keyward");
    std::fs::write(dir.path().join("keys.yaml"), "version: 2\n").unwrap();
    for cmd in [
        &["plan", "--exit-code"][..],
        &["sync"],
        &["sync", "--dry-run"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--url", url]);
        let out = keyward_env(dir.path(), &args, &[("KEYWARD_TOKEN", "t")]);
        // 1, never 2: an invalid file is an error, not "changes".
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("keys.yaml:1:10: version 2"), "{stderr}");
        assert!(
            stderr.contains("keyward: error: nothing was sent: keys.yaml: 1 problem found"),
            "{stderr}"
        );
        assert_eq!(text(&out.stdout), "", "{cmd:?}");
    }
}

#[test]
fn networked_commands_need_a_token_and_say_where_they_could_not_connect() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.yaml"),
        "version: 1\nbuckets:\n  default: {}\n",
    )
    .unwrap();
    let out = keyward(
        dir.path(),
        &["plan", "--url", "http://127.0.0.1:9/_keyward"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("no management token; set KEYWARD_TOKEN or pass --token-file PATH"),
        "{}",
        text(&out.stderr)
    );
    let out = keyward_env(
        dir.path(),
        &["plan", "--url", "http://127.0.0.1:9/_keyward"],
        &[("KEYWARD_TOKEN", "t")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no answer; is the Worker running?"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_committed_schema_is_what_the_code_generates() {
    let out = keyward(&repo(), &["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(repo().join("schemas/keys.schema.json"))
        .unwrap_or_default()
        .replace("\r\n", "\n");
    assert!(
        text(&out.stdout) == committed,
        "schemas/keys.schema.json is stale; run `cargo run -p keyward -- schema > schemas/keys.schema.json`"
    );
}

/// The schema's `rateLimit` and `quota` accept exactly what the checker's rule accepts, so an
/// editor never flags a file `validate` passes, nor passes one it refuses.
#[test]
fn the_schema_describes_limits_as_validate_reads_them() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/keys.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let limits = [
        json!({"rateLimit": {"requestsPerMinute": 600}}),
        json!({"rateLimit": {"requestsPerMinute": 600.0}}),
        json!({"rateLimit": {"requestsPerMinute": 1.5}}),
        json!({"rateLimit": {"requestsPerMinute": 0}}),
        json!({"rateLimit": {"requestsPerMinute": 1_000_000_001u64}}),
        json!({"rateLimit": {"requestsPerMinute": "600"}}),
        json!({"rateLimit": {"requestsPerMinute": 10, "burst": 2}}),
        json!({"rateLimit": {"requestsPerMinute": 10, "requests": 5, "periodSeconds": 1}}),
        json!({"rateLimit": {"requests": 5, "periodSeconds": 1}}),
        json!({"rateLimit": {"requests": 5, "periodSeconds": 3601}}),
        json!({"rateLimit": {"requests": 5}}),
        json!({"rateLimit": {}}),
        json!({"rateLimit": 600}),
        json!({"rateLimit": null}),
        json!({"quota": {"requests": 100, "period": "day"}}),
        json!({"quota": {"requests": 100, "period": "month"}}),
        json!({"quota": {"requests": 100, "period": "week"}}),
        json!({"quota": {"requests": 100}}),
        json!({"quota": {"requests": 100, "period": "day", "reset": 1}}),
        json!({"quota": "100/day"}),
        json!({"ratelimit": 5, "limits": {"quota": "free-form"}}),
    ];
    for metadata in limits {
        let file = json!({"version": 1, "buckets": {"default": {"consumers": {"acme": {"metadata": metadata}}}}});
        assert_eq!(
            validator.is_valid(&file),
            keyward_core::validate::metadata(&metadata).is_ok(),
            "{metadata}"
        );
    }
}

#[test]
fn the_committed_openapi_document_is_what_the_code_declares() {
    let out = keyward(&repo(), &["schema", "--openapi"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(repo().join("schemas/openapi.json"))
        .unwrap_or_default()
        .replace("\r\n", "\n");
    assert!(
        text(&out.stdout) == committed,
        "schemas/openapi.json is stale; run `cargo run -p keyward -- schema --openapi > schemas/openapi.json`"
    );
}

#[test]
fn completions_print_a_script() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = keyward(dir.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(text(&out.stdout).contains("keyward"), "{shell}");
    }
    let out = keyward(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unrecognized subcommand 'frobnicate'"));
    assert_eq!(text(&out.stdout), "");
    let out = keyward(dir.path(), &["validate", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    let out = keyward(dir.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["validate"],
        &["plan"],
        &["sync"],
        &["export"],
        &["check"],
        &["consumers"],
        &["consumers", "list"],
        &["consumers", "get"],
        &["keys"],
        &["keys", "create"],
        &["keys", "list"],
        &["keys", "roll"],
        &["keys", "delete"],
        &["schema"],
        &["completions"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = keyward(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let help = text(&out.stdout);
        assert!(
            help.contains("\nExample:\n  ") || help.contains("\nExamples:\n  "),
            "{cmd:?} has no example:\n{help}"
        );
    }
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let plain = keyward(dir.path(), &["--help"]);
    assert!(
        !text(&plain.stdout).contains('\x1b'),
        "not a terminal: no colour"
    );
    let forced = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("--help")
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!text(&forced.stdout).contains('\x1b'), "NO_COLOR wins");
}

/// One request the fake Worker received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, below `/_keyward`.
    target: String,
    authorization: Option<String>,
}

/// One canned answer: for requests whose target (below `/_keyward`) starts with `path`.
struct Answer {
    path: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn answer(path: &str, status: u16, body: &Value) -> Answer {
    Answer {
        path: format!("/v1/accounts/local{path}"),
        status,
        headers: vec![],
        body: body.to_string(),
    }
}

/// A canned developer API on 127.0.0.1: each request gets the first answer whose path
/// prefix matches (404 otherwise) and is recorded; each connection is counted, so a test can
/// prove that nothing was sent. Its thread ends with the test binary.
struct Fake {
    port: u16,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(answers: Vec<Answer>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (Arc::clone(&connections), Arc::clone(&seen));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = Fake::serve(stream, &answers, &log);
            }
        });
        Fake {
            port,
            connections,
            seen,
        }
    }

    /// The API base on 127.0.0.1.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/_keyward", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn serve(stream: TcpStream, answers: &[Answer], log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or_default().to_owned();
        let target = words.next().unwrap_or_default().to_owned();
        let (mut authorization, mut length) = (None, 0);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => authorization = Some(value.trim().to_owned()),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        reader.read_exact(&mut vec![0; length])?;
        let target = target
            .strip_prefix("/_keyward")
            .unwrap_or(&target)
            .to_owned();
        let found = answers.iter().find(|a| target.starts_with(&a.path));
        log.lock().unwrap().push(Seen {
            method,
            target,
            authorization,
        });
        let (status, headers, body) = match found {
            Some(a) => (a.status, a.headers.as_slice(), a.body.as_str()),
            None => (404, &[][..], r#"{"title":"Not Found"}"#),
        };
        let mut head = format!(
            "HTTP/1.1 {status} Canned\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = stream;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())
    }
}

/// A fake Worker with one consumer list (bucket `default`, account `local`).
fn fake_with_a_consumer() -> Fake {
    Fake::start(vec![answer(
        "/key-buckets/default/consumers",
        200,
        &json!({"data": [{"name": "acme", "source": "file", "managers": [], "description": "ci"}],
                "limit": 1000, "offset": 0, "total": 1}),
    )])
}

/// Plain http to anything but this machine is refused before any connection, with a message
/// that says what to do; `--insecure-http` (or `KEYWARD_INSECURE_HTTP=1`) allows it, and
/// loopback addresses need nothing.
#[test]
fn http_to_another_host_is_refused_unless_insecure_http() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_with_a_consumer();
    let token = [("KEYWARD_TOKEN", "t")];
    let list = ["consumers", "list", "--account", "local", "--url"];
    let run = |url: &str, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = list.to_vec();
        args.push(url);
        args.extend(extra);
        let mut env = env.to_vec();
        env.extend(token);
        keyward_env(dir.path(), &args, &env)
    };

    let out = run("http://keyward.example/_keyward", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "keyward: error: --url 'http://keyward.example/_keyward': plain http to a host other than \
         this machine would send the management token unencrypted, so nothing was sent; use \
         https://, or pass --insecure-http (KEYWARD_INSECURE_HTTP=1) if you trust every network \
         in between\n"
    );
    assert_eq!(text(&out.stdout), "");

    for url in [
        fake.url(),
        format!("http://localhost:{}/_keyward", fake.port),
    ] {
        let out = run(&url, &[], &[]);
        assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "acme\tfile\t-\tci\n");
    }
    let loopback = fake.connections.load(Ordering::SeqCst);

    // 0.0.0.0 is not a loopback address, but Linux connects it to this machine: the
    // fake Worker proves that the refusal sends nothing and the flag lets it through.
    if cfg!(target_os = "linux") {
        let url = format!("http://0.0.0.0:{}/_keyward", fake.port);
        let out = run(&url, &[], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr)
                .contains("so nothing was sent; use https://, or pass --insecure-http"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(
            fake.connections.load(Ordering::SeqCst),
            loopback,
            "nothing sent"
        );
        for (extra, env) in [
            (&["--insecure-http"][..], &[][..]),
            (&[], &[("KEYWARD_INSECURE_HTTP", "1")]),
        ] {
            let out = run(&url, extra, env);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert_eq!(text(&out.stdout), "acme\tfile\t-\tci\n");
        }
        assert_eq!(fake.connections.load(Ordering::SeqCst), loopback + 2);
    }

    let out = run("ftp://keyward.example/", &["--insecure-http"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("'ftp' is not http(s); use the Worker's API base"),
        "{}",
        text(&out.stderr)
    );
}

/// The token comes from `--token-file`, `--token` or `KEYWARD_TOKEN`, a flag first; only
/// `--token` warns, once.
#[test]
fn the_token_comes_from_a_file_the_environment_or_argv() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "tok-file\n").unwrap();
    let file = file.to_str().unwrap();
    let fake = fake_with_a_consumer();
    let url = fake.url();
    let base = ["consumers", "list", "--account", "local", "--url", &url];
    let warning = "keyward: warning: --token puts the token in your shell history and the process \
                   list; use KEYWARD_TOKEN or --token-file\n";
    /// Flags, environment, the token sent, stderr.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 5] = [
        (&["--token-file", file], &[], "tok-file", ""),
        (&[], &[("KEYWARD_TOKEN", "tok-env")], "tok-env", ""),
        (&["--token", "tok-argv"], &[], "tok-argv", warning),
        (
            &["--token-file", file],
            &[("KEYWARD_TOKEN", "tok-env")],
            "tok-file",
            "",
        ),
        (
            &["--token", "tok-argv"],
            &[("KEYWARD_TOKEN", "tok-env")],
            "tok-argv",
            warning,
        ),
    ];
    for (extra, env, sent, stderr) in cases {
        let mut args = base.to_vec();
        args.extend(extra);
        let before = fake.seen().len();
        let out = keyward_env(dir.path(), &args, env);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{extra:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), stderr, "{extra:?} {env:?}");
        let seen = fake.seen();
        assert_eq!(seen.len(), before + 1);
        assert_eq!(
            seen[before].authorization.as_deref(),
            Some(format!("Bearer {sent}").as_str()),
            "{extra:?} {env:?}"
        );
    }

    let out = keyward_env(
        dir.path(),
        &[&base[..], &["--token-file", file, "--token", "x"]].concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "both flags: a usage error");
    assert!(text(&out.stderr).contains("cannot be used with"));
}

#[test]
fn a_missing_or_empty_token_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_with_a_consumer();
    let url = fake.url();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.path().join("missing");
    for (path, says) in [
        (
            &empty,
            "the file is empty; write the management token into it",
        ),
        (&missing, "; check the path and its permissions"),
    ] {
        let path = path.to_str().unwrap();
        let out = keyward_env(
            dir.path(),
            &[
                "consumers",
                "list",
                "--account",
                "local",
                "--url",
                &url,
                "--token-file",
                path,
            ],
            &[("KEYWARD_TOKEN", "not-this-one")],
        );
        assert_eq!(out.status.code(), Some(1));
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("keyward: error: --token-file {path}: ")),
            "{stderr}"
        );
        assert!(stderr.trim_end().ends_with(says), "{stderr}");
    }
    assert_eq!(fake.connections.load(Ordering::SeqCst), 0, "nothing sent");
}

/// A redirect is not followed (it would take the request, and the answer's trust, to
/// another host or to plain http): it is an error naming its target.
#[test]
fn a_redirect_is_an_error_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = fake_with_a_consumer();
    let mut moved = answer("/key-buckets/default/consumers", 302, &json!({}));
    moved.headers.push(("location".into(), elsewhere.url()));
    let fake = Fake::start(vec![moved]);
    let out = keyward_env(
        dir.path(),
        &[
            "consumers",
            "list",
            "--account",
            "local",
            "--url",
            &fake.url(),
        ],
        &[("KEYWARD_TOKEN", "t")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            ": the Worker answered 302 redirecting to '{}'; keyward follows no redirect",
            elsewhere.url()
        )),
        "{stderr}"
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert!(
        seen[0]
            .target
            .starts_with("/v1/accounts/local/key-buckets/default/consumers?"),
        "{seen:?}"
    );
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
}

/// Text a hostile Worker could send: a title change and screen clear (ESC), a C1 CSI, DEL,
/// a right-to-left override and an isolate, a line break and a tab.
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J \u{9b}31m\u{7f} \u{202e}exe.txt\u{2066}\n\tx";
/// [`HOSTILE`] as the CLI must print it in text.
const SHOWN: &str = "\\x1b]0;owned\\x07\\x1b[2J \\u{9b}31m\\x7f \\u{202e}exe.txt\\u{2066}\\n\\tx";

/// Whether `out` holds anything a terminal would act on: a control other than the line
/// breaks and tabs the CLI lays out, or a bidi control.
fn unsafe_chars(out: &str) -> Vec<char> {
    out.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// Everything printed from the Worker's answers is escaped: table cells and fields
/// (including line breaks and tabs inside them), keys, `check` problems, error details; the
/// JSON forms stay valid JSON of the same values.
#[test]
fn text_from_the_worker_is_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let consumer = json!({
        "name": format!("acme{HOSTILE}"), "id": "csr_1", "source": "file",
        "description": HOSTILE, "metadata": {"plan": HOSTILE}, "tags": {},
        "managers": [{"email": format!("a@b{HOSTILE}")}],
        "createdOn": HOSTILE, "updatedOn": "2026-01-01T00:00:00Z",
        "apiKeys": [{"id": "key_1", "key": "kw_****1234", "expiresOn": HOSTILE, "description": HOSTILE}],
    });
    let fake = Fake::start(vec![
        answer(
            "/key-buckets/default/consumers/acme/keys?",
            200,
            &json!({"data": consumer["apiKeys"], "limit": 1000, "offset": 0, "total": 1}),
        ),
        answer(
            "/key-buckets/default/consumers/acme/keys",
            200,
            &json!({"key": format!("kw_{HOSTILE}")}),
        ),
        answer("/key-buckets/default/consumers/acme?", 200, &consumer),
        answer(
            "/key-buckets/default/consumers/acme/usage",
            200,
            &json!({"consumer": "acme", "from": HOSTILE, "to": "2026-11-30", "requests": 7,
                    "limiterCalls": 1,
                    "keys": [{"id": "key_1", "lastUsedOn": HOSTILE, "requests": 7,
                              "days": [{"date": "2026-11-30", "requests": 3}]}]}),
        ),
        answer(
            "/key-buckets/default/consumers/nope?",
            403,
            &json!({"title": format!("Forbidden{HOSTILE}"), "detail": HOSTILE}),
        ),
        answer(
            "/key-buckets/default/consumers?",
            200,
            &json!({"data": [consumer], "limit": 1000, "offset": 0, "total": 1}),
        ),
        answer(
            "/key-buckets/default/$check",
            200,
            &json!({"consistent": false, "repaired": false, "checked": 1,
                    "problems": [{"key": format!("k:{HOSTILE}"), "problem": HOSTILE}],
                    "unreadableLegacyRecords": [HOSTILE]}),
        ),
    ]);
    let url = fake.url();
    let run = |args: &[&str]| {
        let args = [args, &["--account", "local", "--url", &url][..]].concat();
        let out = keyward_env(dir.path(), &args, &[("KEYWARD_TOKEN", "t")]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        for printed in [&stdout, &stderr] {
            assert_eq!(
                unsafe_chars(printed),
                Vec::<char>::new(),
                "{args:?}:\n{printed}"
            );
        }
        (out.status.code(), stdout, stderr)
    };

    let (code, stdout, _) = run(&["consumers", "list"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("acme{SHOWN}\tfile\ta@b{SHOWN}\t{SHOWN}\n"));

    let (code, stdout, _) = run(&["consumers", "get", "acme"]);
    assert_eq!(code, Some(0));
    for line in [
        format!("name:        acme{SHOWN}\n"),
        format!("description: {SHOWN}\n"),
        // Metadata is shown as JSON: serde_json escapes C0, the rest as in text.
        "metadata:    {\"plan\":\"\\u001b]0;owned\\u0007\\u001b[2J \\u{9b}31m\\x7f \\u{202e}exe.txt\\u{2066}\\n\\tx\"}\n".into(),
        format!("created:     {SHOWN}\n"),
        format!("  key_1\tkw_****1234\texpires {SHOWN}\tlast used {SHOWN}, today 3, 30 days 7\t{SHOWN}\n"),
        format!("requests:    7 from {SHOWN} to 2026-11-30 (UTC)\n"),
        "limits:      none set (the Worker's RATE_LIMIT_DEFAULT and QUOTA_DEFAULT apply)\n".into(),
    ] {
        assert!(stdout.contains(&line), "{line:?} in:\n{stdout}");
    }

    for args in [
        &["consumers", "get", "acme", "--json"][..],
        &["consumers", "list", "--json"],
        &["keys", "list", "--consumer", "acme", "--json"],
    ] {
        let (code, stdout, _) = run(args);
        assert_eq!(code, Some(0), "{args:?}");
        let got: Value = serde_json::from_str(&stdout).expect("valid JSON");
        let expected = match args[1] {
            "get" => {
                let mut c = consumer.clone();
                c["usage"] = json!({"consumer": "acme", "from": HOSTILE, "to": "2026-11-30",
                    "requests": 7, "limiterCalls": 1,
                    "keys": [{"id": "key_1", "lastUsedOn": HOSTILE, "requests": 7,
                              "days": [{"date": "2026-11-30", "requests": 3}]}]});
                c
            }
            "list" if args[0] == "consumers" => json!([consumer]),
            _ => json!({"data": consumer["apiKeys"], "limit": 1000, "offset": 0, "total": 1}),
        };
        assert_eq!(got, expected, "{args:?}: the same values");
        assert!(
            stdout.contains("\\u009b31m\\u007f \\u202eexe.txt\\u2066"),
            "{stdout}"
        );
    }

    let (code, stdout, _) = run(&["keys", "list", "--consumer", "acme"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!("key_1\tkw_****1234\texpires {SHOWN}\t{SHOWN}\n")
    );

    let (code, stdout, _) = run(&["keys", "create", "--consumer", "acme"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("kw_{SHOWN}\n"));

    let (code, _, stderr) = run(&["consumers", "get", "nope"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.ends_with(&format!(": 403 Forbidden{SHOWN}: {SHOWN}\n")),
        "{stderr}"
    );

    let (code, stdout, _) = run(&["check", "--bucket", "default"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains(&format!(": {SHOWN}\n")), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "default: {SHOWN}: a consumer record of the old KV layout"
        )),
        "{stdout}"
    );
}

/// A plan shows the Worker's values escaped, in text and markdown; its JSON stays the same
/// document.
#[test]
fn a_plan_shows_the_workers_values_escaped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.yaml"),
        "version: 1\nbuckets:\n  default:\n    consumers:\n      acme:\n        description: ci\n",
    )
    .unwrap();
    let fake = Fake::start(vec![
        answer(
            "/key-buckets/default/consumers/$index",
            200,
            &json!({"data": [{"name": "acme", "digest": "differs", "source": "file"}]}),
        ),
        answer(
            "/key-buckets/default/consumers/acme?",
            200,
            &json!({"name": "acme", "description": HOSTILE,
                    "lastSync": {"commit": HOSTILE, "at": "2026-01-01T00:00:00Z"}}),
        ),
        answer("/key-buckets/default", 200, &json!({"name": "default"})),
    ]);
    let url = fake.url();
    for format in ["text", "markdown", "json"] {
        let out = keyward_env(
            dir.path(),
            &[
                "plan",
                "--format",
                format,
                "--account",
                "local",
                "--url",
                &url,
            ],
            &[("KEYWARD_TOKEN", "t")],
        );
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            unsafe_chars(&stdout),
            Vec::<char>::new(),
            "{format}:\n{stdout}"
        );
        if format == "json" {
            let plan: Value = serde_json::from_str(&stdout).expect("valid JSON");
            let change = &plan["buckets"][0]["changes"][0];
            assert_eq!(change["fields"][0]["before"], HOSTILE);
            assert_eq!(change["lastSync"]["commit"], HOSTILE);
        } else {
            assert!(
                stdout.contains("\\u001b]0;owned\\u0007\\u001b[2J \\u{9b}31m\\x7f \\u{202e}exe.txt\\u{2066}\\n\\tx"),
                "{format}:\n{stdout}"
            );
        }
    }
}

/// `keyward import zuplo` against a broken source: a page that is not JSON, or not shaped
/// like a page, is an error that never shows the page (it holds keys); a token that cannot
/// go in a header is refused before any connection, without being printed.
#[test]
fn a_broken_source_never_makes_the_import_print_keys_or_tokens() {
    const KEY: &str = "zpka_d67b7e241bb948758f415b79aa8ec822_2efb7009";
    let dir = tempfile::tempdir().unwrap();
    // `keyward import zuplo` from the fake as the source, with `token` as ZUPLO_API_KEY; the
    // Worker's URL is never reached.
    let import = |fake: &Fake, token: &str| {
        keyward_env(
            dir.path(),
            &[
                "import",
                "zuplo",
                "--from-url",
                &fake.url(),
                "--account",
                "local",
                "--bucket",
                "source",
                "--url",
                "http://127.0.0.1:9",
                "--to-account",
                "local",
            ],
            &[("ZUPLO_API_KEY", token), ("KEYWARD_TOKEN", "worker-token")],
        )
    };
    let bucket = json!({"name": "source", "isRetrievable": true, "id": "b", "createdOn": "t", "updatedOn": "t"});
    for page in [
        format!(
            r#"{{"data": [{{"name": "acme", "apiKeys": {{"data": [{{"key": "{KEY}"}}]}}}},], "total": 1}}"#
        ),
        format!(r#"{{"data": [{{"name": "acme", "apiKeys": ["{KEY}"]}}], "total": 1}}"#),
    ] {
        let fake = Fake::start(vec![
            Answer {
                path: "/v1/accounts/local/key-buckets/source/consumers".into(),
                status: 200,
                headers: vec![],
                body: page,
            },
            answer("/key-buckets/source", 200, &bucket),
        ]);
        let out = import(&fake, "source-token");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("its content is not shown"), "{text}");
        assert!(!text.contains(&KEY[5..37]), "a key in the output: {text}");
        assert!(!dir.path().join("keys.yaml").exists());
    }
    for token in ["two\nlines", "smart\u{201c}quote"] {
        let fake = Fake::start(vec![]);
        let out = import(&fake, token);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("ZUPLO_API_KEY holds"), "{text}");
        assert!(!text.contains("lines") && !text.contains("quote"), "{text}");
        assert_eq!(fake.connections.load(Ordering::SeqCst), 0);
    }
}
