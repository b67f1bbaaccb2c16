//! `POST /v1/completions`.

use super::choices::{self, Submitted};
use super::{admit, include_usage, logprobs, stream_chunks, Meta};
use crate::body::JsonBody;
use crate::error::{ApiError, OpenAiError};
use crate::validate::{validate, MaxNewTokens, Validated};
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sluice_core::Backend;
use sluice_protocol::openai::{CompletionChoice, CompletionLogprobs, CompletionRequest};
use std::sync::Arc;

/// The `object` of a completion and of each chunk of its stream.
const OBJECT: &str = "text_completion";

/// OpenAI's default `max_tokens` for completions.
const DEFAULT_MAX_TOKENS: u32 = 16;

pub async fn completions<B: Backend>(
    State(state): State<AppState<B>>,
    body: Result<JsonBody<CompletionRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    let JsonBody(req) = body?;
    let default = MaxNewTokens::Default(DEFAULT_MAX_TOKENS);
    let top_n = req.logprobs.unwrap_or(0);
    let (flight, knobs) = admit(&state, &req.common, req.common.max_tokens, default, top_n)?;
    let limits = &state.config.limits;
    let backend = state.backend.clone();
    let prompts = req.prompt.into_vec();
    if prompts.is_empty() {
        return Err(ApiError::validation("`prompt` cannot be empty").into());
    }
    let validated = prompts
        .iter()
        .map(|p| validate(backend.as_ref(), limits, p, knobs.clone()))
        .collect::<Result<Vec<Validated>, ApiError>>()?;
    let run = choices::submit(backend.as_ref(), &validated, flight)?;
    let n = knobs.copies;
    // With `echo` each choice starts with its prompt.
    let echoes: Vec<String> = (0..run.len())
        .map(|i| match req.echo {
            Some(true) => prompts[i / n].clone(),
            _ => String::new(),
        })
        .collect();
    let shape = Meta::new("cmpl", &backend.info().model_id, req.logprobs.is_some());
    if req.common.stream.unwrap_or(false) {
        let include_usage = include_usage(&req.common);
        return Ok(stream(backend, shape, run, echoes, include_usage));
    }
    let (outputs, usage) = run.collect().await?;
    let choices = outputs
        .iter()
        .zip(echoes)
        .enumerate()
        .map(|(index, (g, echo))| {
            let logprobs = shape.with_logprobs.then(|| {
                let mut lp = CompletionLogprobs::default();
                let mut offset = echo.len();
                for t in &g.tokens {
                    logprobs::push_completion(backend.as_ref(), &mut lp, t, offset);
                    offset += t.text.len();
                }
                lp
            });
            CompletionChoice {
                index: index as u32,
                text: echo + &g.text,
                logprobs,
                finish_reason: Some(g.finish.openai().into()),
            }
        })
        .collect();
    Ok(Json(shape.choices(OBJECT, choices, Some(usage))).into_response())
}

fn stream<B: Backend>(
    backend: Arc<B>,
    shape: Meta,
    run: Submitted,
    mut echoes: Vec<String>,
    include_usage: bool,
) -> Response {
    // Text emitted so far per choice: the offsets of logprobs.
    let mut emitted = vec![0usize; run.len()];
    let with_logprobs = shape.with_logprobs;
    stream_chunks(run, shape, OBJECT, include_usage, move |index, event| {
        let i = index as usize;
        let text = std::mem::take(&mut echoes[i]) + &event.text;
        let logprobs = with_logprobs.then(|| {
            let mut lp = CompletionLogprobs::default();
            let offset = emitted[i] + text.len() - event.text.len();
            logprobs::push_completion(backend.as_ref(), &mut lp, event, offset);
            lp
        });
        emitted[i] += text.len();
        CompletionChoice {
            index,
            text,
            logprobs,
            finish_reason: event.finish.map(|f| f.openai().into()),
        }
    })
}
