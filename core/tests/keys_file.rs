//! `keys_file::check` over one small file per class of problem: each case shows the file
//! and, as a snapshot, exactly what `keyward validate` would say about it (line, column,
//! message), so a change to a message or a position is a reviewed diff.
//!
//! Update the snapshots with `UPDATE_EXPECT=1 cargo test -p keyward-core --test keys_file`.

use expect_test::{expect, Expect};
use keyward_core::keys_file::{self, check};
use keyward_core::validate;
use proptest::prelude::*;

/// Checks `text` and renders the outcome: a summary when clean, else one problem a line.
fn check_file(text: &str, expect: Expect) {
    let actual = match check(text) {
        Ok(file) => format!(
            "ok: buckets {}, consumers {}, managers {}",
            file.buckets.len(),
            file.consumer_count(),
            file.manager_count()
        ),
        Err(problems) => problems
            .iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>(),
    };
    expect.assert_eq(&actual);
}

/// A file with one consumer whose body is `body` (indented to its place).
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
fn the_repository_keys_yaml_is_clean() {
    let text = include_str!("../../keys.yaml");
    check_file(text, expect!["ok: buckets 1, consumers 3, managers 4"]);
}

#[test]
fn a_clean_file_becomes_the_model() {
    let text = consumer(
        "description: Acme\nmetadata:\n  plan: gold\n  limits: {rpm: 600, burst: 1.5, trial: false, note: ~}\ntags:\n  team: sales\n  '2024': 'yes'\nmanagers:\n  - Alice@Acme.Example\n  - ops@acme.example",
    );
    let file = check(&text).unwrap();
    let acme = &file.buckets["default"].consumers["acme"];
    assert_eq!(acme.description.as_deref(), Some("Acme"));
    assert_eq!(
        serde_json::to_string(&acme.metadata).unwrap(),
        r#"{"limits":{"burst":1.5,"note":null,"rpm":600,"trial":false},"plan":"gold"}"#
    );
    assert_eq!(acme.tags["2024"], "yes");
    assert_eq!(acme.managers, ["alice@acme.example", "ops@acme.example"]);
}

#[test]
fn yaml_syntax() {
    check_file(
        "version: 1\nbuckets:\n  default: [1, 2\n  other: 3\n",
        expect![[r#"
        4:8: invalid yaml: illegal placement of ':' indicator; check the indentation and quoting here
    "#]],
    );
    check_file(
        "version: 1\nbuckets: \"\\q\"\n",
        expect![[r#"
        2:10: invalid yaml: while parsing a quoted scalar, found unknown escape character; check the indentation and quoting here
    "#]],
    );
    check_file(
        "version: 1\n---\nversion: 1\n",
        expect![[r#"
        2:1: invalid yaml: a second document starts here; keep one document per file
    "#]],
    );
    check_file(
        "",
        expect![[r#"
        1:1: the file is empty; start it with `version: 1`
    "#]],
    );
    check_file(
        "# only a comment\n",
        expect![[r#"
        1:1: the file is empty; start it with `version: 1`
    "#]],
    );
}

#[test]
fn top_level() {
    check_file(
        "- version: 1\n",
        expect![[r#"
        1:1: the file must be a mapping, found a list; start it with `version: 1` and `buckets:`
    "#]],
    );
    check_file(
        "buckets: {}\n",
        expect![[r#"
        1:1: version is missing; add `version: 1` at the top
    "#]],
    );
    check_file(
        "version: 2\n",
        expect![[r#"
        1:10: version 2 is not supported; use version: 1
    "#]],
    );
    check_file(
        "version: '1'\n",
        expect![[r#"
        1:10: version must be a number, found a string; use version: 1
    "#]],
    );
    check_file(
        "version:\n",
        expect![[r#"
        1:1: version must be a number, found nothing; use version: 1
    "#]],
    );
    check_file(
        "version: 1\nbukets: {}\n",
        expect![[r#"
        2:1: unknown field 'bukets'; use one of: version, buckets
    "#]],
    );
    check_file(
        "version: 1\nbuckets:\n",
        expect![[r#"
        2:1: buckets must be a mapping, found nothing; write {} for an empty one
    "#]],
    );
    check_file(
        "version: 1\nbuckets: [default]\n",
        expect![[r#"
        2:10: buckets must be a mapping, found a list
    "#]],
    );
}

#[test]
fn unknown_fields() {
    check_file(
        "version: 1\nbuckets:\n  default:\n    consumer: {}\n",
        expect![[r#"
            4:5: bucket 'default': unknown field 'consumer'; use one of: description, isRetrievable, consumers
        "#]],
    );
    check_file(
        &consumer("manager: [a@b.example]\nkeys: []"),
        expect![[r#"
        6:9: consumer 'acme': unknown field 'manager'; use one of: description, metadata, tags, managers
        7:9: consumer 'acme': unknown field 'keys'; use one of: description, metadata, tags, managers
    "#]],
    );
}

#[test]
fn wrong_types() {
    check_file(
        "version: 1\nbuckets:\n  default: [acme]\n  default-2:\n    consumers: acme\n",
        expect![[r#"
            3:12: bucket 'default' must be a mapping, found a list
            5:16: bucket 'default-2': consumers must be a mapping, found a string
        "#]],
    );
    check_file(
        "version: 1\nbuckets:\n  default:\n    consumers:\n      acme: yes\n",
        expect![[r#"
            5:13: consumer 'acme' must be a mapping, found a string
        "#]],
    );
    check_file(
        &consumer("description: 12\nmetadata: [plan]\ntags: [team]\nmanagers: a@b.example"),
        expect![[r#"
            6:22: consumer 'acme': description must be a string, found a number; quote it
            7:19: consumer 'acme': metadata must be a JSON object, e.g. {"plan": "gold"}
            8:15: consumer 'acme': tags must be a mapping, found a list
            9:19: consumer 'acme': managers must be a list of e-mail addresses, found a string
        "#]],
    );
    check_file(
        &consumer("description: [x]\nmetadata: gold\ntags:\n  tier: 1\n  on: true\nmanagers:\n  - {email: a@b.example}\n  - 12"),
        expect![[r#"
            6:22: consumer 'acme': description must be a string, found a list
            7:19: consumer 'acme': metadata must be a JSON object, e.g. {"plan": "gold"}
            9:17: consumer 'acme': tag 'tier' must be a string, found a number; quote it
            10:15: consumer 'acme': tag 'on' must be a string, found a boolean; quote it
            12:13: consumer 'acme': a manager must be an e-mail address, found a mapping
            13:13: consumer 'acme': a manager must be an e-mail address, found a number
        "#]],
    );
}

#[test]
fn duplicate_keys_at_every_level() {
    check_file(
        "version: 1\nversion: 1\nbuckets:\n  default: {}\n  default: {}\n",
        expect![[r#"
            2:1: field 'version' is defined twice; the first is at line 1, keep one
            5:3: bucket 'default' is defined twice; the first is at line 4, keep one
        "#]],
    );
    check_file(
        "version: 1\nbuckets:\n  default:\n    consumers:\n      acme: {}\n      globex: {}\n      acme:\n        description: again\n",
        expect![[r#"
            7:7: bucket 'default': consumer 'acme' is defined twice; the first is at line 5, keep one
        "#]],
    );
    check_file(
        &consumer("tags: {team: a, team: b}\nmetadata:\n  plan: gold\n  limits:\n    rpm: 1\n    rpm: 2\ndescription: x\ndescription: y"),
        expect![[r#"
            6:25: consumer 'acme': tag 'team' is defined twice; the first is at line 6, keep one
            11:13: consumer 'acme': metadata key 'rpm' is defined twice; the first is at line 10, keep one
            13:9: consumer 'acme': field 'description' is defined twice; the first is at line 12, keep one
        "#]],
    );
}

#[test]
fn names() {
    check_file(
        "version: 1\nbuckets:\n  prod:\n    consumers:\n      Acme: {}\n      acme_corp: {}\n      '': {}\n  Default-Bucket: {}\n",
        expect![[r#"
            3:3: bucket name 'prod' is invalid; use 5 to 128 lowercase letters, digits and '-'
            5:7: consumer name 'Acme' is invalid; use 1 to 128 lowercase letters, digits and '-'
            6:7: consumer name 'acme_corp' is invalid; use 1 to 128 lowercase letters, digits and '-'
            7:7: consumer name '' is invalid; use 1 to 128 lowercase letters, digits and '-'
            8:3: bucket name 'Default-Bucket' is invalid; use 5 to 128 lowercase letters, digits and '-'
        "#]],
    );
    let long = "a".repeat(129);
    let text = format!("version: 1\nbuckets:\n  default:\n    consumers:\n      {long}: {{}}\n");
    check_file(
        &text,
        expect![[r#"
        5:7: consumer name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…' is invalid; use 1 to 128 lowercase letters, digits and '-'
    "#]],
    );
    check_file(
        "version: 1\nbuckets:\n  default:\n    consumers:\n      ? [a, b]\n      : {}\n",
        expect![[r#"
            5:9: bucket 'default': a consumer must be named by plain text, found a list
        "#]],
    );
}

#[test]
fn managers() {
    check_file(
        &consumer("managers:\n  - alice@acme.example\n  - bob@\n  - ALICE@acme.example\n  - carol@localhost\n  - ' Alice@Acme.Example '"),
        expect![[r#"
            8:13: consumer 'acme': manager 'bob@' is not an e-mail address; use name@domain
            9:13: consumer 'acme': manager 'ALICE@acme.example' is listed twice (e-mails ignore case); the first is at line 7, keep one
            10:13: consumer 'acme': manager 'carol@localhost' is not an e-mail address; use name@domain
            11:13: consumer 'acme': manager ' Alice@Acme.Example ' is listed twice (e-mails ignore case); the first is at line 7, keep one
        "#]],
    );
    let many: String = (0..=validate::MAX_MANAGERS)
        .map(|i| format!("\n  - m{i}@acme.example"))
        .collect();
    check_file(
        &consumer(&format!("managers:{many}")),
        expect![[r#"
        6:9: consumer 'acme': 51 managers given, at most 50 are allowed
    "#]],
    );
}

/// `keyward validate` applies the API's e-mail rule: a hidden character is named, with its
/// place in the address, at the file position of the manager.
#[test]
fn managers_with_hidden_characters() {
    check_file(
        &consumer("managers:\n  - \"bob\\u200B@acme.example\""),
        expect![[r#"
            7:13: consumer 'acme': manager e-mail has an invisible or control character (U+200B) at character 4; type the address again
        "#]],
    );
}

#[test]
fn metadata() {
    let big = "x".repeat(validate::MAX_METADATA_BYTES);
    check_file(
        &consumer(&format!("metadata:\n  note: {big}")),
        expect![[r#"
        6:9: consumer 'acme': metadata is 1035 bytes serialized, over the limit of 1024; keep only what the gateway needs
    "#]],
    );
    check_file(
        &consumer("metadata: ~"),
        expect![[r#"
        6:19: consumer 'acme': metadata must be a JSON object, e.g. {"plan": "gold"}
    "#]],
    );
    check_file(
        &consumer("metadata:\n  limit: .inf\n  big: 123456789012345678901234567890\n  list: [1, .nan]\n  ok: '.inf'"),
        expect![[r#"
            7:18: consumer 'acme': metadata value '.inf' has no JSON form; quote it to keep it as text
            8:16: consumer 'acme': metadata value '123456789012345678901234567890' has no JSON form; quote it to keep it as text
            9:21: consumer 'acme': metadata value '.nan' has no JSON form; quote it to keep it as text
        "#]],
    );
    check_file(
        &consumer("metadata:\n  [a]: 1"),
        expect![[r#"
        7:11: consumer 'acme': a metadata key must be named by plain text, found a list
    "#]],
    );
}

/// `metadata.rateLimit` and `metadata.quota` are keyward's: each problem is reported at the
/// value, or the field inside it, that is wrong; other metadata stays free-form.
#[test]
fn metadata_limits() {
    check_file(
        &consumer("metadata:\n  plan: gold\n  rateLimit: 600"),
        expect![[r#"
            8:22: consumer 'acme': metadata.rateLimit: must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}
        "#]],
    );
    check_file(
        &consumer("metadata:\n  rateLimit:\n    requestsPerMinute: 1.5"),
        expect![[r#"
            8:32: consumer 'acme': metadata.rateLimit: requestsPerMinute must be a whole number from 1 to 1000000000
        "#]],
    );
    check_file(
        &consumer("metadata: {rateLimit: {requestsPerMinute: 10, burst: 2}}"),
        expect![[r#"
            6:55: consumer 'acme': metadata.rateLimit: unknown field 'burst'; use requestsPerMinute
        "#]],
    );
    check_file(
        &consumer("metadata:\n  rateLimit:\n    requests: 10\n    periodSeconds: 7200"),
        expect![[r#"
            9:28: consumer 'acme': metadata.rateLimit: periodSeconds must be a whole number from 1 to 3600
        "#]],
    );
    check_file(
        &consumer("metadata:\n  rateLimit:\n    requests: 10"),
        expect![[r#"
            8:13: consumer 'acme': metadata.rateLimit: periodSeconds must be a whole number from 1 to 3600
        "#]],
    );
    check_file(
        &consumer("metadata:\n  \"rateLimit\":\n  plan: gold"),
        expect![[r#"
            7:11: consumer 'acme': metadata.rateLimit: must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}
        "#]],
    );
    check_file(
        &consumer("metadata:\n  quota: {requests: 100, period: week}"),
        expect![[r#"
            7:42: consumer 'acme': metadata.quota: period must be day or month (calendar periods in UTC)
        "#]],
    );
    check_file(
        &consumer("metadata:\n  quota:\n    requests: \"100\"\n    period: day"),
        expect![[r#"
            8:23: consumer 'acme': metadata.quota: requests must be a whole number from 1 to 1000000000
        "#]],
    );
    // Both fields of one consumer, and every consumer.
    check_file(
        "version: 1\nbuckets:\n  default:\n    consumers:\n      a:\n        metadata: {quota: 5}\n      b:\n        metadata: {rateLimit: {requestsPerMinute: 0}, quota: {requests: 1, period: year}}\n",
        expect![[r#"
            6:27: consumer 'a': metadata.quota: must be an object: {requests: N, period: day} or {requests: N, period: month}
            8:51: consumer 'b': metadata.rateLimit: requestsPerMinute must be a whole number from 1 to 1000000000
            8:84: consumer 'b': metadata.quota: period must be day or month (calendar periods in UTC)
        "#]],
    );
    // Whole numbers written as floats are those numbers; other names are free-form.
    let file = check(&consumer(
        "metadata:\n  rateLimit: {requestsPerMinute: 600.0}\n  quota: {requests: 1e3, period: month}\n  ratelimit: 5\n  limits: {quota: week}",
    ))
    .unwrap();
    let acme = &file.buckets["default"].consumers["acme"];
    let limits = keyward_core::policy::Limits::of(&acme.metadata, &Default::default());
    assert_eq!(
        limits.rate.map(|r| (r.requests, r.period_ms)),
        Some((600, 60_000))
    );
    assert_eq!(limits.quota.map(|q| q.requests), Some(1000));
}

#[test]
fn tags() {
    check_file(
        &consumer("tags:\n  a: '1'\n  b: '2'\n  c: '3'\n  d: '4'\n  e: '5'\n  f: '6'"),
        expect![[r#"
            6:9: consumer 'acme': 6 tags given, at most 5 are allowed
        "#]],
    );
    let long_value = "v".repeat(validate::MAX_TAG_VALUE + 1);
    let long_key = "k".repeat(validate::MAX_TAG_KEY + 1);
    check_file(
        &consumer(&format!(
            "tags:\n  bad key: x\n  {long_key}: x\n  team: {long_value}"
        )),
        expect![[r#"
            7:11: consumer 'acme': tag key 'bad key' is invalid; use 1 to 32 letters, digits, '_', '.' or '-'
            8:11: consumer 'acme': tag key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk' is invalid; use 1 to 32 letters, digits, '_', '.' or '-'
            9:17: consumer 'acme': tag 'team' has a value longer than 64 bytes
        "#]],
    );
    // Five tags of valid sizes whose escaped JSON is over the size limit.
    let heavy: String = (0..validate::MAX_TAGS)
        .map(|i| {
            format!(
                "\n  k{i}: \"{}\"",
                "\\u0001".repeat(validate::MAX_TAG_VALUE)
            )
        })
        .collect();
    check_file(
        &consumer(&format!("tags:{heavy}")),
        expect![[r#"
        6:9: consumer 'acme': tags take 1961 bytes serialized, over the limit of 640; use shorter or plainer values
    "#]],
    );
}

#[test]
fn descriptions() {
    let long = "d".repeat(validate::MAX_DESCRIPTION + 1);
    check_file(
        &consumer(&format!("description: {long}")),
        expect![[r#"
        6:9: consumer 'acme': description is longer than 1024 characters
    "#]],
    );
    check_file(
        &consumer("description:\n"),
        expect!["ok: buckets 1, consumers 1, managers 0"],
    );
}

#[test]
fn yaml_features() {
    check_file(
        &consumer("metadata: &m\n  plan: gold\ndescription: !!str 12\ntags: !custom {a: b}"),
        expect![[r#"
            9:15: yaml tag '!custom' is not supported here; remove it
        "#]],
    );
    check_file(
        "version: 1\nbuckets:\n  default:\n    consumers:\n      acme: &c\n        metadata: {plan: gold}\n      globex: *c\n",
        expect!["ok: buckets 1, consumers 2, managers 0"],
    );
}

#[test]
fn every_problem_at_once_sorted_by_position() {
    let text = "\
version: 3
buckets:
  default:
    consumers:
      Acme:
        managers: [bob@, bob@]
        tags: {'bad key': x}
      acme:
        colour: blue
        metadata: [1]
  default:
    consumers: {}
";
    check_file(
        text,
        expect![[r#"
        1:10: version 3 is not supported; use version: 1
        5:7: consumer name 'Acme' is invalid; use 1 to 128 lowercase letters, digits and '-'
        6:20: consumer 'Acme': manager 'bob@' is not an e-mail address; use name@domain
        6:26: consumer 'Acme': manager 'bob@' is not an e-mail address; use name@domain
        7:16: consumer 'Acme': tag key 'bad key' is invalid; use 1 to 32 letters, digits, '_', '.' or '-'
        9:9: consumer 'acme': unknown field 'colour'; use one of: description, metadata, tags, managers
        10:19: consumer 'acme': metadata must be a JSON object, e.g. {"plan": "gold"}
        11:3: bucket 'default' is defined twice; the first is at line 3, keep one
    "#]],
    );
}

fn matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).unwrap().is_match(text)
}

proptest! {
    /// The schema's patterns accept exactly what `validate` accepts.
    #[test]
    fn schema_patterns_agree_with_validate(
        name in "[a-z0-9-]{0,140}|[a-z0-9-]{0,8}[A-Z_.@ ][a-z0-9-]{0,8}|[a-zA-Z0-9_.@ -]{0,40}"
    ) {
        prop_assert_eq!(
            matches(&keys_file::consumer_name_pattern(), &name),
            validate::consumer_name(&name).is_ok()
        );
        prop_assert_eq!(
            matches(&keys_file::bucket_name_pattern(), &name),
            validate::bucket_name(&name).is_ok()
        );
        let tag = std::collections::BTreeMap::from([(name.clone(), String::new())]);
        prop_assert_eq!(
            matches(&keys_file::tag_key_pattern(), &name),
            validate::tags(&tag).is_ok()
        );
    }
}
