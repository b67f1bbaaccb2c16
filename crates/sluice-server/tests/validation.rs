//! Every bad request gets a 422 that says what is wrong: TGI's shape on TGI routes, OpenAI's on
//! /v1 routes. Nothing reaches the engine.

mod common;
use common::*;
use serde_json::{json, Value};

/// (body, a piece of the expected message)
fn tgi_cases() -> Vec<(Value, &'static str)> {
    let p = |params: Value| json!({"inputs": "hello", "parameters": params});
    vec![
        (json!({"inputs": ""}), "`inputs` cannot be empty"),
        (json!({"inputs": 5}), "invalid type"),
        (json!({"parameters": {}}), "missing field `inputs`"),
        (
            p(json!({"max_new_tokens": 0})),
            "`max_new_tokens` must be strictly positive",
        ),
        (p(json!({"max_new_tokens": -1})), "invalid value"),
        (p(json!({"max_new_tokens": 44})), "must be <= 48"),
        (
            p(json!({"temperature": 0.0})),
            "`temperature` must be strictly positive",
        ),
        (
            p(json!({"temperature": -1.0, "do_sample": true})),
            "`temperature` must be strictly positive",
        ),
        (p(json!({"top_p": 0.0})), "`top_p` must be > 0.0 and <= 1.0"),
        (p(json!({"top_p": 1.5})), "`top_p` must be > 0.0 and <= 1.0"),
        (
            p(json!({"typical_p": 1.0})),
            "`typical_p` must be > 0.0 and < 1.0",
        ),
        (
            p(json!({"typical_p": 0.0})),
            "`typical_p` must be > 0.0 and < 1.0",
        ),
        (p(json!({"top_k": 0})), "`top_k` must be strictly positive"),
        (
            p(json!({"repetition_penalty": 0.0})),
            "`repetition_penalty` must be strictly positive",
        ),
        (
            p(json!({"frequency_penalty": 3.0})),
            "`frequency_penalty` must be >= -2.0",
        ),
        (
            p(json!({"best_of": 3, "do_sample": true})),
            "`best_of` must be > 0 and <= 2",
        ),
        (
            p(json!({"best_of": 2})),
            "you must use sampling when `best_of` is > 1",
        ),
        (
            p(json!({"best_of": 2, "do_sample": true, "seed": 1})),
            "`seed` must not be set",
        ),
        (
            p(json!({"stop": ["a", "b", "c"]})),
            "`stop` supports up to 2 stop sequences. Given: 3",
        ),
        (
            p(json!({"top_n_tokens": 4})),
            "`top_n_tokens` must be >= 0 and <= 3",
        ),
        (
            p(json!({"truncate": 0})),
            "`truncate` must be strictly positive",
        ),
        (
            p(json!({"truncate": 33})),
            "`truncate` must be strictly positive and less than 32",
        ),
        (p(json!({"do_sample": "yes"})), "invalid type"),
        (p(json!({"stop": "x"})), "invalid type"),
        (
            json!({"inputs": "x".repeat(33)}),
            "`inputs` must have less than 32 tokens. Given: 33",
        ),
    ]
}

#[tokio::test]
async fn bad_tgi_requests_get_422_with_the_reason() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    for route in ["/generate", "/generate_stream", "/"] {
        for (body, want) in tgi_cases() {
            let (status, reply) = post(&format!("{url}{route}"), body.to_string()).await;
            assert_eq!(status, 422, "{route} {body}: {reply}");
            assert_eq!(reply["error_type"], "validation", "{route} {body}: {reply}");
            let message = reply["error"].as_str().unwrap();
            assert!(message.contains(want), "{route} {body}: {message}");
        }
    }
    assert!(fake.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn best_of_is_refused_on_streams() {
    let url = start(Fake::new(false), limits()).await;
    let body = json!({"inputs": "hi", "parameters": {"best_of": 2, "do_sample": true}});
    let (status, reply) = post(&format!("{url}/generate_stream"), body.to_string()).await;
    assert_eq!(status, 422);
    assert!(reply["error"]
        .as_str()
        .unwrap()
        .contains("not allowed for this endpoint"));
}

#[tokio::test]
async fn malformed_bodies_are_422_and_oversized_ones_413() {
    let url = start(Fake::new(false), limits()).await;
    let generate = format!("{url}/generate");
    let (status, reply) = post(&generate, "{\"inputs\": \"a\"").await;
    assert_eq!(
        (status, reply["error_type"].as_str()),
        (422, Some("validation"))
    );
    let (status, reply) = post(&generate, b"{\"inputs\": \"\xff\xfe\"}".to_vec()).await;
    assert_eq!(status, 422);
    assert!(
        reply["error"].as_str().unwrap().contains("UTF-8"),
        "{reply}"
    );
    let huge = json!({"inputs": "x".repeat(5000)}).to_string();
    let (status, reply) = post(&generate, huge).await;
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["error_type"], "validation");
    let (status, reply) = post(&format!("{url}/no/such/route"), "{}").await;
    assert_eq!(status, 404);
    assert_eq!(reply["error_type"], "not_found");
}

#[tokio::test]
async fn unknown_fields_are_ignored_as_tgi_and_vllm_do() {
    let url = start(Fake::new(false), limits()).await;
    let body = json!({"inputs": "hi", "parameters": {"max_new_tokens": 2, "adapter_id": null, "grammar": null}, "extra": 1});
    let (status, reply) = post(&format!("{url}/generate"), body.to_string()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["generated_text"], "ab");
}

#[tokio::test]
async fn bad_openai_requests_get_422_in_openai_shape() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let completions = format!("{url}/v1/completions");
    let chat = format!("{url}/v1/chat/completions");
    let cases = [
        (
            &completions,
            json!({"prompt": "hi", "temperature": 2.5}),
            "`temperature` must be >= 0 and <= 2",
        ),
        (&completions, json!({"prompt": "hi", "top_p": 0}), "`top_p`"),
        (
            &completions,
            json!({"prompt": "hi", "n": 3}),
            "`n` must be > 0 and <= 2",
        ),
        (
            &completions,
            json!({"prompt": "hi", "max_tokens": 0}),
            "`max_new_tokens` must be strictly positive",
        ),
        (
            &completions,
            json!({"prompt": "", "max_tokens": 2}),
            "cannot be empty",
        ),
        (
            &completions,
            json!({"prompt": []}),
            "`prompt` cannot be empty",
        ),
        (&completions, json!({"prompt": "hi", "logprobs": 9}), "<= 3"),
        (
            &completions,
            json!({"prompt": 7}),
            "did not match any variant",
        ),
        (
            &completions,
            json!({"max_tokens": 3}),
            "missing field `prompt`",
        ),
        (&chat, json!({"messages": []}), "`messages` cannot be empty"),
        (
            &chat,
            json!({"messages": [{"role": "user"}], "stop": ["a", "b", "c"]}),
            "stop sequences",
        ),
        (&chat, json!({"messages": "hi"}), "invalid type"),
        (
            &chat,
            json!({"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 9}),
            "`presence_penalty`",
        ),
    ];
    for (route, body, want) in cases {
        let (status, reply) = post(route, body.to_string()).await;
        assert_eq!(status, 422, "{route} {body}: {reply}");
        assert_eq!(reply["error"]["type"], "invalid_request_error", "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{route} {body}: {message}");
    }
    assert!(fake.submitted.lock().unwrap().is_empty());
}

/// A value of the same kind as `neutral` that is not it.
fn other_than(neutral: &Value) -> Value {
    match neutral {
        Value::Null => json!("x"),
        Value::Bool(b) => json!(!b),
        Value::Number(n) => json!(n.as_f64().unwrap() + 5.0),
        Value::String(s) if s.is_empty() => json!("x"),
        Value::Array(items) if items.is_empty() => json!(["x"]),
        Value::Array(_) => json!(["audio"]),
        _ => json!({"a": 1}),
    }
}

/// Every field of the peers' APIs that sluice does not implement is refused by name when a
/// request sets it, on every route that could take it; at its neutral value it passes.
#[tokio::test]
async fn every_unimplemented_field_gets_its_422() {
    use sluice_server::unimplemented::{Table, OPENAI, TGI};
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let routes: [(&str, Value, Table); 4] = [
        ("/generate", json!({"inputs": "hi", "parameters": {}}), TGI),
        ("/", json!({"inputs": "hi", "parameters": {}}), TGI),
        (
            "/v1/completions",
            json!({"prompt": "hi", "max_tokens": 2}),
            OPENAI,
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
            OPENAI,
        ),
    ];
    for (route, base, table) in routes {
        for &(field, neutral) in table {
            let neutral: Value = serde_json::from_str(neutral).unwrap();
            for (value, refused) in [(other_than(&neutral), true), (neutral.clone(), false)] {
                let mut body = base.clone();
                let target = match body.get_mut("parameters") {
                    Some(parameters) => parameters,
                    None => &mut body,
                };
                target[field] = value.clone();
                let (status, answer) = post(&format!("{url}{route}"), body.to_string()).await;
                if refused {
                    assert_eq!(status, 422, "{route} {field}={value}: {answer}");
                    let message = answer.to_string();
                    assert!(
                        message.contains(&format!("`{field}` is not implemented")),
                        "{message}"
                    );
                } else {
                    assert_eq!(status, 200, "{route} {field}={value}: {answer}");
                }
            }
        }
    }
}
