//! A fake LLM server for tests and the overhead measurement: TGI and OpenAI routes, streamed
//! and not, with exact token counts and failures chosen by markers in the prompt.
//!
//! It generates `max_new_tokens` tokens of text " tok" (4 bytes each, so the 4-bytes-per-token
//! estimate is exact), reports the prompt's word count as its prompt tokens, and sleeps
//! `token_delay` before each token. Markers: `FAIL500` answers 500; `HANG` never answers;
//! `DROP` drops the connection after two tokens; `ERRORTOKEN` sends an error event after one
//! token; `CUT` ends the stream cleanly without its final event; `NOUSAGE` reports no counts.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Tgi,
    Completions,
    Chat,
}

#[derive(Clone, Copy)]
struct Cfg {
    token_delay: Duration,
}

/// Serves on 127.0.0.1 at an ephemeral port; returns the base URL.
pub async fn start(token_delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(token_delay)).await.unwrap() });
    url
}

pub fn router(token_delay: Duration) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/info",
            get(|| async { Json(json!({"model_id": "stub-model"})) }),
        )
        .route(
            "/v1/models",
            get(|| async { Json(json!({"data": [{"id": "stub-model"}]})) }),
        )
        .route("/generate", post(|s, b| handle(s, b, Api::Tgi, false)))
        .route(
            "/generate_stream",
            post(|s, b| handle(s, b, Api::Tgi, true)),
        )
        .route(
            "/v1/completions",
            post(|s, b| handle_oai(s, b, Api::Completions)),
        )
        .route(
            "/v1/chat/completions",
            post(|s, b| handle_oai(s, b, Api::Chat)),
        )
        .with_state(Cfg { token_delay })
}

async fn handle_oai(cfg: State<Cfg>, body: Json<Value>, api: Api) -> Response {
    let stream = body.0["stream"].as_bool().unwrap_or(false);
    handle(cfg, body, api, stream).await
}

struct Plan {
    api: Api,
    tokens: u64,
    prompt_tokens: u64,
    usage: bool,
    marker: Option<&'static str>,
}

async fn handle(
    State(cfg): State<Cfg>,
    Json(req): Json<Value>,
    api: Api,
    stream: bool,
) -> Response {
    let prompt = match api {
        Api::Tgi => req["inputs"].as_str(),
        Api::Completions => req["prompt"].as_str(),
        Api::Chat => req["messages"][0]["content"].as_str(),
    }
    .unwrap_or_default()
    .to_string();
    let max = if api == Api::Tgi {
        &req["parameters"]["max_new_tokens"]
    } else {
        &req["max_tokens"]
    };
    let marker = ["FAIL500", "HANG", "DROP", "ERRORTOKEN", "CUT"]
        .into_iter()
        .find(|m| prompt.contains(m));
    let plan = Plan {
        api,
        tokens: max.as_u64().unwrap_or(16),
        prompt_tokens: prompt.split_whitespace().count() as u64,
        usage: !prompt.contains("NOUSAGE"),
        marker,
    };
    match plan.marker {
        Some("FAIL500") => {
            return Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from(
                    r#"{"error":"injected failure","error_type":"generation"}"#,
                ))
                .unwrap()
        }
        Some("HANG") => tokio::time::sleep(Duration::from_secs(3600)).await,
        _ => {}
    }
    if stream {
        streamed(plan, cfg.token_delay)
    } else {
        whole(&plan)
    }
}

fn whole(plan: &Plan) -> Response {
    let text = " tok".repeat(plan.tokens as usize);
    let body = match plan.api {
        Api::Tgi => {
            json!({"generated_text": text, "details": plan.usage.then(|| json!({"generated_tokens": plan.tokens}))})
        }
        Api::Completions => json!({"choices": [{"text": text}], "usage": usage(plan)}),
        Api::Chat => {
            json!({"choices": [{"message": {"role": "assistant", "content": text}}], "usage": usage(plan)})
        }
    };
    let mut resp = Response::builder().header("content-type", "application/json");
    if plan.usage && plan.api == Api::Tgi {
        resp = resp.header("x-prompt-tokens", plan.prompt_tokens);
    }
    resp.body(Body::from(body.to_string())).unwrap()
}

fn usage(plan: &Plan) -> Value {
    if plan.usage {
        json!({"prompt_tokens": plan.prompt_tokens, "completion_tokens": plan.tokens})
    } else {
        Value::Null
    }
}

/// The events of a stream, in order; `None` is a dropped connection.
fn events(plan: &Plan) -> Vec<Option<String>> {
    let n = plan.tokens;
    let cut_at = match plan.marker {
        Some("DROP") => 2,
        Some("ERRORTOKEN") => 1,
        _ => n,
    };
    let mut ev: Vec<Option<String>> = Vec::new();
    if plan.api == Api::Chat {
        ev.push(Some(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#.into(),
        ));
    }
    for i in 0..cut_at.min(n) {
        let last = i + 1 == n;
        ev.push(Some(match plan.api {
            Api::Tgi if last && plan.marker.is_none() => format!(
                r#"{{"index":{i},"token":{{"id":{i},"text":" tok","logprob":-0.5,"special":false}},"generated_text":"{}","details":{}}}"#,
                " tok".repeat(n as usize),
                if plan.usage { format!(r#"{{"finish_reason":"length","generated_tokens":{n}}}"#) } else { "null".into() }
            ),
            Api::Tgi => format!(
                r#"{{"index":{i},"token":{{"id":{i},"text":" tok","logprob":-0.5,"special":false}},"generated_text":null,"details":null}}"#
            ),
            Api::Completions => r#"{"object":"text_completion","choices":[{"index":0,"text":" tok","finish_reason":null}]}"#.into(),
            Api::Chat => r#"{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" tok"}}]}"#.into(),
        }));
    }
    match plan.marker {
        Some("DROP") => ev.push(None),
        Some("ERRORTOKEN") => ev.push(Some(
            r#"{"error":"injected error event","error_type":"generation"}"#.into(),
        )),
        Some("CUT") => {
            if plan.api == Api::Tgi {
                ev.pop();
            }
        }
        _ => {
            if plan.api != Api::Tgi {
                ev.push(Some(
                    r#"{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#.into(),
                ));
                if plan.usage {
                    ev.push(Some(
                        json!({"choices": [], "usage": usage(plan)}).to_string(),
                    ));
                }
                ev.push(Some("[DONE]".into()));
            }
        }
    }
    ev
}

fn streamed(plan: Plan, delay: Duration) -> Response {
    let events = events(&plan).into_iter();
    let stream = futures_util::stream::unfold(events, move |mut events| async move {
        let ev = events.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let item = match ev {
            Some(data) => Ok(Bytes::from(format!("data: {data}\n\n"))),
            None => Err(std::io::Error::other("injected connection drop")),
        };
        Some((item, events))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}
