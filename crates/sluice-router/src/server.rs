//! The router's HTTP face: a route table of what is proxied, and the three routes the router
//! answers itself (`/health`, `/info`, `/metrics`).

use crate::config::RouterConfig;
use crate::discovery::resolve_forever;
use crate::error::Error;
use crate::health::check_forever;
use crate::metrics::Metrics;
use crate::pool::ReplicaPool;
use crate::proxy::{http_client, Proxy};
use crate::replica::ReplicaInfo;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, MethodFilter};
use axum::{Json, Router};
use serde::Serialize;
use sluice_protocol::auth::{ApiKey, UNAUTHORIZED};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Routes forwarded to a replica: TGI's and OpenAI's (DESIGN.md, "Server API").
pub const PROXIED_ROUTES: &[(MethodFilter, &str)] = &[
    (MethodFilter::POST, "/generate"),
    (MethodFilter::POST, "/generate_stream"),
    (MethodFilter::POST, "/"),
    (MethodFilter::POST, "/tokenize"),
    (MethodFilter::POST, "/v1/completions"),
    (MethodFilter::POST, "/v1/chat/completions"),
    (MethodFilter::GET, "/v1/models"),
];

struct AppState {
    pool: Arc<ReplicaPool>,
    api_key: Option<ApiKey>,
    proxy: Proxy,
    policy: &'static str,
}

/// Serves `config` on `listener` until `shutdown` completes, then lets requests in flight
/// finish. Health checks (and DNS discovery) run for as long as it serves.
pub async fn serve(
    config: RouterConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pool = Arc::new(ReplicaPool::new(
        &config.upstreams,
        Arc::new(Metrics::default()),
    ));
    let _health = AbortOnDrop(tokio::spawn(check_forever(
        Arc::clone(&pool),
        http_client(),
        config.health_check_interval,
    )));
    let _discovery = config.upstream_dns.clone().map(|target| {
        AbortOnDrop(tokio::spawn(resolve_forever(
            Arc::clone(&pool),
            target,
            config.upstreams.clone(),
            config.health_check_interval,
        )))
    });
    let state = Arc::new(AppState {
        proxy: Proxy::new(Arc::clone(&pool), config.policy.build(), config.limits),
        policy: config.policy.kind.name(),
        api_key: config.api_key.clone(),
        pool,
    });
    tracing::info!(
        addr = %listener.local_addr()?,
        policy = state.policy,
        replicas = config.upstreams.len(),
        "router listening"
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Ends a background task with the function that started it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn app(state: Arc<AppState>) -> Router {
    let proxied = PROXIED_ROUTES
        .iter()
        .fold(Router::new(), |router, &(method, path)| {
            router.route(path, on(method, proxy))
        });
    proxied
        .route("/info", get(info))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// `--api-key`: 401 without the key, in OpenAI's error shape under `/v1/`, TGI's elsewhere.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if state.api_key.as_ref().is_none_or(|key| key.accepts(given)) {
        return next.run(request).await;
    }
    let body = if request.uri().path().starts_with("/v1/") {
        serde_json::json!({"error": {"message": UNAUTHORIZED, "type": "invalid_request_error",
            "param": null, "code": "invalid_api_key"}})
    } else {
        serde_json::json!({"error": UNAUTHORIZED, "error_type": "authentication"})
    };
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

async fn proxy(State(state): State<Arc<AppState>>, request: Request) -> Response {
    state.proxy.forward(request).await
}

/// Healthy while at least one replica is.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.pool.snapshot().iter().any(|r| r.is_healthy()) {
        StatusCode::OK.into_response()
    } else {
        Error::NoReplica.into_response()
    }
}

#[derive(Serialize)]
struct RouterInfo {
    router: &'static str,
    version: &'static str,
    policy: &'static str,
    replicas: Vec<ReplicaInfo>,
}

async fn info(State(state): State<Arc<AppState>>) -> Json<RouterInfo> {
    Json(RouterInfo {
        router: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        policy: state.policy,
        replicas: state.pool.snapshot().iter().map(|r| r.info()).collect(),
    })
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.pool.metrics().encode(),
    )
        .into_response()
}

async fn not_found(request: Request) -> Error {
    Error::NotFound(format!("{} {}", request.method(), request.uri().path()))
}
