//! The OpenAI-compatible routes. Errors use OpenAI's shape ([`OpenAiError`]) with TGI's
//! statuses (422 for validation).

mod chat;
mod choices;
mod completions;
mod logprobs;
mod params;

use crate::AppState;
use axum::extract::State;
use axum::Json;
use sluice_core::Backend;
use sluice_protocol::openai::{CommonParameters, ModelCard, ModelList};
use std::time::{SystemTime, UNIX_EPOCH};

pub use chat::chat_completions;
pub use completions::completions;

pub async fn models<B: Backend>(State(state): State<AppState<B>>) -> Json<ModelList> {
    Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: state.backend.info().model_id.clone(),
            object: "model".into(),
            created: created(),
            owned_by: "sluice".into(),
        }],
    })
}

/// Seconds since the Unix epoch, as OpenAI's `created`.
fn created() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What every response object (or chunk) of one request shares.
#[derive(Clone)]
struct Meta {
    id: String,
    created: u64,
    model: String,
    with_logprobs: bool,
}

impl Meta {
    fn new(id_prefix: &str, model: &str, with_logprobs: bool) -> Self {
        Meta {
            id: format!("{id_prefix}-{:016x}", rand::random::<u64>()),
            created: created(),
            model: model.to_string(),
            with_logprobs,
        }
    }
}

/// Whether a stream ends with a usage chunk (`stream_options.include_usage`).
fn include_usage(p: &CommonParameters) -> bool {
    p.stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}
