//! `POST /v1/chat/completions`: the conversation rendered with the model's own chat template.

use super::choices::{self, Submitted};
use super::{admit, include_usage, logprobs, stream_chunks, Meta};
use crate::body::JsonBody;
use crate::error::{ApiError, OpenAiError};
use crate::validate::{validate, MaxNewTokens};
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sluice_core::{Backend, ChatTurn};
use sluice_protocol::openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatLogprobs, ChatMessage, ChatRequest, Delta,
    MessageContent,
};
use std::sync::Arc;

pub async fn chat_completions<B: Backend>(
    State(state): State<AppState<B>>,
    body: Result<JsonBody<ChatRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    let JsonBody(req) = body?;
    let with_logprobs = req.logprobs.unwrap_or(false);
    let top_n = match with_logprobs {
        true => req.top_logprobs.unwrap_or(0),
        false => 0,
    };
    let max_tokens = req.max_completion_tokens.or(req.common.max_tokens);
    let (flight, knobs) = admit(&state, &req.common, max_tokens, MaxNewTokens::Rest, top_n)?;
    let backend = state.backend.clone();
    let prompt = render(backend.as_ref(), &req.messages)?;
    let limits = &state.config.limits;
    let validated = vec![validate(backend.as_ref(), limits, &prompt, knobs)?];
    let run = choices::submit(backend.as_ref(), &validated, flight)?;
    let shape = Meta::new("chatcmpl", &backend.info().model_id, with_logprobs);
    if req.common.stream.unwrap_or(false) {
        let include_usage = include_usage(&req.common);
        return Ok(stream(backend, shape, run, include_usage));
    }
    let (outputs, usage) = run.collect().await?;
    let choices = outputs
        .iter()
        .enumerate()
        .map(|(index, g)| ChatChoice {
            index: index as u32,
            message: AssistantMessage {
                role: "assistant".into(),
                content: g.text.clone(),
            },
            logprobs: shape.with_logprobs.then(|| ChatLogprobs {
                content: g
                    .tokens
                    .iter()
                    .map(|t| logprobs::chat_token(backend.as_ref(), t))
                    .collect(),
            }),
            finish_reason: Some(g.finish.openai().into()),
        })
        .collect();
    Ok(Json(shape.choices("chat.completion", choices, Some(usage))).into_response())
}

/// The conversation as prompt text; of content parts only the text ones count.
fn render(backend: &impl Backend, messages: &[ChatMessage]) -> Result<String, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::validation("`messages` cannot be empty"));
    }
    let turns: Vec<ChatTurn> = messages
        .iter()
        .map(|m| ChatTurn {
            role: m.role.clone(),
            content: match &m.content {
                None => String::new(),
                Some(MessageContent::Text(t)) => t.clone(),
                Some(MessageContent::Parts(parts)) => parts
                    .iter()
                    .filter(|p| p.kind == "text")
                    .filter_map(|p| p.text.as_deref())
                    .collect(),
            },
        })
        .collect();
    backend
        .chat_prompt(&turns)
        .map_err(|e| ApiError::validation(format!("cannot apply the chat template: {e}")))
}

fn stream<B: Backend>(
    backend: Arc<B>,
    shape: Meta,
    run: Submitted,
    include_usage: bool,
) -> Response {
    // The first chunk of each choice names the role, as OpenAI's do.
    let mut started = vec![false; run.len()];
    let with_logprobs = shape.with_logprobs;
    let object = "chat.completion.chunk";
    stream_chunks(run, shape, object, include_usage, move |index, event| {
        let first = !std::mem::replace(&mut started[index as usize], true);
        ChatChunkChoice {
            index,
            delta: Delta {
                role: first.then(|| "assistant".into()),
                content: Some(event.text.clone()),
            },
            logprobs: with_logprobs.then(|| ChatLogprobs {
                content: vec![logprobs::chat_token(backend.as_ref(), event)],
            }),
            finish_reason: event.finish.map(|f| f.openai().into()),
        }
    })
}
