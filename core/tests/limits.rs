//! Per-consumer limits, natively: isolates' [`Leases`] against consumers' objects (the real
//! `limits::object` over SQLite, [`LocalCounters`]), the 429 and `RateLimit` headers, usage,
//! `lastUsedOn`, and `/v1/verify`'s report.

mod support;

use keyward_core::http::ApiResponse;
use keyward_core::limits::isolate::{Leases, Outcome, FLUSH_MS};
use keyward_core::limits::object::local::LocalCounters;
use keyward_core::limits::policy::{Limits, Period, RateLimit};
use keyward_core::limits::settings::Fail;
use keyward_core::limits::wire::{Consumer, Counters};
use keyward_core::timestamp::Millis;
use serde_json::json;
use support::{Harness, BUCKETS, T0};

fn consumer(name: &str) -> Consumer {
    Consumer {
        bucket: "default".into(),
        name: name.into(),
    }
}

fn per_minute(n: u64) -> Limits {
    Limits::per_minute(n)
}

/// One request through an isolate's leases at `now`.
fn admit(
    leases: &Leases,
    counters: &LocalCounters,
    who: &str,
    limits: &Limits,
    now: Millis,
) -> Outcome {
    counters.now.set(now);
    pollster::block_on(leases.admit(
        counters,
        &consumer(who),
        "key_1",
        limits,
        Fail::Open,
        &|| now,
    ))
}

/// How many of `n` requests of consumer `acme`, at `from`, `from + step`, …, are admitted.
fn admitted_of(
    leases: &Leases,
    counters: &LocalCounters,
    limits: &Limits,
    n: i64,
    from: Millis,
    step: Millis,
) -> usize {
    (0..n)
        .filter(|i| admitted(&admit(leases, counters, "acme", limits, from + i * step)))
        .count()
}

fn admitted(o: &Outcome) -> bool {
    matches!(o, Outcome::Admit { .. })
}

fn header<'a>(o: &'a Outcome, name: &str) -> Option<&'a str> {
    let headers = match o {
        Outcome::Admit { headers, .. } => headers,
        Outcome::Refuse { response, .. } => &response.headers,
    };
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn refusal(o: &Outcome) -> &ApiResponse {
    match o {
        Outcome::Refuse { response, .. } => response,
        Outcome::Admit { .. } => panic!("admitted: {o:?}"),
    }
}

#[test]
fn thirty_a_minute_admits_exactly_thirty_then_429_with_retry_after_and_ratelimit_headers() {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    let limits = per_minute(30);
    let outcomes: Vec<Outcome> = (0..40)
        .map(|i| admit(&leases, &counters, "acme", &limits, T0 + i * 100))
        .collect();
    assert_eq!(outcomes.iter().filter(|o| admitted(o)).count(), 30);
    assert!(outcomes[..30].iter().all(admitted));
    assert_eq!(
        header(&outcomes[0], "ratelimit-policy"),
        Some("\"rate\";q=30;w=60")
    );
    // Reset: when the window holds nothing charged before now, to the slot (1/60 window).
    assert_eq!(
        header(&outcomes[0], "ratelimit"),
        Some("\"rate\";r=29;t=61")
    );
    let r = refusal(&outcomes[30]);
    assert_eq!(r.status, 429);
    assert_eq!(r.content_type, Some("application/problem+json"));
    let retry: i64 = header(&outcomes[30], "retry-after")
        .unwrap()
        .parse()
        .unwrap();
    assert!((55..=61).contains(&retry), "{retry}");
    assert!(header(&outcomes[30], "ratelimit").unwrap().contains("r=0"));
    let detail = r.json_body()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("30 requests per 60 s"), "{detail}");
    // Leases: fewer calls than requests; refusals after the first cost no call at all.
    let calls = counters.calls.get();
    assert!(calls < 30, "{calls} calls");
    let before = counters.calls.get();
    for i in 0..20 {
        assert!(!admitted(&admit(
            &leases,
            &counters,
            "acme",
            &limits,
            T0 + 5_000 + i
        )));
    }
    assert_eq!(
        counters.calls.get(),
        before,
        "refusals within Retry-After asked the object"
    );
    // Another consumer is unaffected; once the window has passed, acme is admitted again.
    assert!(admitted(&admit(
        &leases,
        &counters,
        "globex",
        &limits,
        T0 + 5_000
    )));
    assert!(admitted(&admit(
        &leases,
        &counters,
        "acme",
        &limits,
        T0 + 61_000
    )));
}

#[test]
fn a_quota_of_fifty_a_day_stops_at_fifty_until_midnight_utc() {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    let limits = Limits::quota_of(50, Period::Day);
    let ok = admitted_of(&leases, &counters, &limits, 70, T0, 1000);
    assert_eq!(ok, 50);
    let refused = admit(&leases, &counters, "acme", &limits, T0 + 80_000);
    let detail = refusal(&refused).json_body()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("quota of 50 requests per day"), "{detail}");
    assert!(detail.contains("resets at 2027-01-16T00:00:00"), "{detail}");
    // Remembered refusals keep the period's Retry-After, not the isolate's memory.
    let again = admit(&leases, &counters, "acme", &limits, T0 + 81_000);
    let retry: i64 = header(&again, "retry-after").unwrap().parse().unwrap();
    assert!(retry > 3600, "{retry}");
    let next_day = (T0 / 86_400_000 + 1) * 86_400_000;
    assert!(admitted(&admit(
        &leases, &counters, "acme", &limits, next_day
    )));
}

#[test]
fn consumers_without_limits_never_wait_and_their_usage_is_sent_in_the_background() {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    // The first sweep is due at once (nothing owed yet): it starts the clock of sweeps.
    assert!(leases.due(T0).is_empty());
    for i in 0..1000 {
        let o = admit(&leases, &counters, "free", &Limits::default(), T0 + i);
        match o {
            Outcome::Admit { headers, .. } => assert!(headers.is_empty()),
            other => panic!("{other:?}"),
        }
        assert!(leases.due(T0 + i).is_empty(), "due after {i} ms");
    }
    assert_eq!(counters.calls.get(), 0);
    // An idle consumer's usage is sent by the sweep another request triggers.
    let due = leases.due(T0 + FLUSH_MS + 1000);
    assert_eq!(due.len(), 1, "{due:?}");
    let (who, flush) = &due[0];
    assert_eq!(who.name, "free");
    assert_eq!(flush.usage.iter().map(|u| u.requests).sum::<u64>(), 1000);
    pollster::block_on(counters.ask(who, flush)).unwrap();
    let usage = pollster::block_on(counters.usage(
        &consumer("free"),
        keyward_core::limits::wire::UsageQuery {
            from: T0 / 86_400_000,
            to: T0 / 86_400_000,
        },
    ))
    .unwrap();
    assert_eq!(usage.keys[0].days, vec![(T0 / 86_400_000, 1000)]);
    assert_eq!(usage.keys[0].last_used, Some(T0 + 999));
}

/// A lease an isolate stops using goes back within the flush period, so another isolate
/// gets the whole limit (a quota's lease would otherwise be lost for the day).
#[test]
fn an_idle_isolate_returns_its_lease_in_the_background() {
    let counters = LocalCounters::default();
    let (a, b) = (Leases::default(), Leases::default());
    let limits = Limits::quota_of(1000, Period::Day);
    // A admits a burst (its leases grow with its demand), then sees only other consumers.
    for i in 0..200 {
        assert!(admitted(&admit(&a, &counters, "acme", &limits, T0 + i)));
    }
    for (who, ask) in a.due(T0 + 20_000) {
        counters.now.set(T0 + 20_000);
        pollster::block_on(counters.ask(&who, &ask)).unwrap();
    }
    let ok = admitted_of(&b, &counters, &limits, 1000, T0 + 30_000, 1);
    assert_eq!(ok, 800, "B gets all that A did not admit");
}

/// Requests of one consumer in flight together in one isolate: while the lease ask is out,
/// each other request asks for itself alone (no lease is spread over requests that are not
/// there), and every one of them is answered — none waits on another request's call.
#[test]
fn concurrent_requests_in_one_isolate_ask_for_themselves_while_a_lease_ask_is_out() {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    counters.yields.set(3);
    let limits = per_minute(6000);
    counters.now.set(T0);
    let c = consumer("acme");
    let all = (0..20).map(|_| leases.admit(&counters, &c, "key_1", &limits, Fail::Open, &|| T0));
    let outcomes = pollster::block_on(futures_join(all.collect()));
    assert_eq!(outcomes.iter().filter(|o| admitted(o)).count(), 20);
    assert_eq!(counters.calls.get(), 20, "a cold burst: one call each");
    // Exactly the 20 were charged: nothing hoarded.
    let answer = pollster::block_on(counters.ask(
        &c,
        &keyward_core::limits::wire::Ask {
            limits,
            want: keyward_core::limits::wire::Want::Peek,
            returned: Vec::new(),
            usage: Vec::new(),
        },
    ))
    .unwrap();
    assert_eq!(answer.rate.unwrap().remaining, 6000 - 20);
    // Once demand is known, the next burst is served from one lease.
    counters.yields.set(0);
    let before = counters.calls.get();
    for i in 0..40 {
        assert!(admitted(&admit(
            &leases,
            &counters,
            "acme",
            &limits,
            T0 + 1 + i
        )));
    }
    assert!(
        counters.calls.get() - before <= 6,
        "{} calls",
        counters.calls.get() - before
    );
}

/// Polls every future in turn until all are ready (a single-threaded join, as in the Worker).
fn futures_join<F: std::future::Future>(
    futures: Vec<F>,
) -> impl std::future::Future<Output = Vec<F::Output>> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        for (f, d) in futures.iter_mut().zip(done.iter_mut()) {
            if d.is_none() {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *d = Some(v);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            std::task::Poll::Ready(done.iter_mut().map(|d| d.take().unwrap()).collect())
        } else {
            std::task::Poll::Pending
        }
    })
}

#[test]
fn a_changed_limit_applies_to_the_next_request() {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    let ok = admitted_of(&leases, &counters, &per_minute(30), 40, T0, 1);
    assert_eq!(ok, 30);
    // Raised (a sync): the refusal is forgotten and the window has room again.
    assert!(admitted(&admit(
        &leases,
        &counters,
        "acme",
        &per_minute(60),
        T0 + 100
    )));
    let more = admitted_of(&leases, &counters, &per_minute(60), 40, T0 + 200, 1);
    assert_eq!(more, 29, "30 + 1 + 29 = 60 in the window");
    // Lowered below what was used: refused at once.
    assert!(!admitted(&admit(
        &leases,
        &counters,
        "acme",
        &per_minute(10),
        T0 + 300
    )));
    // A new window length keeps what was charged (re-counted in its slots): within the
    // new window of 1 s, the 60 charged just now already spend it.
    let per_second = Limits {
        rate: Some(RateLimit {
            requests: 5,
            period_ms: 1000,
        }),
        quota: None,
    };
    let ok = admitted_of(&leases, &counters, &per_second, 10, T0 + 400, 1);
    assert_eq!(ok, 0);
    // Isolates that disagree about the limits do not reset each other's counts.
    let other = Leases::default();
    let ok = admitted_of(&other, &counters, &per_minute(10), 10, T0 + 500, 1);
    assert_eq!(ok, 0, "60 charged in this minute already");
    let later = admitted_of(&leases, &counters, &per_second, 10, T0 + 70_000, 1);
    assert_eq!(later, 5);
}

#[test]
fn an_unreachable_object_admits_or_refuses_as_rate_limit_fail_says_and_warns_once_a_minute() {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    counters.down.set(true);
    let limits = per_minute(30);
    let run = |fail: Fail, now: Millis| {
        counters.now.set(now);
        pollster::block_on(leases.admit(
            &counters,
            &consumer("acme"),
            "key_1",
            &limits,
            fail,
            &|| now,
        ))
    };
    match run(Fail::Open, T0) {
        Outcome::Admit { headers, warn, .. } => {
            assert!(headers.is_empty());
            let w = warn.expect("a warning");
            assert!(w.contains("'acme'") && w.contains("open"), "{w}");
        }
        other => panic!("{other:?}"),
    }
    match run(Fail::Closed, T0 + 1000) {
        Outcome::Refuse { response, warn } => {
            assert_eq!(response.status, 503);
            assert!(warn.is_none(), "warned twice within a minute");
        }
        other => panic!("{other:?}"),
    }
    // The failure is remembered for a moment: no call per request meanwhile.
    let calls = counters.calls.get();
    for i in 0..100 {
        assert!(matches!(
            run(Fail::Closed, T0 + 1000 + i),
            Outcome::Refuse { .. }
        ));
    }
    assert_eq!(counters.calls.get(), calls);
    match run(Fail::Closed, T0 + 61_000) {
        Outcome::Refuse { warn, .. } => assert!(warn.is_some()),
        other => panic!("{other:?}"),
    }
}

/// A deterministic pseudo-random sequence (no dependency, the same run every time).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Eight isolates, each with its own leases, share one consumer's object under random
/// interleavings: in no 60 s window more than the limit plus the outstanding leases (a
/// request admitted from a lease counts when the lease was charged), and with demand above
/// it, at least the limit less what the isolates hold unspent.
#[test]
fn eight_isolates_never_admit_more_than_the_limit_in_a_window() {
    for seed in 1..=20u64 {
        let counters = LocalCounters::default();
        let isolates: Vec<Leases> = (0..8).map(|_| Leases::default()).collect();
        let mut rng = Lcg(seed);
        let limit = [25, 100, 600][seed as usize % 3];
        let limits = per_minute(limit);
        let mut now = T0;
        let mut admitted_at = Vec::new();
        // 3 minutes of demand at about 3× the limit.
        let requests = limit * 9;
        for _ in 0..requests {
            now += rng.next(2 * 180_000 / requests) as i64;
            let i = rng.next(8) as usize;
            if admitted(&admit(&isolates[i], &counters, "acme", &limits, now)) {
                admitted_at.push(now);
            }
        }
        // Every window of 60 s starting at an admitted request.
        for (n, start) in admitted_at.iter().enumerate() {
            let in_window = admitted_at[n..]
                .iter()
                .take_while(|t| **t < start + 60_000)
                .count() as u64;
            let bound = limit + 8 * (limit / 10).max(1);
            assert!(
                in_window <= bound,
                "seed {seed}: {in_window} > {bound} in a minute"
            );
        }
        // Each full minute admitted at least the limit less the leases (8 × 10 %).
        for minute in 0..3 {
            let from = T0 + minute * 60_000;
            let count = admitted_at
                .iter()
                .filter(|t| (from..from + 60_000).contains(*t))
                .count() as u64;
            let held = 8 * (limit / 10).max(1);
            assert!(
                count + held >= limit,
                "seed {seed}, minute {minute}: {count} of {limit}"
            );
        }
    }
}

/// Calls to the object per 1,000 admitted requests, one isolate, at the limit's own pace.
fn calls_per_thousand(per_minute_limit: u64) -> u64 {
    let (leases, counters) = (Leases::default(), LocalCounters::default());
    let limits = per_minute(per_minute_limit);
    let gap = 60_000 / per_minute_limit as i64;
    let mut now = T0;
    let mut ok = 0;
    while ok < 1000 {
        now += gap.max(1);
        if admitted(&admit(&leases, &counters, "acme", &limits, now)) {
            ok += 1;
        }
    }
    counters.calls.get()
}

#[test]
fn leases_cut_the_calls_to_the_object_as_the_limit_grows() {
    let counts: Vec<u64> = [60, 600, 6000].map(calls_per_thousand).to_vec();
    // Printed for BENCHMARKS.md (`cargo test -p keyward-core --test limits -- --nocapture`).
    println!("calls to the object per 1,000 admitted requests at 60, 600, 6,000/min: {counts:?}");
    assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
    assert!(counts[2] <= 20, "{counts:?}");
}

#[test]
fn usage_and_last_used_on_reach_the_developer_api_and_verify_reports_the_limits() {
    let h = Harness::new();
    h.create_bucket("default");
    let (c, key) = h.create_consumer_with_key(
        "default",
        &json!({"name": "acme", "metadata": {"rateLimit": {"requestsPerMinute": 30}}}),
    );
    let id = c["apiKeys"][0]["id"].as_str().unwrap().to_owned();
    let consumers = format!("{BUCKETS}/default/consumers");
    let keys = h.get(&format!("{consumers}/acme/keys")).json_body();
    assert!(keys["data"][0].get("lastUsedOn").is_none(), "{keys}");

    // Twelve requests at the edge, then a refusal makes the isolate report them.
    let leases = Leases::default();
    let limits = per_minute(30);
    for i in 0..12 {
        h.counters.now.set(h.now() + i);
        let o = pollster::block_on(leases.admit(
            &h.counters,
            &consumer("acme"),
            &id,
            &limits,
            Fail::Open,
            &|| h.now() + i,
        ));
        assert!(admitted(&o));
    }
    // Until the lease is spent, the isolate holds the count.
    let v = h.post("/v1/verify", &json!({"key": key})).json_body();
    assert_eq!(v["ratelimit"]["limit"], 30);
    let remaining = v["ratelimit"]["remaining"].as_u64().unwrap();
    assert!(remaining < 30, "{v}");
    // consume: charges one; over the limit the answer says so.
    let consumed = h
        .post("/v1/verify", &json!({"key": key, "consume": true}))
        .json_body();
    assert_eq!(
        consumed["ratelimit"]["remaining"],
        remaining - 1,
        "{consumed}"
    );
    for _ in 0..40 {
        h.post("/v1/verify", &json!({"key": key, "consume": true}));
    }
    let spent = h
        .post("/v1/verify", &json!({"key": key, "consume": true}))
        .json_body();
    assert_eq!(spent["valid"], false);
    assert_eq!(spent["code"], "RATE_LIMITED");
    assert_eq!(spent["ratelimit"]["remaining"], 0);
    // The isolate spends what its lease still holds; its first refused ask carries the count.
    let mut used = 12;
    while admitted(&pollster::block_on(leases.admit(
        &h.counters,
        &consumer("acme"),
        &id,
        &limits,
        Fail::Open,
        &|| h.now() + 100,
    ))) {
        used += 1;
        assert!(used < 20, "admitted past the spent window");
    }
    let keys = h.get(&format!("{consumers}/acme/keys")).json_body();
    let last = keys["data"][0]["lastUsedOn"].as_str().expect("lastUsedOn");
    assert!(last.starts_with("2027-01-15T"), "{last}");
    let usage = h.get(&format!("{consumers}/acme/usage")).json_body();
    assert_eq!(usage["consumer"], "acme");
    assert_eq!(usage["requests"], used, "{usage}");
    assert_eq!(usage["keys"][0]["id"], id.as_str());
    assert_eq!(usage["keys"][0]["days"][0]["date"], "2027-01-15");
    assert_eq!(usage["keys"][0]["days"][0]["requests"], used);
    assert_eq!(usage["to"], "2027-01-15");
    let one = h
        .get(&format!("{consumers}/acme?include-api-keys=true"))
        .json_body();
    assert_eq!(one["apiKeys"][0]["lastUsedOn"], last);
    // The guard and the errors.
    assert_eq!(
        h.get(&format!("{consumers}/acme/usage?tag.team=x")).status,
        404
    );
    assert_eq!(h.get(&format!("{consumers}/nobody/usage")).status, 404);
    assert_eq!(
        h.get(&format!("{consumers}/acme/usage?from=yesterday"))
            .status,
        400
    );
    // A consumer without limits: verify reports none.
    let (_, free) = h.create_consumer_with_key("default", &json!({"name": "free"}));
    let v = h
        .post("/v1/verify", &json!({"key": free, "consume": true}))
        .json_body();
    assert_eq!(v["valid"], true);
    assert!(
        v.get("ratelimit").is_none() && v.get("quota").is_none(),
        "{v}"
    );
}

/// Charging a consumer's limits through `/v1/verify` is a write: a read token may only look.
#[test]
fn a_read_token_reports_the_limits_but_cannot_consume_them() {
    let mut h = Harness::new();
    h.tokens = keyward_core::api::token::Tokens::from_secrets(
        Some(support::TOKEN),
        Some(
            &json!([{"name": "reader", "sha256": support::sha256_hex("read-token"), "access": "read"}])
                .to_string(),
        ),
    )
    .unwrap();
    h.create_bucket("default");
    let (_, key) = h.create_consumer_with_key(
        "default",
        &json!({"name": "acme", "metadata": {"quota": {"requests": 5, "period": "day"}}}),
    );
    let verify = |consume: bool| {
        h.send(&support::request(
            "POST",
            "/v1/verify",
            Some("read-token"),
            json!({"key": key, "consume": consume})
                .to_string()
                .as_bytes(),
        ))
    };
    let looked = verify(false);
    assert_eq!(looked.status, 200);
    assert_eq!(looked.json_body()["quota"]["remaining"], 5);
    assert_eq!(verify(true).status, 403);
    assert_eq!(
        verify(false).json_body()["quota"]["remaining"],
        5,
        "nothing charged"
    );
}
