//! The wire shapes of the leak routes: the request bodies (parsed with messages that never
//! quote a value, since values are plaintext keys), the answers, and the internal calls the
//! Worker's front makes to the bucket objects.

use crate::error::Error;
use crate::http::ApiRequest;
use crate::key::format;
use crate::storage::kv::LEAKED_AT_MAX;
use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// Most keys one `$lookup` or one leak report may carry.
pub const MAX_KEYS_PER_REQUEST: usize = 1000;
/// Longest `type` accepted in a leak report (it is echoed as `token_type`).
pub const MAX_TYPE_LEN: usize = 256;
/// `token_type` of an item that names no `type`.
pub const DEFAULT_TOKEN_TYPE: &str = "keyward_api_key";

/// Body of `POST /v1/keys/$lookup`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// Keys to look up, as found (plaintext; each is hashed at once and never stored).
    #[cfg_attr(feature = "schema", schemars(extend("minItems" = 1, "maxItems" = 1000)))]
    pub keys: Vec<String>,
}

/// One item of `POST /v1/leaks`: keyward's fields, or GitHub's secret-scanning alert
/// (`token`, `type`, `url`, `source`) unchanged.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(transform = key_or_token))]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// The leaked key (plaintext; hashed at once, never stored). GitHub calls it `token`.
    #[serde(alias = "token")]
    pub key: String,
    /// GitHub's token type; echoed as `token_type`.
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "schema", schemars(extend("maxLength" = 256)))]
    pub kind: Option<String>,
    /// Where the key was found; kept as `leakedAt` (cut to 2048 bytes).
    #[serde(default)]
    pub url: Option<String>,
    /// What it was found in (GitHub: `content`, `commit`, …); `leakedAt` when there is no `url`.
    #[serde(default)]
    pub source: Option<String>,
    /// Revoke the key now, whatever `LEAK_POLICY` says.
    #[serde(default)]
    pub revoke: Option<bool>,
}

/// The documented [`LeakReport`]: `key` or GitHub's `token`, exactly one of them.
#[cfg(feature = "schema")]
fn key_or_token(schema: &mut schemars::Schema) {
    let key = schema.pointer("/properties/key").cloned();
    if let (Some(mut token), Some(props)) = (
        key,
        schema
            .get_mut("properties")
            .and_then(serde_json::Value::as_object_mut),
    ) {
        token["description"] = "GitHub's name for `key`: its alerts are taken unchanged.".into();
        props.insert("token".into(), token);
    }
    schema.remove("required");
    schema.insert(
        "oneOf".into(),
        serde_json::json!([{"required": ["key"]}, {"required": ["token"]}]),
    );
}

/// What a leak report did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Recorded on the key (`leakedOn`, `leakedAt`); the key keeps working.
    Flagged,
    /// Recorded and revoked: its expiry is now (unless it had expired already).
    Revoked,
    /// Not a key of a bucket the caller may act on: nothing done.
    None,
}

/// GitHub's verdict on an alert (its feedback format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A live key of this deployment.
    TruePositive,
    /// Not a key of a bucket the caller may act on.
    FalsePositive,
}

/// One key of a `$lookup` answer, in the order asked.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LookupItem {
    /// The key, masked (prefix and last 6 characters; `****` and at most 4 for non-keys).
    pub key: String,
    /// Shaped like a key of this deployment (its prefix, a checksum that holds).
    pub valid: bool,
    /// A key of a bucket this token sees.
    pub found: bool,
    /// Its bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Its consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// Its id (`key_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Whether it verifies now (false once expired or revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// RFC 3339 expiry, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub expires_on: Option<String>,
    /// RFC 3339: when it was first reported leaked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub leaked_on: Option<String>,
    /// Where it was reported found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaked_at: Option<String>,
}

/// Answer of `POST /v1/keys/$lookup`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LookupOut {
    /// One item per key asked, in order.
    pub data: Vec<LookupItem>,
}

/// One item of a leak report's answer, in the order reported; the last three fields are
/// GitHub's feedback format.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReportItem {
    /// The key, masked.
    pub key: String,
    /// A key of a bucket this caller may act on.
    pub found: bool,
    /// Its bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Its consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// Its id (`key_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// What was done.
    pub action: Action,
    /// Lower-case hex SHA-256 of the key as reported.
    #[serde(rename = "token_hash")]
    pub token_hash: String,
    /// The report's `type`, else `keyward_api_key`.
    #[serde(rename = "token_type")]
    pub token_type: String,
    /// `true_positive` for a key found, else `false_positive`.
    pub label: Label,
}

/// The masked form of what a caller sent as a key: [`format::mask`] for a key that parses;
/// otherwise `****` and at most its last 4 characters (none when it is short), since
/// `format::mask` would show much of a short or long non-key (another kind of secret).
pub fn masked(text: &str, parses: bool) -> String {
    if parses {
        return format::mask(text);
    }
    let chars = text.chars().count();
    if chars < 16 {
        return "****".to_owned();
    }
    let tail: String = text.chars().skip(chars - 4).collect();
    format!("****{tail}")
}

/// A JSON error from serde, as a message that never quotes the body (serde's own message
/// can: `invalid type: string "kw_…"`).
fn shape_error(e: &serde_json::Error, expected: &str) -> Error {
    let what = if e.is_syntax() || e.is_eof() {
        "invalid JSON"
    } else {
        "a field is missing, unknown or of the wrong type"
    };
    Error::invalid(format!(
        "request body: {what} at line {} column {}; send {expected}",
        e.line(),
        e.column()
    ))
}

fn count_ok(n: usize, what: &str) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::invalid(format!(
            "request body holds no {what}; send 1 to {MAX_KEYS_PER_REQUEST}"
        )));
    }
    if n > MAX_KEYS_PER_REQUEST {
        return Err(Error::invalid(format!(
            "request body holds {n} {what}; send at most {MAX_KEYS_PER_REQUEST} per request"
        )));
    }
    Ok(())
}

fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().find(|b| !b.is_ascii_whitespace()).copied()
}

/// The keys of a `$lookup` body (`{"keys": [...]}`, 1 to [`MAX_KEYS_PER_REQUEST`]).
pub fn lookup_body(req: &ApiRequest) -> Result<Vec<String>, Error> {
    const EXPECTED: &str = "{\"keys\": [\"<key>\", …]}";
    super::super::router::check_size(req)?;
    if first_byte(&req.body) != Some(b'{') {
        return Err(Error::invalid(format!(
            "request body must be a JSON object; send {EXPECTED}"
        )));
    }
    let body: LookupRequest =
        serde_json::from_slice(&req.body).map_err(|e| shape_error(&e, EXPECTED))?;
    count_ok(body.keys.len(), "keys")?;
    Ok(body.keys)
}

/// The items of a leak report (a JSON array of 1 to [`MAX_KEYS_PER_REQUEST`]).
///
/// `from_github`: GitHub's signed alerts may grow fields; theirs are dropped rather than
/// refused (every alert would be a 400 otherwise). A token caller's unknown field stays an
/// error, so a mistyped `revoke` cannot pass as a mere flag.
pub fn report_body(req: &ApiRequest, from_github: bool) -> Result<Vec<LeakReport>, Error> {
    const EXPECTED: &str =
        "[{\"key\": \"<key>\", \"url\"?, \"source\"?, \"revoke\"?}, …] (or GitHub's alert: token, type, url, source)";
    super::super::router::check_size(req)?;
    if first_byte(&req.body) != Some(b'[') {
        return Err(Error::invalid(format!(
            "request body must be a JSON array; send {EXPECTED}"
        )));
    }
    let items: Vec<LeakReport> = if from_github {
        let mut raw: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&req.body).map_err(|e| shape_error(&e, EXPECTED))?;
        const KNOWN: [&str; 6] = ["key", "token", "type", "url", "source", "revoke"];
        for item in &mut raw {
            item.retain(|k, _| KNOWN.contains(&k.as_str()));
        }
        serde_json::from_value(serde_json::Value::Array(
            raw.into_iter().map(serde_json::Value::Object).collect(),
        ))
        .map_err(|_| Error::invalid(format!("a report is not shaped like {EXPECTED}")))?
    } else {
        serde_json::from_slice(&req.body).map_err(|e| shape_error(&e, EXPECTED))?
    };
    count_ok(items.len(), "reports")?;
    for (i, item) in items.iter().enumerate() {
        if item.kind.as_ref().is_some_and(|t| t.len() > MAX_TYPE_LEN) {
            return Err(Error::invalid(format!(
                "report {i}: type is over {MAX_TYPE_LEN} bytes"
            )));
        }
    }
    Ok(items)
}

/// Where a report says the key was: its `url`, else its `source`, with the key itself
/// replaced by `masked` (a careless reporter may quote it) and cut to [`LEAKED_AT_MAX`]
/// bytes at a character boundary. `None` when neither says anything.
pub fn leaked_at(report: &LeakReport, masked: &str) -> Option<String> {
    let place = [&report.url, &report.source]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())?;
    let mut text = if report.key.is_empty() {
        place.to_owned()
    } else {
        place.replace(report.key.as_str(), masked)
    };
    if text.len() > LEAKED_AT_MAX {
        let mut end = LEAKED_AT_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Some(text)
}

/// Lower-case hex SHA-256 of a reported key: GitHub's `token_hash`.
pub fn token_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What the Worker's front asks an object (the internal route `POST /leaks` of bucket objects
/// and of the directory; never reachable from outside the Worker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Call {
    /// The directory: every bucket's name.
    Buckets,
    /// A bucket: its keys among these hashes.
    Lookup {
        /// Key hashes (`KeyHasher`), never keys.
        hashes: Vec<String>,
    },
    /// A bucket: record these reports on its keys among them.
    Report {
        /// One per distinct hash.
        marks: Vec<Mark>,
    },
}

/// One report as a bucket object applies it: the key's hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// The key's hash.
    pub hash: String,
    /// Where it was found, already cut to size.
    #[serde(default)]
    pub at: Option<String>,
    /// Revoke it now.
    pub revoke: bool,
}

/// A key an object holds among the hashes asked, as it is after the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// The key's hash.
    pub hash: String,
    /// Its consumer.
    pub consumer: String,
    /// Its id.
    pub key_id: String,
    /// Its expiry (ms).
    #[serde(default)]
    pub expires_on: Option<Millis>,
    /// First reported leaked (ms).
    #[serde(default)]
    pub leaked_on: Option<Millis>,
    /// Where.
    #[serde(default)]
    pub leaked_at: Option<String>,
}

/// An object's answer to a [`Call`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Answer {
    /// [`Call::Buckets`]: the names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
    /// [`Call::Lookup`], [`Call::Report`]: the keys found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<Hit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "kw_00000000000000000000000000000000_1vXtxm";

    fn req(body: &str) -> ApiRequest {
        ApiRequest {
            method: "POST".into(),
            body: body.as_bytes().to_vec(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn lookup_bodies_hold_1_to_1000_strings() {
        assert_eq!(
            lookup_body(&req(&format!(r#"{{"keys": ["{KEY}", "x"]}}"#))).unwrap(),
            [KEY, "x"]
        );
        let many = serde_json::json!({ "keys": vec!["x"; 1000] }).to_string();
        assert_eq!(lookup_body(&req(&many)).unwrap().len(), 1000);
        let too_many = serde_json::json!({ "keys": vec!["x"; 1001] }).to_string();
        let e = lookup_body(&req(&too_many)).unwrap_err();
        assert!(e.message().contains("at most 1000"), "{e}");
        for bad in [
            r#"{"keys": []}"#,
            r#"{}"#,
            r#"["x"]"#,
            r#"{"keys": [1]}"#,
            r#"{"keys": "x"}"#,
            r#"{"keys": ["x"], "more": 1}"#,
            "",
            "{",
        ] {
            let e = lookup_body(&req(bad)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{bad}");
        }
    }

    #[test]
    fn errors_never_quote_the_body() {
        for bad in [
            format!(r#"{{"keys": "{KEY}"}}"#),
            format!(r#"{{"{KEY}": ["x"]}}"#),
            format!(r#"{{"keys": [{{"{KEY}": 1}}]}}"#),
        ] {
            let e = lookup_body(&req(&bad)).unwrap_err();
            assert!(!e.message().contains("00000000"), "{e}");
        }
        for bad in [
            format!(r#"[{{"key": "{KEY}", "revoke": "{KEY}"}}]"#),
            format!(r#"[{{"key": "{KEY}", "{KEY}": 1}}]"#),
            format!(r#"[{{"key": ["{KEY}"]}}]"#),
            format!(r#"["{KEY}"]"#),
        ] {
            for github in [false, true] {
                match report_body(&req(&bad), github) {
                    Err(e) => assert!(!e.message().contains("00000000"), "{e}"),
                    // From GitHub an unknown field is dropped, not refused.
                    Ok(_) => assert!(github, "{bad}"),
                }
            }
        }
    }

    #[test]
    fn reports_take_keyward_and_github_fields() {
        let github = format!(
            r#"[{{"token":"{KEY}","type":"keyward_api_key","url":"https://github.com/o/r/blob/x/a.env","source":"content"}}]"#
        );
        let items = report_body(&req(&github), true).unwrap();
        assert_eq!(items[0].key, KEY);
        // GitHub may add fields to its alerts: dropped from GitHub, refused from a token.
        let grown = github.replace(r#""source""#, r#""repository":"o/r","source""#);
        assert_eq!(report_body(&req(&grown), true).unwrap()[0].key, KEY);
        assert!(report_body(&req(&grown), false).is_err());
        assert_eq!(items[0].kind.as_deref(), Some("keyward_api_key"));
        let ours = format!(r#"[{{"key":"{KEY}","source":"ci log","revoke":true}}]"#);
        let items = report_body(&req(&ours), false).unwrap();
        assert_eq!(items[0].revoke, Some(true));
        assert_eq!(
            leaked_at(&items[0], "kw_****1vXtxm").as_deref(),
            Some("ci log")
        );
        for bad in [
            "[]".to_owned(),
            r#"{"key": "x"}"#.to_owned(),
            r#"[{"url": "x"}]"#.to_owned(),
            r#"[{"key": "x", "token": "y"}]"#.to_owned(),
            r#"[{"key": "x", "revokee": true}]"#.to_owned(),
            format!(r#"[{{"key": "x", "type": "{}"}}]"#, "t".repeat(257)),
            serde_json::json!(vec![serde_json::json!({"key": "x"}); 1001]).to_string(),
        ] {
            let e = report_body(&req(&bad), false).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{bad}");
        }
    }

    #[test]
    fn leaked_at_prefers_the_url_hides_the_key_and_is_bounded() {
        let report = |url: Option<String>, source: Option<&str>| LeakReport {
            key: KEY.into(),
            kind: None,
            url,
            source: source.map(str::to_owned),
            revoke: None,
        };
        let masked = format::mask(KEY);
        assert_eq!(
            leaked_at(
                &report(Some("https://x/a".into()), Some("content")),
                &masked
            )
            .as_deref(),
            Some("https://x/a")
        );
        assert_eq!(
            leaked_at(&report(Some(" ".into()), Some("content")), &masked).as_deref(),
            Some("content")
        );
        assert_eq!(leaked_at(&report(None, None), &masked), None);
        let quoted = leaked_at(&report(Some(format!("https://x/?k={KEY}")), None), &masked);
        assert_eq!(quoted.as_deref(), Some("https://x/?k=kw_****1vXtxm"));
        let long = leaked_at(&report(Some("é".repeat(3000)), None), &masked).unwrap();
        assert!(long.len() <= LEAKED_AT_MAX && long.len() >= LEAKED_AT_MAX - 1);
    }

    #[test]
    fn masks_never_show_much_of_a_non_key() {
        assert_eq!(masked(KEY, true), "kw_****1vXtxm");
        assert_eq!(masked("hunter2", false), "****");
        assert_eq!(masked("", false), "****");
        assert_eq!(
            masked("ghp_abcdefghijklmnopqrstuvwxyz0123456789", false),
            "****6789"
        );
        let long_prefix = format!("abcdefghijklmnopqrst{}", "x".repeat(40));
        assert_eq!(masked(&long_prefix, false), "****xxxx");
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
