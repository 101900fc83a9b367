//! The isolate's side of the limits: the leases it holds per consumer, the usage it counted
//! since its last call, and the answers it makes from them — the admitted request's
//! `RateLimit` headers, or the 429.
//!
//! One [`Leases`] lives per isolate (the Worker keeps it for the isolate's life). A request
//! of a limited consumer is admitted from the lease when it can be; otherwise the isolate
//! asks the consumer's object ([`super::object`]) for a new one, giving back what is left of
//! the old one and the usage counted so far. Consumers without limits never wait for the
//! object: their usage is sent in the background once it is [`FLUSH_MS`] old.
//!
//! A refusal is remembered until its `Retry-After`: more requests in that time are refused
//! without a call, so a client hammering a spent limit costs the object nothing.

use super::counter::period_bounds;
use super::lease::{Lease, Returned, Standing};
use super::policy::{Limits, Period};
use super::settings::Fail;
use super::wire::{Answer, Ask, Consumer, Counters, Use, Want, DAY_MS};
use crate::error::Error;
use crate::http::ApiResponse;
use crate::problem;
use crate::timestamp::{self, Millis};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// How long usage waits in an isolate before it is sent (when no ask carries it sooner).
pub const FLUSH_MS: Millis = 10_000;

/// Consumers an isolate keeps leases and usage for; past it, idle ones are forgotten.
pub const MAX_CONSUMERS: usize = 10_000;

/// How often a failing object is logged, at most.
const WARN_EVERY_MS: Millis = 60_000;

#[derive(Debug, Default)]
struct Entry {
    limits: Limits,
    lease: Option<Lease>,
    /// Where the limits stood at the last answer, and when that was.
    rate: Option<Standing>,
    quota: Option<Standing>,
    read_at: Millis,
    /// Refused until then without asking.
    refused_until: Millis,
    /// Unspent leases to give back with the next call.
    unreturned: Vec<Returned>,
    /// Key id → `(day, requests, last use)` since the last call (a day rarely changes
    /// between calls; looked up by `&str`, so a counted request allocates nothing).
    usage: HashMap<String, Vec<(i64, u64, Millis)>>,
    /// When the oldest of `usage` was counted.
    usage_since: Option<Millis>,
}

impl Entry {
    fn record(&mut self, key_id: &str, now: Millis) {
        let day = now.div_euclid(DAY_MS);
        let days = match self.usage.get_mut(key_id) {
            Some(days) => days,
            None => self.usage.entry(key_id.to_owned()).or_default(),
        };
        match days.iter_mut().find(|(d, _, _)| *d == day) {
            Some((_, requests, last)) => {
                *requests += 1;
                *last = (*last).max(now);
            }
            None => days.push((day, 1, now)),
        }
        self.usage_since.get_or_insert(now);
    }

    fn take_usage(&mut self) -> Vec<Use> {
        self.usage_since = None;
        self.usage
            .drain()
            .flat_map(|(key_id, days)| {
                days.into_iter().map(move |(day, requests, last_used)| Use {
                    key_id: key_id.clone(),
                    day,
                    requests,
                    last_used,
                })
            })
            .collect()
    }

    /// Everything owed to the object: unspent leases and usage.
    fn take_owed(&mut self) -> (Vec<Returned>, Vec<Use>) {
        let mut returned = std::mem::take(&mut self.unreturned);
        if let Some(unspent) = self.lease.take().and_then(|l| l.unspent()) {
            returned.push(unspent);
        }
        (returned, self.take_usage())
    }

    /// Usage old enough to send in the background, as a call that charges nothing.
    fn due_flush(&mut self, now: Millis) -> Option<Ask> {
        let since = self.usage_since?;
        if now - since < FLUSH_MS {
            return None;
        }
        Some(Ask {
            limits: self.limits,
            want: Want::Peek,
            returned: std::mem::take(&mut self.unreturned),
            usage: self.take_usage(),
        })
    }

    fn headers(&self, now: Millis) -> Vec<(String, String)> {
        let held = self.lease.map_or(0, |l| l.left);
        let age = (now - self.read_at).max(0);
        let mut policy = Vec::new();
        let mut state = Vec::new();
        if let (Some(rate), Some(s)) = (self.limits.rate, self.rate) {
            policy.push(format!(
                "\"rate\";q={};w={}",
                rate.requests,
                ceil_seconds(rate.period_ms)
            ));
            state.push(format!(
                "\"rate\";r={};t={}",
                (s.remaining + held).min(s.limit),
                ceil_seconds(s.reset_ms - age)
            ));
        }
        if let (Some(q), Some(s)) = (self.limits.quota, self.quota) {
            let (start, end) = period_bounds(now, q.period);
            policy.push(format!(
                "\"quota\";q={};w={}",
                q.requests,
                ceil_seconds(end - start)
            ));
            state.push(format!(
                "\"quota\";r={};t={}",
                (s.remaining + held).min(s.limit),
                ceil_seconds(s.reset_ms - age)
            ));
        }
        if policy.is_empty() {
            return Vec::new();
        }
        vec![
            ("ratelimit-policy".into(), policy.join(", ")),
            ("ratelimit".into(), state.join(", ")),
        ]
    }

    /// The 429 for a spent limit, `retry_ms` from now.
    fn refusal(&self, now: Millis, retry_ms: Millis) -> ApiResponse {
        let quota_spent = self.quota.is_some_and(|s| s.remaining == 0);
        let detail = match (self.limits.quota, self.limits.rate) {
            (Some(q), _) if quota_spent || self.limits.rate.is_none() => {
                let per = match q.period {
                    Period::Day => "day",
                    Period::Month => "month",
                };
                format!(
                    "this consumer's quota of {} requests per {per} (UTC) is spent; it resets at {}",
                    q.requests,
                    timestamp::format(period_bounds(now, q.period).1)
                )
            }
            (_, Some(r)) => format!(
                "this consumer's rate limit of {} requests per {} s is spent; retry after {} s",
                r.requests,
                ceil_seconds(r.period_ms),
                ceil_seconds(retry_ms)
            ),
            _ => "this consumer's limit is spent".to_owned(),
        };
        let mut r = problem::response(429, Some(detail));
        r.headers.push((
            "retry-after".into(),
            ceil_seconds(retry_ms).max(1).to_string(),
        ));
        // Nothing is left, whatever the last answer said.
        let mut spent = Entry {
            limits: self.limits,
            rate: self.rate.map(|s| Standing { remaining: 0, ..s }),
            quota: self.quota.map(|s| Standing {
                remaining: if quota_spent { 0 } else { s.remaining },
                ..s
            }),
            read_at: self.read_at,
            ..Entry::default()
        };
        if !quota_spent {
            spent.rate = self.rate.map(|s| Standing { remaining: 0, ..s });
        }
        r.headers.extend(spent.headers(now));
        r
    }
}

fn ceil_seconds(ms: Millis) -> i64 {
    (ms.max(0) + 999) / 1000
}

/// What to do with a verified request.
#[derive(Debug)]
pub enum Outcome {
    /// Forward it (or answer it) with `headers` added to the response.
    Admit {
        /// `RateLimit-Policy` and `RateLimit` (none for an unlimited consumer).
        headers: Vec<(String, String)>,
        /// Usage to send to the consumer's object in the background (`waitUntil`).
        flush: Option<Ask>,
        /// A failing object to log (at most once a minute per isolate).
        warn: Option<String>,
    },
    /// Answer with this (429, or 503 with `RATE_LIMIT_FAIL=closed`).
    Refuse {
        /// The answer.
        response: ApiResponse,
        /// A failing object to log.
        warn: Option<String>,
    },
}

/// What [`Leases::begin`] decides before any call.
#[derive(Debug)]
pub enum Step {
    /// Decided without the object.
    Done(Outcome),
    /// Send this to the consumer's object, then hand the answer to [`Leases::settle`].
    Ask(Ask),
}

/// An isolate's leases and usage, per consumer.
#[derive(Debug, Default)]
pub struct Leases {
    entries: RefCell<HashMap<String, Entry>>,
    warned_at: Cell<Option<Millis>>,
}

impl Leases {
    fn with<T>(&self, consumer: &Consumer, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut entries = self.entries.borrow_mut();
        let name = consumer.object_name();
        if !entries.contains_key(&name) && entries.len() >= MAX_CONSUMERS {
            // Idle ones first (nothing owed); all of them if that is not enough.
            entries.retain(|_, e| !e.usage.is_empty() || e.lease.is_some_and(|l| l.left > 0));
            if entries.len() >= MAX_CONSUMERS {
                entries.clear();
            }
        }
        f(entries.entry(name).or_default())
    }

    /// The first step for a request of `consumer` with key `key_id` under `limits` at `now`.
    pub fn begin(&self, consumer: &Consumer, key_id: &str, limits: &Limits, now: Millis) -> Step {
        self.with(consumer, |e| {
            if e.limits != *limits {
                // Changed (a sync): what the old lease holds goes back, the refusal is
                // forgotten, the next answer says where the new limits stand.
                if let Some(unspent) = e.lease.take().and_then(|l| l.unspent()) {
                    e.unreturned.push(unspent);
                }
                e.limits = *limits;
                e.refused_until = 0;
                e.rate = None;
                e.quota = None;
            }
            if limits.is_unlimited() {
                e.record(key_id, now);
                return Step::Done(Outcome::Admit {
                    headers: Vec::new(),
                    flush: e.due_flush(now),
                    warn: None,
                });
            }
            if now < e.refused_until {
                return Step::Done(Outcome::Refuse {
                    response: e.refusal(now, e.refused_until - now),
                    warn: None,
                });
            }
            if e.lease.as_mut().is_some_and(|l| l.take(now)) {
                e.record(key_id, now);
                return Step::Done(Outcome::Admit {
                    headers: e.headers(now),
                    flush: e.due_flush(now),
                    warn: None,
                });
            }
            let (returned, usage) = e.take_owed();
            Step::Ask(Ask {
                limits: *limits,
                want: Want::Lease,
                returned,
                usage,
            })
        })
    }

    /// Decides with the object's answer to [`Step::Ask`] (or why there is none).
    pub fn settle(
        &self,
        consumer: &Consumer,
        key_id: &str,
        limits: &Limits,
        answer: Result<Answer, Error>,
        fail: Fail,
        now: Millis,
    ) -> Outcome {
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                // What the failed call carried is lost: the object may have applied it.
                let warn = self.warn(now).then(|| {
                    format!(
                        "the limits object of consumer '{}' did not answer ({e}); RATE_LIMIT_FAIL={} meanwhile",
                        consumer.name,
                        match fail {
                            Fail::Open => "open: requests are admitted",
                            Fail::Closed => "closed: requests are refused",
                        }
                    )
                });
                return match fail {
                    Fail::Open => self.with(consumer, |e| {
                        e.record(key_id, now);
                        Outcome::Admit {
                            headers: Vec::new(),
                            flush: None,
                            warn,
                        }
                    }),
                    Fail::Closed => {
                        let mut response = problem::response(
                            503,
                            Some(
                                "the rate limit cannot be checked right now; retry shortly".into(),
                            ),
                        );
                        response.headers.push(("retry-after".into(), "1".into()));
                        Outcome::Refuse { response, warn }
                    }
                };
            }
        };
        self.with(consumer, |e| {
            if e.limits != *limits {
                // Limits changed while this call was out; the answer is still the object's.
                e.limits = *limits;
            }
            e.rate = answer.rate;
            e.quota = answer.quota;
            e.read_at = now;
            let g = answer.grant;
            if g.requests == 0 {
                e.refused_until = now + g.retry_after_ms.max(1);
                return Outcome::Refuse {
                    response: e.refusal(now, g.retry_after_ms.max(1)),
                    warn: None,
                };
            }
            // Another request's lease may have come back meanwhile: its rest goes back.
            if let Some(unspent) = e.lease.take().and_then(|l| l.unspent()) {
                e.unreturned.push(unspent);
            }
            let mut lease = Lease::from_grant(&g);
            // This request is one of the grant, whatever the clocks say of its expiry.
            lease.left -= 1;
            e.lease = Some(lease);
            e.record(key_id, now);
            Outcome::Admit {
                headers: e.headers(now),
                flush: None,
                warn: None,
            }
        })
    }

    fn warn(&self, now: Millis) -> bool {
        match self.warned_at.get() {
            Some(at) if now - at < WARN_EVERY_MS => false,
            _ => {
                self.warned_at.set(Some(now));
                true
            }
        }
    }

    /// [`Leases::begin`], the call if one is needed, and [`Leases::settle`].
    pub async fn admit(
        &self,
        counters: &dyn Counters,
        consumer: &Consumer,
        key_id: &str,
        limits: &Limits,
        fail: Fail,
        now: Millis,
    ) -> Outcome {
        match self.begin(consumer, key_id, limits, now) {
            Step::Done(outcome) => outcome,
            Step::Ask(ask) => {
                let answer = counters.ask(consumer, &ask).await;
                self.settle(consumer, key_id, limits, answer, fail, now)
            }
        }
    }
}
