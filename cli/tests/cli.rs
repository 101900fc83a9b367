//! The `keyward` binary end to end, offline: `validate` on good and bad files (each class
//! of problem at its `file:line:col`), `schema` against the committed schema, completions,
//! help and exit codes. Every test runs the built binary in its own temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        args.extend(["--url", url, "--token", "t"]);
        let out = keyward(dir.path(), &args);
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
        text(&out.stderr).contains("no management token; pass --token or set KEYWARD_TOKEN"),
        "{}",
        text(&out.stderr)
    );
    let out = keyward(
        dir.path(),
        &[
            "plan",
            "--url",
            "http://127.0.0.1:9/_keyward",
            "--token",
            "t",
        ],
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
