//! Turns what a client asked for into a request the engine can run, or a 422 that says what is
//! wrong. Both APIs first map their fields into [`Knobs`] with their own defaults (see
//! `tgi/params.rs` and `openai/params.rs`); the checks and the tokenization are shared here.

use crate::error::ApiError;
use crate::Limits;
use sluice_core::{
    Backend, Constraint, GenerationRequest, LogprobOptions, RequestId, SamplingParams, StopCriteria,
};

/// How many tokens to generate when the request does not say exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxNewTokens {
    /// The client's number: it must fit in `max_total_tokens` with the prompt.
    Given(u32),
    /// The API's default, shortened to what fits.
    Default(u32),
    /// Whatever fits in `max_total_tokens` after the prompt (chat completions).
    Rest,
}

/// Sampling and stopping settings in one neutral shape, with each API's defaults applied.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// Whether tokens are drawn at random; otherwise greedy, and the warpers are ignored.
    pub sampling: bool,
    pub temperature: f32,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub typical_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub max_new_tokens: MaxNewTokens,
    pub stop: Vec<String>,
    pub truncate: Option<usize>,
    pub top_n: u32,
    pub prompt_logprobs: bool,
    pub ignore_eos: bool,
    /// Independent generations for this prompt (`best_of`, `n`).
    pub copies: usize,
    /// The shape the output must have (structured output).
    pub constraint: Option<Constraint>,
    /// OpenAI's `logit_bias`, checked.
    pub logit_bias: Vec<(u32, f32)>,
}

/// A request that passed every check, ready to submit once per copy.
#[derive(Clone, Debug)]
pub struct Validated {
    pub prompt_ids: Vec<u32>,
    pub sampling: SamplingParams,
    pub stop: StopCriteria,
    pub logprobs: LogprobOptions,
    /// One seed per copy; `None` when greedy (TGI reports no seed then).
    pub seeds: Vec<Option<u64>>,
    pub constraint: Option<Constraint>,
}

impl Validated {
    pub fn input_length(&self) -> usize {
        self.prompt_ids.len()
    }

    pub fn copies(&self) -> usize {
        self.seeds.len()
    }

    /// The engine request of copy `copy`. Prompt logprobs are the same for every copy, so only
    /// copy 0 computes them; the others may use the prefix cache.
    pub fn request(&self, id: RequestId, copy: usize) -> GenerationRequest {
        GenerationRequest {
            id,
            prompt_ids: self.prompt_ids.clone(),
            sampling: SamplingParams {
                seed: self.seeds[copy].unwrap_or(0),
                ..self.sampling.clone()
            },
            stop: self.stop.clone(),
            logprobs: LogprobOptions {
                prompt: self.logprobs.prompt && copy == 0,
                ..self.logprobs
            },
            constraint: self.constraint.clone(),
        }
    }
}

pub fn validate(
    backend: &impl Backend,
    limits: &Limits,
    prompt: &str,
    knobs: Knobs,
) -> Result<Validated, ApiError> {
    if prompt.is_empty() {
        return Err(ApiError::validation("`inputs` cannot be empty"));
    }
    check_sampling(&knobs)?;
    let stop: Vec<String> = knobs.stop.into_iter().filter(|s| !s.is_empty()).collect();
    if stop.len() > limits.max_stop_sequences {
        return Err(ApiError::validation(format!(
            "`stop` supports up to {} stop sequences. Given: {}",
            limits.max_stop_sequences,
            stop.len()
        )));
    }
    if knobs.top_n as usize > limits.max_top_n_tokens {
        return Err(ApiError::validation(format!(
            "`top_n_tokens` must be >= 0 and <= {}. Given: {}",
            limits.max_top_n_tokens, knobs.top_n
        )));
    }
    let prompt_ids = tokenize(backend, limits, prompt, knobs.truncate)?;
    let max_new_tokens = max_new_tokens(limits, prompt_ids.len(), knobs.max_new_tokens)?;
    let sampling = SamplingParams {
        temperature: if knobs.sampling {
            knobs.temperature
        } else {
            0.0
        },
        top_k: knobs.top_k.filter(|_| knobs.sampling).unwrap_or(0) as usize,
        top_p: knobs.top_p.filter(|_| knobs.sampling).unwrap_or(1.0),
        typical_p: knobs.typical_p.filter(|_| knobs.sampling).unwrap_or(1.0),
        repetition_penalty: knobs.repetition_penalty.unwrap_or(1.0),
        frequency_penalty: knobs.frequency_penalty.unwrap_or(0.0),
        presence_penalty: knobs.presence_penalty.unwrap_or(0.0),
        seed: 0,
        logit_bias: knobs.logit_bias,
    };
    let seeds = (0..knobs.copies.max(1))
        .map(|copy| match (knobs.sampling, knobs.seed) {
            (false, _) => None,
            // Copies of one seeded request must still differ from each other.
            (true, Some(seed)) => Some(seed.wrapping_add(copy as u64)),
            (true, None) => Some(rand::random()),
        })
        .collect();
    Ok(Validated {
        prompt_ids,
        sampling,
        stop: StopCriteria {
            max_new_tokens,
            stop_sequences: stop,
            ignore_eos: knobs.ignore_eos,
        },
        logprobs: LogprobOptions {
            top_n: knobs.top_n as usize,
            prompt: knobs.prompt_logprobs,
        },
        seeds,
        constraint: knobs.constraint,
    })
}

/// Every range `SamplingParams::validate` enforces, stricter where TGI is (`typical_p` < 1),
/// with TGI's messages; the API adapters have already bounded `temperature`.
fn check_sampling(k: &Knobs) -> Result<(), ApiError> {
    let finite = |name: &str, v: Option<f32>| match v {
        Some(x) if !x.is_finite() => Err(ApiError::validation(format!(
            "`{name}` must be a finite number"
        ))),
        _ => Ok(()),
    };
    finite("temperature", Some(k.temperature))?;
    finite("top_p", k.top_p)?;
    finite("typical_p", k.typical_p)?;
    finite("repetition_penalty", k.repetition_penalty)?;
    finite("frequency_penalty", k.frequency_penalty)?;
    finite("presence_penalty", k.presence_penalty)?;
    if k.top_k.is_some_and(|v| v <= 0) {
        return Err(ApiError::validation("`top_k` must be strictly positive"));
    }
    if k.top_p.is_some_and(|v| !(v > 0.0 && v <= 1.0)) {
        return Err(ApiError::validation("`top_p` must be > 0.0 and <= 1.0"));
    }
    if k.typical_p.is_some_and(|v| !(v > 0.0 && v < 1.0)) {
        return Err(ApiError::validation("`typical_p` must be > 0.0 and < 1.0"));
    }
    if k.repetition_penalty.is_some_and(|v| v <= 0.0) {
        return Err(ApiError::validation(
            "`repetition_penalty` must be strictly positive",
        ));
    }
    for (name, v) in [
        ("frequency_penalty", k.frequency_penalty),
        ("presence_penalty", k.presence_penalty),
    ] {
        if v.is_some_and(|v| !(-2.0..=2.0).contains(&v)) {
            return Err(ApiError::validation(format!(
                "`{name}` must be >= -2.0 and <= 2.0"
            )));
        }
    }
    Ok(())
}

/// Tokenizes the prompt, keeping its last `truncate` tokens when asked (as TGI truncates).
fn tokenize(
    backend: &impl Backend,
    limits: &Limits,
    prompt: &str,
    truncate: Option<usize>,
) -> Result<Vec<u32>, ApiError> {
    let mut ids = backend
        .tokenize(prompt)
        .map_err(|e| ApiError::validation(format!("could not tokenize `inputs`: {e}")))?;
    if let Some(t) = truncate {
        if t == 0 || t > limits.max_input_tokens {
            return Err(ApiError::validation(format!(
                "`truncate` must be strictly positive and less than {}. Given: {t}",
                limits.max_input_tokens
            )));
        }
        if ids.len() > t {
            ids.drain(..ids.len() - t);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::validation("`inputs` cannot be empty"));
    }
    if ids.len() > limits.max_input_tokens {
        return Err(ApiError::validation(format!(
            "`inputs` must have less than {} tokens. Given: {}",
            limits.max_input_tokens,
            ids.len()
        )));
    }
    Ok(ids)
}

fn max_new_tokens(
    limits: &Limits,
    input_length: usize,
    wanted: MaxNewTokens,
) -> Result<usize, ApiError> {
    let room = limits.max_total_tokens.saturating_sub(input_length);
    let n = match wanted {
        MaxNewTokens::Given(0) => {
            return Err(ApiError::validation(
                "`max_new_tokens` must be strictly positive",
            ))
        }
        MaxNewTokens::Given(n) => n as usize,
        MaxNewTokens::Default(n) => (n as usize).min(room),
        MaxNewTokens::Rest => room,
    };
    if n == 0 || input_length + n > limits.max_total_tokens {
        return Err(ApiError::validation(format!(
            "`inputs` tokens + `max_new_tokens` must be <= {}. Given: {input_length} `inputs` tokens and {n} `max_new_tokens`",
            limits.max_total_tokens
        )));
    }
    Ok(n)
}
