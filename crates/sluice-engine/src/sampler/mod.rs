//! Choosing the next token from the model's logits.
//!
//! The pipeline follows HF/TGI's logits processors, in their order: penalties, then either
//! greedy argmax or temperature → top-k → top-p → typical-p → a draw from what survives.
//! Each stage is a pure function (re-exported here) so it can be checked on fixed logits;
//! [`Sampler`] only strings them together over buffers it reuses from token to token.

mod distribution;
mod exp;
mod mass;
mod penalties;
mod top_k;
mod top_logprobs;
mod top_p;
mod typical;

#[cfg(test)]
mod tests;

use crate::grammar::TokenMask;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_core::SamplingParams;

pub use distribution::{
    apply_temperature, argmax, collect_candidates, draw, log_softmax_at, probability_of, Candidate,
};
pub use penalties::{apply_penalties, TokenCounts};
pub use top_k::top_k_filter;
pub use top_logprobs::top_logprobs;
pub use top_p::top_p_filter;
pub use typical::typical_filter;

/// A chosen token and its log-probability under the model's own distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampled {
    pub token: u32,
    pub logprob: f32,
}

/// Per-sequence sampler: owns the request's seeded RNG (so a request reproduces whatever runs
/// beside it in the batch) and the token counts the penalties use.
///
/// Penalty counts follow HF/TGI for the repetition penalty (prompt and output tokens) and
/// OpenAI for frequency/presence (output tokens only); see [`apply_penalties`].
///
/// Greedy decoding is one argmax pass: it never sorts, and allocates only the penalised copy of
/// the logits, once, when penalties apply.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    counts: TokenCounts,
    /// Penalised copy of the logits; allocated on the first penalised step, then reused.
    penalised: Vec<f32>,
    /// Tokens still in the running; allocated on the first random draw, then reused.
    candidates: Vec<Candidate>,
}

impl Sampler {
    pub fn new(params: SamplingParams, prompt_ids: &[u32]) -> Self {
        // Only the repetition penalty looks at the prompt; without it, don't pay to count it.
        let counts = if params.repetition_penalty != 1.0 {
            TokenCounts::from_prompt(prompt_ids)
        } else {
            TokenCounts::default()
        };
        Sampler {
            rng: StdRng::seed_from_u64(params.seed),
            params,
            counts,
            penalised: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// Chooses the next token from raw logits (one per vocabulary entry). The logprob is that of
    /// `log_softmax(logits)` — before penalties, temperature and filters, as TGI reports it.
    ///
    /// NaN logits count as `-inf`; if every logit is `-inf`/NaN, token 0 is returned with logprob
    /// `-inf` rather than a panic: the model's output is data, and one bad row must not take
    /// down the batch.
    pub fn sample(&mut self, logits: &[f32]) -> Sampled {
        self.next(logits, None, None)
    }

    /// Checks a proposal that the next token is `proposed` (speculative decoding), choosing
    /// the next token so that it is distributed exactly as [`Self::sample`]'s: greedy takes
    /// the argmax, as always; sampling takes `proposed` with its probability `p` under the
    /// final distribution (after penalties, temperature and filters), and otherwise draws from
    /// that distribution without it. Any other token `x` then comes out with probability
    /// `(1 - p) · p(x) / (1 - p) = p(x)`: the rule of speculative sampling for a proposal that
    /// is one token for certain, as prompt lookup's and a greedy draft's are.
    pub fn verify(&mut self, logits: &[f32], proposed: u32) -> Sampled {
        self.next(logits, Some(proposed), None)
    }

    /// [`Self::sample`], or [`Self::verify`] when there is a proposal, among the tokens
    /// `allowed` lets through (a constrained request's grammar): the others count as `-inf`,
    /// so the choice is the one the model would make if they did not exist. The logprob is
    /// still the model's own, as above.
    pub fn next(
        &mut self,
        logits: &[f32],
        proposed: Option<u32>,
        allowed: Option<&TokenMask>,
    ) -> Sampled {
        let token = self.choose(logits, proposed, allowed);
        Sampled {
            token,
            logprob: log_softmax_at(logits, token),
        }
    }

    /// Records a token the engine accepted into the sequence, for the penalties.
    pub fn accept(&mut self, token: u32) {
        if self.params.has_penalties() {
            self.counts.record(token);
        }
    }

    fn choose(&mut self, raw: &[f32], proposed: Option<u32>, allowed: Option<&TokenMask>) -> u32 {
        // Penalties only touch seen tokens: with none seen, no bias and no mask, the raw
        // logits serve as they are.
        let logits =
            if self.counts.is_empty() && allowed.is_none() && self.params.logit_bias.is_empty() {
                raw
            } else {
                self.penalised.clear();
                self.penalised.extend_from_slice(raw);
                // The bias first, as OpenAI's and vLLM's logits processors add it.
                for &(token, bias) in &self.params.logit_bias {
                    if let Some(logit) = self.penalised.get_mut(token as usize) {
                        *logit += bias;
                    }
                }
                if !self.counts.is_empty() {
                    apply_penalties(&mut self.penalised, &self.counts, &self.params);
                }
                if let Some(mask) = allowed {
                    mask_out(&mut self.penalised, mask);
                }
                &self.penalised
            };
        if self.params.is_greedy() {
            return argmax(logits);
        }
        collect_candidates(logits, &mut self.candidates);
        apply_temperature(&mut self.candidates, self.params.temperature);
        top_k_filter(&mut self.candidates, self.params.top_k);
        top_p_filter(&mut self.candidates, self.params.top_p);
        typical_filter(&mut self.candidates, self.params.typical_p);
        if let Some((index, p)) = proposed.and_then(|t| probability_of(&self.candidates, t)) {
            if self.rng.random::<f64>() < p {
                return self.candidates[index].id;
            }
            self.candidates.swap_remove(index);
        }
        // No candidate means no token has any probability; argmax then picks deterministically.
        draw(&self.candidates, &mut self.rng).unwrap_or_else(|| argmax(logits))
    }
}

/// Sets every logit `mask` does not allow to `-inf` (logits past the mask's vocabulary too:
/// a model's output may be padded past its tokenizer's).
fn mask_out(logits: &mut [f32], mask: &TokenMask) {
    let known = mask.len().min(logits.len());
    for (id, logit) in logits[..known].iter_mut().enumerate() {
        if !mask.is_allowed(id as u32) {
            *logit = f32::NEG_INFINITY;
        }
    }
    logits[known..].fill(f32::NEG_INFINITY);
}
