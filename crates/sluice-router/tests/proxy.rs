//! The router in front of in-process stub replicas, over real sockets.

mod common;

use common::*;
use http_body_util::BodyExt;
use sluice_router::policy::PolicyKind;
use sluice_router::PROXIED_ROUTES;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn every_api_route_reaches_a_replica_and_the_router_answers_its_own() {
    let a = stub("a").await;
    let r = router(config(&[&a], PolicyKind::RoundRobin)).await;
    for (method, path) in [
        ("POST", "/generate"),
        ("POST", "/"),
        ("POST", "/tokenize"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ] {
        let (status, body) =
            send(method, &format!("{}{path}?q=1", r.url), r#"{"inputs":"x"}"#).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        let body = json(&body);
        assert_eq!(body["replica"], "a");
        assert_eq!(body["echo"], r#"{"inputs":"x"}"#);
    }
    assert_eq!(
        a.state.hits.load(Ordering::Relaxed),
        PROXIED_ROUTES.len() - 1
    );

    let (status, _) = send("GET", &format!("{}/health", r.url), "").await;
    assert_eq!(status, 200);
    let (_, info) = send("GET", &format!("{}/info", r.url), "").await;
    let info = json(&info);
    assert_eq!(info["policy"], "round-robin");
    assert_eq!(info["replicas"][0]["requests"], 6);
    let (_, metrics) = send("GET", &format!("{}/metrics", r.url), "").await;
    let series = format!("sluice_router_requests_total{{replica=\"{}\"}} 6", a.url);
    assert!(metrics.contains(&series), "{metrics}");
    assert!(metrics.contains("sluice_router_request_duration_seconds_bucket"));

    let (status, body) = send("GET", &format!("{}/nope", r.url), "").await;
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error_type"], "not_found");
}

#[tokio::test]
async fn a_stream_passes_through_event_by_event() {
    let a = stub("a").await;
    let r = router(config(&[&a], PolicyKind::RoundRobin)).await;
    let response = client()
        .request(request(
            "POST",
            &format!("{}/generate_stream", r.url),
            r#"{"inputs":"x"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    // The stub sends the second event only once the first has come out of the router.
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"data: {\"token\":1}\n\n");
    a.state.stream_gate.add_permits(1);
    let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&second[..], b"data: {\"token\":2}\n\n");
    assert!(body.frame().await.is_none());
    assert!(eventually(|| async { replica_info(&r.url, &a.url).await["in_flight"] == 0 }).await);
}

#[tokio::test]
async fn a_refusal_before_the_first_byte_is_retried_on_another_replica() {
    let (a, b) = (stub("a").await, stub("b").await);
    a.state.status.store(503, Ordering::Relaxed);
    let r = router(config(&[&a, &b], PolicyKind::RoundRobin)).await;
    for _ in 0..4 {
        let (status, body) = post(&format!("{}/generate", r.url), "{}").await;
        assert_eq!(
            (status.as_u16(), json(&body)["replica"].clone()),
            (200, "b".into())
        );
    }
    // Round robin advances once per pick, two picks per request: every request met `a` first.
    let info = replica_info(&r.url, &a.url).await;
    assert_eq!(
        (info["errors"].clone(), info["retries"].clone()),
        (4.into(), 4.into())
    );
    assert_eq!(replica_info(&r.url, &b.url).await["errors"], 0);
}

#[tokio::test]
async fn no_replica_to_take_it_is_503_or_429_in_tgi_shape() {
    let (a, b) = (stub("a").await, stub("b").await);
    for s in [&a, &b] {
        s.state.status.store(429, Ordering::Relaxed);
    }
    let r = router(config(&[&a, &b], PolicyKind::LeastOutstanding)).await;
    let (status, body) = post(&format!("{}/generate", r.url), "{}").await;
    assert_eq!(status, 429);
    assert_eq!(json(&body)["error_type"], "overloaded");

    b.state.status.store(503, Ordering::Relaxed);
    let (status, body) = post(&format!("{}/v1/completions", r.url), "{}").await;
    assert_eq!(status, 503);
    let body = json(&body);
    assert_eq!(body["error_type"], "unavailable");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no healthy replica"));

    let (_, metrics) = send("GET", &format!("{}/metrics", r.url), "").await;
    assert!(
        metrics.contains("sluice_router_unrouted_total{reason=\"overloaded\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn all_replicas_unhealthy_is_503_and_router_health_fails() {
    let a = stub("a").await;
    a.state.healthy.store(false, Ordering::Relaxed);
    let r = router(config(&[&a], PolicyKind::RoundRobin)).await;
    assert!(eventually(|| async { replica_info(&r.url, &a.url).await["healthy"] == false }).await);
    let (status, body) = post(&format!("{}/generate", r.url), "{}").await;
    assert_eq!(
        (status.as_u16(), json(&body)["error_type"].clone()),
        (503, "unavailable".into())
    );
    let (status, _) = send("GET", &format!("{}/health", r.url), "").await;
    assert_eq!(status, 503);
    assert_eq!(a.state.hits.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_unhealthy_replica_gets_nothing_until_it_is_healthy_again() {
    let (a, b) = (stub("a").await, stub("b").await);
    let r = router(config(&[&a, &b], PolicyKind::RoundRobin)).await;
    a.state.healthy.store(false, Ordering::Relaxed);
    assert!(eventually(|| async { replica_info(&r.url, &a.url).await["healthy"] == false }).await);
    for _ in 0..6 {
        let (_, body) = post(&format!("{}/generate", r.url), "{}").await;
        assert_eq!(json(&body)["replica"], "b");
    }
    assert_eq!(a.state.hits.load(Ordering::Relaxed), 0);
    a.state.healthy.store(true, Ordering::Relaxed);
    assert!(eventually(|| async { replica_info(&r.url, &a.url).await["healthy"] == true }).await);
    let mut names = Vec::new();
    for _ in 0..4 {
        let (_, body) = post(&format!("{}/generate", r.url), "{}").await;
        names.push(json(&body)["replica"].as_str().unwrap().to_string());
    }
    assert!(names.contains(&"a".to_string()), "{names:?}");
}

#[tokio::test]
async fn round_robin_end_to_end_is_a_fixed_sequence() {
    let (a, b, c) = (stub("a").await, stub("b").await, stub("c").await);
    let r = router(config(&[&a, &b, &c], PolicyKind::RoundRobin)).await;
    let mut names = Vec::new();
    for _ in 0..6 {
        let (_, body) = post(&format!("{}/generate", r.url), "{}").await;
        names.push(json(&body)["replica"].as_str().unwrap().to_string());
    }
    assert_eq!(names, ["a", "b", "c", "a", "b", "c"]);
}

#[tokio::test]
async fn a_slow_replica_gets_fewer_requests_under_least_outstanding() {
    let (slow, fast) = (stub("slow").await, stub("fast").await);
    slow.state.delay_ms.store(200, Ordering::Relaxed);
    let r = router(config(&[&slow, &fast], PolicyKind::LeastOutstanding)).await;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{}/generate", r.url);
            tokio::spawn(async move {
                for _ in 0..10 {
                    assert_eq!(post(&url, "{}").await.0, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let (s, f) = (
        slow.state.hits.load(Ordering::Relaxed),
        fast.state.hits.load(Ordering::Relaxed),
    );
    assert_eq!(s + f, 40);
    assert!(s < f, "slow got {s}, fast {f}");
}

#[tokio::test]
async fn prefix_aware_keeps_a_shared_prompt_on_one_replica() {
    let stubs = [stub("a").await, stub("b").await, stub("c").await];
    let mut cfg = config(&stubs.iter().collect::<Vec<_>>(), PolicyKind::PrefixAware);
    cfg.policy.prefix_chars = 32;
    let r = router(cfg).await;
    let system = "You answer questions about the ACME billing system. ";
    let mut owners = std::collections::BTreeSet::new();
    for (i, path) in [
        "/generate",
        "/v1/completions",
        "/generate",
        "/v1/completions",
    ]
    .iter()
    .enumerate()
    {
        let body = if path == &"/generate" {
            serde_json::json!({ "inputs": format!("{system} question {i}") })
        } else {
            serde_json::json!({ "prompt": format!("{system} question {i}") })
        };
        let (_, answer) = post(&format!("{}{path}", r.url), &body.to_string()).await;
        owners.insert(json(&answer)["replica"].as_str().unwrap().to_string());
    }
    assert_eq!(owners.len(), 1, "{owners:?}");
}

#[tokio::test]
async fn a_body_over_the_payload_limit_is_413() {
    let a = stub("a").await;
    let mut cfg = config(&[&a], PolicyKind::RoundRobin);
    cfg.limits.payload_limit = 16;
    let r = router(cfg).await;
    let (status, body) = post(&format!("{}/generate", r.url), &"x".repeat(17)).await;
    assert_eq!(status, 413);
    assert_eq!(json(&body)["error_type"], "validation");
    assert_eq!(a.state.hits.load(Ordering::Relaxed), 0);
}
