//! Test kit: stub replicas (real axum servers on 127.0.0.1), a router in front of them, and a
//! small HTTP client. Every wait is a bounded loop; nothing asserts on time.
#![allow(dead_code)] // each test binary uses its own part of the kit

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sluice_router::{RouterConfig, Upstream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

/// How a stub replica behaves; tests flip these while it runs.
#[derive(Debug)]
pub struct StubState {
    pub name: String,
    /// Requests it received, /health aside.
    pub hits: AtomicUsize,
    pub healthy: AtomicBool,
    /// Status for every non-health request; 200 answers normally.
    pub status: AtomicU16,
    /// Delay before answering, in ms.
    pub delay_ms: AtomicUsize,
    /// `/generate_stream` sends its second event only after a permit is added here.
    pub stream_gate: Semaphore,
}

pub struct Stub {
    pub url: String,
    pub state: Arc<StubState>,
}

impl Stub {
    pub fn upstream(&self) -> Upstream {
        self.url.parse().unwrap()
    }
}

pub fn stub_app(state: Arc<StubState>) -> Router {
    Router::new()
        .route("/health", routing::get(stub_health))
        .route("/generate_stream", routing::post(stub_stream))
        .fallback(stub_answer)
        .with_state(state)
}

/// Starts a stub on a free 127.0.0.1 port in this process.
pub async fn stub(name: &str) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(StubState {
        name: name.to_string(),
        hits: AtomicUsize::new(0),
        healthy: AtomicBool::new(true),
        status: AtomicU16::new(200),
        delay_ms: AtomicUsize::new(0),
        stream_gate: Semaphore::new(0),
    });
    let app = stub_app(Arc::clone(&state));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Stub { url, state }
}

async fn stub_health(State(s): State<Arc<StubState>>) -> StatusCode {
    if s.healthy.load(Ordering::Relaxed) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Answers with its name, the path and its pid, after the configured delay and status.
async fn stub_answer(State(s): State<Arc<StubState>>, request: Request) -> Response {
    s.hits.fetch_add(1, Ordering::Relaxed);
    let delay = s.delay_ms.load(Ordering::Relaxed) as u64;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(s.status.load(Ordering::Relaxed)).unwrap();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::json!({
        "replica": s.name,
        "pid": std::process::id(),
        "echo": String::from_utf8_lossy(&body),
    });
    (status, Json(json)).into_response()
}

/// Two SSE events; the second waits until the test opens the gate.
async fn stub_stream(State(s): State<Arc<StubState>>) -> Response {
    s.hits.fetch_add(1, Ordering::Relaxed);
    let events = futures_util::stream::unfold(0u8, move |step| {
        let s = Arc::clone(&s);
        async move {
            match step {
                0 => Some((
                    Ok::<_, std::io::Error>(Bytes::from("data: {\"token\":1}\n\n")),
                    1,
                )),
                1 => {
                    s.stream_gate.acquire().await.ok()?.forget();
                    Some((Ok(Bytes::from("data: {\"token\":2}\n\n")), 2))
                }
                _ => None,
            }
        }
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(events),
    )
        .into_response()
}

/// A router in front of `config`'s upstreams, on a free port; dropping the handle stops it.
pub struct RouterHandle {
    pub url: String,
    _stop: oneshot::Sender<()>,
}

pub async fn router(config: RouterConfig) -> RouterHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sluice_router::serve(config, listener, async {
        let _ = stopped.await;
    }));
    RouterHandle { url, _stop: stop }
}

/// A router config over `stubs` with the given policy and a quick health check.
pub fn config(stubs: &[&Stub], policy: sluice_router::policy::PolicyKind) -> RouterConfig {
    let mut config = RouterConfig::with_upstreams(stubs.iter().map(|s| s.upstream()).collect());
    config.policy.kind = policy;
    config.policy.seed = Some(7);
    config.health_check_interval = Duration::from_millis(100);
    config
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request and reads the whole answer.
pub async fn send(method: &str, url: &str, body: &str) -> (StatusCode, String) {
    let response = client()
        .request(request(method, url, body))
        .await
        .expect("request failed");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

pub fn request(method: &str, url: &str, body: &str) -> hyper::Request<Full<Bytes>> {
    hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

pub async fn post(url: &str, body: &str) -> (StatusCode, String) {
    send("POST", url, body).await
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The router's /info entry of replica `url`.
pub async fn replica_info(router: &str, url: &str) -> serde_json::Value {
    let (_, info) = send("GET", &format!("{router}/info"), "").await;
    json(&info)["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["url"] == url)
        .cloned()
        .unwrap_or_else(|| panic!("{url} not in {info}"))
}

/// Polls `check` up to 200 times, 25 ms apart; true once it holds.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}
