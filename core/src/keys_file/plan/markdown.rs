//! The plan as markdown, for a pull-request comment.

use super::engine::{summarize, Change, Field, PlanView};
use super::render::{label, pruneable_note, show, spec_lines};
use crate::storage::kv::Source;
use serde_json::Value;
use std::fmt::{self, Write};

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
pub fn render_markdown<P: PlanView>(plans: &[P]) -> String {
    let mut out = String::new();
    let _ = write_markdown(plans, &mut out);
    out
}

/// The rows of the table: written up to [`MARKDOWN_MAX_ROWS`], counted after.
struct Table<'o> {
    out: &'o mut dyn Write,
    rows: usize,
}

impl Table<'_> {
    fn row(&mut self, cells: [&str; 5]) -> fmt::Result {
        if self.rows == 0 {
            self.out
                .write_str("| change | consumer | field | before | after |\n")?;
            self.out.write_str("| --- | --- | --- | --- | --- |\n")?;
        }
        self.rows += 1;
        if self.rows > MARKDOWN_MAX_ROWS {
            return Ok(());
        }
        writeln!(self.out, "| {} |", cells.join(" | "))
    }

    fn change(&mut self, b: &str, change: &Change) -> fmt::Result {
        let who = code(&format!("{b}/{}", change.name()));
        match change {
            Change::Create { spec, .. } => {
                let lines = spec_lines(spec);
                if lines.is_empty() {
                    self.row(["➕ create", &who, "", "", ""])?;
                }
                for (i, (field, value)) in lines.into_iter().enumerate() {
                    let (verb, name) = if i == 0 {
                        ("➕ create", who.as_str())
                    } else {
                        ("", "")
                    };
                    self.row([verb, name, &code(field), "", &code(&value)])?;
                }
            }
            Change::Update { source, fields, .. } => {
                let verb = match source {
                    Source::Api => "✏️ update (API-created)",
                    Source::File => "✏️ update",
                };
                if fields.is_empty() {
                    self.row([verb, &who, "(all)", "", ""])?;
                }
                for (i, f) in fields.iter().enumerate() {
                    let (verb, name) = if i == 0 {
                        (verb, who.as_str())
                    } else {
                        ("", "")
                    };
                    let cell = |v: &Option<Value>| match (f.field, v) {
                        (_, None) => String::new(),
                        (Field::Managers, Some(Value::String(s))) => code(s),
                        (_, Some(v)) => code(&show(v)),
                    };
                    self.row([
                        verb,
                        name,
                        &code(&label(f)),
                        &cell(&f.before),
                        &cell(&f.after),
                    ])?;
                }
            }
            Change::Delete { .. } => self.row(["➖ delete", &who, "", "", ""])?,
        }
        Ok(())
    }
}

/// [`render_markdown`], written to `out` change by change: only the rows shown are ever
/// made, the rest are counted.
pub fn write_markdown<P: PlanView>(plans: &[P], out: &mut dyn Write) -> fmt::Result {
    let total = summarize(plans);
    out.write_str("<!-- keyward-plan -->\n### keyward plan\n\n")?;
    writeln!(out, "**{}**\n", total.line())?;
    if !total.has_changes() {
        out.write_str("No changes: the Worker matches the file.\n")?;
    }
    let mut table = Table { out, rows: 0 };
    for plan in plans {
        let b = plan.bucket();
        if plan.create_bucket() {
            table.row(["➕ create", &format!("bucket {}", code(b)), "", "", ""])?;
        }
        plan.each_change(&mut |change| table.change(b, change))?;
    }
    let (out, rows) = (table.out, table.rows);
    if rows > MARKDOWN_MAX_ROWS {
        writeln!(
            out,
            "\n… and {} more rows; run `keyward plan` for the whole plan.",
            rows - MARKDOWN_MAX_ROWS
        )?;
    }
    if total.pruneable > 0 {
        writeln!(
            out,
            "\n{}",
            pruneable_note(total.pruneable, "`keyward sync --prune` would delete")
        )?;
    }
    Ok(())
}
