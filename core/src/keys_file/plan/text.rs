//! The plan as text, for a terminal or a CI log.

use super::engine::{summarize, Change, Plan};
use super::render::{label, pruneable_note, source_note, spec_lines, transition};
use std::fmt::Write as _;

/// The plan as text: one verb-first line per change (`+` create, `~` update, `-` delete),
/// indented detail lines (each changed field before → after), then the summary line
/// `Plan: N to create, N to update, N to delete, N unmanaged left alone.` Plain text: a
/// caller may colour lines by their first character.
pub fn render_text(plans: &[Plan]) -> String {
    let mut out = String::new();
    for plan in plans {
        let b = &plan.bucket;
        if plan.create_bucket {
            let _ = writeln!(out, "+ bucket {b}");
        }
        for change in &plan.changes {
            match change {
                Change::Create { name, spec } => {
                    let _ = writeln!(out, "+ consumer {b}/{name}");
                    for (field, value) in spec_lines(spec) {
                        let _ = writeln!(out, "    {field}: {value}");
                    }
                }
                Change::Update {
                    name,
                    source,
                    fields,
                    ..
                } => {
                    let _ = writeln!(out, "~ consumer {b}/{name}{}", source_note(*source));
                    if fields.is_empty() {
                        let _ = writeln!(
                            out,
                            "    (its record could not be read: every field is rewritten)"
                        );
                    }
                    for f in fields {
                        let _ = writeln!(out, "    {}: {}", label(f), transition(f));
                    }
                }
                Change::Delete { name, .. } => {
                    let _ = writeln!(out, "- consumer {b}/{name}");
                }
            }
        }
    }
    let total = summarize(plans);
    if total.has_changes() {
        out.push('\n');
    } else {
        out.push_str("No changes: the Worker matches the file.\n");
    }
    out.push_str(&total.line());
    out.push('\n');
    if total.pruneable > 0 {
        let _ = writeln!(
            out,
            "{}",
            pruneable_note(total.pruneable, "run with --prune to delete")
        );
    }
    out
}
