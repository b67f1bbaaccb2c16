//! `sluice serve` on the default model, as clients use it: the routes agree with each other,
//! bad input never hurts the server or leaks cache blocks, overload answers 429 at once, a
//! client that leaves frees its blocks, SIGTERM lets requests in flight finish, and real client
//! libraries (Python `openai`, `huggingface_hub`) and the README's curl lines work unchanged.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const PROMPT: &str = "The capital of France is";

#[test]
fn tgi_and_openai_routes_give_the_same_greedy_text() {
    let server = Server::start(&[]);
    let url = &server.url;
    let body = json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 10, "details": true}});
    let (status, generated) = post(&format!("{url}/generate"), body.to_string());
    assert_eq!(status, 200, "{generated}");
    let text = generated["generated_text"].as_str().unwrap().to_string();
    assert!(text.starts_with(" Paris"), "{text}");
    assert_eq!(generated["details"]["generated_tokens"], 10);

    let mut events = Events::open(&format!("{url}/generate_stream"), body);
    let mut streamed = String::new();
    let mut last = Value::Null;
    while let Some(event) = events.next_data() {
        streamed.push_str(event["token"]["text"].as_str().unwrap());
        last = event;
    }
    assert_eq!(streamed, text);
    assert_eq!(last["generated_text"], text.as_str());

    let body = json!({"prompt": PROMPT, "max_tokens": 10, "temperature": 0});
    let (_, completion) = post(&format!("{url}/v1/completions"), body.to_string());
    assert_eq!(completion["choices"][0]["text"], text.as_str());
    assert_eq!(completion["usage"]["prompt_tokens"], 5);

    let chat = json!({"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 12, "temperature": 0});
    let (status, reply) = post(&format!("{url}/v1/chat/completions"), chat.to_string());
    assert_eq!(status, 200, "{reply}");
    assert!(!reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    // /info says what runs: the model's own device, compute type and weight type.
    let info: Value = serde_json::from_str(&get_text(&format!("{url}/info"))).unwrap();
    assert_eq!(info["model_device_type"], "cpu", "{info}");
    assert_eq!(info["model_dtype"], "f32", "{info}");
    assert_eq!(info["quantize"], "q4_1", "{info}");
    assert_eq!(info["kv_cache_dtype"], "f32", "{info}");
    server.assert_no_kv_leak();
}

/// `--speculate 2` as a TGI user turns it on: the same greedy text, token for token in TGI's
/// `details` and stream (one entry per generated token, however many a step accepted),
/// `/info` showing the setting and `/metrics` the proposals checked and accepted.
#[test]
fn speculation_is_visible_and_changes_no_output() {
    // A passage the answer repeats: where prompt lookup pays.
    let prompt = "Copy the list exactly.\nList: red, green, blue, yellow, red, green, blue, yellow, red, green, blue, yellow.\nCopy: red, green,";
    let body = json!({"inputs": prompt, "parameters": {"max_new_tokens": 24, "details": true, "decoder_input_details": false}});
    let generate = |server: &Server| {
        let (status, generated) = post(&format!("{}/generate", server.url), body.to_string());
        assert_eq!(status, 200, "{generated}");
        generated
    };
    let plain = generate(&Server::start(&[]));
    let server = Server::start(&["--speculate", "2"]);
    let url = &server.url;
    let speculated = generate(&server);
    assert_eq!(speculated["generated_text"], plain["generated_text"]);
    assert_eq!(speculated["details"]["tokens"], plain["details"]["tokens"]);
    assert_eq!(speculated["details"]["generated_tokens"], 24);
    assert_eq!(
        speculated["details"]["tokens"].as_array().unwrap().len(),
        24
    );
    let mut events = Events::open(&format!("{url}/generate_stream"), body.clone());
    let mut streamed = Vec::new();
    while let Some(event) = events.next_data() {
        streamed.push(event["token"].clone());
    }
    assert_eq!(Value::Array(streamed), plain["details"]["tokens"]);

    let info: Value = serde_json::from_str(&get_text(&format!("{url}/info"))).unwrap();
    assert_eq!(info["speculate"], 2, "{info}");
    assert_eq!(info["speculation_method"], "ngram", "{info}");
    let metrics = server.metrics();
    let counter = |name: &str| -> f64 {
        let line = format!("sluice_{name}_total{{method=\"ngram\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("{line} not in:\n{metrics}"))
            .parse()
            .unwrap()
    };
    let (proposed, accepted) = (
        counter("speculative_proposed_tokens"),
        counter("speculative_accepted_tokens"),
    );
    assert!(accepted > 0.0 && accepted <= proposed, "{metrics}");
    // One bucket per accepted length, 0 to 2.
    assert!(
        metrics.contains("sluice_speculative_accepted_length_bucket{le=\"2.0\",method=\"ngram\"}"),
        "{metrics}"
    );
    server.assert_no_kv_leak();
}

#[test]
fn bad_input_and_departed_clients_leave_the_server_healthy_and_leak_nothing() {
    let server = Server::start(&["--max-input-tokens", "64", "--max-total-tokens", "128"]);
    let url = &server.url;
    let bad: Vec<(&str, Vec<u8>, u16)> = vec![
        ("/generate", br#"{"inputs": ""}"#.to_vec(), 422),
        ("/generate", br#"{"inputs": "hi""#.to_vec(), 422),
        ("/generate", br#"{"inputs": ["hi"]}"#.to_vec(), 422),
        ("/generate", b"{\"inputs\": \"\xc3\x28\"}".to_vec(), 422),
        (
            "/generate",
            json!({"inputs": "word ".repeat(100)})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "/generate",
            json!({"inputs": "hi", "parameters": {"max_new_tokens": 500}})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "/generate",
            json!({"inputs": "hi", "parameters": {"temperature": 0}})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "/generate_stream",
            json!({"inputs": "hi", "parameters": {"top_p": 2}})
                .to_string()
                .into_bytes(),
            422,
        ),
        (
            "/generate",
            json!({"inputs": "x".repeat(3_000_000)})
                .to_string()
                .into_bytes(),
            413,
        ),
        (
            "/v1/completions",
            json!({"prompt": "hi", "n": 99}).to_string().into_bytes(),
            422,
        ),
        ("/v1/chat/completions", br#"{"messages": 1}"#.to_vec(), 422),
        ("/nowhere", b"{}".to_vec(), 404),
    ];
    for (route, body, want) in bad {
        let (status, reply) = post(&format!("{url}{route}"), body);
        assert_eq!(status, want, "{route}: {reply}");
    }
    // Two clients walk away mid-stream.
    for _ in 0..2 {
        let mut events = Events::open(
            &format!("{url}/generate_stream"),
            json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 100}}),
        );
        assert!(events.next_data().is_some());
    }
    let (status, reply) = post(
        &format!("{url}/generate"),
        json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 3}}).to_string(),
    );
    assert_eq!(status, 200, "{reply}");
    server.assert_no_kv_leak();
    assert_eq!(server.metric("sluice_requests_aborted_total"), 2.0);
}

#[test]
fn overload_is_refused_at_once_and_the_admitted_requests_complete() {
    let server = Server::start(&["--max-concurrent-requests", "2"]);
    let url = &server.url;
    let long = json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 48}});
    let mut admitted: Vec<Events> = (0..2)
        .map(|_| Events::open(&format!("{url}/generate_stream"), long.clone()))
        .collect();
    for events in &mut admitted {
        assert!(events.next_data().is_some());
    }
    let (status, reply) = post(&format!("{url}/generate"), long.to_string());
    assert_eq!(status, 429);
    assert_eq!(
        reply,
        json!({"error": "Model is overloaded", "error_type": "overloaded"})
    );
    for mut events in admitted {
        let mut last = Value::Null;
        while let Some(event) = events.next_data() {
            last = event;
        }
        assert!(last["generated_text"].is_string(), "{last}");
    }
    server.assert_no_kv_leak();
}

#[test]
fn sigterm_stops_accepting_lets_the_stream_finish_and_exits_0() {
    let mut server = Server::start(&["--shutdown-grace-seconds", "120"]);
    let url = server.url.clone();
    let mut events = Events::open(
        &format!("{url}/generate_stream"),
        json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 40, "details": true}}),
    );
    assert!(events.next_data().is_some());
    server.signal("TERM");
    // New connections are refused once the listener closes (bounded wait).
    let mut refused = false;
    for _ in 0..100 {
        if reqwest::blocking::get(format!("{url}/health")).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "still accepting connections after SIGTERM");
    let mut last = Value::Null;
    while let Some(event) = events.next_data() {
        last = event;
    }
    // The generation ran to its own end (the model's end-of-text, or 40 tokens), not the signal.
    assert!(
        last["generated_text"].is_string(),
        "stream cut short: {last}"
    );
    let details = &last["details"];
    assert!(
        ["length", "eos_token"].contains(&details["finish_reason"].as_str().unwrap_or("")),
        "{last}"
    );
    assert_eq!(last["index"], details["generated_tokens"], "{last}");
    assert!(details["generated_tokens"].as_u64().unwrap() > 10, "{last}");
    assert!(server.wait_exit(Duration::from_secs(60)).success());
}

#[test]
fn python_openai_and_huggingface_clients_work_unchanged() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scripts = root.join("scripts/client-compat");
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("client-venv");
    let python = sluice_testing::python_venv(&venv, &scripts.join("requirements.txt"));
    let server = Server::start(&[]);
    let out = Command::new(&python)
        .arg(scripts.join("check_clients.py"))
        .arg(&server.url)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ok: openai"), "{log}");
    server.assert_no_kv_leak();
}

#[test]
fn the_readme_curl_examples_work() {
    let readme = include_str!("../../../README.md");
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert!(lines.len() >= 4, "README has {} curl examples", lines.len());
    let server = Server::start(&[]);
    let base = server.url.trim_start_matches("http://").to_string();
    for line in lines {
        let command = line.replace("localhost:8080", &base);
        let out = Command::new("sh").args(["-c", &command]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.trim().is_empty(), "{command}: no output");
        assert!(!stdout.contains("\"error\""), "{command}: {stdout}");
    }
}

/// Structured output end to end: a stream follows its grammar, a schema or regex that does
/// not compile gets 422 with the compiler's reason, on both APIs.
#[test]
fn structured_output_streams_and_bad_constraints_get_422() {
    let server = Server::start(&[]);
    let url = &server.url;
    let body = json!({"inputs": "The year the Berlin wall fell:",
        "parameters": {"max_new_tokens": 8, "grammar": {"type": "regex", "value": " 19[0-9]{2}"}}});
    let mut events = Events::open(&format!("{url}/generate_stream"), body);
    let mut streamed = String::new();
    while let Some(event) = events.next_data() {
        streamed.push_str(event["token"]["text"].as_str().unwrap());
    }
    let year = regex::Regex::new("^ 19[0-9]{2}$").unwrap();
    assert!(year.is_match(&streamed), "{streamed:?}");
    let bad_regex =
        json!({"inputs": "x", "parameters": {"grammar": {"type": "regex", "value": "[a-"}}});
    let (status, body) = post(&format!("{url}/generate"), bad_regex.to_string());
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().starts_with("invalid regex"),
        "{body}"
    );
    let bad_schema = json!({"messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x",
            "schema": {"type": "object", "properties": {"a": {"type": "strin"}}}}}});
    let (status, body) = post(
        &format!("{url}/v1/chat/completions"),
        bad_schema.to_string(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid json schema"),
        "{body}"
    );
    server.assert_no_kv_leak();
}

/// The study's own TGI command line (its model swapped for the default one), with TGI's
/// CPU-neutral flags and `--api-key`: it starts, and every route but /health and /metrics
/// wants the key, refusing in each API's error shape.
#[test]
fn a_tgi_command_line_with_an_api_key_starts_and_guards_every_route() {
    let key = "s3cret-key";
    let server = Server::start(&[
        "--dtype",
        "float16",
        "--num-shard",
        "1",
        "--max-input-length",
        "3600",
        "--max-total-tokens",
        "4000",
        "--speculate",
        "2",
        "--cuda-memory-fraction",
        "0.9",
        "--sharded",
        "false",
        "--api-key",
        key,
    ]);
    let url = &server.url;
    let generate = json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 3}}).to_string();
    let chat =
        json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}).to_string();
    let (status, body) = post(&format!("{url}/generate"), generate.clone());
    assert_eq!(
        (status, body["error_type"].as_str()),
        (401, Some("authentication")),
        "{body}"
    );
    let (status, body) =
        post_with_key(&format!("{url}/v1/chat/completions"), chat.clone(), "wrong");
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    assert_eq!(get_with_key(&format!("{url}/info"), None).0, 401);
    assert_eq!(
        get_with_key(&format!("{url}/v1/models"), Some("s3cret")).0,
        401
    );
    assert_eq!(get_with_key(&format!("{url}/health"), None).0, 200);
    assert_eq!(get_with_key(&format!("{url}/metrics"), None).0, 200);
    let (status, body) = post_with_key(&format!("{url}/generate"), generate, key);
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_with_key(&format!("{url}/v1/chat/completions"), chat, key);
    assert_eq!(status, 200, "{body}");
    let (status, info) = get_with_key(&format!("{url}/info"), Some(key));
    assert_eq!(
        (status, info["speculate"].as_u64()),
        (200, Some(2)),
        "{info}"
    );
    assert_eq!(info["max_input_tokens"], 3600, "{info}");
    server.assert_no_kv_leak();
}

#[test]
fn replicas_behind_the_router_answer_on_one_port_and_stop_together() {
    let port = free_port();
    let key = "router-key";
    let mut server = Server::start_replicas(
        port,
        &["--replicas", "2", "--threads", "2", "--api-key", key],
    );
    let url = server.url.clone();
    let generate = json!({"inputs": PROMPT, "parameters": {"max_new_tokens": 3}}).to_string();
    // The router wants the key too, and forwards it to the replicas, which want it.
    let (status, reply) = post(&format!("{url}/generate"), generate.clone());
    assert_eq!(
        (status, reply["error_type"].as_str()),
        (401, Some("authentication"))
    );
    assert_eq!(get_with_key(&format!("{url}/info"), None).0, 401);
    for _ in 0..4 {
        let (status, reply) = post_with_key(&format!("{url}/generate"), generate.clone(), key);
        assert_eq!(status, 200, "{reply}");
    }
    let (_, info) = get_with_key(&format!("{url}/info"), Some(key));
    let replicas: Vec<String> = info["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(replicas.len(), 2, "{info}");
    assert!(
        info["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["requests"].as_u64() >= Some(1)),
        "{info}"
    );
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(60)).success());
    for replica in replicas {
        assert!(
            reqwest::blocking::get(format!("{replica}/health")).is_err(),
            "replica {replica} still running"
        );
    }
}
