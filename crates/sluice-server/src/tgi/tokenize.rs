//! `POST /tokenize`: the prompt's tokens with their byte offsets in `inputs`.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::token_text::text_from;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use sluice_core::Backend;
use sluice_protocol::tgi::{GenerateRequest, SimpleToken};

pub async fn tokenize<B: Backend>(
    State(state): State<AppState<B>>,
    JsonBody(req): JsonBody<GenerateRequest>,
) -> Result<Json<Vec<SimpleToken>>, ApiError> {
    let backend = state.backend.as_ref();
    let ids = backend
        .tokenize(&req.inputs)
        .map_err(|e| ApiError::validation(format!("could not tokenize `inputs`: {e}")))?;
    Ok(Json(with_offsets(backend, &req.inputs, &ids)))
}

/// Walks the input alongside the tokens' bytes. A token the tokenizer added that is not in the
/// text (a BOS) gets an empty span where it stands.
fn with_offsets(backend: &impl Backend, input: &str, ids: &[u32]) -> Vec<SimpleToken> {
    let bytes = input.as_bytes();
    let mut offset = 0;
    ids.iter()
        .map(|&id| {
            let piece = backend.token_bytes(id);
            let start = offset;
            if bytes[offset..].starts_with(&piece) {
                offset += piece.len();
            }
            SimpleToken {
                id,
                text: text_from(&piece),
                start,
                stop: offset,
            }
        })
        .collect()
}
