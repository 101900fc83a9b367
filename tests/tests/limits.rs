//! End-to-end: per-consumer rate limits and quotas at the edge (issue 14), against the real
//! Worker with its limits objects (Durable Objects in workerd).

use keyward_e2e::{admin, http, keyward, new_consumer, Answer, Worker};
use serde_json::json;

fn call(w: &Worker, key: &str) -> Answer {
    http(
        "GET",
        &format!("{}/orders", w.origin),
        &[("authorization", &format!("Bearer {key}"))],
        None,
    )
}

#[test]
fn a_consumer_gets_exactly_its_rate_limit_and_others_are_unaffected() {
    let w = Worker::start(&[]);
    let limited = new_consumer(
        &w,
        "limited",
        json!({"rateLimit": {"requestsPerMinute": 30}}),
    );
    let neighbour = new_consumer(
        &w,
        "neighbour",
        json!({"rateLimit": {"requestsPerMinute": 30}}),
    );
    let free = new_consumer(&w, "free", json!({"plan": "free"}));

    let answers: Vec<Answer> = (0..40).map(|_| call(&w, &limited)).collect();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        ok,
        30,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(answers[..30].iter().all(|a| a.status == 200));
    let first = &answers[0];
    assert_eq!(first.header("ratelimit-policy"), Some("\"rate\";q=30;w=60"));
    let state = first.header("ratelimit").expect("RateLimit header");
    assert!(state.starts_with("\"rate\";r="), "{state}");
    let refused = &answers[30];
    assert_eq!(refused.status, 429, "{refused:?}");
    assert!(refused
        .header("content-type")
        .unwrap()
        .starts_with("application/problem+json"));
    let retry: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    // The window counts in slots of 1 s: the first request leaves it up to 61 s later.
    assert!((1..=61).contains(&retry), "{retry}");
    assert!(
        refused.header("ratelimit").unwrap().contains("r=0"),
        "{refused:?}"
    );
    assert!(refused.json()["detail"]
        .as_str()
        .unwrap()
        .contains("30 requests per 60 s"));

    for _ in 0..5 {
        assert_eq!(call(&w, &neighbour).status, 200);
    }
    for _ in 0..100 {
        let a = call(&w, &free);
        assert_eq!(a.status, 200);
        assert_eq!(a.header("ratelimit"), None);
    }
}

#[test]
fn a_quota_of_fifty_a_day_stops_at_fifty_and_usage_shows_in_the_listing_and_the_cli() {
    let w = Worker::start(&[]);
    let key = new_consumer(
        &w,
        "metered",
        json!({"quota": {"requests": 50, "period": "day"}}),
    );
    let answers: Vec<Answer> = (0..60).map(|_| call(&w, &key)).collect();
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 50);
    assert!(answers[..50].iter().all(|a| a.status == 200));
    assert_eq!(
        answers[0].header("ratelimit-policy"),
        Some("\"quota\";q=50;w=86400")
    );
    let refused = &answers[50];
    assert_eq!(refused.status, 429);
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("quota of 50 requests per day"), "{detail}");
    let retry: i64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");

    // The refused asks carried the isolate's count to the object.
    let consumers = format!("{}/key-buckets/default/consumers", w.account());
    let keys = admin("GET", &format!("{consumers}/metered/keys"), None).json();
    let last = keys["data"][0]["lastUsedOn"].as_str().expect("lastUsedOn");
    let today = &last[..10];
    let usage = admin("GET", &format!("{consumers}/metered/usage"), None);
    assert_eq!(usage.status, 200, "{usage:?}");
    let usage = usage.json();
    assert_eq!(usage["requests"], 50, "{usage}");
    assert_eq!(usage["keys"][0]["days"][0]["date"], today);
    assert_eq!(usage["keys"][0]["days"][0]["requests"], 50);
    assert!(usage["limiterCalls"].as_u64().unwrap() < 60, "{usage}");

    let dir = tempfile::tempdir().unwrap();
    let r = keyward(&w, dir.path(), &["consumers", "get", "metered"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.out.contains("limits:      quota 50 per day (UTC)\n"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains(&format!("last used {last}, today 50, 30 days 50")),
        "{}",
        r.out
    );
    assert!(r.out.contains("requests:    50 from "), "{}", r.out);
}

#[test]
fn a_rate_limit_changed_in_keys_yaml_applies_after_sync() {
    let w = Worker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.yaml");
    let yaml = |n: u32| {
        format!(
            "version: 1\nbuckets:\n  default:\n    consumers:\n      acme:\n        metadata:\n          rateLimit:\n            requests: {n}\n            periodSeconds: 60\n"
        )
    };
    std::fs::write(&file, yaml(5)).unwrap();
    let r = keyward(&w, dir.path(), &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = keyward(
        &w,
        dir.path(),
        &["keys", "create", "--consumer", "acme"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let key = r.out.trim().to_owned();
    let ok = (0..8).filter(|_| call(&w, &key).status == 200).count();
    assert_eq!(ok, 5);
    let refused = call(&w, &key);
    assert_eq!(refused.status, 429);
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"rate\";q=5;w=60")
    );

    std::fs::write(&file, yaml(12)).unwrap();
    let r = keyward(&w, dir.path(), &["sync"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    // Within the same window: 12 - 5 more.
    let answers: Vec<Answer> = (0..10).map(|_| call(&w, &key)).collect();
    assert_eq!(
        answers.iter().filter(|a| a.status == 200).count(),
        7,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(
        answers[0].header("ratelimit-policy"),
        Some("\"rate\";q=12;w=60")
    );
}

#[test]
fn verify_reports_the_limits_and_consume_charges_them() {
    let w = Worker::start(&[("RATE_LIMIT_DEFAULT", r#"{"requestsPerMinute": 3}"#)]);
    let key = new_consumer(&w, "defaulted", json!({"plan": "free"}));
    let verify = |consume: bool| {
        admin(
            "POST",
            &format!("{}/_keyward/v1/verify", w.origin),
            Some(&json!({"key": key, "consume": consume}).to_string()),
        )
        .json()
    };
    let v = verify(false);
    assert_eq!(v["valid"], true);
    assert_eq!(v["ratelimit"]["limit"], 3);
    assert_eq!(v["ratelimit"]["remaining"], 3);
    assert!(v.get("quota").is_none(), "{v}");
    for left in [2, 1, 0] {
        assert_eq!(verify(true)["ratelimit"]["remaining"], left);
    }
    let spent = verify(true);
    assert_eq!(spent["valid"], false);
    assert_eq!(spent["code"], "RATE_LIMITED");
    // The edge shares the same counters: the default applies there too.
    assert_eq!(call(&w, &key).status, 429);
}

/// Many requests of one consumer at once: each is answered (none waits on another
/// request's call to the object: the runtime would cancel it as hung), and the limit holds.
#[test]
fn concurrent_requests_are_all_answered_and_the_limit_holds() {
    let w = Worker::start(&[]);
    let limited = new_consumer(&w, "busy", json!({"rateLimit": {"requestsPerMinute": 30}}));
    let large = new_consumer(
        &w,
        "large",
        json!({"rateLimit": {"requestsPerMinute": 6000}}),
    );
    for (key, per_thread, admitted) in [(&limited, 5, 30), (&large, 25, 200)] {
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..per_thread)
                            .map(|_| call(&w, key).status)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(
            (ok, refused),
            (admitted, 8 * per_thread - admitted),
            "{statuses:?}\n{}",
            w.log()
        );
    }
}
