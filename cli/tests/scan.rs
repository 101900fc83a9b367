//! `keyward scan` on real files and real git repositories: a corpus of keys in many settings
//! and near-misses (exactly the valid keys, each at its line and column), history, diffs and
//! the index, SARIF checked against the SARIF 2.1.0 schema, and no plaintext in any output.

use keyward_core::key::format::checksum;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A valid key of `prefix`, its body made of `seed` repeated (distinct seeds, distinct keys).
fn key(prefix: &str, seed: &str) -> String {
    let body: String = seed.chars().cycle().take(32).collect();
    let head = format!("{prefix}_{body}");
    format!("{head}_{}", checksum(&head))
}

fn masked(key: &str) -> String {
    keyward_core::key::format::mask(key)
}

fn scan(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KEYWARD_TOKEN")
        .output()
        .expect("run keyward scan")
}

/// (path, line, column, masked key) of each finding of a `--format json` run.
fn findings(out: &Output) -> BTreeSet<(String, u64, u64, String)> {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Where `needle` is in `text`: 1-based line, and column in code points.
fn position(text: &str, needle: &str) -> (u64, u64) {
    let at = text.find(needle).expect("needle in text");
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() as u64 + 1;
    (line, column)
}

fn assert_no_plaintext(outputs: &[&Output], keys: &[String]) {
    for out in outputs {
        for k in keys {
            for stream in [&out.stdout, &out.stderr] {
                assert!(
                    !String::from_utf8_lossy(stream).contains(k.as_str()),
                    "a key's plaintext in the output"
                );
            }
        }
    }
}

#[test]
fn the_corpus_gives_exactly_the_valid_keys_at_their_positions() {
    let dir = tempfile::tempdir().unwrap();
    let k: Vec<String> = (0..20).map(|i| key("kw", &format!("Seed{i}xQ9"))).collect();
    let acme = key("acme_live", "Other7Prefix");

    // A key with one character changed, two swapped, a body too long or short, a character
    // outside base62, a checksum that does not hold, and an upper-case prefix.
    let base = key("kw", "NearMiss42");
    let mut changed = base.clone();
    changed.replace_range(10..11, if &base[10..11] == "Z" { "Y" } else { "Z" });
    let mut swapped = base.clone().into_bytes();
    swapped.swap(5, 6);
    let swapped = String::from_utf8(swapped).unwrap();
    assert_ne!(swapped, base, "the swap changed nothing");
    let long_head = format!("kw_{}", "L0ng".repeat(8) + "X");
    let long = format!("{long_head}_{}", checksum(&long_head));
    let short_head = format!("kw_{}", "Sh0rt".repeat(6) + "S");
    let short = format!("{short_head}_{}", checksum(&short_head));
    let alpha_head = format!("kw_{}-{}", "Alph4".repeat(3), "bet5".repeat(4));
    let alpha = format!("{alpha_head}_{}", checksum(&alpha_head));
    let bad_check = format!("{}_AAAAAA", &base[..base.len() - 7]);
    let upper_head = format!("KW_{}", "Upper9".repeat(6).get(..32).unwrap());
    let upper = format!("{upper_head}_{}", checksum(&upper_head));
    let near_misses = [changed, swapped, long, short, alpha, bad_check, upper];

    let files: Vec<(&str, String)> = vec![
        ("config.json", format!("{{\n  \"apiKey\": \"{}\",\n  \"n\": 1\n}}\n", k[0])),
        ("app.yaml", format!("service:\n  api_key: {}\n  keys:\n    - '{}'\n", k[1], k[2])),
        ("Cargo.toml", format!("[package]\ntoken = '{}'\n", k[3])),
        (".env", format!("KEYWARD_KEY={}\nOTHER=1\n", k[4])),
        ("deploy.sh", format!("#!/bin/sh\ncurl -H \"Authorization: Bearer {}\" https://api.example.com/\n", k[5])),
        ("urls.txt", format!("https://api.example.com/v1/orders?api_key={}&page=2\nhttps://user:{}@api.example.com/\n", k[6], k[7])),
        ("client.py", format!("import os\nKEY = \"{}\"  # do not commit\n", k[8])),
        ("client.js", format!("const key = `{}`;\nexport default key;\n", k[9])),
        ("main.rs", format!("fn main() {{\n    let key = r#\"{}\"#;\n}}\n", k[10])),
        ("server.log", format!("2026-11-30T05:00:00Z INFO GET /orders key={} status=200\n2026-11-30T05:00:01Z INFO ok\n", k[11])),
        ("bundle.min.js", format!("{}var a=\"{}\",b=function(){{return'{}'}};", "x=1;".repeat(500), k[12], k[13])),
        ("words.txt", format!("xyz{}QRS and 9{}_\n", k[14], k[15])),
        ("crlf.txt", format!("one\r\ntwo\r\nkey: {}\r\n", k[16])),
        ("unicode.md", format!("ключ: {}\n😀 é {}\n", k[17], k[18])),
        ("other.txt", format!("acme: {acme}\n")),
        ("near.txt", near_misses.iter().map(|m| format!("miss: {m}\n")).collect::<String>()),
    ];
    let mut expected = BTreeSet::new();
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
        for key in k.iter().chain([&acme]) {
            if text.contains(key.as_str()) {
                let (line, column) = position(text, key);
                expected.insert((name.to_string(), line, column, masked(key)));
            }
        }
    }
    // Ignored, binary, and nested files.
    std::fs::write(dir.path().join(".gitignore"), "ignored.txt\n").unwrap();
    std::fs::write(dir.path().join("ignored.txt"), &k[19]).unwrap();
    std::fs::write(dir.path().join("blob.bin"), format!("\0\0{}", k[19])).unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(dir.path().join("nested/deep.txt"), format!("k={}\n", k[0])).unwrap();
    expected.insert(("nested/deep.txt".into(), 1, 3, masked(&k[0])));
    // UTF-16 with a byte-order mark (Windows tools write it) is text, not binary.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            format!("x\r\n é {}", k[1])
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    std::fs::write(dir.path().join("win.txt"), utf16).unwrap();
    expected.insert(("win.txt".into(), 2, 4, masked(&k[1])));
    assert_eq!(
        expected.len(),
        22,
        "one per key placed, acme, nested and UTF-16 included"
    );

    let all = scan(dir.path(), &["--format", "json"]);
    assert_eq!(all.status.code(), Some(1), "{all:?}");
    let got: BTreeSet<_> = findings(&all)
        .into_iter()
        .map(|(p, l, c, m)| (p.trim_start_matches("./").to_owned(), l, c, m))
        .collect();
    assert_eq!(got, expected);

    let kw_only = scan(dir.path(), &["--format", "json", "--prefix", "kw"]);
    let want: BTreeSet<_> = expected
        .iter()
        .filter(|f| f.0 != "other.txt")
        .cloned()
        .collect();
    let got: BTreeSet<_> = findings(&kw_only)
        .into_iter()
        .map(|(p, l, c, m)| (p.trim_start_matches("./").to_owned(), l, c, m))
        .collect();
    assert_eq!(got, want);

    // --no-ignore reads what .gitignore leaves out (binary files stay out).
    let everything = scan(dir.path(), &["--format", "json", "--no-ignore"]);
    let got: BTreeSet<_> = findings(&everything)
        .into_iter()
        .map(|(p, l, c, m)| (p.trim_start_matches("./").to_owned(), l, c, m))
        .collect();
    let mut want = expected.clone();
    want.insert(("ignored.txt".into(), 1, 1, masked(&k[19])));
    assert_eq!(got, want);

    let text = scan(dir.path(), &[]);
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(&format!("unicode.md:2:5: {}", masked(&k[18]))),
        "{stdout}"
    );
    let sarif = scan(dir.path(), &["--format", "sarif", "-j", "1"]);
    let mut keys = k.clone();
    keys.push(acme);
    assert_no_plaintext(&[&all, &kw_only, &text, &sarif], &keys);

    // Nothing to find: exit 0.
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("a.txt"), near_misses.join("\n")).unwrap();
    let none = scan(clean.path(), &[]);
    assert_eq!(none.status.code(), Some(0), "{none:?}");
    assert!(none.stdout.is_empty());
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("kw", "Sarif1");
    let b = key("acme", "Sarif2");
    std::fs::write(dir.path().join("a file.txt"), format!("x {a}\n")).unwrap();
    std::fs::write(dir.path().join("b.txt"), format!("\n\n  {b}")).unwrap();
    let out = scan(dir.path(), &["--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: Value = serde_json::from_str(include_str!("data/sarif-2.1.0-rtm.5.json")).unwrap();
    let validator = jsonschema::draft4::new(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // A schema that can fail: a result without its message is refused.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!validator.is_valid(&broken));

    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["keyward/acme", "keyward/kw"]);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let first = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(first["artifactLocation"]["uri"], "a%20file.txt");
    assert_eq!(first["region"]["startLine"], 1);
    assert_eq!(first["region"]["startColumn"], 3);
    assert_eq!(first["region"]["endColumn"], 3 + a.len() as u64);
    let second = &results[1]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (second["startLine"].as_u64(), second["startColumn"].as_u64()),
        (Some(3), Some(3))
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&a));
}

/// A git repository in a temp dir, with a fixed identity and no user or system config.
struct Repo(tempfile::TempDir);

impl Repo {
    fn new() -> Repo {
        let repo = Repo(tempfile::tempdir().unwrap());
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdin(Stdio::null())
            .output()
            .expect("git must be installed");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

#[test]
fn history_diffs_and_the_index() {
    let repo = Repo::new();
    let leaked = key("kw", "Leaked1");
    let context = key("kw", "Context2");
    let added = key("kw", "Added3");
    let staged = key("kw", "Staged4");
    let unstaged = key("kw", "Unstaged5");

    repo.write("README.md", "hello\n");
    repo.commit("start");
    repo.write("config.env", &format!("A=1\nKEY={leaked}\n"));
    let leak_commit = repo.commit("add config");
    repo.write("config.env", "A=1\nKEY=${FROM_VAULT}\n");
    repo.commit("remove the key");

    // The working tree is clean of it; history is not.
    let tree = scan(repo.path(), &["."]);
    assert_eq!(tree.status.code(), Some(0), "{tree:?}");
    let history = scan(repo.path(), &["--git", "--format", "json"]);
    assert_eq!(history.status.code(), Some(1), "{history:?}");
    let doc: Value = serde_json::from_slice(&history.stdout).unwrap();
    let found = doc["findings"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{doc}");
    assert_eq!(found[0]["commit"], leak_commit.as_str());
    assert_eq!(
        (
            found[0]["path"].as_str(),
            found[0]["line"].as_u64(),
            found[0]["column"].as_u64()
        ),
        (Some("config.env"), Some(2), Some(5))
    );
    // A range that leaves out the commit that added it finds nothing.
    let later = scan(repo.path(), &["--git", "HEAD~1..HEAD"]);
    assert_eq!(later.status.code(), Some(0), "{later:?}");
    let text = scan(repo.path(), &["--git"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!(
        "config.env:2:5: {} (commit {})",
        masked(&leaked),
        &leak_commit[..12]
    )));

    // --diff: only the lines a range adds, also in a file .gitattributes marks `-diff`
    // (which a pull request could add to hide its lines).
    repo.write(".gitattributes", "keys.txt -diff\n");
    repo.write("keys.txt", &format!("old {context}\n"));
    repo.commit("context");
    repo.write("keys.txt", &format!("old {context}\nnew\n  new {added}\n"));
    repo.commit("add a key");
    let diff = scan(repo.path(), &["--diff", "HEAD~1..HEAD", "--format", "json"]);
    assert_eq!(diff.status.code(), Some(1), "{diff:?}");
    assert_eq!(
        findings(&diff),
        BTreeSet::from([("keys.txt".to_owned(), 3, 7, masked(&added))])
    );

    // --staged: the index only, not the working tree.
    repo.write("staged.txt", &format!("{staged}\n"));
    repo.git(&["add", "staged.txt"]);
    repo.write(
        "keys.txt",
        &format!("old {context}\nnew\n  new {added}\n{unstaged}\n"),
    );
    let index = scan(repo.path(), &["--staged", "--format", "json"]);
    assert_eq!(
        findings(&index),
        BTreeSet::from([("staged.txt".to_owned(), 1, 1, masked(&staged))])
    );
    // An option where a range goes is refused, with exit 2.
    let option = scan(repo.path(), &["--diff=--output=/tmp/x"]);
    assert_eq!(option.status.code(), Some(2), "{option:?}");
    assert_no_plaintext(
        &[&history, &text, &diff, &index],
        &[leaked, context, added, staged, unstaged],
    );
}

#[test]
fn print_rules_gives_each_tool_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["gitleaks", "github", "trufflehog", "regex"] {
        let out = scan(dir.path(), &["--print-rules", tool, "--prefix", "acme"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("acme_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}"),
            "{tool}: {text}"
        );
    }
    let bad = scan(
        dir.path(),
        &["--print-rules", "gitleaks", "--prefix", "ACME"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'ACME'"));
}
