//! Which sequences run in the next step, and how many of their tokens.
//!
//! Continuous batching with chunked prefill under one token budget per step, as vLLM does:
//! running sequences first (a decode costs one token, an unfinished prefill takes a chunk),
//! then waiting ones in arrival order while budget, blocks and the running limit allow (a
//! request whose prompt starts with blocks that a running sequence is still computing waits
//! for them, see [`Scheduler::prefix_in_progress`]). When a
//! running sequence cannot grow, the newest running sequence is preempted: its blocks are
//! freed and it waits to be recomputed (its full blocks usually come back as prefix-cache hits).
//! No tensors, clocks or randomness here, so every decision is exactly testable.

use crate::sequence::{Sequence, SequenceState};
use sluice_kv::{AllocStatus, BlockManager};
use std::collections::{HashMap, VecDeque};

/// The plan for one step.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// (sequence, tokens to compute this step), in batch order.
    pub items: Vec<(u64, usize)>,
    /// Sequences preempted while planning.
    pub preempted: Vec<u64>,
    /// Sequences that can never fit in the cache; the engine fails them.
    pub rejected: Vec<u64>,
}

/// The shortest shared prefix worth waiting a step for (SGLang's in-batch prefix threshold).
const MIN_SHARED_PREFIX: usize = 32;

pub struct Scheduler {
    waiting: VecDeque<u64>,
    running: Vec<u64>,
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

    pub fn enqueue(&mut self, key: u64) {
        self.waiting.push_back(key);
    }

    /// Forgets a sequence (finished or aborted); the caller frees its blocks.
    pub fn remove(&mut self, key: u64) {
        self.waiting.retain(|&k| k != key);
        self.running.retain(|&k| k != key);
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

    pub fn schedule(
        &mut self,
        seqs: &mut HashMap<u64, Sequence>,
        kv: &mut BlockManager,
    ) -> Schedule {
        let mut plan = Schedule::default();
        let mut budget = self.max_batch_tokens;
        self.schedule_running(seqs, kv, &mut budget, &mut plan);
        // Preempted sequences go back to the front, oldest first, ahead of new arrivals.
        for &key in plan.preempted.iter() {
            self.waiting.push_front(key);
        }
        if plan.preempted.is_empty() {
            self.admit_waiting(seqs, kv, &mut budget, &mut plan);
        }
        plan
    }

    fn schedule_running(
        &mut self,
        seqs: &mut HashMap<u64, Sequence>,
        kv: &mut BlockManager,
        budget: &mut usize,
        plan: &mut Schedule,
    ) {
        let mut i = 0;
        while i < self.running.len() && *budget > 0 {
            let key = self.running[i];
            let seq = &seqs[&key];
            let n = seq.pending().min(*budget);
            let target = seq.computed + n;
            if kv.grow(key, target).is_ok() {
                plan.items.push((key, n));
                *budget -= n;
                i += 1;
                continue;
            }
            // Out of blocks: preempt the newest running sequence (possibly this one).
            let victim = self.running.pop().expect("running is non-empty here");
            kv.free_sequence(victim);
            if let Some(s) = seqs.get_mut(&victim) {
                s.reset_for_recompute();
            }
            if let Some(pos) = plan.items.iter().position(|&(k, _)| k == victim) {
                *budget += plan.items.remove(pos).1;
            }
            plan.preempted.push(victim);
        }
    }

    fn admit_waiting(
        &mut self,
        seqs: &mut HashMap<u64, Sequence>,
        kv: &mut BlockManager,
        budget: &mut usize,
        plan: &mut Schedule,
    ) {
        // Index in `waiting` of the next request to consider: those before it wait for a
        // shared prefix.
        let mut next = 0;
        while *budget > 0 && self.running.len() < self.max_running {
            let Some(&key) = self.waiting.get(next) else {
                break;
            };
            // A request that needs every prompt position's logits takes nothing from the
            // prefix cache.
            let cacheable = kv.prefix_caching() && !seqs[&key].needs_prompt_logprobs();
            if cacheable && self.prefix_in_progress(seqs, &seqs[&key].tokens, kv.block_size()) {
                next += 1;
                continue;
            }
            let seq = seqs.get_mut(&key).expect("waiting sequences are known");
            // What the prefix cache may be searched with.
            let reusable: &[u32] = if cacheable { &seq.tokens } else { &[] };
            if kv.can_allocate(key, reusable, seq.max_context()) == AllocStatus::Impossible {
                self.waiting.remove(next);
                plan.rejected.push(key);
                continue;
            }
            // Admit only when the whole prompt fits now: a prompt admitted in pieces could
            // deadlock the pool with other half-admitted prompts.
            if kv.can_allocate(key, reusable, seq.tokens.len()) != AllocStatus::Ok {
                break;
            }
            let started = if reusable.is_empty() {
                kv.start_sequence_uncached(key, &seq.tokens)
            } else {
                kv.start_sequence(key, &seq.tokens)
            };
            let Ok(cached) = started else {
                break;
            };
            let n = (seq.tokens.len() - cached).min(*budget);
            if kv.grow(key, cached + n).is_err() {
                kv.free_sequence(key);
                break;
            }
            self.waiting.remove(next);
            seq.computed = cached;
            seq.state = SequenceState::Running;
            self.running.push(key);
            plan.items.push((key, n));
            *budget -= n;
        }
    }

    /// Whether `tokens` begin with full blocks, [`MIN_SHARED_PREFIX`] tokens or more, that a
    /// running sequence has yet to compute (one admitted this step included). Such a request
    /// waits for those blocks to join the prefix cache rather than computing them a second time
    /// in parallel, as SGLang's scheduler does: a burst of requests with one system prompt or
    /// document then prefills it once. Waiting costs the request a step, so a short shared
    /// prefix is computed again instead.
    fn prefix_in_progress(
        &self,
        seqs: &HashMap<u64, Sequence>,
        tokens: &[u32],
        block_size: usize,
    ) -> bool {
        // The prefix cache serves whole blocks, and never the block of the last token.
        let reusable = tokens.len().saturating_sub(1) / block_size * block_size;
        self.running.iter().any(|key| {
            let other = &seqs[key];
            let shared = tokens[..reusable]
                .iter()
                .zip(&other.tokens)
                .take_while(|(a, b)| a == b)
                .count()
                / block_size
                * block_size;
            shared >= MIN_SHARED_PREFIX && other.computed < shared
        })
    }
}
