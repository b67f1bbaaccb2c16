//! `POST /v1/chat/completions`: the conversation rendered with the model's own chat template;
//! with `tools`, answers that are calls come back as OpenAI's `tool_calls` (see `tools.rs`).

use super::choices::{self, Submitted};
use super::tools::{self, ToolPlan};
use super::{admit, include_usage, logprobs, stream_chunks, Meta};
use crate::body::JsonBody;
use crate::error::{ApiError, OpenAiError};
use crate::generation::Generation;
use crate::sse::json_event;
use crate::validate::{validate, MaxNewTokens};
use crate::AppState;
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sluice_core::{Backend, ChatTurn};
use sluice_protocol::openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatLogprobs, ChatMessage, ChatRequest, Delta,
    MessageContent, Usage,
};
use sluice_protocol::tools::ToolCallDelta;
use std::sync::Arc;

const CHUNK: &str = "chat.completion.chunk";

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
    let tool_plan = tools::plan(&req)?;
    let max_tokens = req.max_completion_tokens.or(req.common.max_tokens);
    let (flight, mut knobs) = admit(&state, &req.common, max_tokens, MaxNewTokens::Rest, top_n)?;
    if let Some(forced) = tool_plan.as_ref().and_then(ToolPlan::constraint) {
        if knobs.constraint.is_some() {
            return Err(ApiError::validation(
                "`tool_choice` `required` or a named function cannot be combined with another structured-output field",
            )
            .into());
        }
        knobs.constraint = Some(forced);
    }
    let backend = state.backend.clone();
    let prompt = render(backend.as_ref(), &req.messages, tool_plan.as_ref())?;
    let limits = &state.config.limits;
    let validated = vec![validate(backend.as_ref(), limits, &prompt, knobs)?];
    let run = choices::submit(backend.as_ref(), &validated, flight)?;
    let shape = Meta::new("chatcmpl", &backend.info().model_id, with_logprobs);
    let streaming = req.common.stream.unwrap_or(false);
    let include_usage = include_usage(&req.common);
    if streaming && tool_plan.is_none() {
        return Ok(stream(backend, shape, run, include_usage));
    }
    let (outputs, usage) = run.collect().await?;
    let choices: Vec<ChatChoice> = outputs
        .iter()
        .enumerate()
        .map(|(index, g)| answer(backend.as_ref(), &shape, tool_plan.as_ref(), index, g))
        .collect();
    if streaming {
        // Whether an answer is calls is known only at its end, so a request with tools
        // streams each choice whole.
        return Ok(replay(&shape, choices, include_usage.then_some(usage)));
    }
    Ok(Json(shape.choices("chat.completion", choices, Some(usage))).into_response())
}

/// One choice of the answer: its calls when it made some, else its text.
fn answer(
    backend: &impl Backend,
    shape: &Meta,
    tool_plan: Option<&ToolPlan>,
    index: usize,
    g: &Generation,
) -> ChatChoice {
    let calls = tool_plan.and_then(|plan| plan.calls(&g.text, tools::call_id));
    let finish = match calls {
        Some(_) => "tool_calls",
        None => g.finish.openai(),
    };
    ChatChoice {
        index: index as u32,
        message: AssistantMessage {
            role: "assistant".into(),
            content: calls.is_none().then(|| g.text.clone()),
            tool_calls: calls.unwrap_or_default(),
        },
        logprobs: shape.with_logprobs.then(|| ChatLogprobs {
            content: g
                .tokens
                .iter()
                .map(|t| logprobs::chat_token(backend, t))
                .collect(),
        }),
        finish_reason: Some(finish.into()),
    }
}

/// The conversation as prompt text; of content parts only the text ones count. Earlier
/// calls are written as the model writes them; tools go to a template that takes them, or
/// into the system turn.
fn render(
    backend: &impl Backend,
    messages: &[ChatMessage],
    tool_plan: Option<&ToolPlan>,
) -> Result<String, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::validation("`messages` cannot be empty"));
    }
    let mut turns: Vec<ChatTurn> = messages
        .iter()
        .map(|m| ChatTurn {
            role: m.role.clone(),
            content: match (&m.content, &m.tool_calls) {
                (_, Some(calls)) if !calls.is_empty() => tools::history_text(calls),
                (None, _) => String::new(),
                (Some(MessageContent::Text(t)), _) => t.clone(),
                (Some(MessageContent::Parts(parts)), _) => parts
                    .iter()
                    .filter(|p| p.kind == "text")
                    .filter_map(|p| p.text.as_deref())
                    .collect(),
            },
        })
        .collect();
    let tools = match tool_plan {
        Some(plan) if backend.chat_template_takes_tools() => Some(plan.tools_json()),
        Some(plan) => {
            plan.instruct(&mut turns);
            None
        }
        None => None,
    };
    backend
        .chat_prompt(&turns, tools.as_ref())
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
    stream_chunks(run, shape, CHUNK, include_usage, move |index, event| {
        let first = !std::mem::replace(&mut started[index as usize], true);
        ChatChunkChoice {
            index,
            delta: Delta {
                role: first.then(|| "assistant".into()),
                content: Some(event.text.clone()),
                tool_calls: None,
            },
            logprobs: with_logprobs.then(|| ChatLogprobs {
                content: vec![logprobs::chat_token(backend.as_ref(), event)],
            }),
            finish_reason: event.finish.map(|f| f.openai().into()),
        }
    })
}

/// Whole answers as a stream: one chunk per choice (its text or its calls, and its finish
/// reason), the usage chunk when asked for, then `[DONE]`.
fn replay(shape: &Meta, choices: Vec<ChatChoice>, usage: Option<Usage>) -> Response {
    let mut events: Vec<Event> = choices
        .into_iter()
        .map(|c| {
            let calls = c.message.tool_calls;
            let chunk = ChatChunkChoice {
                index: c.index,
                delta: Delta {
                    role: Some("assistant".into()),
                    content: c.message.content,
                    tool_calls: (!calls.is_empty()).then(|| {
                        calls
                            .into_iter()
                            .enumerate()
                            .map(|(i, call)| ToolCallDelta {
                                index: i as u32,
                                id: call.id,
                                kind: call.kind,
                                function: call.function,
                            })
                            .collect()
                    }),
                },
                logprobs: c.logprobs,
                finish_reason: c.finish_reason,
            };
            json_event(&shape.choices(CHUNK, vec![chunk], None))
        })
        .collect();
    if let Some(usage) = usage {
        events.push(json_event(&shape.choices::<ChatChunkChoice>(
            CHUNK,
            Vec::new(),
            Some(usage),
        )));
    }
    events.push(Event::default().data("[DONE]"));
    crate::sse::response(futures_util::stream::iter(events))
}
