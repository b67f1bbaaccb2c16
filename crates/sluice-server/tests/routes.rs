//! Response shapes of every route, against the fake backend (which answers "abc..." with
//! logprob -0.5 per token).

mod common;
use common::*;
use serde_json::{json, Value};
use sluice_core::SamplingDefaults;

async fn post_sse(url: &str, body: Value) -> Vec<Value> {
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    sse_data(&resp.text().await.unwrap())
        .into_iter()
        .map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d)))
        .collect()
}

#[tokio::test]
async fn generate_with_details_prefill_and_top_tokens() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"inputs": "hey", "parameters": {
        "max_new_tokens": 3, "details": true, "decoder_input_details": true, "top_n_tokens": 2,
        "return_full_text": true}});
    let (status, r) = post(&format!("{url}/generate"), body.to_string()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["generated_text"], "heyabc");
    let d = &r["details"];
    assert_eq!(d["finish_reason"], "length");
    assert_eq!(d["generated_tokens"], 3);
    assert_eq!(d["seed"], Value::Null, "greedy requests report no seed");
    assert_eq!(
        d["tokens"][1],
        json!({"id": 98, "text": "b", "logprob": -0.5, "special": false})
    );
    assert_eq!(
        d["prefill"][0],
        json!({"id": 104, "text": "h", "logprob": null})
    );
    assert_eq!(d["prefill"][2]["logprob"], -2.0);
    assert_eq!(d["top_tokens"][0].as_array().unwrap().len(), 2);
    let submitted = fake.submitted.lock().unwrap();
    assert!(submitted[0].logprobs.prompt && submitted[0].sampling.is_greedy());
}

#[tokio::test]
async fn defaults_truncate_and_sampling_seed() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"inputs": "0123456789", "parameters": {"truncate": 4, "do_sample": true, "details": true}});
    let (_, r) = post(&format!("{url}/generate"), body.to_string()).await;
    // TGI's default of 100 new tokens, cut to what fits: 48 total - 4 prompt tokens.
    assert_eq!(r["details"]["generated_tokens"], 44, "{r}");
    assert!(
        r["details"]["seed"].is_u64(),
        "sampling reports its seed: {r}"
    );
    let req = fake.submitted.lock().unwrap()[0].clone();
    assert_eq!(req.prompt_ids, b"6789".map(u32::from));
    assert!(!req.sampling.is_greedy());
}

/// A model's generation_config.json fills what a request leaves unset: every field on the
/// OpenAI routes (as vLLM does), and on TGI's only for a request that samples; what the
/// request gives wins.
#[tokio::test]
async fn the_models_sampling_defaults_fill_unset_fields() {
    let fake = Fake::new(false);
    let defaults = SamplingDefaults {
        temperature: Some(0.6),
        top_p: Some(0.9),
        top_k: Some(20),
        repetition_penalty: Some(1.1),
    };
    let url = start_with(fake.clone(), limits(), defaults).await;
    let sent = |i: usize| fake.submitted.lock().unwrap()[i].sampling.clone();
    let body = json!({"prompt": "hi", "max_tokens": 2});
    post(&format!("{url}/v1/completions"), body.to_string()).await;
    let s = sent(0);
    assert_eq!((s.temperature, s.top_p, s.top_k), (0.6, 0.9, 20));
    assert_eq!(s.repetition_penalty, 1.1);
    let body = json!({"prompt": "hi", "max_tokens": 2, "temperature": 0.3, "top_k": 5});
    post(&format!("{url}/v1/completions"), body.to_string()).await;
    let s = sent(1);
    assert_eq!((s.temperature, s.top_p, s.top_k), (0.3, 0.9, 5));
    let body = json!({"inputs": "hi", "parameters": {"max_new_tokens": 2}});
    post(&format!("{url}/generate"), body.to_string()).await;
    let s = sent(2);
    assert!(s.is_greedy() && s.repetition_penalty == 1.0, "{s:?}");
    let body = json!({"inputs": "hi", "parameters": {"max_new_tokens": 2, "do_sample": true}});
    post(&format!("{url}/generate"), body.to_string()).await;
    let s = sent(3);
    assert_eq!((s.temperature, s.top_p, s.top_k), (0.6, 0.9, 20));
}

#[tokio::test]
async fn best_of_returns_the_other_sequences() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"inputs": "hi", "parameters": {"best_of": 2, "do_sample": true, "max_new_tokens": 2, "details": true, "decoder_input_details": true}});
    let (status, r) = post(&format!("{url}/generate"), body.to_string()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["details"]["best_of_sequences"].as_array().unwrap().len(),
        1
    );
    // One copy scores the prompt; both report it.
    assert_eq!(r["details"]["prefill"][1]["logprob"], -2.0);
    assert_eq!(
        r["details"]["best_of_sequences"][0]["prefill"][1]["logprob"],
        -2.0
    );
    let asked: Vec<bool> = fake
        .submitted
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.logprobs.prompt)
        .collect();
    assert_eq!(asked, [true, false]);
    let seeds: Vec<u64> = fake
        .submitted
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.sampling.seed)
        .collect();
    assert_eq!(seeds.len(), 2);
    assert_ne!(seeds[0], seeds[1]);
}

#[tokio::test]
async fn generate_stream_and_compat_route() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"inputs": "hi", "parameters": {"max_new_tokens": 3, "details": true}});
    let events = post_sse(&format!("{url}/generate_stream"), body.clone()).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["token"]["text"], "a");
    assert_eq!(events[0]["index"], 1);
    assert_eq!(events[0]["generated_text"], Value::Null);
    assert_eq!(events[2]["generated_text"], "abc");
    assert_eq!(events[2]["details"]["input_length"], 2);
    assert_eq!(events[2]["details"]["finish_reason"], "length");
    // A stream has no `prefill`, so it never asks the engine to score the prompt.
    let scored = json!({"inputs": "hi", "parameters": {"details": true, "decoder_input_details": true, "max_new_tokens": 1}});
    post_sse(&format!("{url}/generate_stream"), scored).await;
    assert!(
        !fake
            .submitted
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .logprobs
            .prompt
    );
    // POST / streams when asked, else answers a one-element list.
    let mut compat = body.clone();
    compat["stream"] = json!(true);
    assert_eq!(post_sse(&format!("{url}/"), compat).await, events);
    let (status, r) = post(&format!("{url}/"), body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(r[0]["generated_text"], "abc");
}

#[tokio::test]
async fn tokenize_info_health_models_metrics() {
    let url = start(Fake::new(false), limits()).await;
    let (_, r) = post(
        &format!("{url}/tokenize"),
        json!({"inputs": "ab"}).to_string(),
    )
    .await;
    assert_eq!(
        r,
        json!([{"id": 97, "text": "a", "start": 0, "stop": 1}, {"id": 98, "text": "b", "start": 1, "stop": 2}])
    );
    let (status, info) = get(&format!("{url}/info")).await;
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(status, 200);
    assert_eq!(info["model_id"], "fake-model");
    assert_eq!(info["max_input_tokens"], 32);
    assert_eq!(info["max_total_tokens"], 48);
    assert_eq!(info["max_concurrent_requests"], 4);
    assert_eq!(info["kv_cache_capacity_tokens"], 1024);
    // What runs comes from the backend, not from the server's assumptions.
    assert_eq!(info["model_device_type"], "fake-device");
    assert_eq!(info["kv_cache_dtype"], "f16");
    assert!(info["watermark"].as_str().unwrap().contains("422"));
    assert_eq!(get(&format!("{url}/health")).await.0, 200);
    let (_, models) = get(&format!("{url}/v1/models")).await;
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["data"][0]["id"], "fake-model");
    let (_, metrics) = get(&format!("{url}/metrics")).await;
    for name in [
        "sluice_requests_total{route=\"/tokenize\",status=\"200\"} 1",
        "sluice_time_to_first_token_seconds",
        "sluice_time_per_output_token_seconds",
        "sluice_request_input_tokens",
        "sluice_request_output_tokens",
        "sluice_queue_size",
        "sluice_batch_size",
        "sluice_kv_cache_usage_ratio",
        "sluice_preemptions_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn completions_with_n_logprobs_echo_and_stop() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"model": "anything", "prompt": "hi", "max_tokens": 3, "n": 2, "logprobs": 1, "echo": true, "stop": "zz", "seed": 5});
    let (status, r) = post(&format!("{url}/v1/completions"), body.to_string()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["object"], "text_completion");
    assert_eq!(r["choices"].as_array().unwrap().len(), 2);
    assert_eq!(r["choices"][1]["index"], 1);
    assert_eq!(r["choices"][0]["text"], "hiabc");
    assert_eq!(r["choices"][0]["finish_reason"], "length");
    let lp = &r["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"], json!(["a", "b", "c"]));
    assert_eq!(lp["text_offset"], json!([2, 3, 4]));
    assert_eq!(lp["top_logprobs"][0], json!({"a": -1.0}));
    assert_eq!(
        r["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10})
    );
    let reqs = fake.submitted.lock().unwrap();
    // OpenAI's default temperature is 1: sampling, with one seed per choice.
    assert_eq!((reqs[0].sampling.seed, reqs[1].sampling.seed), (5, 6));
    assert_eq!(reqs[0].stop.stop_sequences, ["zz"]);
}

#[tokio::test]
async fn completions_default_to_16_tokens() {
    let url = start(Fake::new(false), limits()).await;
    let (_, r) = post(
        &format!("{url}/v1/completions"),
        json!({"prompt": "hi"}).to_string(),
    )
    .await;
    assert_eq!(r["usage"]["completion_tokens"], 16, "{r}");
}

#[tokio::test]
async fn chat_completion_and_its_stream() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "yo"}]}], "temperature": 0, "logprobs": true, "top_logprobs": 2});
    let (status, r) = post(&format!("{url}/v1/chat/completions"), body.to_string()).await;
    assert_eq!(status, 200, "{r}");
    // The fake's template renders "user: yo\n" (9 tokens); chat fills the rest of 48.
    assert_eq!(
        r["usage"],
        json!({"prompt_tokens": 9, "completion_tokens": 39, "total_tokens": 48})
    );
    assert_eq!(r["choices"][0]["message"]["role"], "assistant");
    assert!(r["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("abc"));
    let first = &r["choices"][0]["logprobs"]["content"][0];
    assert_eq!(first["token"], "a");
    assert_eq!(first["bytes"], json!([97]));
    assert_eq!(first["top_logprobs"].as_array().unwrap().len(), 2);
    assert!(fake.submitted.lock().unwrap()[0].sampling.is_greedy());

    let body = json!({"messages": [{"role": "user", "content": "yo"}], "max_tokens": 2, "n": 2, "stream": true, "stream_options": {"include_usage": true}});
    let events = post_sse(&format!("{url}/v1/chat/completions"), body).await;
    // 2 choices x 2 tokens, the usage chunk, [DONE].
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[5], Value::String("[DONE]".into()));
    assert_eq!(events[4]["usage"]["completion_tokens"], 4);
    assert_eq!(events[4]["choices"], json!([]));
    for choice in 0..2 {
        let mine: Vec<&Value> = events[..4]
            .iter()
            .filter(|e| e["choices"][0]["index"] == choice)
            .collect();
        assert_eq!(mine.len(), 2);
        assert_eq!(
            mine[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "a"})
        );
        assert_eq!(mine[1]["choices"][0]["finish_reason"], "length");
        assert_eq!(mine[1]["object"], "chat.completion.chunk");
    }
}

#[tokio::test]
async fn completion_stream_ends_with_done() {
    let url = start(Fake::new(false), limits()).await;
    let body = json!({"prompt": "hi", "max_tokens": 2, "stream": true});
    let events = post_sse(&format!("{url}/v1/completions"), body).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["choices"][0]["text"], "a");
    assert_eq!(events[1]["choices"][0]["finish_reason"], "length");
    assert_eq!(events[2], Value::String("[DONE]".into()));
}
