//! The authoritative counters a consumer's object keeps: the rate limit's sliding window and
//! the quota's calendar period.
//!
//! The window is kept as [`SLOTS`] sub-windows ("slots") of `period / SLOTS`. A request is
//! counted in the slot of the time it was charged; what the window holds now is the sum of
//! every slot that ends after `now - period`. The oldest slot is counted whole although part
//! of it has left the window, so the count errs on the high side: no sliding window of
//! `period` ever holds more than the limit of charged requests, and a slot's worth of time
//! (1/60 of the window) is the most a request waits too long. Memory: at most `SLOTS + 1`
//! slots per consumer.

use super::policy::{Period, RateLimit};
use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};

/// Sub-windows per window.
pub const SLOTS: i64 = 60;

/// A rate limit's window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// `(slot index, requests charged in it)`, oldest first; a slot index is
    /// `time / slot_ms`.
    slots: Vec<(i64, u64)>,
}

/// The length of a slot of `rate`'s window (at least 1 ms).
pub fn slot_ms(rate: &RateLimit) -> i64 {
    (rate.period_ms / SLOTS).max(1)
}

impl Window {
    /// Drops the slots that have left the window at `now`.
    fn forget(&mut self, now: Millis, rate: &RateLimit) {
        let slot = slot_ms(rate);
        // A slot counts while it ends after now - period.
        let oldest = (now - rate.period_ms).div_euclid(slot);
        self.slots.retain(|(i, _)| *i >= oldest);
    }

    /// Requests charged in the window ending at `now`.
    pub fn used(&mut self, now: Millis, rate: &RateLimit) -> u64 {
        self.forget(now, rate);
        self.slots.iter().map(|(_, n)| n).sum()
    }

    /// How many more requests the window takes at `now`.
    pub fn remaining(&mut self, now: Millis, rate: &RateLimit) -> u64 {
        rate.requests.saturating_sub(self.used(now, rate))
    }

    /// Charges `n` requests at `now`.
    pub fn charge(&mut self, now: Millis, rate: &RateLimit, n: u64) {
        if n == 0 {
            return;
        }
        self.forget(now, rate);
        let i = now.div_euclid(slot_ms(rate));
        match self.slots.last_mut() {
            Some((last, count)) if *last == i => *count = count.saturating_add(n),
            _ => self.slots.push((i, n)),
        }
    }

    /// Gives back up to `n` requests charged at `charged_at` (a lease's unspent part), if
    /// that slot is still counted.
    pub fn refund(&mut self, charged_at: Millis, rate: &RateLimit, n: u64) {
        let i = charged_at.div_euclid(slot_ms(rate));
        if let Some((_, count)) = self.slots.iter_mut().find(|(s, _)| *s == i) {
            *count = count.saturating_sub(n);
        }
    }

    /// Re-counts the slots for a window whose slot length changed from `old_ms` to `new_ms`
    /// (a changed period): each slot's count moves to the new slot holding its *last*
    /// millisecond (counted no earlier than it may have been charged, so it never leaves the
    /// window early), and a new window length keeps what was charged instead of starting
    /// from zero.
    pub fn rebucket(&mut self, old_ms: i64, new_ms: i64) {
        if old_ms == new_ms || old_ms <= 0 || new_ms <= 0 {
            return;
        }
        let mut slots: Vec<(i64, u64)> = Vec::with_capacity(self.slots.len());
        for (i, n) in self.slots.drain(..) {
            let j = (i.saturating_add(1).saturating_mul(old_ms) - 1).div_euclid(new_ms);
            match slots.last_mut() {
                Some((last, count)) if *last == j => *count = count.saturating_add(n),
                _ => slots.push((j, n)),
            }
        }
        self.slots = slots;
    }

    /// Milliseconds from `now` until one more request fits (0 when one fits now).
    pub fn retry_after_ms(&mut self, now: Millis, rate: &RateLimit) -> i64 {
        let used = self.used(now, rate);
        if used < rate.requests {
            return 0;
        }
        let slot = slot_ms(rate);
        let mut over = used - rate.requests + 1;
        for (i, n) in &self.slots {
            if *n >= over {
                // Slot i stops counting once now - period reaches its end.
                return ((i + 1) * slot + rate.period_ms - now).max(1);
            }
            over -= n;
        }
        rate.period_ms
    }

    /// Milliseconds from `now` until the window holds nothing charged before `now`: the
    /// `reset` of the `RateLimit` header.
    pub fn reset_ms(&mut self, now: Millis, rate: &RateLimit) -> i64 {
        self.forget(now, rate);
        match self.slots.last() {
            Some((i, _)) => ((i + 1) * slot_ms(rate) + rate.period_ms - now).max(0),
            None => 0,
        }
    }
}

/// A quota's counts: the current UTC day's and month's, both kept whichever period the
/// quota names, so a quota switched between day and month (or isolates that disagree during
/// a change) never finds its count at zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Start of the day counted.
    #[serde(default)]
    pub day_start: Millis,
    /// Requests charged in it.
    #[serde(default)]
    pub day_used: u64,
    /// Start of the month counted.
    #[serde(default)]
    pub month_start: Millis,
    /// Requests charged in it.
    #[serde(default)]
    pub month_used: u64,
}

const DAY_MS: Millis = 86_400_000;

/// The calendar period (UTC) holding `now`: its start and its end.
pub fn period_bounds(now: Millis, period: Period) -> (Millis, Millis) {
    let day = now.div_euclid(DAY_MS);
    match period {
        Period::Day => (day * DAY_MS, (day + 1) * DAY_MS),
        Period::Month => {
            let (y, m, _) = civil_from_days(day);
            let start = days_from_civil(y, m, 1) * DAY_MS;
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (start, days_from_civil(ny, nm, 1) * DAY_MS)
        }
    }
}

// Days since 1970-01-01 ⇄ proleptic Gregorian dates (Howard Hinnant's algorithms).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Tally {
    /// Starts new periods when `now` is past the counted ones.
    fn roll(&mut self, now: Millis) {
        let (day, _) = period_bounds(now, Period::Day);
        if day != self.day_start {
            self.day_start = day;
            self.day_used = 0;
        }
        let (month, _) = period_bounds(now, Period::Month);
        if month != self.month_start {
            self.month_start = month;
            self.month_used = 0;
        }
    }

    fn used(&self, period: Period) -> u64 {
        match period {
            Period::Day => self.day_used,
            Period::Month => self.month_used,
        }
    }

    /// Requests left under `limit` per `period` at `now`.
    pub fn remaining(&mut self, now: Millis, limit: u64, period: Period) -> u64 {
        self.roll(now);
        limit.saturating_sub(self.used(period))
    }

    /// Charges `n` requests at `now` (to the day and the month).
    pub fn charge(&mut self, now: Millis, n: u64) {
        self.roll(now);
        self.day_used = self.day_used.saturating_add(n);
        self.month_used = self.month_used.saturating_add(n);
    }

    /// Gives back up to `n` requests charged at `charged_at`, in the periods still counted.
    pub fn refund(&mut self, charged_at: Millis, n: u64) {
        if period_bounds(charged_at, Period::Day).0 == self.day_start {
            self.day_used = self.day_used.saturating_sub(n);
        }
        if period_bounds(charged_at, Period::Month).0 == self.month_start {
            self.month_used = self.month_used.saturating_sub(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp;

    const MINUTE: RateLimit = RateLimit {
        requests: 30,
        period_ms: 60_000,
    };

    #[test]
    fn the_window_slides_and_never_counts_short() {
        let mut w = Window::default();
        let t0 = 1_800_000_000_000;
        w.charge(t0, &MINUTE, 30);
        assert_eq!(w.remaining(t0 + 59_000, &MINUTE), 0);
        // The slot of t0 ends at most 1 s after t0: counted until 61 s after t0 at most.
        let retry = w.retry_after_ms(t0 + 30_000, &MINUTE);
        assert!((30_000..=31_000).contains(&retry), "{retry}");
        assert_eq!(w.remaining(t0 + 30_000 + retry, &MINUTE), 30);
        // Refunds go back to the slot charged.
        w.charge(t0 + 100_000, &MINUTE, 10);
        w.refund(t0 + 100_000, &MINUTE, 4);
        assert_eq!(w.used(t0 + 100_500, &MINUTE), 6);
        // A refund for a slot that has left changes nothing.
        w.refund(t0, &MINUTE, 5);
        assert_eq!(w.used(t0 + 100_500, &MINUTE), 6);
    }

    #[test]
    fn a_new_window_length_keeps_counts_until_they_may_leave() {
        let hour = RateLimit {
            requests: 100,
            period_ms: 3_600_000,
        };
        let t0 = 1_800_000_000_000; // a slot boundary of both lengths
        let mut w = Window::default();
        // Charged 59 s into a 60 s slot of the hour's window, then the window becomes a minute.
        w.charge(t0 + 59_000, &hour, 100);
        w.rebucket(slot_ms(&hour), slot_ms(&MINUTE));
        let minute = RateLimit {
            requests: 100,
            ..MINUTE
        };
        // Counted at the old slot's last millisecond: still in the minute 2 s later.
        assert_eq!(w.remaining(t0 + 61_000, &minute), 0);
        assert_eq!(w.remaining(t0 + 121_000, &minute), 100);
    }

    #[test]
    fn calendar_periods_are_utc_days_and_months() {
        let at = |s: &str| timestamp::parse(s).unwrap();
        let (start, end) = period_bounds(at("2026-02-14T13:00:00Z"), Period::Month);
        assert_eq!(
            (timestamp::format(start), timestamp::format(end)),
            (
                "2026-02-01T00:00:00.000Z".to_owned(),
                "2026-03-01T00:00:00.000Z".to_owned()
            )
        );
        let (start, end) = period_bounds(at("2024-12-31T23:59:59Z"), Period::Month);
        assert_eq!(timestamp::format(start), "2024-12-01T00:00:00.000Z");
        assert_eq!(timestamp::format(end), "2025-01-01T00:00:00.000Z");
        let (start, end) = period_bounds(at("2028-02-29T12:00:00Z"), Period::Day);
        assert_eq!(timestamp::format(start), "2028-02-29T00:00:00.000Z");
        assert_eq!(timestamp::format(end), "2028-03-01T00:00:00.000Z");
        let mut t = Tally::default();
        t.charge(at("2026-02-28T23:00:00Z"), 50);
        assert_eq!(t.remaining(at("2026-02-28T23:59:59Z"), 50, Period::Day), 0);
        assert_eq!(t.remaining(at("2026-03-01T00:00:00Z"), 50, Period::Day), 50);
        // Both periods are counted: switching the quota's period keeps the count.
        t.charge(at("2026-03-02T10:00:00Z"), 30);
        assert_eq!(
            t.remaining(at("2026-03-02T11:00:00Z"), 100, Period::Month),
            70
        );
        assert_eq!(
            t.remaining(at("2026-03-02T11:00:00Z"), 100, Period::Day),
            70
        );
        t.refund(at("2026-03-02T10:00:00Z"), 10);
        assert_eq!(
            t.remaining(at("2026-03-03T11:00:00Z"), 100, Period::Month),
            80
        );
        assert_eq!(
            t.remaining(at("2026-03-03T11:00:00Z"), 100, Period::Day),
            100
        );
    }
}
