/// How the next token is chosen. Neutral values switch a stage off: `temperature == 0` is greedy,
/// `top_k == 0`, `top_p == 1`, `typical_p == 1`, `repetition_penalty == 1` and zero
/// frequency/presence penalties do nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub typical_p: f32,
    /// Multiplicative penalty (CTRL paper, as TGI and llama.cpp apply it) on tokens already seen.
    pub repetition_penalty: f32,
    /// Subtracted once per previous occurrence of a token (OpenAI semantics).
    pub frequency_penalty: f32,
    /// Subtracted once from every token that occurred before (OpenAI semantics).
    pub presence_penalty: f32,
    /// Seeds this request's own random generator, so a request is reproducible whatever runs
    /// beside it.
    pub seed: u64,
    /// Added to these tokens' logits before anything else (OpenAI's `logit_bias`; -100 bans
    /// a token, 100 all but forces it).
    pub logit_bias: Vec<(u32, f32)>,
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            typical_p: 1.0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
            logit_bias: Vec::new(),
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Checks the ranges every front end enforces; the message names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        let finite = [
            self.temperature,
            self.top_p,
            self.typical_p,
            self.repetition_penalty,
            self.frequency_penalty,
            self.presence_penalty,
        ];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err("sampling parameters must be finite numbers".into());
        }
        if self.temperature < 0.0 {
            return Err(format!(
                "`temperature` must be >= 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "`top_p` must be > 0.0 and <= 1.0, got {}",
                self.top_p
            ));
        }
        if !(self.typical_p > 0.0 && self.typical_p <= 1.0) {
            return Err(format!(
                "`typical_p` must be > 0.0 and <= 1.0, got {}",
                self.typical_p
            ));
        }
        if self.repetition_penalty <= 0.0 {
            return Err(format!(
                "`repetition_penalty` must be > 0.0, got {}",
                self.repetition_penalty
            ));
        }
        Ok(())
    }

    pub fn has_penalties(&self) -> bool {
        self.repetition_penalty != 1.0
            || self.frequency_penalty != 0.0
            || self.presence_penalty != 0.0
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self::greedy()
    }
}

/// Sampling settings a model recommends (a checkpoint's `generation_config.json`), which the
/// server applies to requests that leave them unset, as vLLM does.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SamplingDefaults {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub repetition_penalty: Option<f32>,
}

/// When a sequence stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopCriteria {
    pub max_new_tokens: usize,
    /// Matched on the generated text, across token boundaries; the match is cut from the output.
    pub stop_sequences: Vec<String>,
    /// Keep generating past end-of-generation tokens (benchmarks use this).
    pub ignore_eos: bool,
}

impl StopCriteria {
    pub fn max_new_tokens(n: usize) -> Self {
        StopCriteria {
            max_new_tokens: n,
            stop_sequences: Vec::new(),
            ignore_eos: false,
        }
    }
}
