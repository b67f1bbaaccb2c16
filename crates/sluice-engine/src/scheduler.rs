//! Which sequences run in the next step, and how many of their tokens.
//!
//! Continuous batching with chunked prefill under one token budget per step, as vLLM does:
//! running sequences first (a decode costs one token and one per token proposed to follow it,
//! an unfinished prefill takes a chunk),
//! then waiting ones in arrival order while budget, blocks and the running limit allow (a
//! request whose prompt starts with blocks that a running sequence is still computing waits
//! for them, see [`Scheduler::prefix_in_progress`]). When a running sequence cannot grow, the
//! newest running sequence is preempted: its blocks are freed and it waits to be recomputed
//! (its full blocks usually come back as prefix-cache hits).
//!
//! The scheduler sees a sequence only through [`Schedulable`] and the block manager, with no
//! tensors, clocks or randomness, so every decision is exactly testable without a model
//! (`scheduler/tests.rs`).

use sluice_core::SeqId;
use sluice_kv::{AllocStatus, BlockLease, BlockManager};
use std::collections::{HashMap, VecDeque};

#[cfg(test)]
mod tests;

/// What the scheduler reads of a sequence, and the two decisions it makes about it. The
/// engine's `Sequence` implements it, and so do the plain sequences of the tests.
pub trait Schedulable {
    /// The prompt followed by the generated tokens.
    fn tokens(&self) -> &[u32];
    /// Leading tokens whose K/V are in the cache.
    fn computed(&self) -> usize;
    /// Tokens the sequence can ever hold (prompt plus the most it may generate).
    fn max_context(&self) -> usize;
    /// Whether it must compute every prompt position, so takes nothing from the prefix cache.
    fn needs_prompt_logprobs(&self) -> bool;
    /// Admitted: it holds `blocks`, its first `cached` tokens taken from the prefix cache.
    fn run(&mut self, blocks: BlockLease, cached: usize);
    /// Preempted: it drops its lease (the blocks go back) and is recomputed from the start.
    fn preempt(&mut self);

    /// Tokens proposed to follow [`Self::tokens`] this step (speculative decoding): each is
    /// computed as one more row, checked against the model's choice.
    fn proposed(&self) -> usize {
        0
    }

    /// Rows to run through the model before the next tokens can be chosen: the tokens not in
    /// the cache yet and the proposals.
    fn pending(&self) -> usize {
        self.tokens().len() + self.proposed() - self.computed()
    }
}

/// The plan for one step.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// (sequence, tokens to compute this step), in batch order.
    pub items: Vec<(SeqId, usize)>,
    /// Sequences preempted while planning.
    pub preempted: Vec<SeqId>,
    /// Sequences that can never fit in the cache; the engine fails them.
    pub rejected: Vec<SeqId>,
}

impl Schedule {
    /// Tokens the step computes.
    pub fn tokens(&self) -> usize {
        self.items.iter().map(|&(_, n)| n).sum()
    }
}

/// The shortest shared prefix worth waiting a step for (SGLang's in-batch prefix threshold).
const MIN_SHARED_PREFIX: usize = 32;

pub struct Scheduler {
    waiting: VecDeque<SeqId>,
    running: Vec<SeqId>,
    max_batch_tokens: usize,
    max_running: usize,
}

impl Scheduler {
    pub fn new(max_batch_tokens: usize, max_running: usize) -> Self {
        Scheduler {
            waiting: VecDeque::new(),
            running: Vec::new(),
            max_batch_tokens: max_batch_tokens.max(1),
            max_running: max_running.max(1),
        }
    }

    pub fn enqueue(&mut self, seq: SeqId) {
        self.waiting.push_back(seq);
    }

    /// Forgets a sequence (finished or aborted); its blocks go with its lease.
    pub fn remove(&mut self, seq: SeqId) {
        self.waiting.retain(|&s| s != seq);
        self.running.retain(|&s| s != seq);
    }

    pub fn num_waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn num_running(&self) -> usize {
        self.running.len()
    }

    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Plans the next step: grows the running sequences' tables (preempting when blocks run
    /// out), then admits waiting ones. Every sequence the queues name must be in `seqs`.
    pub fn schedule<S: Schedulable>(
        &mut self,
        seqs: &mut HashMap<SeqId, S>,
        kv: &mut BlockManager,
    ) -> Schedule {
        let mut plan = Schedule::default();
        let mut budget = self.max_batch_tokens;
        self.schedule_running(seqs, kv, &mut budget, &mut plan);
        // Preempted sequences go back to the front, oldest first, ahead of new arrivals.
        for &seq in plan.preempted.iter() {
            self.waiting.push_front(seq);
        }
        if plan.preempted.is_empty() {
            self.admit_waiting(seqs, kv, &mut budget, &mut plan);
        }
        plan
    }

    fn schedule_running<S: Schedulable>(
        &mut self,
        seqs: &mut HashMap<SeqId, S>,
        kv: &mut BlockManager,
        budget: &mut usize,
        plan: &mut Schedule,
    ) {
        let mut i = 0;
        while i < self.running.len() && *budget > 0 {
            let id = self.running[i];
            let seq = &seqs[&id];
            let n = seq.pending().min(*budget);
            if kv.grow(id, seq.computed() + n).is_ok() {
                plan.items.push((id, n));
                *budget -= n;
                i += 1;
                continue;
            }
            // Out of blocks: preempt the newest running sequence (possibly this one).
            let victim = self.running.pop().expect("running is non-empty here");
            if let Some(s) = seqs.get_mut(&victim) {
                s.preempt();
            }
            if let Some(pos) = plan.items.iter().position(|&(s, _)| s == victim) {
                *budget += plan.items.remove(pos).1;
            }
            plan.preempted.push(victim);
        }
    }

    fn admit_waiting<S: Schedulable>(
        &mut self,
        seqs: &mut HashMap<SeqId, S>,
        kv: &mut BlockManager,
        budget: &mut usize,
        plan: &mut Schedule,
    ) {
        // Index in `waiting` of the next request to consider: those before it wait for a
        // shared prefix.
        let mut next = 0;
        while *budget > 0 && self.running.len() < self.max_running {
            let Some(&id) = self.waiting.get(next) else {
                break;
            };
            // A request that needs every prompt position's logits takes nothing from the
            // prefix cache.
            let cacheable = kv.prefix_caching() && !seqs[&id].needs_prompt_logprobs();
            if cacheable && self.prefix_in_progress(seqs, seqs[&id].tokens(), kv.block_size()) {
                next += 1;
                continue;
            }
            let seq = seqs.get_mut(&id).expect("waiting sequences are known");
            let tokens = seq.tokens();
            // What the prefix cache may be searched with.
            let reusable: &[u32] = if cacheable { tokens } else { &[] };
            if kv.can_allocate(id, reusable, seq.max_context()) == AllocStatus::Impossible {
                self.waiting.remove(next);
                plan.rejected.push(id);
                continue;
            }
            // Admit only when the whole prompt fits now: a prompt admitted in pieces could
            // deadlock the pool with other half-admitted prompts.
            if kv.can_allocate(id, reusable, tokens.len()) != AllocStatus::Ok {
                break;
            }
            let started = if cacheable {
                kv.start_sequence(id, tokens)
            } else {
                kv.start_sequence_uncached(id, tokens)
                    .map(|lease| (lease, 0))
            };
            let Ok((lease, cached)) = started else {
                break;
            };
            let n = (tokens.len() - cached).min(*budget);
            if kv.grow(id, cached + n).is_err() {
                break; // the lease goes, and its blocks with it
            }
            self.waiting.remove(next);
            seq.run(lease, cached);
            self.running.push(id);
            plan.items.push((id, n));
            *budget -= n;
        }
    }

    /// Whether `tokens` begin with full blocks, [`MIN_SHARED_PREFIX`] tokens or more, that a
    /// running sequence has yet to compute (one admitted this step included). Such a request
    /// waits for those blocks to join the prefix cache rather than computing them a second time
    /// in parallel, as SGLang's scheduler does: a burst of requests with one system prompt or
    /// document then prefills it once. Waiting costs the request a step, so a short shared
    /// prefix is computed again instead.
    fn prefix_in_progress<S: Schedulable>(
        &self,
        seqs: &HashMap<SeqId, S>,
        tokens: &[u32],
        block_size: usize,
    ) -> bool {
        // The prefix cache serves whole blocks, and never the block of the last token.
        let reusable = tokens.len().saturating_sub(1) / block_size * block_size;
        self.running.iter().any(|id| {
            let other = &seqs[id];
            let shared = tokens[..reusable]
                .iter()
                .zip(other.tokens())
                .take_while(|(a, b)| a == b)
                .count()
                / block_size
                * block_size;
            shared >= MIN_SHARED_PREFIX && other.computed() < shared
        })
    }
}
