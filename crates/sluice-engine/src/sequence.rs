//! One request's life in the engine: its tokens, how many of them are in the KV cache, and
//! the per-request pieces that turn sampled tokens into text events.

use crate::grammar::Grammar;
use crate::sampler::Sampler;
use crate::scheduler::Schedulable;
use crate::speculate::Acceptance;
use crate::stop::StopMatcher;
use sluice_core::{
    FinishReason, GenerationError, GenerationRequest, LogprobOptions, SeqId, StopCriteria,
    TokenEvent,
};
use sluice_kv::BlockLease;
use sluice_tokenizer::{IncrementalDecoder, Tokenizer};
use tokio::sync::mpsc::UnboundedSender;

/// What a request's receiver gets: tokens, the last one carrying `finish`, or an error.
pub type EngineEvent = Result<TokenEvent, GenerationError>;

/// Whether a sequence holds cache blocks: a running sequence cannot exist without them, and
/// dropping the state (finish, abort, preemption) gives them back.
#[derive(Debug)]
pub enum SequenceState {
    /// Queued for (re)admission: new, or preempted and waiting to be recomputed.
    Waiting,
    /// Holds KV blocks and is scheduled every step.
    Running(BlockLease),
}

pub struct Sequence {
    pub id: SeqId,
    /// Prompt followed by the generated tokens.
    pub tokens: Vec<u32>,
    pub prompt_len: usize,
    /// Leading tokens whose K/V are in the cache.
    pub computed: usize,
    pub state: SequenceState,
    pub stop: StopCriteria,
    pub sampler: Sampler,
    pub logprobs: LogprobOptions,
    /// Tokens proposed to follow `tokens`, checked in this step (speculative decoding).
    pub draft: Vec<u32>,
    /// How often this sequence's proposals have been accepted.
    pub acceptance: Acceptance,
    /// Where its output stands in the grammar it must follow (structured output).
    pub grammar: Option<Grammar>,
    /// Logprobs of prompt tokens `1..` as prefill computes them, while the request wants them
    /// and the first token has not taken them away yet.
    prompt_logprobs: Option<Vec<f32>>,
    matcher: StopMatcher,
    detokenizer: IncrementalDecoder,
    events: UnboundedSender<EngineEvent>,
}

/// What `push_token` decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Continue,
    Finished(FinishReason),
    /// The receiver is gone: the client disconnected.
    Disconnected,
}

impl Sequence {
    pub fn new(
        req: GenerationRequest,
        grammar: Option<Grammar>,
        acceptance: Acceptance,
        events: UnboundedSender<EngineEvent>,
    ) -> Self {
        Sequence {
            id: SeqId::of(req.id),
            prompt_len: req.prompt_ids.len(),
            sampler: Sampler::new(req.sampling, &req.prompt_ids),
            matcher: StopMatcher::new(&req.stop.stop_sequences),
            logprobs: req.logprobs,
            prompt_logprobs: req.logprobs.prompt.then(Vec::new),
            tokens: req.prompt_ids,
            draft: Vec::new(),
            acceptance,
            grammar,
            computed: 0,
            state: SequenceState::Waiting,
            stop: req.stop,
            detokenizer: IncrementalDecoder::new(true),
            events,
        }
    }

    pub fn generated(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }

    /// The token at `position`: one of [`Self::tokens`], or past them, a proposal.
    pub fn token_at(&self, position: usize) -> u32 {
        self.tokens
            .get(position)
            .copied()
            .unwrap_or_else(|| self.draft[position - self.tokens.len()])
    }

    /// Whether its next step is a decode: it runs, its every token but the last (a generated
    /// one) is in the cache.
    pub fn is_decoding(&self) -> bool {
        matches!(self.state, SequenceState::Running(_))
            && self.computed + 1 == self.tokens.len()
            && self.computed >= self.prompt_len
    }

    /// Tokens it may still generate after the next one: the most worth proposing.
    pub fn room_after_next(&self) -> usize {
        self.stop
            .max_new_tokens
            .saturating_sub(self.generated() + 1)
    }

    /// Tokens the sequence can ever hold in the cache (used to reject what can never fit).
    pub fn max_context(&self) -> usize {
        self.prompt_len + self.stop.max_new_tokens
    }

    /// Whether the row at `position` scores a prompt token not scored yet; after a preemption
    /// the recomputed rows are not scored twice.
    pub fn scores_prompt_at(&self, position: usize) -> bool {
        self.prompt_logprobs
            .as_ref()
            .is_some_and(|scored| position + 1 < self.prompt_len && position >= scored.len())
    }

    /// Records the logprob of prompt token `position + 1` (see [`Self::scores_prompt_at`]).
    pub fn record_prompt_logprob(&mut self, logprob: f32) {
        if let Some(scored) = &mut self.prompt_logprobs {
            scored.push(logprob);
        }
    }

    /// Appends a sampled token, emits its text and decides whether the sequence is done.
    pub fn push_token(
        &mut self,
        token: u32,
        logprob: f32,
        top_logprobs: Vec<(u32, f32)>,
        tokenizer: &Tokenizer,
    ) -> Progress {
        self.tokens.push(token);
        self.sampler.accept(token);
        let special = tokenizer.is_special(token);
        let is_eog = !self.stop.ignore_eos && tokenizer.eog_ids().contains(&token);
        let delta = if is_eog {
            String::new()
        } else {
            self.detokenizer.push(tokenizer, token)
        };
        let outcome = self.matcher.push(&delta);
        let mut text = outcome.emit;
        let mut finish = if outcome.matched.is_some() {
            Some(FinishReason::StopSequence)
        } else if is_eog {
            Some(FinishReason::EosToken)
        } else if self.generated() >= self.stop.max_new_tokens {
            Some(FinishReason::Length)
        } else {
            None
        };
        if finish.is_some() && outcome.matched.is_none() {
            // Release text held back for an unfinished character, then for a possible stop
            // sequence; the released tail may itself complete a stop sequence.
            let tail = self.matcher.push(&self.detokenizer.finish());
            text.push_str(&tail.emit);
            if tail.matched.is_some() {
                finish = Some(FinishReason::StopSequence);
            } else {
                text.push_str(&self.matcher.flush());
            }
        }
        let event = TokenEvent {
            token_id: token,
            text,
            logprob,
            special,
            finish,
            top_logprobs,
            prompt_logprobs: self.prompt_logprobs.take(),
        };
        if self.events.send(Ok(event)).is_err() {
            return Progress::Disconnected;
        }
        finish.map_or(Progress::Continue, Progress::Finished)
    }

    /// Ends the request with an error.
    pub fn fail(&self, error: GenerationError) {
        let _ = self.events.send(Err(error));
    }

    /// Whether the receiver has gone away (the engine checks before spending work on it).
    pub fn is_disconnected(&self) -> bool {
        self.events.is_closed()
    }
}

impl Schedulable for Sequence {
    fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    fn computed(&self) -> usize {
        self.computed
    }

    fn max_context(&self) -> usize {
        Sequence::max_context(self)
    }

    fn proposed(&self) -> usize {
        self.draft.len()
    }

    /// The next prefill must produce logits for prompt positions, so it must not skip them
    /// through the prefix cache.
    fn needs_prompt_logprobs(&self) -> bool {
        self.prompt_logprobs.is_some()
    }

    fn run(&mut self, blocks: BlockLease, cached: usize) {
        self.computed = cached;
        self.state = SequenceState::Running(blocks);
    }

    /// Forgets the cached K/V (the lease goes, and its blocks with it): the sequence will be
    /// recomputed from its tokens.
    fn preempt(&mut self) {
        self.computed = 0;
        self.draft.clear();
        self.state = SequenceState::Waiting;
    }
}
