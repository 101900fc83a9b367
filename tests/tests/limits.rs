//! End-to-end: per-consumer rate limits and quotas at the edge (issue 14), against the real
//! Worker with its limits objects (Durable Objects in workerd).

use keyward_e2e::{admin, http, new_consumer, Answer, Worker};
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
    assert!((1..=60).contains(&retry), "{retry}");
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
    let _ = admin;
}
