//! Running a validated request through the backend: submitting its copies, and reading their
//! events either to the end (non-streaming routes) or one by one (streams).

use crate::error::ApiError;
use crate::in_flight::InFlight;
use crate::validate::Validated;
use futures_util::Stream;
use sluice_core::{Backend, EventStream, FinishReason, GenerationError, TokenEvent};

/// One copy's complete output.
#[derive(Clone, Debug)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<TokenEvent>,
    pub finish: FinishReason,
    pub prompt_logprobs: Option<Vec<f32>>,
    pub seed: Option<u64>,
}

impl Generation {
    /// Sum of the generated tokens' logprobs: how `best_of` ranks copies, as TGI does.
    pub fn total_logprob(&self) -> f32 {
        self.tokens.iter().map(|t| t.logprob).sum()
    }
}

/// Hands every copy to the engine; their events arrive on the returned streams.
pub fn submit_all(backend: &impl Backend, req: &Validated) -> Result<Vec<EventStream>, ApiError> {
    (0..req.copies())
        .map(|copy| {
            backend
                .submit(req.request(backend.next_request_id(), copy))
                .map_err(ApiError::from)
        })
        .collect()
}

/// Reads one copy to its end.
pub async fn collect(
    mut rx: EventStream,
    seed: Option<u64>,
    flight: &mut InFlight,
) -> Result<Generation, ApiError> {
    let mut out = Generation {
        text: String::new(),
        tokens: Vec::new(),
        finish: FinishReason::Length,
        prompt_logprobs: None,
        seed,
    };
    while let Some(event) = rx.recv().await {
        let mut event = event?;
        flight.on_token();
        out.text.push_str(&event.text);
        if let Some(scored) = event.prompt_logprobs.take() {
            out.prompt_logprobs = Some(scored);
        }
        let finish = event.finish;
        out.tokens.push(event);
        if let Some(reason) = finish {
            out.finish = reason;
            return Ok(out);
        }
    }
    Err(GenerationError::EngineStopped.into())
}

/// Reads every copy to its end.
pub async fn collect_all(
    streams: Vec<EventStream>,
    req: &Validated,
    flight: &mut InFlight,
) -> Result<Vec<Generation>, ApiError> {
    let mut out = Vec::with_capacity(streams.len());
    for (rx, seed) in streams.into_iter().zip(&req.seeds) {
        out.push(collect(rx, *seed, flight).await?);
    }
    Ok(out)
}

/// A copy's events as a stream that ends after the last token or the first error.
pub fn events(rx: EventStream) -> impl Stream<Item = Result<TokenEvent, GenerationError>> {
    futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Ok(event)) => {
                let last = event.finish.is_some();
                Some((Ok(event), (!last).then_some(rx)))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => Some((Err(GenerationError::EngineStopped), None)),
        }
    })
}
