//! Leases: how isolates admit requests without calling the consumer's object each time.
//!
//! An isolate that verified a key asks the object for a lease: a number of requests it may
//! admit on its own until the lease expires. The object charges the whole lease to its
//! counters when it grants it ([`Limiter::grant`]), so the counters never hold less than
//! what isolates may admit; an isolate gives back what it did not spend with its next ask
//! ([`Limiter::grant`]'s `returned`), and the object refunds it.
//!
//! - A lease is at most a tenth of the limit, and an eighth of what is left in the window, so
//!   leases shrink as the window fills; below [`SMALL_LIMIT`] requests per window every
//!   request asks the object (a lease of one).
//! - A lease lasts a tenth of the window (at most [`MAX_LEASE_MS`]). A request admitted from
//!   a lease counts at the time the lease was charged, up to that long before: so over any
//!   window the requests admitted exceed the limit by at most what was leased near its
//!   start — the outstanding leases.
//! - What an isolate holds unspent when it stops getting requests is admitted by nobody
//!   until it expires: the shortfall is at most the outstanding leases too.

use super::counter::{Tally, Window};
use super::policy::Limits;
use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// Below this many requests per window, each request asks the object.
pub const SMALL_LIMIT: u64 = 20;

/// The longest a lease lasts.
pub const MAX_LEASE_MS: i64 = 10_000;

/// What the object keeps for one consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limiter {
    /// The rate limit's window.
    pub window: Window,
    /// The quota's period.
    pub tally: Tally,
}

/// A lease as granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// Requests the isolate may admit (0: over a limit).
    pub requests: u64,
    /// When they were charged.
    pub charged_at: Millis,
    /// Until when they may be admitted.
    pub expires_at: Millis,
    /// What the tightest limit has left after this grant (for `RateLimit` headers).
    pub remaining: u64,
    /// Milliseconds until the tightest limit is whole again (`RateLimit` reset).
    pub reset_ms: i64,
    /// With `requests == 0`: milliseconds until a request fits again (`Retry-After`).
    pub retry_after_ms: i64,
}

/// Unspent requests of an earlier lease, given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Returned {
    /// Requests not admitted.
    pub requests: u64,
    /// When the lease was charged.
    pub charged_at: Millis,
}

/// How long a lease of a window of `period_ms` lasts.
pub fn lease_ms(period_ms: i64) -> i64 {
    (period_ms / 10).clamp(1, MAX_LEASE_MS)
}

/// The size of a lease for `limit` with `remaining` left.
pub fn lease_size(limit: u64, remaining: u64) -> u64 {
    if limit < SMALL_LIMIT {
        return remaining.min(1);
    }
    (limit / 10).min(remaining / 8).max(1).min(remaining)
}

impl Limiter {
    /// Grants a lease of up to `wanted` requests (at least 1 asked) at `now` under `limits`,
    /// after refunding `returned`. Charges what it grants.
    pub fn grant(
        &mut self,
        limits: &Limits,
        now: Millis,
        wanted: u64,
        returned: &[Returned],
    ) -> Grant {
        self.refund(limits, returned);
        let mut size = wanted.max(1);
        let mut lasts = MAX_LEASE_MS;
        let mut remaining = u64::MAX;
        let mut reset_ms = 0;
        let mut retry_after_ms = 0;
        if let Some(rate) = &limits.rate {
            let left = self.window.remaining(now, rate);
            size = size.min(lease_size(rate.requests, left));
            lasts = lasts.min(lease_ms(rate.period_ms));
            remaining = left;
            reset_ms = self.window.reset_ms(now, rate);
            retry_after_ms = self.window.retry_after_ms(now, rate);
        }
        if let Some(q) = &limits.quota {
            let left = self.tally.remaining(now, q.requests, q.period);
            size = size.min(lease_size(q.requests, left));
            let end = super::counter::period_bounds(now, q.period).1;
            lasts = lasts.min(end - now);
            if left <= remaining {
                remaining = left;
                reset_ms = end - now;
            }
            if left == 0 {
                retry_after_ms = retry_after_ms.max(end - now);
            }
        }
        if let Some(rate) = &limits.rate {
            self.window.charge(now, rate, size);
        }
        if limits.quota.is_some() {
            self.tally.charge(now, size);
        }
        Grant {
            requests: size,
            charged_at: now,
            expires_at: now + lasts.max(1),
            remaining: remaining.saturating_sub(size),
            reset_ms,
            retry_after_ms: if size == 0 { retry_after_ms.max(1) } else { 0 },
        }
    }
}

/// Where one limit stands: the `RateLimit` header's numbers, and `/v1/verify`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    /// Requests per window or period.
    pub limit: u64,
    /// What is left of it.
    pub remaining: u64,
    /// Milliseconds until it is whole again.
    pub reset_ms: i64,
}

impl Limiter {
    /// Gives back the unspent requests of earlier leases.
    pub fn refund(&mut self, limits: &Limits, returned: &[Returned]) {
        for r in returned {
            if let Some(rate) = &limits.rate {
                self.window.refund(r.charged_at, rate, r.requests);
            }
            if limits.quota.is_some() {
                self.tally.refund(r.charged_at, r.requests);
            }
        }
    }

    /// Charges exactly one request if every limit has room (`/v1/verify` with `consume`):
    /// a grant of 1 or 0, which no isolate holds.
    pub fn grant_one(&mut self, limits: &Limits, now: Millis, returned: &[Returned]) -> Grant {
        let mut g = self.grant(limits, now, 1, returned);
        g.expires_at = now;
        g
    }

    /// Where the rate limit and the quota stand at `now`, charging nothing.
    pub fn standing(
        &mut self,
        limits: &Limits,
        now: Millis,
    ) -> (Option<Standing>, Option<Standing>) {
        let rate = limits.rate.map(|rate| Standing {
            limit: rate.requests,
            remaining: self.window.remaining(now, &rate),
            reset_ms: self.window.reset_ms(now, &rate),
        });
        let quota = limits.quota.map(|q| Standing {
            limit: q.requests,
            remaining: self.tally.remaining(now, q.requests, q.period),
            reset_ms: super::counter::period_bounds(now, q.period).1 - now,
        });
        (rate, quota)
    }
}

/// An isolate's lease for one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Requests still to admit.
    pub left: u64,
    /// When they were charged.
    pub charged_at: Millis,
    /// Until when.
    pub expires_at: Millis,
}

impl Lease {
    /// The lease a grant gives.
    pub fn from_grant(g: &Grant) -> Lease {
        Lease {
            left: g.requests,
            charged_at: g.charged_at,
            expires_at: g.expires_at,
        }
    }

    /// Admits one request at `now` if the lease still can.
    pub fn take(&mut self, now: Millis) -> bool {
        if self.left > 0 && now < self.expires_at {
            self.left -= 1;
            true
        } else {
            false
        }
    }

    /// What to give back with the next ask: the unspent part, if any.
    pub fn unspent(&self) -> Option<Returned> {
        (self.left > 0).then_some(Returned {
            requests: self.left,
            charged_at: self.charged_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::policy::{Period, Quota};
    use proptest::prelude::*;

    const T0: Millis = 1_800_000_000_000;

    fn per_minute(n: u64) -> Limits {
        Limits::per_minute(n)
    }

    /// Isolates admitting from leases, asking the one limiter when theirs is spent.
    struct Sim {
        limiter: Limiter,
        leases: Vec<Option<Lease>>,
        admitted: Vec<Millis>,
        calls: usize,
    }

    impl Sim {
        fn new(isolates: usize) -> Sim {
            Sim {
                limiter: Limiter::default(),
                leases: vec![None; isolates],
                admitted: Vec::new(),
                calls: 0,
            }
        }

        fn request(&mut self, limits: &Limits, isolate: usize, now: Millis) -> bool {
            if let Some(l) = self.leases[isolate].as_mut() {
                if l.take(now) {
                    self.admitted.push(now);
                    return true;
                }
            }
            let returned = self.leases[isolate].and_then(|l| l.unspent());
            self.calls += 1;
            let returned: Vec<Returned> = returned.into_iter().collect();
            let g = self.limiter.grant(limits, now, u64::MAX, &returned);
            let mut lease = Lease::from_grant(&g);
            let ok = lease.take(now);
            self.leases[isolate] = Some(lease);
            if ok {
                self.admitted.push(now);
            }
            ok
        }

        /// What isolates hold unspent.
        fn outstanding(&self) -> u64 {
            self.leases.iter().flatten().map(|l| l.left).sum()
        }
    }

    #[test]
    fn a_small_limit_asks_the_object_for_every_request() {
        let limits = per_minute(5);
        let mut sim = Sim::new(2);
        let admitted = (0..8)
            .filter(|i| sim.request(&limits, (i % 2) as usize, T0 + i * 100))
            .count();
        assert_eq!(admitted, 5);
        assert_eq!(sim.calls, 8);
    }

    #[test]
    fn leases_cut_the_calls_of_a_large_limit() {
        let limits = per_minute(6000);
        let mut sim = Sim::new(1);
        // 1000 requests in 10 s, far below the limit.
        for i in 0..1000 {
            assert!(sim.request(&limits, 0, T0 + i * 10));
        }
        assert!(sim.calls <= 20, "{} calls", sim.calls);
    }

    #[test]
    fn an_exhausted_window_answers_when_to_retry_and_a_quota_stops_at_its_count() {
        let limits = per_minute(30);
        let mut l = Limiter::default();
        let mut admitted = 0;
        for i in 0..40 {
            let g = l.grant(&limits, T0 + i, 1, &[]);
            admitted += g.requests;
            if g.requests == 0 {
                assert!(g.retry_after_ms > 0 && g.retry_after_ms <= 61_000, "{g:?}");
                assert_eq!(g.remaining, 0);
            }
        }
        assert_eq!(admitted, 30);
        let quota = Limits {
            rate: None,
            quota: Some(Quota {
                requests: 50,
                period: Period::Day,
            }),
        };
        let mut sim = Sim::new(3);
        let n = (0..80)
            .filter(|i| sim.request(&quota, (i % 3) as usize, T0 + i * 1000))
            .count() as u64;
        assert!(n <= 50 && n + sim.outstanding() >= 50, "{n}");
    }

    proptest! {
        /// Eight isolates leasing from one counter, in random order and at random times
        /// within a window: never more than the limit, and when demand exceeds it, at
        /// least the limit minus what the isolates still hold.
        #[test]
        fn isolates_never_admit_more_than_the_limit_in_a_window(
            limit in 1u64..5000,
            steps in proptest::collection::vec((0usize..8, 0i64..50), 1..3000),
        ) {
            let limits = per_minute(limit);
            let mut sim = Sim::new(8);
            let mut now = T0 - T0 % 60_000;
            let end = now + 60_000;
            for (isolate, dt) in &steps {
                now = (now + dt).min(end - 1);
                sim.request(&limits, *isolate, now);
            }
            let admitted = sim.admitted.len() as u64;
            prop_assert!(admitted <= limit, "{admitted} > {limit}");
            if steps.len() as u64 >= limit + 8 * (limit / 10).max(1) {
                prop_assert!(admitted + sim.outstanding() >= limit,
                    "{admitted} + {} < {limit}", sim.outstanding());
            }
        }

        /// Over several windows, any sliding window of the period holds at most the limit
        /// plus the largest lease per isolate (leases spent after they were charged).
        #[test]
        fn over_any_sliding_window_the_excess_is_bounded_by_the_leases(
            limit in 20u64..3000,
            steps in proptest::collection::vec((0usize..8, 0i64..400), 1..3000),
        ) {
            let limits = per_minute(limit);
            let mut sim = Sim::new(8);
            let mut now = T0;
            for (isolate, dt) in &steps {
                now += dt;
                sim.request(&limits, *isolate, now);
            }
            let bound = limit + 8 * (limit / 10).max(1);
            let times = &sim.admitted;
            let mut start = 0;
            for (i, t) in times.iter().enumerate() {
                while times[start] <= t - 60_000 {
                    start += 1;
                }
                let in_window = (i + 1 - start) as u64;
                prop_assert!(in_window <= bound, "{in_window} > {bound}");
            }
        }
    }
}
