//! Repetition, frequency and presence penalties: they lower (or, with the opposite sign, raise)
//! the logits of tokens the sequence has already seen.
//!
//! Which tokens count differs on purpose, following the implementations users compare against:
//! the repetition penalty (CTRL, as HF/TGI apply it) counts the prompt too, so a model is also
//! discouraged from parroting its input; frequency and presence penalties (OpenAI semantics)
//! count only generated tokens, so a long prompt does not silently skew them.

use std::collections::HashMap;

use sluice_core::SamplingParams;

/// How often a token has been seen, split by where, since the penalties count differently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Occurrences {
    in_prompt: bool,
    generated: u32,
}

/// The seen tokens of one sequence. Sparse: a sequence sees far fewer distinct tokens than the
/// vocabulary holds, and the penalties only ever visit those.
#[derive(Clone, Debug, Default)]
pub struct TokenCounts {
    seen: HashMap<u32, Occurrences>,
}

impl TokenCounts {
    /// Counts that start from the prompt (seen by the repetition penalty only).
    pub fn from_prompt(prompt_ids: &[u32]) -> Self {
        let mut counts = TokenCounts::default();
        for &token in prompt_ids {
            counts.seen.entry(token).or_default().in_prompt = true;
        }
        counts
    }

    /// Records one generated token.
    pub fn record(&mut self, token: u32) {
        let entry = self.seen.entry(token).or_default();
        entry.generated = entry.generated.saturating_add(1);
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Applies the three penalties to `logits` (indexed by token id), touching only seen tokens:
/// - repetition `r` on any token seen in the prompt or the output: `l > 0 ? l / r : l * r`, so
///   `r > 1` always makes the token less likely whatever the logit's sign;
/// - frequency `f`: `l -= f * generated_count`;
/// - presence `p`: `l -= p` once the token has been generated.
///
/// Ids outside `logits` (a prompt from another vocabulary) are ignored.
pub fn apply_penalties(logits: &mut [f32], counts: &TokenCounts, params: &SamplingParams) {
    for (&token, seen) in &counts.seen {
        let Some(logit) = usize::try_from(token).ok().and_then(|t| logits.get_mut(t)) else {
            continue;
        };
        let r = params.repetition_penalty;
        if r != 1.0 {
            *logit = if *logit > 0.0 { *logit / r } else { *logit * r };
        }
        if seen.generated > 0 {
            *logit -= params.frequency_penalty * seen.generated as f32 + params.presence_penalty;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(repetition: f32, frequency: f32, presence: f32) -> SamplingParams {
        SamplingParams {
            repetition_penalty: repetition,
            frequency_penalty: frequency,
            presence_penalty: presence,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn repetition_divides_positive_and_multiplies_negative_logits_of_seen_tokens() {
        let counts = TokenCounts::from_prompt(&[0, 1]);
        let mut logits = [2.0, -2.0, 1.0, -1.0];
        apply_penalties(&mut logits, &counts, &params(2.0, 0.0, 0.0));
        assert_eq!(logits, [1.0, -4.0, 1.0, -1.0]);
    }

    #[test]
    fn repetition_counts_generated_tokens_too() {
        let mut counts = TokenCounts::default();
        counts.record(2);
        let mut logits = [2.0, -2.0, 3.0];
        apply_penalties(&mut logits, &counts, &params(1.5, 0.0, 0.0));
        assert_eq!(logits, [2.0, -2.0, 2.0]);
    }

    #[test]
    fn frequency_and_presence_subtract_per_occurrence_and_once() {
        let mut counts = TokenCounts::default();
        for token in [0, 0, 0, 2] {
            counts.record(token);
        }
        let mut logits = [1.0, 1.0, 1.0];
        apply_penalties(&mut logits, &counts, &params(1.0, 0.5, 0.25));
        assert_eq!(logits, [1.0 - 1.5 - 0.25, 1.0, 1.0 - 0.5 - 0.25]);
    }

    #[test]
    fn frequency_and_presence_ignore_the_prompt() {
        let counts = TokenCounts::from_prompt(&[0, 0, 1]);
        let mut logits = [1.0, 1.0];
        apply_penalties(&mut logits, &counts, &params(1.0, 0.5, 0.25));
        assert_eq!(logits, [1.0, 1.0]);
    }

    #[test]
    fn negative_penalties_raise_seen_tokens() {
        let mut counts = TokenCounts::default();
        counts.record(1);
        let mut logits = [0.0, 0.0];
        apply_penalties(&mut logits, &counts, &params(1.0, -1.0, -0.5));
        assert_eq!(logits, [0.0, 1.5]);
    }

    #[test]
    fn out_of_vocabulary_ids_are_ignored() {
        let mut counts = TokenCounts::from_prompt(&[7]);
        counts.record(9);
        let mut logits = [1.0];
        apply_penalties(&mut logits, &counts, &params(2.0, 1.0, 1.0));
        assert_eq!(logits, [1.0]);
    }
}
