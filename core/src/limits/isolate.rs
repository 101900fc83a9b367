//! The isolate's side of the limits: the leases it holds per consumer, the usage it counted
//! since its last call, and the answers it makes from them — the admitted request's
//! `RateLimit` headers, or the 429.
//!
//! One [`Leases`] lives per isolate (the Worker keeps it for the isolate's life). A request
//! of a limited consumer is admitted from the lease when it can be; otherwise the isolate
//! asks the consumer's object ([`super::object`]) for a new one, giving back what is left of
//! the old one and the usage counted so far.
//!
//! - **One lease ask at a time** per consumer: a request arriving while it is out asks for
//!   itself alone (a lease of one), so a burst does not spread the allowance over leases
//!   nobody uses. It does not wait for the other request's answer: the Workers runtime
//!   cancels a request that waits on another request's I/O as hung.
//! - **Leases sized by demand**: an isolate asks for twice what it admitted in the last
//!   lease period (the object caps it at a tenth of the limit), so a lease an isolate does not
//!   need is small, and what it strands if it goes away is small.
//! - **Nothing owed waits long**: [`Leases::due`], called on every request, hands the adapter
//!   (at most every [`FLUSH_MS`]) the usage and expired leases of every consumer to send in
//!   the background — idle consumers included —, and what evicted entries owed.
//! - A refusal is remembered for at most [`REFUSAL_MEMORY_MS`] (other isolates may return
//!   leases meanwhile), a failing object for [`DOWN_MEMORY_MS`]: hammering a spent limit or
//!   a failing object costs the object nothing.

use super::counter::period_bounds;
use super::lease::{lease_ms, Lease, Returned, Standing, MAX_LEASE_MS};
use super::policy::Limits;
use super::settings::Fail;
use super::wire::{Answer, Ask, Consumer, Counters, Use, Want, DAY_MS, MAX_ENTRIES};
use crate::error::Error;
use crate::http::ApiResponse;
use crate::problem;
use crate::timestamp::{self, Millis};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// How long usage and unspent leases wait in an isolate before they are sent.
pub const FLUSH_MS: Millis = 10_000;

/// Consumers an isolate keeps leases and usage for; past it, idle ones are forgotten and, if
/// need be, the least recently seen are sent what they owe and forgotten.
pub const MAX_CONSUMERS: usize = 10_000;

/// The longest an isolate refuses a consumer on its own after the object refused it.
pub const REFUSAL_MEMORY_MS: Millis = MAX_LEASE_MS;

/// How long an isolate applies `RATE_LIMIT_FAIL` on its own after the object failed (longer
/// than the adapter's call timeout, so a hanging object costs one wait per this period).
pub const DOWN_MEMORY_MS: Millis = 5_000;

/// How long an ask counts as in flight.
const FLIGHT_MS: Millis = 2_500;

/// Background calls [`Leases::due`] hands out at once (each is a subrequest of the request
/// that sends it).
const DUE_MAX: usize = 10;

/// How often a failing object is logged, at most.
const WARN_EVERY_MS: Millis = 60_000;

#[derive(Debug)]
struct Entry {
    consumer: Consumer,
    limits: Limits,
    lease: Option<Lease>,
    /// Where the limits stood at the last answer, and when that was.
    rate: Option<Standing>,
    quota: Option<Standing>,
    read_at: Millis,
    /// Refused until then without asking.
    refused_until: Millis,
    /// When the object said a request fits again (the remembered 429's `Retry-After`).
    retry_at: Millis,
    /// The object failed: `RATE_LIMIT_FAIL` applies without asking until then.
    down_until: Millis,
    /// Unspent leases to give back with the next call.
    unreturned: Vec<Returned>,
    /// Key id → `(day, requests, last use)` since the last call (looked up by `&str`, so a
    /// counted request allocates nothing).
    usage: HashMap<String, Vec<(i64, u64, Millis)>>,
    /// When the oldest of `usage` was counted.
    usage_since: Option<Millis>,
    /// Admitted requests in the current demand period (a lease's length), its start, and
    /// the previous period's count: what the next lease asks for.
    demand: u64,
    demand_start: Millis,
    last_demand: u64,
    /// When the lease ask in flight started, if one is out (a request dropped mid-call
    /// never clears it: it counts for [`FLIGHT_MS`] at most).
    flight: Option<Millis>,
    /// The last request.
    seen: Millis,
}

impl Entry {
    fn new(consumer: Consumer, now: Millis) -> Entry {
        Entry {
            consumer,
            limits: Limits::default(),
            lease: None,
            rate: None,
            quota: None,
            read_at: now,
            refused_until: 0,
            retry_at: 0,
            down_until: 0,
            unreturned: Vec::new(),
            usage: HashMap::new(),
            usage_since: None,
            demand: 0,
            demand_start: now,
            last_demand: 0,
            flight: None,
            seen: now,
        }
    }

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
        let period = self
            .limits
            .rate
            .map_or(MAX_LEASE_MS, |r| lease_ms(r.period_ms));
        if now - self.demand_start >= period {
            self.last_demand = if now - self.demand_start >= 2 * period {
                0
            } else {
                self.demand
            };
            self.demand = 0;
            self.demand_start = now;
        }
        self.demand += 1;
    }

    /// What the next lease asks for: twice the recent demand (the object caps it).
    fn wanted(&self) -> u64 {
        self.demand.max(self.last_demand).saturating_mul(2).max(1)
    }

    fn take_usage(&mut self) -> Vec<Use> {
        self.usage_since = None;
        let mut out: Vec<Use> = self
            .usage
            .drain()
            .flat_map(|(key_id, days)| {
                days.into_iter().map(move |(day, requests, last_used)| Use {
                    key_id: key_id.clone(),
                    day,
                    requests,
                    last_used,
                })
            })
            .collect();
        out.truncate(MAX_ENTRIES);
        out
    }

    /// Everything owed to the object: unspent leases and usage.
    fn take_owed(&mut self) -> (Vec<Returned>, Vec<Use>) {
        let mut returned = std::mem::take(&mut self.unreturned);
        if let Some(unspent) = self.lease.take().and_then(|l| l.unspent()) {
            returned.push(unspent);
        }
        returned.truncate(MAX_ENTRIES);
        (returned, self.take_usage())
    }

    fn owes(&self) -> bool {
        !self.usage.is_empty()
            || !self.unreturned.is_empty()
            || self.lease.is_some_and(|l| l.left > 0)
    }

    /// What is owed and old enough to send in the background, as a call that charges
    /// nothing: usage older than [`FLUSH_MS`], an expired lease's rest, unreturned leases.
    fn in_flight(&self, now: Millis) -> bool {
        self.flight.is_some_and(|t| now - t < FLIGHT_MS)
    }

    fn due(&mut self, now: Millis) -> Option<Ask> {
        if self.in_flight(now) {
            return None;
        }
        let old_usage = self.usage_since.is_some_and(|t| now - t >= FLUSH_MS);
        let expired = self
            .lease
            .is_some_and(|l| l.left > 0 && now >= l.expires_at);
        if !old_usage && !expired && self.unreturned.is_empty() {
            return None;
        }
        let mut returned = std::mem::take(&mut self.unreturned);
        if expired {
            if let Some(unspent) = self.lease.take().and_then(|l| l.unspent()) {
                returned.push(unspent);
            }
        }
        returned.truncate(MAX_ENTRIES);
        let usage = self.take_usage();
        Some(Ask {
            limits: self.limits,
            want: Want::Peek,
            returned,
            usage,
        })
    }

    /// Where the limits stand as this isolate knows them.
    fn view(&self) -> View {
        View {
            limits: self.limits,
            rate: self.rate,
            quota: self.quota,
            read_at: self.read_at,
            held: self.lease.map_or(0, |l| l.left),
        }
    }

    fn headers(&self, now: Millis) -> Vec<(String, String)> {
        self.view().headers(now)
    }

    /// The 429 this isolate remembers, or the answer while the object is down.
    fn local(&mut self, key_id: &str, fail: Fail, now: Millis) -> Option<Outcome> {
        if now < self.refused_until {
            return Some(Outcome::Refuse {
                response: self.view().refusal(now, (self.retry_at - now).max(1)),
                warn: None,
            });
        }
        if now < self.down_until {
            return Some(failed(self, key_id, fail, now, None));
        }
        None
    }
}

/// The limits, where they stood at `read_at`, and what this isolate holds: all the `RateLimit`
/// headers and the 429 are made of.
#[derive(Debug, Clone, Copy)]
struct View {
    limits: Limits,
    rate: Option<Standing>,
    quota: Option<Standing>,
    read_at: Millis,
    held: u64,
}

impl View {
    fn headers(&self, now: Millis) -> Vec<(String, String)> {
        let held = self.held;
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
                s.remaining.saturating_add(held).min(s.limit),
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
                s.remaining.saturating_add(held).min(s.limit),
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
        let rate_spent = !quota_spent || self.rate.is_some_and(|s| s.remaining == 0);
        let detail = match (self.limits.quota, self.limits.rate) {
            (Some(q), _) if quota_spent || self.limits.rate.is_none() => format!(
                "this consumer's quota of {} requests per {} (UTC) is spent; it resets at {}",
                q.requests,
                q.period,
                timestamp::format(period_bounds(now, q.period).1)
            ),
            (_, Some(r)) => format!(
                "this consumer's rate limit of {r} is spent; retry after {} s",
                ceil_seconds(retry_ms).max(1)
            ),
            _ => "this consumer's limit is spent".to_owned(),
        };
        let mut r = problem::response(429, Some(detail));
        r.headers.push((
            "retry-after".into(),
            ceil_seconds(retry_ms).max(1).to_string(),
        ));
        // What is spent shows 0 left, whatever this isolate's last answer said.
        let zero = |spent: bool, s: Standing| {
            if spent {
                Standing { remaining: 0, ..s }
            } else {
                s
            }
        };
        let spent = View {
            rate: self.rate.map(|s| zero(rate_spent, s)),
            quota: self.quota.map(|s| zero(quota_spent, s)),
            held: 0,
            ..*self
        };
        r.headers.extend(spent.headers(now));
        r
    }
}

fn ceil_seconds(ms: Millis) -> i64 {
    (ms.max(0) + 999) / 1000
}

/// `RATE_LIMIT_FAIL`'s answer.
fn failed(e: &mut Entry, key_id: &str, fail: Fail, now: Millis, warn: Option<String>) -> Outcome {
    match fail {
        Fail::Open => {
            e.record(key_id, now);
            Outcome::Admit {
                headers: Vec::new(),
                warn,
            }
        }
        Fail::Closed => {
            let mut response = problem::response(
                503,
                Some("the rate limit cannot be checked right now; retry shortly".into()),
            );
            response.headers.push(("retry-after".into(), "1".into()));
            Outcome::Refuse { response, warn }
        }
    }
}

/// What to do with a verified request.
#[derive(Debug)]
pub enum Outcome {
    /// Forward it (or answer it) with `headers` added to the response.
    Admit {
        /// `RateLimit-Policy` and `RateLimit` (none for an unlimited consumer).
        headers: Vec<(String, String)>,
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
enum Step {
    /// Decided without the object.
    Done(Outcome),
    /// Send this to the consumer's object, then [`Leases::settle`]; `main`: the lease ask
    /// (not a request's own ask while another is out).
    Ask { ask: Ask, main: bool },
}

/// An isolate's leases and usage, per consumer.
#[derive(Debug, Default)]
pub struct Leases {
    entries: RefCell<HashMap<String, Entry>>,
    /// What evicted entries owed, for [`Leases::due`].
    evicted: RefCell<Vec<(Consumer, Ask)>>,
    warned_at: Cell<Option<Millis>>,
    background_warned_at: Cell<Option<Millis>>,
    swept_at: Cell<Millis>,
}

fn once_a_minute(at: &Cell<Option<Millis>>, now: Millis) -> bool {
    match at.get() {
        Some(t) if now - t < WARN_EVERY_MS => false,
        _ => {
            at.set(Some(now));
            true
        }
    }
}

impl Leases {
    fn with<T>(&self, consumer: &Consumer, now: Millis, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut entries = self.entries.borrow_mut();
        let name = consumer.object_name();
        if !entries.contains_key(&name) && entries.len() >= MAX_CONSUMERS {
            self.evict(&mut entries, now);
        }
        let e = entries
            .entry(name)
            .or_insert_with(|| Entry::new(consumer.clone(), now));
        e.seen = now;
        f(e)
    }

    /// Makes room for a tenth of [`MAX_CONSUMERS`] at once (so the scan is rare): idle
    /// entries go first; then the least recently seen, whose debts [`Leases::due`] sends.
    fn evict(&self, entries: &mut HashMap<String, Entry>, now: Millis) {
        let target = MAX_CONSUMERS - MAX_CONSUMERS / 10;
        entries.retain(|_, e| e.in_flight(now) || e.owes() || e.seen + FLUSH_MS > now);
        if entries.len() <= target {
            return;
        }
        let mut by_age: Vec<(Millis, String)> = entries
            .iter()
            .filter(|(_, e)| !e.in_flight(now))
            .map(|(k, e)| (e.seen, k.clone()))
            .collect();
        by_age.sort_unstable();
        let mut evicted = self.evicted.borrow_mut();
        for (_, name) in by_age.into_iter().take(entries.len() - target) {
            if let Some(mut e) = entries.remove(&name) {
                if e.owes() {
                    let (returned, usage) = e.take_owed();
                    evicted.push((
                        e.consumer.clone(),
                        Ask {
                            limits: e.limits,
                            want: Want::Peek,
                            returned,
                            usage,
                        },
                    ));
                }
            }
        }
    }

    /// Calls the adapter should send in the background (`waitUntil`): what evicted
    /// entries owed, and every consumer's due debts (looked for at most every
    /// [`FLUSH_MS`]). Cheap when nothing is due; call it on every request.
    pub fn due(&self, now: Millis) -> Vec<(Consumer, Ask)> {
        let mut out: Vec<(Consumer, Ask)> = {
            let mut evicted = self.evicted.borrow_mut();
            let n = evicted.len().min(DUE_MAX);
            evicted.drain(..n).collect()
        };
        if now - self.swept_at.get() < FLUSH_MS || out.len() >= DUE_MAX {
            return out;
        }
        let mut cut_short = false;
        for e in self.entries.borrow_mut().values_mut() {
            if out.len() >= DUE_MAX {
                cut_short = true;
                break;
            }
            if let Some(ask) = e.due(now) {
                out.push((e.consumer.clone(), ask));
            }
        }
        // Cut short: the next request sweeps again, and finds the next ones (those sent now
        // owe nothing until FLUSH_MS has passed again).
        if !cut_short {
            self.swept_at.set(now);
        }
        out
    }

    /// The first step for a request of `consumer` with key `key_id` under `limits` at `now`.
    fn begin(
        &self,
        consumer: &Consumer,
        key_id: &str,
        limits: &Limits,
        fail: Fail,
        now: Millis,
    ) -> Step {
        self.with(consumer, now, |e| {
            if e.limits != *limits {
                // Changed (a sync): the old lease is dropped, not returned (a refund under the
                // new limits would take from counters it was never charged to; what it held
                // leaves with its slot), the refusal is forgotten, the next answer says where
                // the new limits stand.
                e.lease = None;
                e.unreturned.clear();
                e.limits = *limits;
                e.refused_until = 0;
                e.rate = None;
                e.quota = None;
            }
            if limits.is_unlimited() {
                e.record(key_id, now);
                return Step::Done(Outcome::Admit {
                    headers: Vec::new(),
                    warn: None,
                });
            }
            // A lease held is charged already: admitting from it is always within bounds,
            // whatever another request's ask was answered meanwhile.
            if e.lease.as_mut().is_some_and(|l| l.take(now)) {
                e.record(key_id, now);
                return Step::Done(Outcome::Admit {
                    headers: e.headers(now),
                    warn: None,
                });
            }
            if let Some(outcome) = e.local(key_id, fail, now) {
                return Step::Done(outcome);
            }
            if e.in_flight(now) {
                // Another request is asking for the lease: this one asks for itself alone,
                // giving back nothing (that ask carries what is owed).
                return Step::Ask {
                    ask: Ask {
                        limits: *limits,
                        want: Want::Lease { wanted: 1 },
                        returned: Vec::new(),
                        usage: Vec::new(),
                    },
                    main: false,
                };
            }
            let wanted = e.wanted();
            let (returned, usage) = e.take_owed();
            e.flight = Some(now);
            Step::Ask {
                ask: Ask {
                    limits: *limits,
                    want: Want::Lease { wanted },
                    returned,
                    usage,
                },
                main: true,
            }
        })
    }

    /// Decides with the object's answer to [`Step::Ask`] (or why there is none).
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        consumer: &Consumer,
        key_id: &str,
        limits: &Limits,
        answer: Result<Answer, Error>,
        main: bool,
        fail: Fail,
        now: Millis,
    ) -> Outcome {
        let warn = match &answer {
            Err(e) if self.warn(now) => Some(format!(
                "the limits object of consumer '{}' did not answer ({e}); RATE_LIMIT_FAIL={} for {DOWN_MEMORY_MS} ms",
                consumer.name,
                match fail {
                    Fail::Open => "open: requests are admitted",
                    Fail::Closed => "closed: requests are refused",
                }
            )),
            _ => None,
        };
        self.with(consumer, now, |e| {
            if main {
                e.flight = None;
            }
            let answer = match answer {
                Ok(a) => a,
                Err(_) => {
                    // What the failed call carried is lost: the object may have applied it.
                    e.down_until = now + DOWN_MEMORY_MS;
                    return failed(e, key_id, fail, now, warn);
                }
            };
            // The object answered: another request's failure no longer stands.
            e.down_until = 0;
            let g = answer.grant;
            let stale = e.limits != *limits;
            if !stale {
                e.rate = answer.rate;
                e.quota = answer.quota;
                e.read_at = now;
            }
            if g.requests == 0 {
                // Remembered briefly only: other isolates may return leases meanwhile.
                if !stale {
                    e.refused_until = now + g.retry_after_ms.clamp(1, REFUSAL_MEMORY_MS);
                    e.retry_at = now + g.retry_after_ms.max(1);
                }
                let shown = View {
                    limits: *limits,
                    rate: answer.rate,
                    quota: answer.quota,
                    read_at: now,
                    held: 0,
                };
                return Outcome::Refuse {
                    response: shown.refusal(now, g.retry_after_ms.max(1)),
                    warn: None,
                };
            }
            let mut lease = Lease::from_grant(&g);
            // This request is one of the grant, whatever the clocks say of its expiry.
            lease.left -= 1;
            e.record(key_id, now);
            if stale {
                // Granted under limits this isolate no longer applies: the rest is dropped,
                // as in `begin` (a refund under other limits would take from the wrong
                // counters).
            } else if lease.left > 0 || e.lease.is_none() {
                // A lease with requests left replaces the one held, whose rest goes back;
                // a request's own grant of one leaves the held lease alone.
                if let Some(unspent) = e.lease.take().and_then(|l| l.unspent()) {
                    e.unreturned.push(unspent);
                }
                e.lease = Some(lease);
            }
            Outcome::Admit {
                headers: e.headers(now),
                warn: None,
            }
        })
    }

    /// Whether to log a failing object now (at most once a minute per isolate).
    fn warn(&self, now: Millis) -> bool {
        once_a_minute(&self.warned_at, now)
    }

    /// Whether to log a failed background call now (at most once a minute per isolate, apart
    /// from the requests' own warnings).
    pub fn warn_background(&self, now: Millis) -> bool {
        once_a_minute(&self.background_warned_at, now)
    }

    /// Admits or refuses one request of `consumer`'s key `key_id` under `limits` at `now`:
    /// from the isolate's lease, or after asking the consumer's object through `counters`.
    pub async fn admit(
        &self,
        counters: &dyn Counters,
        consumer: &Consumer,
        key_id: &str,
        limits: &Limits,
        fail: Fail,
        clock: &dyn Fn() -> Millis,
    ) -> Outcome {
        match self.begin(consumer, key_id, limits, fail, clock()) {
            Step::Done(outcome) => outcome,
            Step::Ask { ask, main } => {
                let answer = counters.ask(consumer, &ask).await;
                // The time after the call: a timeout's failure is remembered from when it
                // was known.
                self.settle(consumer, key_id, limits, answer, main, fail, clock())
            }
        }
    }
}
