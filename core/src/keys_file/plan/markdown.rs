//! The plan as markdown, for a pull-request comment.

use super::engine::{summarize, Change, Field, Plan};
use super::render::{label, pruneable_note, show, spec_lines};
use crate::storage::kv::Source;
use serde_json::Value;
use std::fmt::Write as _;

/// Rows of the markdown table before it is cut short (a pull-request comment holds at most
/// 65,536 characters).
pub const MARKDOWN_MAX_ROWS: usize = 300;

/// Inline code for a markdown table cell: backticks that fit the content, `|` escaped.
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// The plan as markdown for a pull-request comment: a heading, the summary line, and a
/// table with one row per changed value (cut after [`MARKDOWN_MAX_ROWS`] rows, saying how
/// many more). Starts with the HTML comment `<!-- keyward-plan -->`, so CI can find and
/// update its earlier comment.
pub fn render_markdown(plans: &[Plan]) -> String {
    let total = summarize(plans);
    let mut out = String::from("<!-- keyward-plan -->\n### keyward plan\n\n");
    let _ = writeln!(out, "**{}**\n", total.line());
    if !total.has_changes() {
        out.push_str("No changes: the Worker matches the file.\n");
    }
    let mut rows: Vec<[String; 5]> = Vec::new();
    for plan in plans {
        let b = &plan.bucket;
        if plan.create_bucket {
            rows.push([
                "➕ create".into(),
                format!("bucket {}", code(b)),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for change in &plan.changes {
            let who = code(&format!("{b}/{}", change.name()));
            match change {
                Change::Create { spec, .. } => {
                    let lines = spec_lines(spec);
                    if lines.is_empty() {
                        rows.push([
                            "➕ create".into(),
                            who.clone(),
                            "".into(),
                            "".into(),
                            "".into(),
                        ]);
                    }
                    for (i, (field, value)) in lines.into_iter().enumerate() {
                        let (verb, name) = if i == 0 {
                            ("➕ create".into(), who.clone())
                        } else {
                            (String::new(), String::new())
                        };
                        rows.push([verb, name, code(field), String::new(), code(&value)]);
                    }
                }
                Change::Update { source, fields, .. } => {
                    let verb = match source {
                        Source::Api => "✏️ update (API-created)",
                        Source::File => "✏️ update",
                    };
                    if fields.is_empty() {
                        rows.push([
                            verb.into(),
                            who.clone(),
                            "(all)".into(),
                            "".into(),
                            "".into(),
                        ]);
                    }
                    for (i, f) in fields.iter().enumerate() {
                        let (verb, name) = if i == 0 {
                            (verb.to_owned(), who.clone())
                        } else {
                            (String::new(), String::new())
                        };
                        let cell = |v: &Option<Value>| match (f.field, v) {
                            (_, None) => String::new(),
                            (Field::Managers, Some(Value::String(s))) => code(s),
                            (_, Some(v)) => code(&show(v)),
                        };
                        rows.push([verb, name, code(&label(f)), cell(&f.before), cell(&f.after)]);
                    }
                }
                Change::Delete { .. } => {
                    rows.push(["➖ delete".into(), who, "".into(), "".into(), "".into()]);
                }
            }
        }
    }
    if !rows.is_empty() {
        out.push_str("| change | consumer | field | before | after |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for row in rows.iter().take(MARKDOWN_MAX_ROWS) {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        if rows.len() > MARKDOWN_MAX_ROWS {
            let _ = writeln!(
                out,
                "\n… and {} more rows; run `keyward plan` for the whole plan.",
                rows.len() - MARKDOWN_MAX_ROWS
            );
        }
    }
    if total.pruneable > 0 {
        let _ = writeln!(
            out,
            "\n{}",
            pruneable_note(total.pruneable, "`keyward sync --prune` would delete")
        );
    }
    out
}
