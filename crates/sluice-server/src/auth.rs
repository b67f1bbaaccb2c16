//! `--api-key`: requests without `Authorization: Bearer KEY` get 401 in their API's error
//! shape (OpenAI's under `/v1/`, TGI's elsewhere).

use crate::error::{ApiError, ErrorKind, OpenAiError};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_protocol::auth::UNAUTHORIZED;

pub async fn require_key<B>(
    State(state): State<AppState<B>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(key) = &state.config.api_key else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if key.accepts(given) {
        return next.run(req).await;
    }
    let refusal = ApiError {
        kind: ErrorKind::Unauthorized,
        message: UNAUTHORIZED.into(),
    };
    if req.uri().path().starts_with("/v1/") {
        OpenAiError(refusal).into_response()
    } else {
        refusal.into_response()
    }
}
