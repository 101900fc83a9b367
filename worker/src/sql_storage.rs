//! keyward-core's [`Sql`] over a Durable Object's SQLite storage.
//!
//! `exec` is synchronous in the runtime too: statements run with no `await` between them
//! commit together, which is how each operation of the bucket's tables is one transaction.

use keyward_core::storage::bucket::sql::{Row, Sql, SqlValue};
use keyward_core::{Error, ErrorKind};
use worker::{SqlStorage, SqlStorageValue};

/// An object's SQLite storage.
pub struct ObjectSql(pub SqlStorage);

fn storage(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Storage, format!("SQL: {e}"))
}

impl Sql for ObjectSql {
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, Error> {
        let bindings: Vec<SqlStorageValue> = params
            .iter()
            .map(|p| match p {
                SqlValue::Null => SqlStorageValue::Null,
                SqlValue::Integer(n) => SqlStorageValue::Integer(*n),
                SqlValue::Text(s) => SqlStorageValue::String(s.clone()),
            })
            .collect();
        let cursor = self.0.exec(sql, bindings).map_err(storage)?;
        cursor
            .raw()
            .map(|row| {
                let cells = row.map_err(storage)?;
                Ok(Row(cells
                    .into_iter()
                    .map(|c| match c {
                        SqlStorageValue::Null => SqlValue::Null,
                        SqlStorageValue::Integer(n) => SqlValue::Integer(n),
                        SqlStorageValue::Boolean(b) => SqlValue::Integer(i64::from(b)),
                        // Counts and times are integers; JS hands back whole floats for them.
                        SqlStorageValue::Float(f) => SqlValue::Integer(f as i64),
                        SqlStorageValue::String(s) => SqlValue::Text(s),
                        SqlStorageValue::Blob(b) => {
                            SqlValue::Text(String::from_utf8_lossy(&b).into_owned())
                        }
                    })
                    .collect()))
            })
            .collect()
    }
}
