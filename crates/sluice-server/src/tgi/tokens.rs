//! Engine events and prompt ids in TGI's token shapes.

use crate::token_text::{finite, text_of};
use sluice_core::{Backend, TokenEvent};
use sluice_protocol::tgi::{PrefillToken, Token};

/// A generated token; its text is what it added to the output.
pub fn generated(event: &TokenEvent) -> Token {
    Token {
        id: event.token_id,
        text: event.text.clone(),
        logprob: finite(event.logprob),
        special: event.special,
    }
}

/// The alternatives reported with a generated token (`top_n_tokens`).
pub fn alternatives(backend: &impl Backend, event: &TokenEvent) -> Vec<Token> {
    event
        .top_logprobs
        .iter()
        .map(|&(id, logprob)| Token {
            id,
            text: text_of(backend, id),
            logprob: finite(logprob),
            special: backend.is_special(id),
        })
        .collect()
}

/// The prompt as `details.prefill`: with logprobs when they were computed; nothing predicts the
/// first token, so its logprob is `null`.
pub fn prefill(backend: &impl Backend, ids: &[u32], logprobs: Option<&[f32]>) -> Vec<PrefillToken> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| PrefillToken {
            id,
            text: text_of(backend, id),
            logprob: i
                .checked_sub(1)
                .and_then(|j| logprobs.and_then(|l| l.get(j)))
                .and_then(|&l| finite(l)),
        })
        .collect()
}
