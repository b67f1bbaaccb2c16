//! Speculative decoding (docs/speculation.md): a decoding sequence's next tokens are
//! proposed cheaply, and the model checks all of them in the step that computes its next
//! token, one row each, inside the continuous batch. The engine keeps what the model would
//! have chosen token by token (`Sampler::verify`), gives back the K/V of what it rejected,
//! and learns from every check how many proposals pay ([`backoff`]).
//!
//! Exactness rests on the model's rows: a row's arithmetic depends only on its position and
//! its sequence's prompt length (`sluice_models::llama_cpp_batching`), so a proposal checked
//! at position `p` gives the logits a plain decode at `p` would have given, bit for bit.

mod backoff;
mod ngram;

use crate::Speculation;
pub use backoff::{Acceptance, StepCost};
use sluice_core::SpeculationStats;

/// Where proposals come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalMethod {
    /// Prompt lookup in the sequence's own tokens ([`ngram`]).
    NGram,
}

impl ProposalMethod {
    /// Its name in `/info`, the metrics and the logs.
    pub fn name(self) -> &'static str {
        match self {
            ProposalMethod::NGram => "ngram",
        }
    }
}

/// The engine's speculation: its setting, what it has learnt of the steps' cost and of how
/// often proposals are accepted, and its counts.
pub struct Speculator {
    /// The most tokens proposed for a sequence in one step (`--speculate N`).
    max_tokens: usize,
    method: ProposalMethod,
    /// What steps cost, when the engine backs off where proposals would not pay.
    cost: Option<StepCost>,
    /// The acceptance rate over every check so far: where a new sequence's starts.
    overall: Acceptance,
    stats: SpeculationStats,
}

impl Speculator {
    pub fn new(setting: Speculation, method: ProposalMethod) -> Self {
        let max_tokens = setting.max_tokens;
        Speculator {
            max_tokens,
            method,
            cost: setting.back_off.then(StepCost::default),
            overall: Acceptance::new(0.5),
            stats: SpeculationStats {
                method: method.name().to_string(),
                accepted_lengths: vec![0; max_tokens + 1],
                ..SpeculationStats::default()
            },
        }
    }

    /// The rate a sequence that has not been checked yet starts from.
    pub fn initial_acceptance(&self) -> Acceptance {
        self.overall
    }

    /// Tokens to check after `tokens` this step: at most `room` (what the sequence may still
    /// generate past its next token), and only as many as pay at its `acceptance` rate in a
    /// step of `decodes` decoding sequences.
    pub fn propose(
        &self,
        tokens: &[u32],
        room: usize,
        acceptance: Acceptance,
        decodes: usize,
    ) -> Vec<u32> {
        let most = self.max_tokens.min(room);
        let worth = match &self.cost {
            Some(cost) => cost.tokens_worth_proposing(most, acceptance.rate(), decodes),
            None => most,
        };
        match self.method {
            ProposalMethod::NGram => ngram::propose(tokens, worth),
        }
    }

    /// A step of `rows` rows ran its forward pass in `seconds`.
    pub fn record_step(&mut self, rows: usize, seconds: f64) {
        if let Some(cost) = &mut self.cost {
            cost.record(rows, seconds);
        }
    }

    /// A chain of `proposed` tokens was checked and its first `accepted` taken.
    pub fn record_check(&mut self, proposed: usize, accepted: usize) {
        self.overall.record(proposed, accepted);
        self.stats.proposed_tokens += proposed as u64;
        self.stats.accepted_tokens += accepted as u64;
        if let Some(count) = self.stats.accepted_lengths.get_mut(accepted) {
            *count += 1;
        }
    }

    pub fn stats(&self) -> &SpeculationStats {
        &self.stats
    }
}
