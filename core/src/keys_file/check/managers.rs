//! The people a consumer refers to: its managers, as e-mail addresses normalized by the
//! developer API's rule, each listed once (e-mails ignore case), at most
//! [`MAX_MANAGERS`]. These are the addresses the self-serve side signs people in by.

use super::{value_pos, within, Checker, Entry};
use crate::keys_file::yaml_tree::{NodeKind, Pos, Scalar};
use crate::validate::{self, MAX_MANAGERS};

impl Checker<'_> {
    /// Managers: a list of e-mail addresses, normalized by the API's rule, without
    /// duplicates after lower-casing, at most [`MAX_MANAGERS`].
    pub(super) fn managers(&mut self, context: &str, entry: &Entry<'_>) -> Vec<String> {
        let at = value_pos(entry.key, entry.value);
        let NodeKind::Seq(items) = &entry.value.kind else {
            let hint = if entry.value.scalar() == Some(Scalar::Null) {
                "; write [] for none"
            } else {
                ""
            };
            self.report(
                at,
                within(
                    context,
                    format_args!(
                        "managers must be a list of e-mail addresses, found {}{hint}",
                        entry.value.describe()
                    ),
                ),
            );
            return Vec::new();
        };
        let mut out: Vec<(String, Pos)> = Vec::with_capacity(items.len());
        for item in items.iter() {
            let Some(Scalar::Str(raw)) = item.scalar() else {
                self.report(
                    item.pos,
                    within(
                        context,
                        format_args!(
                            "a manager must be an e-mail address, found {}",
                            item.describe()
                        ),
                    ),
                );
                continue;
            };
            let email = match validate::email(raw) {
                Ok(email) => email,
                Err(e) => {
                    self.report(item.pos, within(context, e));
                    continue;
                }
            };
            if let Some((_, first)) = out.iter().find(|(m, _)| *m == email) {
                let line = first.line;
                self.report(
                    item.pos,
                    within(
                        context,
                        format_args!("manager '{raw}' is listed twice (e-mails ignore case); the first is at line {line}, keep one"),
                    ),
                );
                continue;
            }
            out.push((email, item.pos));
        }
        if items.len() > MAX_MANAGERS {
            self.report(
                entry.key.pos,
                within(
                    context,
                    format_args!(
                        "{} managers given, at most {MAX_MANAGERS} are allowed",
                        items.len()
                    ),
                ),
            );
        }
        out.into_iter().map(|(m, _)| m).collect()
    }
}
