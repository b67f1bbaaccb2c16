//! Operational routes: `/health`, `/metrics`, and the answer for unknown routes.

use crate::error::{ApiError, ErrorKind};
use crate::metrics::RequestLabels;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_core::Backend;

/// 200 once the engine thread answers; 503 if it is gone.
pub async fn health<B: Backend>(State(state): State<AppState<B>>) -> Response {
    match state.backend.stats().await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn metrics<B: Backend>(State(state): State<AppState<B>>) -> Response {
    match state.backend.stats().await {
        Ok(stats) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            state.metrics.render(&stats),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn not_found<B: Backend>(State(state): State<AppState<B>>, req: Request) -> ApiError {
    count(&state, "unmatched", StatusCode::NOT_FOUND);
    ApiError {
        kind: ErrorKind::NotFound,
        message: format!("no route for {} {}", req.method(), req.uri().path()),
    }
}

/// Counts every answered request by route and status.
pub async fn count_requests<B: Backend>(
    State(state): State<AppState<B>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    count(&state, &route, response.status());
    response
}

fn count<B>(state: &AppState<B>, route: &str, status: StatusCode) {
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.to_owned(),
            status: status.as_u16().to_string(),
        })
        .inc();
}
