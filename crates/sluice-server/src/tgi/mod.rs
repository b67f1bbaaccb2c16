//! TGI's native routes.

mod generate;
mod params;
mod stream;
mod tokenize;
mod tokens;

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sluice_core::Backend;
use sluice_protocol::tgi::{CompatGenerateRequest, GenerateRequest, Info};

pub use tokenize::tokenize;

pub async fn generate<B: Backend>(
    State(state): State<AppState<B>>,
    JsonBody(req): JsonBody<GenerateRequest>,
) -> Result<Response, ApiError> {
    let out = generate::run(&state, req.inputs, req.parameters.unwrap_or_default()).await?;
    Ok(Json(out).into_response())
}

pub async fn generate_stream<B: Backend>(
    State(state): State<AppState<B>>,
    JsonBody(req): JsonBody<GenerateRequest>,
) -> Result<Response, ApiError> {
    let sse = stream::run(&state, req.inputs, req.parameters.unwrap_or_default()).await?;
    Ok(sse.into_response())
}

/// `POST /`: streams when `stream` is set; otherwise answers a one-element list, as TGI does.
pub async fn compat<B: Backend>(
    State(state): State<AppState<B>>,
    JsonBody(req): JsonBody<CompatGenerateRequest>,
) -> Result<Response, ApiError> {
    let parameters = req.parameters.unwrap_or_default();
    if req.stream.unwrap_or(false) {
        let sse = stream::run(&state, req.inputs, parameters).await?;
        Ok(sse.into_response())
    } else {
        let out = generate::run(&state, req.inputs, parameters).await?;
        Ok(Json(vec![out]).into_response())
    }
}

pub async fn info<B: Backend>(State(state): State<AppState<B>>) -> Json<Info> {
    let model = state.backend.info();
    let limits = &state.config.limits;
    Json(Info {
        model_id: model.model_id.clone(),
        model_sha: None,
        model_dtype: model.dtype.clone(),
        model_device_type: model.device.clone(),
        model_pipeline_tag: Some("text-generation".into()),
        max_concurrent_requests: limits.max_concurrent_requests,
        max_best_of: limits.max_best_of,
        max_stop_sequences: limits.max_stop_sequences,
        max_input_tokens: limits.max_input_tokens,
        max_total_tokens: limits.max_total_tokens,
        max_batch_prefill_tokens: state.config.max_batch_prefill_tokens,
        max_batch_total_tokens: state.config.max_batch_total_tokens,
        validation_workers: 0,
        max_client_batch_size: 1,
        router: "sluice".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        sha: None,
        docker_label: None,
        architecture: model.architecture.clone(),
        quantize: model.quantization.clone(),
        kv_cache_dtype: model.kv_cache_dtype.clone(),
        kv_cache_capacity_tokens: model.kv_capacity_tokens,
        speculate: model.speculate,
        speculation_method: model.speculation_method.clone(),
        watermark: "not implemented: a request with `watermark: true` gets 422".into(),
    })
}
