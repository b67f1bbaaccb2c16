//! `POST /generate` and the non-streaming half of `POST /`.

use super::params::{knobs, ResponseOptions};
use super::tokens;
use crate::error::ApiError;
use crate::generation::{collect_all, submit_all, Generation};
use crate::validate::{validate, Validated};
use crate::AppState;
use sluice_core::Backend;
use sluice_protocol::tgi::{
    BestOfSequence, Details, GenerateParameters, GenerateResponse, SequenceDetails,
};

pub async fn run<B: Backend>(
    state: &AppState<B>,
    inputs: String,
    parameters: GenerateParameters,
) -> Result<GenerateResponse, ApiError> {
    let mut flight = state.admit()?;
    let limits = &state.config.limits;
    let (knobs, options) = knobs(&parameters, &state.config, false)?;
    let backend = state.backend.as_ref();
    let req = validate(backend, limits, &inputs, knobs)?;
    let streams = submit_all(backend, &req)?;
    flight.submitted(req.input_length());
    let result = collect_all(streams, &req, &mut flight).await;
    flight.finish();
    let mut copies = result?;
    // Copy 0 alone scored the prompt (see `Validated::request`); every copy reports it.
    let prompt_logprobs = copies.iter_mut().find_map(|g| g.prompt_logprobs.take());
    // best_of: the most likely copy answers; the others go to `best_of_sequences`.
    copies.sort_by(|a, b| b.total_logprob().total_cmp(&a.total_logprob()));
    let best = copies.remove(0);
    let prefix = if options.return_full_text {
        inputs.as_str()
    } else {
        ""
    };
    let details = options.details.then(|| Details {
        sequence: details(backend, &req, &best, prompt_logprobs.as_deref(), &options),
        best_of_sequences: (!copies.is_empty()).then(|| {
            copies
                .iter()
                .map(|g| BestOfSequence {
                    generated_text: format!("{prefix}{}", g.text),
                    sequence: details(backend, &req, g, prompt_logprobs.as_deref(), &options),
                })
                .collect()
        }),
    });
    Ok(GenerateResponse {
        generated_text: format!("{prefix}{}", best.text),
        details,
    })
}

fn details(
    backend: &impl Backend,
    req: &Validated,
    g: &Generation,
    prompt_logprobs: Option<&[f32]>,
    options: &ResponseOptions,
) -> SequenceDetails {
    let prefill = if options.decoder_input_details {
        tokens::prefill(backend, &req.prompt_ids, prompt_logprobs)
    } else {
        Vec::new()
    };
    let top_tokens = if req.logprobs.top_n > 0 {
        g.tokens
            .iter()
            .map(|t| tokens::alternatives(backend, t))
            .collect()
    } else {
        Vec::new()
    };
    SequenceDetails {
        finish_reason: g.finish.to_string(),
        generated_tokens: g.tokens.len() as u32,
        seed: g.seed,
        prefill,
        tokens: g.tokens.iter().map(tokens::generated).collect(),
        top_tokens,
    }
}
