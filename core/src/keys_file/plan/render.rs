//! The words the text and markdown renderers share: field labels, value transitions, the
//! fields of a consumer to create, and the notes under a summary.

use super::engine::{Field, FieldChange};
use crate::keys_file::model::ConsumerSpec;
use crate::storage::kv::Source;
use serde_json::{json, Value};

/// A value as plans show it: compact JSON (strings quoted, so nothing is ambiguous).
pub(super) fn show(value: &Value) -> String {
    value.to_string()
}

/// A path segment as plans show it: bare when it is a simple identifier, else `["…"]`.
pub(super) fn segment(out: &mut String, key: &str) {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&Value::from(key).to_string());
        out.push(']');
    }
}

/// `metadata.rateLimit.requestsPerMinute`, `tags.team`, `managers`, …
pub(super) fn label(change: &FieldChange) -> String {
    let mut out = change.field.name().to_owned();
    for key in &change.path {
        segment(&mut out, key);
    }
    out
}

/// `before → after`, `+ after` or `- before`; manager e-mails without quotes.
pub(super) fn transition(change: &FieldChange) -> String {
    let shown = |v: &Value| match (change.field, v) {
        (Field::Managers, Value::String(s)) => s.clone(),
        _ => show(v),
    };
    match (&change.before, &change.after) {
        (Some(b), Some(a)) => format!("{} → {}", shown(b), shown(a)),
        (None, Some(a)) => format!("+ {}", shown(a)),
        (Some(b), None) => format!("- {}", shown(b)),
        (None, None) => String::new(),
    }
}

/// The set fields of a consumer to create, as `(label, value)` pairs.
pub(super) fn spec_lines(spec: &ConsumerSpec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(d) = spec.description.as_deref().filter(|d| !d.is_empty()) {
        out.push(("description", show(&Value::from(d))));
    }
    if !spec.metadata.is_empty() {
        out.push(("metadata", show(&Value::Object(spec.metadata.clone()))));
    }
    if !spec.tags.is_empty() {
        out.push(("tags", show(&json!(spec.tags))));
    }
    if !spec.managers.is_empty() {
        out.push(("managers", spec.managers.join(", ")));
    }
    out
}

pub(super) fn source_note(source: Source) -> &'static str {
    match source {
        Source::Api => " (created through the API; it stays protected from --prune)",
        Source::File => "",
    }
}

/// "N consumers created from the file are no longer in it; {action} them."
pub(super) fn pruneable_note(n: usize, action: &str) -> String {
    let (verb, pronoun) = if n == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    format!(
        "{} created from the file {verb} no longer in it; {action} {pronoun}.",
        consumers(n)
    )
}

pub(super) fn consumers(n: usize) -> String {
    if n == 1 {
        "1 consumer".to_owned()
    } else {
        format!("{n} consumers")
    }
}
