//! The OpenAI-compatible routes. Errors use OpenAI's shape ([`OpenAiError`]) with TGI's
//! statuses (422 for validation).

mod chat;
mod choices;
mod completions;
mod logprobs;
mod params;
mod tools;

use crate::error::ApiError;
use crate::in_flight::InFlight;
use crate::sse::json_event;
use crate::validate::{Knobs, MaxNewTokens};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use choices::Submitted;
use serde::Serialize;
use sluice_core::{Backend, TokenEvent};
use sluice_protocol::openai::{Choices, CommonParameters, ModelCard, ModelList, Usage};
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

/// What both routes do first: admit the request (429 when the server is full) and map its
/// parameters to knobs, `max_tokens` (`default` when absent) and `top_n` being the route's.
fn admit<B: Backend>(
    state: &AppState<B>,
    common: &CommonParameters,
    max_tokens: Option<u32>,
    default: MaxNewTokens,
    top_n: u32,
) -> Result<(InFlight, Knobs), ApiError> {
    let flight = state.admit()?;
    let wanted = params::max_new_tokens(max_tokens, default);
    let knobs = params::knobs(common, &state.config, wanted, top_n)?;
    Ok((flight, knobs))
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

    /// An answer, or a chunk of a stream, of this request; `object` names which.
    fn choices<C>(&self, object: &str, choices: Vec<C>, usage: Option<Usage>) -> Choices<C> {
        Choices {
            id: self.id.clone(),
            object: object.into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        }
    }
}

/// A request's stream: one `object` chunk per token, holding the choice that `choice(index,
/// event)` builds, then the usage chunk if the request asked for it
/// (`stream_options.include_usage`), then `data: [DONE]`.
fn stream_chunks<C: Serialize + 'static>(
    run: Submitted,
    meta: Meta,
    object: &'static str,
    include_usage: bool,
    mut choice: impl FnMut(u32, &TokenEvent) -> C + Send + 'static,
) -> Response {
    let usage_meta = meta.clone();
    let usage_chunk = include_usage.then_some(move |usage| {
        json_event(&usage_meta.choices::<C>(object, Vec::new(), Some(usage)))
    });
    choices::stream(run, usage_chunk, move |index, event| {
        json_event(&meta.choices(object, vec![choice(index, event)], None))
    })
}

/// Whether a stream ends with a usage chunk (`stream_options.include_usage`).
fn include_usage(p: &CommonParameters) -> bool {
    p.stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}
