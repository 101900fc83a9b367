//! The plan as text, for a terminal or a CI log.

use super::engine::{summarize, Change, PlanView};
use super::render::{label, pruneable_note, source_note, spec_lines, transition};
use std::fmt::{self, Write};

/// The plan as text: one verb-first line per change (`+` create, `~` update, `-` delete),
/// indented detail lines (each changed field before → after), then the summary line
/// `Plan: N to create, N to update, N to delete, N unmanaged left alone.` Plain text: a
/// caller may colour lines by their first character.
pub fn render_text<P: PlanView>(plans: &[P]) -> String {
    let mut out = String::new();
    let _ = write_text(plans, &mut out);
    out
}

/// [`render_text`], written to `out` change by change.
pub fn write_text<P: PlanView>(plans: &[P], out: &mut dyn Write) -> fmt::Result {
    for plan in plans {
        let b = plan.bucket();
        if plan.create_bucket() {
            writeln!(out, "+ bucket {b}")?;
        }
        plan.each_change(&mut |change| match change {
            Change::Create { name, spec } => {
                writeln!(out, "+ consumer {b}/{name}")?;
                for (field, value) in spec_lines(spec) {
                    writeln!(out, "    {field}: {value}")?;
                }
                Ok(())
            }
            Change::Update {
                name,
                source,
                fields,
                ..
            } => {
                writeln!(out, "~ consumer {b}/{name}{}", source_note(*source))?;
                if fields.is_empty() {
                    writeln!(
                        out,
                        "    (its record could not be read: every field is rewritten)"
                    )?;
                }
                for f in fields {
                    writeln!(out, "    {}: {}", label(f), transition(f))?;
                }
                Ok(())
            }
            Change::Delete { name, .. } => writeln!(out, "- consumer {b}/{name}"),
        })?;
    }
    let total = summarize(plans);
    if total.has_changes() {
        out.write_char('\n')?;
    } else {
        out.write_str("No changes: the Worker matches the file.\n")?;
    }
    writeln!(out, "{}", total.line())?;
    if total.pruneable > 0 {
        writeln!(
            out,
            "{}",
            pruneable_note(total.pruneable, "run with --prune to delete")
        )?;
    }
    Ok(())
}
