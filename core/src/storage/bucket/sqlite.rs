//! [`Sql`] over a native SQLite (rusqlite, bundled): the same statements the Durable Object
//! runs, for tests, property tests and benchmarks without a Worker.

use super::sql::{Row, Sql, SqlValue};
use crate::error::{Error, ErrorKind};
use rusqlite::types::{Value, ValueRef};

/// A SQLite database in memory (or in a file).
pub struct Sqlite {
    conn: rusqlite::Connection,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sqlite")
    }
}

fn storage(e: rusqlite::Error) -> Error {
    Error::new(ErrorKind::Storage, format!("SQLite: {e}"))
}

impl Sqlite {
    /// An empty database in memory.
    pub fn in_memory() -> Result<Self, Error> {
        Ok(Sqlite {
            conn: rusqlite::Connection::open_in_memory().map_err(storage)?,
        })
    }

    /// The database in the file at `path` (created when missing).
    pub fn open(path: &std::path::Path) -> Result<Self, Error> {
        Ok(Sqlite {
            conn: rusqlite::Connection::open(path).map_err(storage)?,
        })
    }
}

impl Sql for Sqlite {
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, Error> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(storage)?;
        let values: Vec<Value> = params
            .iter()
            .map(|p| match p {
                SqlValue::Null => Value::Null,
                SqlValue::Integer(n) => Value::Integer(*n),
                SqlValue::Text(s) => Value::Text(s.clone()),
            })
            .collect();
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(storage)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage)? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match row.get_ref(i).map_err(storage)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(n) => SqlValue::Integer(n),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(Error::new(
                            ErrorKind::Storage,
                            format!("SQL column {i}: keyward stores no reals or blobs"),
                        ))
                    }
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    fn atomically<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        self.conn.execute_batch("BEGIN").map_err(storage)?;
        match f() {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(storage)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}
