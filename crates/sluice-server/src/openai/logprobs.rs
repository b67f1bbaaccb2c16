//! Token logprobs in OpenAI's two layouts: the legacy parallel lists of completions and the
//! per-token objects of chat completions.

use crate::token_text::{finite, text_from, text_of};
use sluice_core::{Backend, TokenEvent};
use sluice_protocol::openai::{ChatTokenLogprob, CompletionLogprobs, TopLogprob};

/// Adds one token to the completions layout; `offset` is where its text starts in the choice.
pub fn push_completion(
    backend: &impl Backend,
    out: &mut CompletionLogprobs,
    event: &TokenEvent,
    offset: usize,
) {
    out.tokens.push(text_of(backend, event.token_id));
    out.token_logprobs.push(finite(event.logprob));
    out.top_logprobs.push(
        event
            .top_logprobs
            .iter()
            .map(|&(id, lp)| (text_of(backend, id), finite(lp).into()))
            .collect(),
    );
    out.text_offset.push(offset);
}

pub fn chat_token(backend: &impl Backend, event: &TokenEvent) -> ChatTokenLogprob {
    let top = |id: u32, logprob: f32| {
        let bytes = backend.token_bytes(id);
        TopLogprob {
            token: text_from(&bytes),
            logprob: finite(logprob),
            bytes,
        }
    };
    let chosen = top(event.token_id, event.logprob);
    ChatTokenLogprob {
        token: chosen.token,
        logprob: chosen.logprob,
        bytes: chosen.bytes,
        top_logprobs: event
            .top_logprobs
            .iter()
            .map(|&(id, lp)| top(id, lp))
            .collect(),
    }
}
