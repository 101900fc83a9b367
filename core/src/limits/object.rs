//! A consumer's object: the authoritative counters and the usage of its keys, in the
//! object's SQLite. The Durable Object (`worker/src/limiter.rs`) only hands calls here; the
//! same code runs natively over rusqlite in tests.
//!
//! Each call reads, decides and writes with no `await`, so it is one transaction in the
//! object: two isolates' asks never interleave.

use super::lease::{Grant, Limiter};
use super::policy::Limits;
use super::wire::{Answer, Ask, Call, KeyUsage, Usage, UsageQuery, Want, DAY_MS, MAX_ENTRIES};
use crate::error::{Error, ErrorKind};
use crate::storage::bucket::sql::{Sql, SqlValue};
use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Days of usage kept.
pub const USAGE_DAYS: i64 = 400;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS limiter (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage (key_id TEXT NOT NULL, day INTEGER NOT NULL, requests INTEGER NOT NULL, last_used INTEGER NOT NULL, PRIMARY KEY (key_id, day))",
];

/// The counters, and the slot length the window is counted in: a changed window length
/// re-counts the slots (`Window::rebucket`) rather than starting afresh, so isolates that
/// disagree about a consumer's limits for a while (a sync not yet seen everywhere, two
/// versions of the Worker) never reset its counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    limiter: Limiter,
    #[serde(default)]
    slot_ms: Option<i64>,
    /// The day old usage was last deleted.
    #[serde(default)]
    pruned_day: i64,
    /// Asks served so far: what the limits cost (`limiterCalls` of the usage answer).
    #[serde(default)]
    calls: u64,
}

/// Creates the tables (idempotent).
pub fn ensure(sql: &impl Sql) -> Result<(), Error> {
    for statement in SCHEMA {
        sql.exec(statement, &[])?;
    }
    Ok(())
}

fn load(sql: &impl Sql) -> Result<State, Error> {
    let rows = sql.exec("SELECT state FROM limiter WHERE id = 1", &[])?;
    match rows.first() {
        None => Ok(State::default()),
        Some(row) => serde_json::from_str(row.text(0)?)
            .map_err(|e| Error::new(ErrorKind::Corrupt, format!("limiter state: {e}"))),
    }
}

fn save(sql: &impl Sql, state: &State) -> Result<(), Error> {
    let text = serde_json::to_string(state)
        .map_err(|e| Error::new(ErrorKind::Storage, format!("limiter state: {e}")))?;
    sql.exec(
        "INSERT INTO limiter (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
        &[SqlValue::Text(text)],
    )?;
    Ok(())
}

fn count(n: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Runs one call: JSON in, JSON out (the Durable Object's whole job).
pub fn handle(sql: &impl Sql, body: &[u8], now: Millis) -> Result<Vec<u8>, Error> {
    let call: Call =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("limiter call: {e}")))?;
    let out = match call {
        Call::Ask(a) => serde_json::to_vec(&ask(sql, &a, now)?),
        Call::Usage(q) => serde_json::to_vec(&usage(sql, q)?),
    };
    out.map_err(|e| Error::new(ErrorKind::Storage, format!("limiter answer: {e}")))
}

/// Refunds, records usage, then grants what `a` wants.
pub fn ask(sql: &impl Sql, a: &Ask, now: Millis) -> Result<Answer, Error> {
    if a.usage.len() > MAX_ENTRIES || a.returned.len() > MAX_ENTRIES {
        return Err(Error::invalid("limiter call: too many entries"));
    }
    sql.atomically(|| {
        let mut state = load(sql)?;
        state.calls += 1;
        let limits: &Limits = &a.limits;
        if let Some(rate) = &limits.rate {
            let slot = super::counter::slot_ms(rate);
            if let Some(old) = state.slot_ms.filter(|old| *old != slot) {
                state.limiter.window.rebucket(old, slot);
            }
            state.slot_ms = Some(slot);
        }
        record(sql, &a.usage)?;
        let today = now.div_euclid(DAY_MS);
        if state.pruned_day != today && !a.usage.is_empty() {
            sql.exec(
                "DELETE FROM usage WHERE day < ?",
                &[SqlValue::Integer(today - USAGE_DAYS)],
            )?;
            state.pruned_day = today;
        }
        let grant = match a.want {
            Want::Lease { wanted } => state.limiter.grant(limits, now, wanted, &a.returned),
            Want::One => state.limiter.grant_one(limits, now, &a.returned),
            Want::Peek => {
                state.limiter.refund(limits, &a.returned);
                Grant {
                    requests: 0,
                    charged_at: now,
                    expires_at: now,
                    remaining: 0,
                    reset_ms: 0,
                    retry_after_ms: 0,
                }
            }
        };
        let (rate, quota) = state.limiter.standing(limits, now);
        save(sql, &state)?;
        Ok(Answer { grant, rate, quota })
    })
}

fn record(sql: &impl Sql, usage: &[super::wire::Use]) -> Result<(), Error> {
    for u in usage {
        if u.requests == 0 {
            continue;
        }
        sql.exec(
            "INSERT INTO usage (key_id, day, requests, last_used) VALUES (?, ?, ?, ?) \
             ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + excluded.requests, \
             last_used = MAX(last_used, excluded.last_used)",
            &[
                SqlValue::Text(u.key_id.clone()),
                SqlValue::Integer(u.day),
                count(u.requests),
                SqlValue::Integer(u.last_used),
            ],
        )?;
    }
    Ok(())
}

/// Every counted key's daily requests from `q.from` to `q.to`, and when it was last used.
pub fn usage(sql: &impl Sql, q: UsageQuery) -> Result<Usage, Error> {
    let mut keys: BTreeMap<String, KeyUsage> = BTreeMap::new();
    for row in sql.exec(
        "SELECT key_id, MAX(last_used) FROM usage GROUP BY key_id",
        &[],
    )? {
        let id = row.text(0)?.to_owned();
        keys.insert(
            id.clone(),
            KeyUsage {
                key_id: id,
                last_used: Some(row.int(1)?),
                days: Vec::new(),
            },
        );
    }
    for row in sql.exec(
        "SELECT key_id, day, requests FROM usage WHERE day >= ? AND day <= ? ORDER BY key_id, day",
        &[SqlValue::Integer(q.from), SqlValue::Integer(q.to)],
    )? {
        if let Some(k) = keys.get_mut(row.text(0)?) {
            k.days
                .push((row.int(1)?, u64::try_from(row.int(2)?).unwrap_or(0)));
        }
    }
    Ok(Usage {
        keys: keys.into_values().collect(),
        calls: load(sql)?.calls,
    })
}

/// Calls [`handle`]'s pieces natively: one in-memory SQLite per consumer (tests, benches).
#[cfg(feature = "sqlite")]
pub mod local {
    use super::super::wire::{Answer, Ask, Consumer, Counters, Pending, Usage, UsageQuery};
    use crate::storage::bucket::sqlite::Sqlite;
    use crate::timestamp::Millis;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Consumers' objects in this process, with a clock the test moves.
    #[derive(Default)]
    pub struct LocalCounters {
        objects: RefCell<HashMap<String, Rc<Sqlite>>>,
        /// The objects' clock.
        pub now: Cell<Millis>,
        /// Calls made so far.
        pub calls: Cell<u64>,
        /// While set, every call fails (an unreachable object).
        pub down: Cell<bool>,
        /// Each call yields this many times before it is answered (calls in flight
        /// together, as over the network).
        pub yields: Cell<u32>,
    }

    /// Pending `n` times, then ready.
    struct Yield(u32);

    impl std::future::Future for Yield {
        type Output = ();

        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 == 0 {
                return std::task::Poll::Ready(());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    impl LocalCounters {
        fn object(&self, c: &Consumer) -> Result<Rc<Sqlite>, crate::Error> {
            let mut objects = self.objects.borrow_mut();
            if let Some(o) = objects.get(&c.object_name()) {
                return Ok(o.clone());
            }
            let o = Rc::new(Sqlite::in_memory()?);
            super::ensure(&*o)?;
            objects.insert(c.object_name(), o.clone());
            Ok(o)
        }

        fn reachable(&self) -> Result<(), crate::Error> {
            self.calls.set(self.calls.get() + 1);
            if self.down.get() {
                return Err(crate::Error::new(
                    crate::ErrorKind::Storage,
                    "the consumer's object did not answer",
                ));
            }
            Ok(())
        }
    }

    impl Counters for LocalCounters {
        fn ask<'a>(&'a self, consumer: &'a Consumer, ask: &'a Ask) -> Pending<'a, Answer> {
            Box::pin(async move {
                self.reachable()?;
                Yield(self.yields.get()).await;
                super::ask(&*self.object(consumer)?, ask, self.now.get())
            })
        }

        fn usage<'a>(&'a self, consumer: &'a Consumer, query: UsageQuery) -> Pending<'a, Usage> {
            Box::pin(async move {
                self.reachable()?;
                super::usage(&*self.object(consumer)?, query)
            })
        }
    }
}
