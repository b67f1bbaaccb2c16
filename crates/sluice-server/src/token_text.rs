//! Token texts and logprobs as JSON can carry them.

use sluice_core::Backend;

/// JSON has no `-inf`: an impossible token's logprob is `null`.
pub fn finite(logprob: f32) -> Option<f32> {
    logprob.is_finite().then_some(logprob)
}

/// One token's text on its own (lossy where the token is part of a UTF-8 character).
pub fn text_of(backend: &impl Backend, id: u32) -> String {
    text_from(&backend.token_bytes(id))
}

/// Token bytes already fetched, as text.
pub fn text_from(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
