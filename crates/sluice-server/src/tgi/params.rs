//! TGI's `parameters` object, mapped to [`Knobs`] with TGI's defaults and checks.

use crate::error::ApiError;
use crate::structured;
use crate::unimplemented;
use crate::validate::{Knobs, MaxNewTokens};
use crate::ServerConfig;
use sluice_protocol::tgi::GenerateParameters;

/// TGI's default `max_new_tokens` when a request gives none.
const DEFAULT_MAX_NEW_TOKENS: u32 = 100;

/// What the response should contain, besides the generated text.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseOptions {
    pub details: bool,
    pub decoder_input_details: bool,
    pub return_full_text: bool,
}

/// The request's knobs. A request that samples takes the model's sampling defaults
/// (`generation_config.json`) for what it leaves unset; a greedy one stays greedy, as TGI's
/// rule is (TGI itself reads no sampling defaults from the model).
pub fn knobs(
    p: &GenerateParameters,
    config: &ServerConfig,
    streaming: bool,
) -> Result<(Knobs, ResponseOptions), ApiError> {
    let limits = &config.limits;
    unimplemented::refuse(&p.other, unimplemented::TGI)?;
    if p.temperature.is_some_and(|t| t <= 0.0) {
        return Err(ApiError::validation(
            "`temperature` must be strictly positive",
        ));
    }
    // As in TGI, any active warper means sampling even without `do_sample`.
    let sampling = p.do_sample.unwrap_or(false)
        || p.temperature.is_some_and(|t| t != 1.0)
        || p.top_k.is_some()
        || p.top_p.is_some_and(|v| v < 1.0)
        || p.typical_p.is_some_and(|v| v < 1.0);
    let best_of = p.best_of.unwrap_or(1);
    if best_of == 0 || best_of > limits.max_best_of {
        return Err(ApiError::validation(format!(
            "`best_of` must be > 0 and <= {}. Given: {best_of}",
            limits.max_best_of
        )));
    }
    if best_of > 1 {
        if !sampling {
            return Err(ApiError::validation(
                "you must use sampling when `best_of` is > 1",
            ));
        }
        if p.seed.is_some() {
            return Err(ApiError::validation(
                "`seed` must not be set when `best_of` > 1",
            ));
        }
        if streaming {
            return Err(ApiError::validation(
                "`best_of` != 1 is not allowed for this endpoint",
            ));
        }
    }
    let model = if sampling {
        config.sampling_defaults
    } else {
        Default::default()
    };
    let knobs = Knobs {
        sampling,
        temperature: p.temperature.or(model.temperature).unwrap_or(1.0),
        top_k: p.top_k.or(model.top_k.map(|k| k as i64)),
        top_p: p.top_p.or(model.top_p),
        typical_p: p.typical_p,
        repetition_penalty: p.repetition_penalty.or(model.repetition_penalty),
        frequency_penalty: p.frequency_penalty,
        presence_penalty: None,
        seed: p.seed,
        max_new_tokens: match p.max_new_tokens {
            Some(n) => MaxNewTokens::Given(n),
            None => MaxNewTokens::Default(DEFAULT_MAX_NEW_TOKENS),
        },
        stop: p.stop.clone().unwrap_or_default(),
        truncate: p.truncate,
        top_n: p.top_n_tokens.unwrap_or(0),
        // Prompt logprobs cost a full LM head over the prompt and skip the prefix cache: ask
        // for them only where the response has room for them (`details.prefill`).
        prompt_logprobs: !streaming
            && p.details.unwrap_or(false)
            && p.decoder_input_details.unwrap_or(false),
        ignore_eos: false,
        copies: best_of,
        constraint: structured::from_tgi(p.grammar.as_ref())?,
        logit_bias: Vec::new(),
    };
    let options = ResponseOptions {
        details: p.details.unwrap_or(false),
        decoder_input_details: p.decoder_input_details.unwrap_or(false),
        return_full_text: p.return_full_text.unwrap_or(false),
    };
    Ok((knobs, options))
}
