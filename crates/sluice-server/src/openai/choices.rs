//! The choices of one OpenAI request (`n` copies of each prompt), run together: collected to
//! the end, or streamed as chunks as their tokens arrive, in whatever order they come.

use crate::error::ApiError;
use crate::generation::{collect, events, submit_all, Generation};
use crate::in_flight::InFlight;
use crate::sse::json_event;
use crate::validate::Validated;
use axum::response::sse::Event;
use futures_util::stream::{select_all, BoxStream};
use futures_util::StreamExt;
use sluice_core::{Backend, EventStream, GenerationError, TokenEvent};
use sluice_protocol::openai::Usage;

/// A choice being generated: its index in the response and its events.
struct Choice {
    index: u32,
    seed: Option<u64>,
    rx: EventStream,
}

/// A request's choices, handed to the engine, and what its response needs besides them.
pub struct Submitted {
    choices: Vec<Choice>,
    flight: InFlight,
    prompt_tokens: u32,
}

/// Submits `n` copies of every prompt; choice `p * n + i` is copy `i` of prompt `p`.
pub fn submit(
    backend: &impl Backend,
    prompts: &[Validated],
    mut flight: InFlight,
) -> Result<Submitted, ApiError> {
    let mut choices = Vec::new();
    for req in prompts {
        let streams = submit_all(backend, req)?;
        for (rx, seed) in streams.into_iter().zip(&req.seeds) {
            choices.push(Choice {
                index: choices.len() as u32,
                seed: *seed,
                rx,
            });
        }
    }
    flight.submitted(prompts.iter().map(Validated::input_length).sum());
    let prompt_tokens = prompts
        .iter()
        .map(|p| p.input_length() as u32 * p.copies() as u32)
        .sum();
    Ok(Submitted {
        choices,
        flight,
        prompt_tokens,
    })
}

impl Submitted {
    pub fn len(&self) -> usize {
        self.choices.len()
    }

    /// Reads every choice to its end, in index order; returns them with the usage counts.
    pub async fn collect(mut self) -> Result<(Vec<Generation>, Usage), ApiError> {
        let mut out = Vec::with_capacity(self.choices.len());
        for c in self.choices {
            out.push(collect(c.rx, c.seed, &mut self.flight).await?);
        }
        self.flight.finish();
        let completion_tokens = out.iter().map(|g| g.tokens.len() as u32).sum();
        Ok((out, usage(self.prompt_tokens, completion_tokens)))
    }
}

pub fn usage(prompt_tokens: u32, completion_tokens: u32) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
    }
}

type Tagged = (u32, Result<TokenEvent, GenerationError>);

enum Phase {
    Tokens,
    Usage,
    Done,
    End,
}

struct ChunkStream<R, U> {
    merged: BoxStream<'static, Tagged>,
    flight: InFlight,
    render: R,
    usage_chunk: Option<U>,
    prompt_tokens: u32,
    completion_tokens: u32,
    phase: Phase,
}

/// Streams one chunk per token (`render(choice index, event)`), then, if `usage_chunk` is
/// given, a last chunk with the usage counts, then `data: [DONE]`. A failure sends OpenAI's
/// error object and ends the stream the same way.
pub fn stream<R, U>(run: Submitted, usage_chunk: Option<U>, render: R) -> axum::response::Response
where
    R: FnMut(u32, &TokenEvent) -> Event + Send + 'static,
    U: FnOnce(Usage) -> Event + Send + 'static,
{
    let Submitted {
        choices,
        flight,
        prompt_tokens,
    } = run;
    let merged = select_all(choices.into_iter().map(|c| {
        let index = c.index;
        events(c.rx).map(move |e| (index, e)).boxed()
    }))
    .boxed();
    let state = ChunkStream {
        merged,
        flight,
        render,
        usage_chunk,
        prompt_tokens,
        completion_tokens: 0,
        phase: Phase::Tokens,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let event = next_event(&mut s).await?;
        Some((event, s))
    });
    crate::sse::response(events)
}

async fn next_event<R, U>(s: &mut ChunkStream<R, U>) -> Option<Event>
where
    R: FnMut(u32, &TokenEvent) -> Event,
    U: FnOnce(Usage) -> Event,
{
    loop {
        match s.phase {
            Phase::Tokens => match s.merged.next().await {
                Some((index, Ok(event))) => {
                    s.flight.on_token();
                    s.completion_tokens += 1;
                    return Some((s.render)(index, &event));
                }
                Some((_, Err(e))) => {
                    s.flight.finish();
                    s.phase = Phase::Done;
                    return Some(json_event(&ApiError::from(e).openai_body()));
                }
                None => {
                    s.flight.finish();
                    s.phase = Phase::Usage;
                }
            },
            Phase::Usage => {
                s.phase = Phase::Done;
                if let Some(chunk) = s.usage_chunk.take() {
                    let counts = usage(s.prompt_tokens, s.completion_tokens);
                    return Some(chunk(counts));
                }
            }
            Phase::Done => {
                s.phase = Phase::End;
                return Some(Event::default().data("[DONE]"));
            }
            Phase::End => return None,
        }
    }
}
