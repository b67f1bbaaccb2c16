//! OpenAI's request fields mapped to [`Knobs`] with OpenAI's defaults: temperature 1 (so
//! sampling unless `temperature` is 0), 16 tokens for completions, the rest of the context for
//! chat; as in vLLM, the model's own sampling defaults (`generation_config.json`) come first
//! for the fields a request leaves unset.

use crate::error::ApiError;
use crate::structured;
use crate::unimplemented;
use crate::validate::{Knobs, MaxNewTokens};
use crate::ServerConfig;
use sluice_protocol::openai::CommonParameters;

pub fn knobs(
    p: &CommonParameters,
    config: &ServerConfig,
    max_new_tokens: MaxNewTokens,
    top_n: u32,
) -> Result<Knobs, ApiError> {
    let (limits, model) = (&config.limits, &config.sampling_defaults);
    unimplemented::refuse(&p.other, unimplemented::OPENAI)?;
    let temperature = p.temperature.or(model.temperature).unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::validation(format!(
            "`temperature` must be >= 0 and <= 2. Given: {temperature}"
        )));
    }
    let n = p.n.unwrap_or(1) as usize;
    if n == 0 || n > limits.max_best_of {
        return Err(ApiError::validation(format!(
            "`n` must be > 0 and <= {} (--max-best-of). Given: {n}",
            limits.max_best_of
        )));
    }
    Ok(Knobs {
        sampling: temperature > 0.0,
        temperature,
        top_k: p.top_k.or(model.top_k.map(|k| k as i64)),
        top_p: p.top_p.or(model.top_p),
        typical_p: None,
        repetition_penalty: p.repetition_penalty.or(model.repetition_penalty),
        frequency_penalty: p.frequency_penalty,
        presence_penalty: p.presence_penalty,
        seed: p.seed,
        max_new_tokens,
        stop: p.stop.clone().map(|s| s.into_vec()).unwrap_or_default(),
        truncate: None,
        top_n,
        prompt_logprobs: false,
        ignore_eos: p.ignore_eos.unwrap_or(false),
        copies: n,
        constraint: structured::from_openai(&p.structured)?,
        logit_bias: logit_bias(p.logit_bias.as_ref())?,
    })
}

/// OpenAI's `logit_bias`: token ids (as JSON object keys) to a bias in [-100, 100].
fn logit_bias(
    given: Option<&std::collections::BTreeMap<String, f32>>,
) -> Result<Vec<(u32, f32)>, ApiError> {
    given
        .into_iter()
        .flatten()
        .map(|(token, &bias)| {
            let id = token.parse::<u32>().map_err(|_| {
                ApiError::validation(format!(
                    "`logit_bias` keys must be token ids; got {token:?}"
                ))
            })?;
            if !(-100.0..=100.0).contains(&bias) {
                return Err(ApiError::validation(format!(
                    "`logit_bias` values must be >= -100 and <= 100; token {id} has {bias}"
                )));
            }
            Ok((id, bias))
        })
        .collect()
}

/// `max_tokens` when given, else the endpoint's default.
pub fn max_new_tokens(given: Option<u32>, default: MaxNewTokens) -> MaxNewTokens {
    given.map_or(default, MaxNewTokens::Given)
}
