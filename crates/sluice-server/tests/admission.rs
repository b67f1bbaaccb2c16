//! Overload answers 429 at once and never queues; the admitted requests all complete; a client
//! that goes away releases its request (the engine sees its receiver dropped and aborts it).

mod common;
use common::*;
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

/// Polls until `cond` holds (bounded: a broken server fails the test instead of hanging it).
async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn beyond_max_concurrent_requests_answers_429_and_the_admitted_complete() {
    let fake = Fake::new(true);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"inputs": "hi", "parameters": {"max_new_tokens": 2}}).to_string();
    // Fill all 4 slots with requests the fake holds.
    let admitted: Vec<_> = (0..4)
        .map(|_| tokio::spawn(post_owned(format!("{url}/generate"), body.clone())))
        .collect();
    wait_for("4 held requests", || fake.held_count() == 4).await;
    let completion = json!({"prompt": "hi"}).to_string();
    for (route, body) in [
        ("/generate", &body),
        ("/generate_stream", &body),
        ("/v1/completions", &completion),
    ] {
        let (status, reply) = post(&format!("{url}{route}"), body.clone()).await;
        assert_eq!(status, 429, "{route}: {reply}");
        if route == "/v1/completions" {
            assert_eq!(reply["error"]["message"], "Model is overloaded");
        } else {
            assert_eq!(
                reply,
                json!({"error": "Model is overloaded", "error_type": "overloaded"})
            );
        }
    }
    assert_eq!(
        fake.held_count(),
        4,
        "overloaded requests never reach the engine"
    );
    for (_, tx) in fake.held.lock().unwrap().drain(..) {
        tx.send(Ok(token(0, false))).unwrap();
        tx.send(Ok(token(1, true))).unwrap();
    }
    for task in admitted {
        let (status, reply) = task.await.unwrap();
        assert_eq!(
            (status, reply["generated_text"].as_str()),
            (200, Some("ab"))
        );
    }
    // The slots are free again.
    let (_, metrics) = get(&format!("{url}/metrics")).await;
    assert!(metrics.contains("sluice_requests_in_flight 0"), "{metrics}");
    assert!(metrics.contains("status=\"429\"} 1"), "{metrics}");
}

async fn post_owned(url: String, body: String) -> (u16, serde_json::Value) {
    post(&url, body).await
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_releases_its_request() {
    let fake = Fake::new(true);
    let url = start(fake.clone(), limits()).await;
    let resp = reqwest::Client::new()
        .post(format!("{url}/generate_stream"))
        .json(&json!({"inputs": "hi", "parameters": {"max_new_tokens": 40}}))
        .send()
        .await
        .unwrap();
    wait_for("the request", || fake.held_count() == 1).await;
    let tx = fake.held.lock().unwrap()[0].1.clone();
    tx.send(Ok(token(0, false))).unwrap();
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"text\":\"a\""));
    assert!(!tx.is_closed());
    drop(body);
    // The server dropped the event receiver: the engine aborts the sequence and frees its blocks.
    wait_for("the receiver to close", || tx.is_closed()).await;
    let (_, metrics) = get(&format!("{url}/metrics")).await;
    assert!(
        metrics.contains("sluice_requests_aborted_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sluice_requests_in_flight 0"), "{metrics}");
}

#[tokio::test]
async fn an_engine_error_mid_stream_ends_it_with_an_error_event() {
    let fake = Fake::new(true);
    let url = start(fake.clone(), limits()).await;
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/generate_stream"))
            .json(&json!({"inputs": "hi"}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    wait_for("the request", || fake.held_count() == 1).await;
    let (_, tx) = fake.held.lock().unwrap().remove(0);
    tx.send(Ok(token(0, false))).unwrap();
    tx.send(Err(sluice_core::GenerationError::StepFailed {
        reason: "boom".into(),
    }))
    .unwrap();
    let events = sse_data(&request.await.unwrap());
    assert_eq!(events.len(), 2);
    let error: serde_json::Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(error["error_type"], "generation");
    assert!(error["error"].as_str().unwrap().contains("boom"));
}
