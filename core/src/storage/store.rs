//! The storage trait keyward runs on, and an in-memory implementation for tests and tools.
//!
//! The trait mirrors the parts of Workers KV that keyward uses (get, put with metadata,
//! delete, prefix list with cursor), so code written against it respects KV's shape: no
//! transactions, no secondary indexes, listing returns names plus small metadata.
//! [`CountingStore`] wraps any store and counts operations, which is how tests prove that
//! a path reads KV once or not at all.

use crate::error::Error;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Most keys a single `list` call returns (KV's own limit).
pub const LIST_LIMIT: usize = 1000;

/// One entry of a list page: the KV key and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    /// The KV key.
    pub name: String,
    /// The metadata stored with it, if any.
    pub metadata: Option<Value>,
}

/// One page of a prefix listing, in lexicographic key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListPage {
    /// The entries of this page.
    pub entries: Vec<ListEntry>,
    /// Where the next page starts; `None` when this is the last page.
    pub cursor: Option<String>,
}

/// A key-value store shaped like Workers KV.
///
/// Futures are not `Send`: the Worker runs on one thread and KV's futures are JS promises.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// The value at `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<String>, Error>;
    /// Writes `value` (and `metadata`, which must serialize to at most 1024 bytes) at `key`.
    async fn put(&self, key: &str, value: &str, metadata: Option<&Value>) -> Result<(), Error>;
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), Error>;
    /// Up to `limit` (≤ [`LIST_LIMIT`]) keys starting with `prefix`, after `cursor`.
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, Error>;
    /// The values at `keys`, in order. KV implements this with bulk reads (100 keys per
    /// operation), which keeps a page of 1000 records within KV's per-invocation limit.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }
}

/// A store in memory, ordered like KV's listing. Cursors are the last key of the page.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RefCell<BTreeMap<String, (String, Option<Value>)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key and value, for tests that inspect the whole state.
    pub fn dump(&self) -> Vec<(String, String)> {
        self.entries
            .borrow()
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// The metadata at `key`, for tests.
    pub fn metadata(&self, key: &str) -> Option<Value> {
        self.entries.borrow().get(key).and_then(|(_, m)| m.clone())
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self.entries.borrow().get(key).map(|(v, _)| v.clone()))
    }

    async fn put(&self, key: &str, value: &str, metadata: Option<&Value>) -> Result<(), Error> {
        if let Some(m) = metadata {
            let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
            if size > 1024 {
                return Err(Error::storage(format!(
                    "metadata of '{key}' is {size} bytes, over KV's 1024"
                )));
            }
        }
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), (value.to_owned(), metadata.cloned()));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, Error> {
        let limit = limit.clamp(1, LIST_LIMIT);
        let entries = self.entries.borrow();
        let start = cursor.unwrap_or(prefix);
        let mut page = ListPage::default();
        for (name, (_, metadata)) in entries.range(start.to_owned()..) {
            if !name.starts_with(prefix) {
                break;
            }
            if cursor == Some(name.as_str()) {
                continue;
            }
            if page.entries.len() == limit {
                page.cursor = page.entries.last().map(|e| e.name.clone());
                break;
            }
            page.entries.push(ListEntry {
                name: name.clone(),
                metadata: metadata.clone(),
            });
        }
        Ok(page)
    }
}

/// Operation counts of a [`CountingStore`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `get` calls.
    pub reads: usize,
    /// `put` calls.
    pub writes: usize,
    /// `delete` calls.
    pub deletes: usize,
    /// `list` calls.
    pub lists: usize,
    /// `get_many` calls (each counts as one read per 100 keys in KV).
    pub bulk_reads: usize,
}

/// Wraps a store and counts the operations that pass through.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    counts: Cell<Counts>,
}

impl<S> CountingStore<S> {
    /// Counts the operations on `inner`.
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            counts: Cell::new(Counts::default()),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts.get()
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        self.counts.set(Counts::default());
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn bump(&self, f: impl FnOnce(&mut Counts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
    }
}

impl<S: Store> Store for CountingStore<S> {
    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.bump(|c| c.reads += 1);
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &str, metadata: Option<&Value>) -> Result<(), Error> {
        self.bump(|c| c.writes += 1);
        self.inner.put(key, value, metadata).await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.bump(|c| c.deletes += 1);
        self.inner.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, Error> {
        self.bump(|c| c.lists += 1);
        self.inner.list(prefix, cursor, limit).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
        self.bump(|c| c.bulk_reads += keys.len().div_ceil(100));
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.inner.get(key).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_by_prefix_in_pages() {
        pollster::block_on(async {
            let s = MemoryStore::new();
            for i in 0..5 {
                s.put(&format!("a:{i}"), "v", None).await.unwrap();
            }
            s.put("b:0", "v", None).await.unwrap();
            let p1 = s.list("a:", None, 2).await.unwrap();
            assert_eq!(p1.entries.len(), 2);
            let p2 = s.list("a:", p1.cursor.as_deref(), 2).await.unwrap();
            let p3 = s.list("a:", p2.cursor.as_deref(), 2).await.unwrap();
            assert_eq!(p3.entries.len(), 1);
            assert_eq!(p3.cursor, None);
            assert_eq!(p3.entries[0].name, "a:4");
        });
    }
}
