//! Unknown keys under attack (`UNKNOWN_KEY_LIMIT`): each lookup of a key the store does not
//! have costs a KV read, and the checksum cannot stop a spray of forged keys (the CRC is
//! public). When the deployment binds a rate limiter, every such lookup counts against the
//! client's address; a client over its limit is answered 429 before any further store read.
//!
//! The counting is global (the adapter's limiter, e.g. Cloudflare's rate-limiting binding);
//! the "before the read" part is local: a client found over its limit is remembered in the
//! isolate for [`BLOCK_MS`], and while it is, lookups that the cache cannot answer are
//! refused without touching the store. Keys the cache knows still answer (they cost nothing).

use crate::http::ApiResponse;
use crate::problem;
use crate::timestamp::Millis;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

/// How long an isolate refuses store reads for a client found over its limit; then the next
/// unknown key asks the limiter again. The shortest period the Workers binding supports.
pub const BLOCK_MS: Millis = 10_000;

/// Most clients an isolate remembers as blocked; the oldest goes first when full.
pub const BLOCKLIST_CAPACITY: usize = 10_000;

/// Most store reads one client may have in flight in one isolate. The limiter only learns of
/// an unknown key after its read, so without this a burst of concurrent forged keys would all
/// be read before the first refusal came back.
pub const MAX_READS_IN_FLIGHT: u32 = 16;

/// The key a client is counted under: its IPv4 address, or the /64 of its IPv6 address (one
/// host commonly has a whole /64, so counting single IPv6 addresses would count nothing).
/// `None` when the address cannot be read: such a request is not limited rather than put in
/// one bucket with every other such request.
pub fn client_key(address: &str) -> Option<String> {
    match address.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(v4.to_string()),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => {
                let s = v6.segments();
                Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
            }
        },
    }
}

/// Counts unknown-key lookups per client, across isolates.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    /// Counts one lookup of an unknown key by `client`; false when the client is over its
    /// limit. An unreachable limiter answers true (the adapter logs it): failing closed would
    /// turn a limiter outage into an outage of the gateway.
    async fn allow(&self, client: &str) -> bool;
}

/// Clients this isolate currently refuses store reads for. Bounded, O(1) per operation:
/// blocks all last [`BLOCK_MS`], so insertion order is expiry order.
#[derive(Debug, Default)]
pub struct Blocklist {
    until: RefCell<HashMap<String, Millis>>,
    order: RefCell<VecDeque<(String, Millis)>>,
    /// Reads in flight per client (an entry only while one is).
    reading: RefCell<HashMap<String, u32>>,
}

impl Blocklist {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `client` is refused store reads at `now`.
    pub fn blocked(&self, client: &str, now: Millis) -> bool {
        self.expire(now);
        self.until.borrow().get(client).is_some_and(|&t| t > now)
    }

    /// Refuses store reads to `client` from `now` for [`BLOCK_MS`].
    pub fn block(&self, client: &str, now: Millis) {
        self.expire(now);
        let until = now + BLOCK_MS;
        let mut order = self.order.borrow_mut();
        let mut map = self.until.borrow_mut();
        while order.len() >= BLOCKLIST_CAPACITY {
            if let Some((old, t)) = order.pop_front() {
                if map.get(&old) == Some(&t) {
                    map.remove(&old);
                }
            }
        }
        map.insert(client.to_owned(), until);
        order.push_back((client.to_owned(), until));
    }

    /// Starts a read for `client`, unless it already has [`MAX_READS_IN_FLIGHT`].
    fn begin_read(&self, client: &str) -> bool {
        let mut reading = self.reading.borrow_mut();
        let n = reading.entry(client.to_owned()).or_default();
        if *n >= MAX_READS_IN_FLIGHT {
            return false;
        }
        *n += 1;
        true
    }

    fn end_read(&self, client: &str) {
        let mut reading = self.reading.borrow_mut();
        if let Some(n) = reading.get_mut(client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                reading.remove(client);
            }
        }
    }

    /// Number of clients remembered.
    pub fn len(&self) -> usize {
        self.until.borrow().len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(&self, now: Millis) {
        let mut order = self.order.borrow_mut();
        let mut map = self.until.borrow_mut();
        while order.front().is_some_and(|(_, t)| *t <= now) {
            if let Some((client, t)) = order.pop_front() {
                if map.get(&client) == Some(&t) {
                    map.remove(&client);
                }
            }
        }
    }
}

/// A store read in flight; dropping it (also when the request is abandoned) ends it.
#[derive(Debug)]
pub struct Reading<'a> {
    client: Option<(&'a Blocklist, &'a str)>,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if let Some((blocklist, client)) = self.client {
            blocklist.end_read(client);
        }
    }
}

/// What the gateway asks before and after a store read for a key the cache does not know.
#[allow(async_fn_in_trait)]
pub trait Gate {
    /// Starts the read at `now`; `None` answers 429 without it.
    fn begin(&self, now: Millis) -> Option<Reading<'_>>;
    /// Counts a read that found no key; false when the client is now over its limit.
    async fn unknown(&self, now: Millis) -> bool;
}

/// No limit (`UNKNOWN_KEY_LIMIT` not bound, or no readable client address).
#[derive(Debug, Clone, Copy, Default)]
pub struct Open;

impl Gate for Open {
    fn begin(&self, _now: Millis) -> Option<Reading<'_>> {
        Some(Reading { client: None })
    }
    async fn unknown(&self, _now: Millis) -> bool {
        true
    }
}

/// The limit for one client: its address, the global limiter and the isolate's blocklist.
#[derive(Debug)]
pub struct PerClient<'a, L> {
    /// Counts across isolates.
    pub limiter: &'a L,
    /// This isolate's blocked clients.
    pub blocklist: &'a Blocklist,
    /// The client, as [`client_key`] names it.
    pub client: &'a str,
}

impl<L: Limiter> Gate for PerClient<'_, L> {
    fn begin(&self, now: Millis) -> Option<Reading<'_>> {
        (!self.blocklist.blocked(self.client, now) && self.blocklist.begin_read(self.client))
            .then_some(Reading {
                client: Some((self.blocklist, self.client)),
            })
    }

    async fn unknown(&self, now: Millis) -> bool {
        let allowed = self.limiter.allow(self.client).await;
        if !allowed {
            self.blocklist.block(self.client, now);
        }
        allowed
    }
}

/// The 429 for a client over its unknown-key limit.
pub fn too_many_unknown_keys() -> ApiResponse {
    let mut r = problem::response(
        429,
        Some("too many unknown API keys from this address; try again later".into()),
    );
    r.headers
        .push(("retry-after".into(), (BLOCK_MS / 1000).to_string()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_block_lasts_block_ms() {
        let b = Blocklist::new();
        assert!(!b.blocked("1.2.3.4", 0));
        b.block("1.2.3.4", 1_000);
        assert!(b.blocked("1.2.3.4", 1_000 + BLOCK_MS - 1));
        assert!(!b.blocked("5.6.7.8", 1_000));
        assert!(!b.blocked("1.2.3.4", 1_000 + BLOCK_MS));
        assert!(b.is_empty());
    }

    #[test]
    fn stays_bounded_and_drops_the_oldest() {
        let b = Blocklist::new();
        for i in 0..BLOCKLIST_CAPACITY + 5 {
            b.block(&format!("c{i}"), 0);
        }
        assert_eq!(b.len(), BLOCKLIST_CAPACITY);
        assert!(!b.blocked("c0", 1));
        assert!(b.blocked(&format!("c{}", BLOCKLIST_CAPACITY + 4), 1));
    }

    #[test]
    fn a_reblock_after_expiry_is_not_undone_by_the_old_entry() {
        let b = Blocklist::new();
        b.block("c", 0);
        b.block("c", BLOCK_MS + 1);
        assert!(b.blocked("c", BLOCK_MS + 2));
    }

    struct Budget(Cell<u32>);
    impl Limiter for Budget {
        async fn allow(&self, _client: &str) -> bool {
            let left = self.0.get();
            self.0.set(left.saturating_sub(1));
            left > 0
        }
    }

    #[test]
    fn a_client_over_its_limit_may_not_read_until_the_block_ends() {
        let limiter = Budget(Cell::new(2));
        let blocklist = Blocklist::new();
        let gate = PerClient {
            limiter: &limiter,
            blocklist: &blocklist,
            client: "9.9.9.9",
        };
        assert!(gate.begin(0).is_some());
        assert!(pollster::block_on(gate.unknown(0)));
        assert!(pollster::block_on(gate.unknown(0)));
        assert!(!pollster::block_on(gate.unknown(0)));
        assert!(gate.begin(1).is_none());
        let other = PerClient {
            client: "8.8.8.8",
            ..gate
        };
        assert!(other.begin(1).is_some());
        assert!(gate.begin(BLOCK_MS).is_some());
    }

    #[test]
    fn a_client_has_a_bounded_number_of_reads_in_flight() {
        let limiter = Budget(Cell::new(100));
        let blocklist = Blocklist::new();
        let gate = PerClient {
            limiter: &limiter,
            blocklist: &blocklist,
            client: "9.9.9.9",
        };
        let reads: Vec<_> = (0..MAX_READS_IN_FLIGHT).map(|_| gate.begin(0)).collect();
        assert!(reads.iter().all(Option::is_some));
        assert!(gate.begin(0).is_none(), "one read too many");
        drop(reads);
        assert!(gate.begin(0).is_some(), "ended reads free their places");
        assert!(blocklist.reading.borrow().is_empty());
    }

    #[test]
    fn clients_are_counted_by_ipv4_address_or_ipv6_64() {
        assert_eq!(client_key("203.0.113.9").as_deref(), Some("203.0.113.9"));
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(
            client_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            client_key("2001:db8:1:2::9")
        );
        assert_eq!(
            client_key("::ffff:198.51.100.7").as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(client_key(""), None);
        assert_eq!(client_key("unknown"), None);
    }
}
