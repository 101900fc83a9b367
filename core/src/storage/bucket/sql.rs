//! The SQL a bucket's object runs, behind a trait small enough for two implementations:
//! the Durable Object's SQLite storage (the Worker's `bucket_object.rs`) and, natively,
//! SQLite through rusqlite (feature `sqlite`; tests, benchmarks). Both are SQLite, so the
//! same statements run in both.
//!
//! Calls are synchronous on purpose: in a Durable Object, SQL writes with no `await`
//! between them commit together and no other request runs in between. Every operation of
//! [`super::rows`] reads and writes without awaiting, so it is one transaction there.

use crate::error::{Error, ErrorKind};

/// One SQL value: the three kinds keyward stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// `NULL`.
    Null,
    /// An integer (times in ms, counts, versions).
    Integer(i64),
    /// Text (names, JSON records, hashes).
    Text(String),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Integer(n)
    }
}

impl From<Option<String>> for SqlValue {
    fn from(s: Option<String>) -> Self {
        s.map_or(SqlValue::Null, SqlValue::Text)
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<SqlValue>);

impl Row {
    /// Column `i` as text; a missing or non-text column is a storage error.
    pub fn text(&self, i: usize) -> Result<&str, Error> {
        match self.0.get(i) {
            Some(SqlValue::Text(s)) => Ok(s),
            other => Err(Error::new(
                ErrorKind::Storage,
                format!("SQL column {i}: expected text, found {other:?}"),
            )),
        }
    }

    /// Column `i` as text, `None` when `NULL`.
    pub fn opt_text(&self, i: usize) -> Result<Option<&str>, Error> {
        match self.0.get(i) {
            Some(SqlValue::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64, Error> {
        match self.0.get(i) {
            Some(SqlValue::Integer(n)) => Ok(*n),
            other => Err(Error::new(
                ErrorKind::Storage,
                format!("SQL column {i}: expected an integer, found {other:?}"),
            )),
        }
    }
}

/// A SQLite database, statement by statement.
pub trait Sql {
    /// Runs one statement with `?` placeholders bound to `params`; returns its rows.
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, Error>;

    /// Runs `f` as one transaction. The Durable Object commits everything a request writes
    /// without an `await` in between as one, so its implementation only calls `f`; the
    /// native one wraps `f` in `BEGIN`/`COMMIT` and rolls back when it fails.
    fn atomically<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        f()
    }
}

impl<Q: Sql + ?Sized> Sql for &Q {
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, Error> {
        (**self).exec(sql, params)
    }
}

/// No database: what the Worker's front (the part that routes to objects) hands the API.
/// Every statement fails; the routes that need a bucket's tables run inside its object.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSql;

impl Sql for NoSql {
    fn exec(&self, _sql: &str, _params: &[SqlValue]) -> Result<Vec<Row>, Error> {
        Err(Error::new(
            ErrorKind::Storage,
            "this route needs a bucket's object; the Worker routes it there",
        ))
    }
}

/// The one value of a one-row, one-column query, as an integer (counts).
pub fn scalar(sql: &impl Sql, statement: &str, params: &[SqlValue]) -> Result<i64, Error> {
    let rows = sql.exec(statement, params)?;
    rows.first()
        .ok_or_else(|| Error::new(ErrorKind::Storage, "SQL: expected one row, found none"))?
        .int(0)
}
