//! A fake backend and an in-process server on 127.0.0.1 for the HTTP tests.
//!
//! The fake tokenizes one byte per token and answers every request with the bytes of
//! "abcdefghij..." (one per token, up to `max_new_tokens`), or, in held mode, keeps the
//! request's sender so the test decides when tokens come and sees when the server lets go.
#![allow(dead_code)] // each test binary uses a different subset

use sluice_core::{
    Backend, ChatTurn, EngineStats, EventStream, FinishReason, GenerationError, GenerationRequest,
    ModelInfo, PromptError, RequestId, SamplingDefaults, TokenEvent,
};
use sluice_server::{Limits, ServerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

pub type Sender = UnboundedSender<Result<TokenEvent, GenerationError>>;

pub struct Fake {
    info: ModelInfo,
    next_id: AtomicU64,
    /// When set, requests wait here for the test to answer them.
    pub hold: bool,
    pub held: Mutex<Vec<(GenerationRequest, Sender)>>,
    pub submitted: Mutex<Vec<GenerationRequest>>,
}

impl Fake {
    pub fn new(hold: bool) -> Arc<Self> {
        Arc::new(Fake {
            info: ModelInfo {
                model_id: "fake-model".into(),
                architecture: "fake".into(),
                quantization: "q4_1".into(),
                device: "fake-device".into(),
                dtype: "f32".into(),
                kv_cache_dtype: "f16".into(),
                context_length: 64,
                kv_capacity_tokens: 1024,
                sampling_defaults: Default::default(),
                speculate: 0,
                speculation_method: None,
            },
            next_id: AtomicU64::new(1),
            hold,
            held: Mutex::new(Vec::new()),
            submitted: Mutex::new(Vec::new()),
        })
    }

    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

/// The token the fake generates at step `i`.
pub fn token(i: usize, last: bool) -> TokenEvent {
    let id = b'a' as u32 + (i % 26) as u32;
    TokenEvent {
        token_id: id,
        text: char::from_u32(id).unwrap().to_string(),
        logprob: -0.5,
        special: false,
        finish: last.then_some(FinishReason::Length),
        top_logprobs: Vec::new(),
        prompt_logprobs: None,
    }
}

impl Backend for Fake {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>, PromptError> {
        Ok(text.bytes().map(u32::from).collect())
    }

    fn token_bytes(&self, id: u32) -> Vec<u8> {
        vec![id as u8]
    }

    fn is_special(&self, _id: u32) -> bool {
        false
    }

    fn chat_prompt(
        &self,
        turns: &[ChatTurn],
        tools: Option<&serde_json::Value>,
    ) -> Result<String, PromptError> {
        let tools = tools.map_or(String::new(), |t| format!("tools: {t}\n"));
        Ok(tools
            + &turns
                .iter()
                .map(|t| format!("{}: {}\n", t.role, t.content))
                .collect::<String>())
    }

    fn chat_template_takes_tools(&self) -> bool {
        false
    }

    fn next_request_id(&self) -> RequestId {
        RequestId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn submit(&self, req: GenerationRequest) -> Result<EventStream, GenerationError> {
        let (tx, rx) = unbounded_channel();
        self.submitted.lock().unwrap().push(req.clone());
        if self.hold {
            self.held.lock().unwrap().push((req, tx));
        } else {
            let n = req.stop.max_new_tokens;
            for i in 0..n {
                let mut t = token(i, i + 1 == n);
                t.top_logprobs = (0..req.logprobs.top_n as u32)
                    .map(|k| (b'a' as u32 + k, -1.0 - k as f32))
                    .collect();
                if i == 0 && req.logprobs.prompt {
                    t.prompt_logprobs = Some(vec![-2.0; req.prompt_ids.len() - 1]);
                }
                let _ = tx.send(Ok(t));
            }
        }
        Ok(rx)
    }

    async fn stats(&self) -> Result<EngineStats, GenerationError> {
        Ok(EngineStats::default())
    }
}

pub fn limits() -> Limits {
    Limits {
        max_concurrent_requests: 4,
        max_best_of: 2,
        max_stop_sequences: 2,
        max_top_n_tokens: 3,
        max_input_tokens: 32,
        max_total_tokens: 48,
        max_body_bytes: 4096,
    }
}

/// Serves `fake` on an ephemeral port; returns its base URL.
pub async fn start(fake: Arc<Fake>, limits: Limits) -> String {
    start_with(fake, limits, Default::default()).await
}

/// [`start`] with the model's sampling defaults applied to requests that leave them unset.
pub async fn start_with(
    fake: Arc<Fake>,
    limits: Limits,
    sampling_defaults: SamplingDefaults,
) -> String {
    start_config(
        fake,
        ServerConfig {
            limits,
            max_batch_prefill_tokens: 512,
            max_batch_total_tokens: 1024,
            sampling_defaults,
            api_key: None,
        },
    )
    .await
}

/// Serves `fake` with every setting given.
pub async fn start_config(fake: Arc<Fake>, config: ServerConfig) -> String {
    let app = sluice_server::router(fake, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let never = std::future::pending::<()>();
        sluice_server::serve(listener, app, never, std::time::Duration::from_secs(1)).await
    });
    url
}

/// GETs a URL; returns the status and the body.
pub async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// POSTs raw bytes as JSON; returns the status and the body parsed as JSON (or a string).
pub async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// The `data:` payloads of a server-sent-event body.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim_start().to_string())
        .collect()
}
