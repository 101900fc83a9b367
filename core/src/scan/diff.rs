//! The lines a unified diff adds, with their line numbers in the new file.
//!
//! Input: `git diff --unified=0 --no-color --no-ext-diff --no-prefix` (a pull request's
//! range, or `--cached` for a pre-commit hook). Hunks are read by their counts, so an added
//! line that itself starts with `++` or `@@` is content, not a header.

use std::ops::Range;

/// An added line: the file, its line number there, and where its text is in the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The path in the new tree.
    pub path: String,
    /// The line number in the new file, from 1.
    pub line: u64,
    /// The line's text (without the leading `+` and the newline) in the diff's bytes.
    pub text: Range<usize>,
}

/// Every added line of `diff`, in order. Deleted files and binary files add none.
pub fn added_lines(diff: &[u8]) -> Vec<Added> {
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    let (mut old_left, mut new_left, mut next_line) = (0u64, 0u64, 0u64);
    let mut offset = 0;
    for raw in diff.split_inclusive(|&b| b == b'\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if old_left > 0 || new_left > 0 {
            match line.first() {
                Some(b'+') if new_left > 0 => {
                    if let Some(p) = &path {
                        out.push(Added {
                            path: p.clone(),
                            line: next_line,
                            text: start + 1..start + line.len(),
                        });
                    }
                    next_line += 1;
                    new_left -= 1;
                }
                Some(b'-') if old_left > 0 => old_left -= 1,
                Some(b' ') => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                    next_line += 1;
                }
                Some(b'\\') => {} // "\ No newline at end of file"
                _ => {
                    old_left = 0;
                    new_left = 0;
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"+++ ") {
            // git ends the name with a tab when it holds a space.
            let rest = rest.strip_suffix(b"\t").unwrap_or(rest);
            let name = String::from_utf8_lossy(rest);
            path = (name != "/dev/null").then(|| unquote(&name));
        } else if line.starts_with(b"diff --git ") {
            path = None;
        } else if let Some(rest) = line.strip_prefix(b"@@ -") {
            if let Some((old, new)) = hunk(rest) {
                (old_left, new_left, next_line) = (old.1, new.1, new.0);
            }
        }
    }
    out
}

/// `a[,b] +c[,d] @@…` → ((a, b), (c, d)); a missing count is 1.
fn hunk(rest: &[u8]) -> Option<((u64, u64), (u64, u64))> {
    let text = std::str::from_utf8(rest).ok()?;
    let (old, rest) = text.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let range = |s: &str| -> Option<(u64, u64)> {
        match s.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    Some((range(old)?, range(new)?))
}

/// A path as git prints it: as is, or C-quoted (`"a\tb"`) when it has unusual bytes.
fn unquote(name: &str) -> String {
    let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        return name.to_owned();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&n @ b'0'..=b'7') = it.peek() {
                        v = v * 8 + u32::from(n - b'0');
                        it.next();
                    }
                }
                bytes.push(v as u8);
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(diff: &str) -> Vec<(String, u64, String)> {
        added_lines(diff.as_bytes())
            .into_iter()
            .map(|a| (a.path, a.line, diff[a.text].to_owned()))
            .collect()
    }

    #[test]
    fn added_lines_with_new_line_numbers() {
        let diff = "diff --git a.txt a.txt\nindex 1..2 100644\n--- a.txt\n+++ a.txt\n\
                    @@ -2 +2,2 @@\n-old\n+new one\n++++ looks like a header\n\
                    @@ -10,0 +11 @@ ctx\n+@@ -1 +1 @@ also content\n\
                    diff --git gone.txt gone.txt\n--- gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n\
                    diff --git \"sp\\303\\251cial\\tname\" \"sp\\303\\251cial\\tname\"\n--- /dev/null\n\
                    +++ \"sp\\303\\251cial\\tname\"\n@@ -0,0 +1 @@\n+x\r\n\\ No newline at end of file\n\
                    Binary files bin.png and bin.png differ\n\
                    diff --git sp ace.env sp ace.env\n--- /dev/null\n+++ sp ace.env\t\n@@ -0,0 +1 @@\n+y\n";
        assert_eq!(
            texts(diff),
            vec![
                ("a.txt".into(), 2, "new one".into()),
                ("a.txt".into(), 3, "+++ looks like a header".into()),
                ("a.txt".into(), 11, "@@ -1 +1 @@ also content".into()),
                ("spécial\tname".into(), 1, "x".into()),
                ("sp ace.env".into(), 1, "y".into()),
            ]
        );
    }
}
