//! The blobs a range of history introduces, each with the first commit that has it.
//!
//! Input: what `git rev-list --reverse RANGE | git diff-tree --stdin -r -z --no-renames
//! --root -m` prints (oldest commit first). A commit id token starts each commit; then
//! each changed path is `:oldmode newmode oldoid newoid status` and the path, all
//! NUL-terminated, so no path needs unquoting. A blob is reported once, with the oldest
//! commit that adds it, which is where a leak starts.

use std::collections::HashSet;

/// A blob and where it first appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introduced {
    /// The commit that adds the blob (the first in the listing).
    pub commit: String,
    /// The blob's object id.
    pub blob: String,
    /// Its path in that commit.
    pub path: String,
}

/// The blobs `listing` introduces, in order, each once. Deleted paths and submodules
/// (gitlinks, mode 160000) have no content to scan and are skipped.
pub fn introduced(listing: &[u8]) -> Vec<Introduced> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut commit = String::new();
    let mut tokens = listing.split(|&b| b == 0).filter(|t| !t.is_empty());
    while let Some(token) = tokens.next() {
        let text = String::from_utf8_lossy(token);
        let Some(entry) = text.strip_prefix(':') else {
            let id = text.trim();
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                commit = id.to_owned();
            }
            continue;
        };
        let Some(path) = tokens.next() else { break };
        let fields: Vec<&str> = entry.split(' ').collect();
        let [_, new_mode, _, new_oid, status] = fields[..] else {
            continue;
        };
        let added = matches!(status.chars().next(), Some('A' | 'M' | 'T'));
        if !added || new_mode == "160000" || new_oid.bytes().all(|b| b == b'0') {
            continue;
        }
        if seen.insert(new_oid.to_owned()) {
            out.push(Introduced {
                commit: commit.clone(),
                blob: new_oid.to_owned(),
                path: String::from_utf8_lossy(path).into_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_blob_once_with_its_first_commit() {
        let z = "0".repeat(40);
        let (c1, c2, c3) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let (b1, b2) = ("1".repeat(40), "2".repeat(40));
        let listing = format!(
            "{c1}\0:000000 100644 {z} {b1} A\0a.txt\0\
             {c2}\0:100644 100644 {b1} {b2} M\0a.txt\0:000000 100644 {z} {b1} A\0copy of a\0\
             {c3}\0:100644 000000 {b2} {z} D\0a.txt\0:000000 160000 {z} {b2} A\0sub\0"
        );
        let got = introduced(listing.as_bytes());
        assert_eq!(
            got,
            vec![
                Introduced {
                    commit: c1,
                    blob: b1,
                    path: "a.txt".into()
                },
                Introduced {
                    commit: c2,
                    blob: b2,
                    path: "a.txt".into()
                },
            ]
        );
    }
}
