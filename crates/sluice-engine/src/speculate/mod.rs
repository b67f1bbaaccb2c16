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
mod draft;
mod ngram;

use crate::Speculation;
pub use backoff::{Acceptance, StepCost};
pub use draft::{DraftError, DraftModel, Drafted};
use sluice_core::{SeqId, SpeculationStats};

/// How far one draft step moves the average cost of proposing a token.
const PROPOSING_STEP: f64 = 0.1;

/// A sequence that the back-off keeps from prompt lookup proposes one token once in this many
/// of its tokens.
const PROBE_EVERY: usize = 16;

/// Where proposals come from.
pub enum Proposer {
    /// Prompt lookup in the sequence's own tokens ([`ngram`]).
    NGram,
    /// A smaller model with the same vocabulary ([`draft`]).
    Draft(Box<DraftModel>),
}

impl Proposer {
    /// Its name in `/info`, the metrics and the logs.
    pub fn name(&self) -> &'static str {
        match self {
            Proposer::NGram => "ngram",
            Proposer::Draft(_) => "draft",
        }
    }
}

/// A decoding sequence that may have tokens proposed this step.
pub struct ProposalRequest<'a> {
    pub seq: SeqId,
    /// All its tokens; the last one is the next the model computes.
    pub tokens: &'a [u32],
    pub prompt_len: usize,
    /// The most tokens worth proposing: what it may still generate after its next token.
    pub room: usize,
    pub acceptance: Acceptance,
}

/// The engine's speculation: its setting, what it has learnt of the steps' cost and of how
/// often proposals are accepted, and its counts.
pub struct Speculator {
    /// The most tokens proposed for a sequence in one step (`--speculate N`).
    max_tokens: usize,
    proposer: Proposer,
    /// What steps cost, when the engine backs off where proposals would not pay.
    cost: Option<StepCost>,
    /// What proposing a token has cost, in seconds (a moving average; 0 for prompt lookup).
    proposing: f64,
    /// The acceptance rate over every check so far: where a new sequence's starts.
    overall: Acceptance,
    stats: SpeculationStats,
}

impl Speculator {
    pub fn new(setting: Speculation, proposer: Proposer) -> Self {
        let max_tokens = setting.max_tokens;
        let method = proposer.name().to_string();
        Speculator {
            max_tokens,
            proposer,
            cost: setting.back_off.then(StepCost::default),
            proposing: 0.0,
            overall: Acceptance::new(0.5),
            stats: SpeculationStats {
                method,
                accepted_lengths: vec![0; max_tokens + 1],
                ..SpeculationStats::default()
            },
        }
    }

    /// The rate a sequence that has not been checked yet starts from.
    pub fn initial_acceptance(&self) -> Acceptance {
        self.overall
    }

    /// The tokens each request's sequence checks this step, in request order: at most its
    /// `room`, and only as many as pay at its acceptance rate in a step of `decodes` decoding
    /// sequences.
    pub fn propose(&mut self, requests: &[ProposalRequest], decodes: usize) -> Vec<Vec<u32>> {
        let want: Vec<usize> = requests
            .iter()
            .map(|r| {
                let most = self.max_tokens.min(r.room);
                let worth = match &self.cost {
                    Some(cost) => cost.tokens_worth_proposing(
                        most,
                        r.acceptance.rate(),
                        decodes,
                        self.proposing,
                    ),
                    None => most,
                };
                // A sequence kept from prompt lookup still proposes a token now and then, so
                // its acceptance keeps being measured and a rule that has stopped proposals can
                // start them again. Not with a draft: a probe would make the draft compute the
                // sequence's whole prompt (measured: 0.66x at 32 clients).
                let probe = matches!(self.proposer, Proposer::NGram)
                    && r.tokens.len().is_multiple_of(PROBE_EVERY);
                if worth == 0 && probe {
                    most.min(1)
                } else {
                    worth
                }
            })
            .collect();
        match &mut self.proposer {
            Proposer::NGram => requests
                .iter()
                .zip(&want)
                .map(|(r, &n)| ngram::propose(r.tokens, n))
                .collect(),
            Proposer::Draft(draft) => {
                let Drafted { proposals, seconds } = draft.propose(requests, &want);
                let tokens: usize = proposals.iter().map(Vec::len).sum();
                if tokens > 0 {
                    let per_token = seconds / tokens as f64;
                    self.proposing += PROPOSING_STEP * (per_token - self.proposing);
                }
                proposals
            }
        }
    }

    /// Sequence `seq` is gone: whatever the proposer keeps for it goes too.
    pub fn forget(&mut self, seq: SeqId) {
        if let Proposer::Draft(draft) = &mut self.proposer {
            draft.forget(seq);
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
