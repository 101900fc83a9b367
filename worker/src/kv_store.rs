//! keyward-core's [`Store`] over a Workers KV namespace.

use keyward_core::storage::store::{ListEntry, ListPage, Store};
use keyward_core::Error;
use serde_json::Value;
use worker::kv::KvStore;

/// Keys per bulk read (KV's limit for `get` with an array of keys).
const BULK_GET: usize = 100;

/// A KV namespace seen as a keyward [`Store`].
pub struct Kv(pub KvStore);

fn storage(op: &str, key: &str, e: impl std::fmt::Display) -> Error {
    Error::storage(format!(
        "kv {op} '{}': {e}",
        keyward_core::storage::kv::keys::redacted(key)
    ))
}

impl Store for Kv {
    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.0
            .get(key)
            .text()
            .await
            .map_err(|e| storage("get", key, e))
    }

    async fn put(&self, key: &str, value: &str, metadata: Option<&Value>) -> Result<(), Error> {
        let mut put = self.0.put(key, value).map_err(|e| storage("put", key, e))?;
        if let Some(m) = metadata {
            put = put.metadata(m).map_err(|e| storage("put", key, e))?;
        }
        put.execute().await.map_err(|e| storage("put", key, e))
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.0
            .delete(key)
            .await
            .map_err(|e| storage("delete", key, e))
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, Error> {
        let mut list = self.0.list().prefix(prefix.to_owned()).limit(limit as u64);
        if let Some(c) = cursor {
            list = list.cursor(c.to_owned());
        }
        let page = list
            .execute()
            .await
            .map_err(|e| storage("list", prefix, e))?;
        Ok(ListPage {
            entries: page
                .keys
                .into_iter()
                .map(|k| ListEntry {
                    name: k.name,
                    metadata: k.metadata,
                })
                .collect(),
            cursor: if page.list_complete {
                None
            } else {
                page.cursor.filter(|c| !c.is_empty())
            },
        })
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BULK_GET) {
            let mut found = self
                .0
                .get_bulk(chunk)
                .text()
                .await
                .map_err(|e| storage("get bulk", &chunk[0], e))?;
            out.extend(chunk.iter().map(|k| found.remove(k).flatten()));
        }
        Ok(out)
    }
}
