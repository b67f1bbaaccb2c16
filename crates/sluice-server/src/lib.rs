//! The HTTP front end: TGI's and OpenAI's routes over any `Backend`, validation, SSE, metrics.
//! May import core, protocol and axum; never the engine or models (the binary hands it one).
//!
//! Validation, admission (429 beyond `max_concurrent_requests`), server-sent events,
//! Prometheus metrics and graceful shutdown over any [`Backend`]; tests hand it a fake.

mod auth;
mod body;
mod config;
mod error;
mod generation;
mod in_flight;
mod metrics;
mod openai;
mod ops;
mod sse;
mod state;
mod structured;
mod tgi;
mod token_text;
pub mod unimplemented;
mod validate;

pub use config::{Limits, ServerConfig};
pub use error::{ApiError, ErrorKind};
pub use sluice_protocol::auth::ApiKey;
pub use state::AppState;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use sluice_core::Backend;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Every route of DESIGN.md's Server API section. With `--api-key`, all but `/health` and
/// `/metrics` (which probes and scrapers call without one) need the key.
pub fn router<B: Backend>(backend: Arc<B>, config: ServerConfig) -> Router {
    let body_limit = config.limits.max_body_bytes;
    let state = AppState::new(backend, config);
    let open = Router::new()
        .route("/health", get(ops::health::<B>))
        .route("/metrics", get(ops::metrics::<B>));
    Router::new()
        .route("/", post(tgi::compat::<B>))
        .route("/generate", post(tgi::generate::<B>))
        .route("/generate_stream", post(tgi::generate_stream::<B>))
        .route("/tokenize", post(tgi::tokenize::<B>))
        .route("/info", get(tgi::info::<B>))
        .route("/v1/completions", post(openai::completions::<B>))
        .route("/v1/chat/completions", post(openai::chat_completions::<B>))
        .route("/v1/models", get(openai::models::<B>))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key::<B>,
        ))
        .merge(open)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_requests::<B>,
        ))
        .fallback(ops::not_found::<B>)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves until `shutdown` resolves; then stops accepting connections and lets requests in
/// flight finish, for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        let _ = stopping_tx.send(());
    });
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("requests still in flight after {grace:?}; exiting anyway");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
