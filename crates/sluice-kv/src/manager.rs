//! Per-sequence block tables on top of the pool and the prefix cache: the public API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sluice_core::{BlockId, SeqId};

use crate::lease::BlockLease;
use crate::pool::BlockPool;
use crate::prefix::{ChainLink, Lookup, PrefixCache};
use crate::{AllocStatus, KvConfig, KvError};

/// One sequence's view of the cache.
#[derive(Clone, Debug)]
pub(crate) struct Sequence {
    pub(crate) table: Vec<BlockId>,
    /// Leading blocks whose contents are final: prefix-cache hits plus full blocks passed to
    /// `commit_tokens`. Only these may be shared; blocks from here on are private to the
    /// sequence, which is what makes writing into them safe.
    pub(crate) sealed: usize,
    /// The cache entry the next sealed block chains from.
    tail: Option<ChainLink>,
}

/// Owns the block pool and the block table of every sequence.
///
/// A sequence's blocks are held by the [`BlockLease`] that [`Self::start_sequence`] returns,
/// and freed when it is dropped (finish, abort, preemption): the owner of a sequence cannot
/// forget to give its blocks back. The state sits behind a mutex that the leases share; only
/// the engine thread uses it, so the lock is never contended.
#[derive(Debug)]
pub struct BlockManager {
    state: Arc<Mutex<State>>,
}

/// Everything the manager and its leases share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: KvConfig,
    pub(crate) pool: BlockPool,
    pub(crate) cache: PrefixCache,
    pub(crate) sequences: HashMap<SeqId, Sequence>,
    prefix_cache_hits: u64,
}

/// The state, whether or not a thread panicked while holding it: every method leaves it
/// consistent before it could panic (allocation is all-or-nothing).
pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BlockManager {
    pub fn new(config: KvConfig) -> Result<Self, KvError> {
        config.validate()?;
        let state = State {
            config,
            pool: BlockPool::new(config.num_blocks),
            cache: PrefixCache::new(config.num_blocks, config.block_size),
            sequences: HashMap::new(),
            prefix_cache_hits: 0,
        };
        Ok(BlockManager {
            state: Arc::new(Mutex::new(state)),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn config(&self) -> KvConfig {
        self.state().config
    }

    pub fn block_size(&self) -> usize {
        self.config().block_size
    }

    /// Whether computed full blocks are shared through the prefix cache.
    pub fn prefix_caching(&self) -> bool {
        self.config().enable_prefix_caching
    }

    pub fn num_blocks(&self) -> usize {
        self.config().num_blocks
    }

    /// Blocks held by no sequence, including those that still hold an evictable cached prefix.
    pub fn num_free_blocks(&self) -> usize {
        self.state().pool.num_free()
    }

    pub fn capacity_tokens(&self) -> usize {
        self.num_blocks() * self.block_size()
    }

    /// Fraction of blocks held by sequences, in `0.0..=1.0`.
    pub fn usage(&self) -> f64 {
        (self.num_blocks() - self.num_free_blocks()) as f64 / self.num_blocks() as f64
    }

    /// Can sequence `seq` grow so that it holds `total_tokens` tokens?
    ///
    /// For an existing sequence `tokens` is ignored. For a new one, `tokens` are its token ids:
    /// blocks that [`Self::start_sequence`] would take from the prefix cache need no new block
    /// (though a hit on a free cached block still uses up one free block).
    pub fn can_allocate(&self, seq: SeqId, tokens: &[u32], total_tokens: usize) -> AllocStatus {
        self.state().can_allocate(seq, tokens, total_tokens)
    }

    /// Starts sequence `seq` with its `tokens` (a prompt, or a preempted sequence's prompt plus
    /// generated tokens). Takes the longest cached prefix of full blocks and returns the lease
    /// on the sequence's blocks with how many leading tokens are already computed: a multiple
    /// of the block size, and strictly less than `tokens.len()` so at least one token is
    /// computed to produce logits. No new block is allocated: call [`Self::grow`] next.
    pub fn start_sequence(
        &mut self,
        seq: SeqId,
        tokens: &[u32],
    ) -> Result<(BlockLease, usize), KvError> {
        let mut state = self.state();
        let found = state.lookup(tokens);
        let computed = state.start(seq, tokens, found)?;
        drop(state);
        Ok((BlockLease::new(seq, &self.state), computed))
    }

    /// Like [`Self::start_sequence`], but takes nothing from the prefix cache, so every token
    /// is computed (for requests that need the logits of every prompt position). Its full
    /// blocks still join the cache as they are committed.
    pub fn start_sequence_uncached(
        &mut self,
        seq: SeqId,
        tokens: &[u32],
    ) -> Result<BlockLease, KvError> {
        self.state().start(seq, tokens, Lookup::default())?;
        Ok(BlockLease::new(seq, &self.state))
    }

    /// Ensures the block table covers positions `0..total_tokens`, allocating blocks (and
    /// evicting LRU cached ones) as needed. All-or-nothing: on error nothing changed. Never
    /// shrinks a table (see [`Self::truncate`]).
    pub fn grow(&mut self, seq: SeqId, total_tokens: usize) -> Result<(), KvError> {
        self.state().grow(seq, total_tokens)
    }

    /// Cuts sequence `seq` back to its first `len` tokens and frees the blocks past them,
    /// which never enter the prefix cache (speculative tokens that were rejected). Only
    /// uncommitted tokens can be taken back. Returns how many blocks were freed.
    pub fn truncate(&mut self, seq: SeqId, len: usize) -> Result<usize, KvError> {
        self.state().truncate(seq, len)
    }

    /// Reports that KV is written for positions `0..computed_tokens`, whose ids are
    /// `tokens[..computed_tokens]`, and registers the newly full blocks in the prefix cache.
    ///
    /// `computed_tokens` is clamped to `tokens.len()` and to the table's capacity; an unknown
    /// `seq` or prefix caching being off makes this a no-op. `tokens` must agree with the
    /// tokens passed before: blocks already registered are not hashed again. Committed
    /// tokens are final: [`Self::truncate`] cannot take them back.
    pub fn commit_tokens(&mut self, seq: SeqId, tokens: &[u32], computed_tokens: usize) {
        self.state().commit_tokens(seq, tokens, computed_tokens)
    }

    /// A copy of the sequence's block table.
    pub fn block_table(&self, seq: SeqId) -> Option<Vec<BlockId>> {
        self.state().sequences.get(&seq).map(|s| s.table.clone())
    }

    /// The physical slot of token `position` of `seq`; `None` if the table does not cover it.
    pub fn slot(&self, seq: SeqId, position: usize) -> Option<usize> {
        self.state().slot(seq, position)
    }

    pub fn has_sequence(&self, seq: SeqId) -> bool {
        self.state().sequences.contains_key(&seq)
    }

    pub fn num_sequences(&self) -> usize {
        self.state().sequences.len()
    }

    /// Blocks reused from the prefix cache by `start_sequence`, since creation.
    pub fn prefix_cache_hits(&self) -> u64 {
        self.state().prefix_cache_hits
    }

    /// Checks every bookkeeping invariant (see `invariants.rs`); for tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.state().check_invariants()
    }
}

impl State {
    fn block_size(&self) -> usize {
        self.config.block_size
    }

    pub(crate) fn num_blocks(&self) -> usize {
        self.config.num_blocks
    }

    fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size())
    }

    fn can_allocate(&self, seq: SeqId, tokens: &[u32], total_tokens: usize) -> AllocStatus {
        let wanted = self.blocks_for(total_tokens);
        if wanted > self.num_blocks() {
            return AllocStatus::Impossible;
        }
        let (held, revived) = match self.sequences.get(&seq) {
            Some(sequence) => (sequence.table.len(), 0),
            None => {
                let hits = self.lookup(tokens).blocks;
                let revived = hits
                    .iter()
                    .filter(|&&b| self.pool.ref_count(b) == 0)
                    .count();
                (hits.len(), revived)
            }
        };
        if wanted.saturating_sub(held) + revived <= self.pool.num_free() {
            AllocStatus::Ok
        } else {
            AllocStatus::Later
        }
    }

    fn start(&mut self, seq: SeqId, tokens: &[u32], found: Lookup) -> Result<usize, KvError> {
        if self.sequences.contains_key(&seq) {
            return Err(KvError::SequenceExists(seq));
        }
        if tokens.is_empty() {
            return Err(KvError::EmptyPrompt(seq));
        }
        let Lookup { blocks, tail } = found;
        blocks.iter().for_each(|&b| self.pool.acquire(b));
        self.prefix_cache_hits += blocks.len() as u64;
        let computed = blocks.len() * self.block_size();
        let sequence = Sequence {
            sealed: blocks.len(),
            table: blocks,
            tail,
        };
        self.sequences.insert(seq, sequence);
        Ok(computed)
    }

    fn grow(&mut self, seq: SeqId, total_tokens: usize) -> Result<(), KvError> {
        let wanted = self.blocks_for(total_tokens);
        let free = self.pool.num_free();
        let sequence = self
            .sequences
            .get_mut(&seq)
            .ok_or(KvError::UnknownSequence(seq))?;
        let needed = wanted.saturating_sub(sequence.table.len());
        if needed > free {
            return Err(KvError::OutOfBlocks { needed, free });
        }
        for block in std::iter::from_fn(|| self.pool.allocate()).take(needed) {
            self.cache.forget(block);
            sequence.table.push(block);
        }
        Ok(())
    }

    fn truncate(&mut self, seq: SeqId, len: usize) -> Result<usize, KvError> {
        let block_size = self.block_size();
        let keep = self.blocks_for(len);
        let sequence = self
            .sequences
            .get_mut(&seq)
            .ok_or(KvError::UnknownSequence(seq))?;
        let committed = sequence.sealed * block_size;
        if len < committed {
            return Err(KvError::TruncateCommitted {
                seq,
                len,
                committed,
            });
        }
        // Blocks past the sealed ones are private and uncached (an invariant), so they go to
        // the front of the free list, reused first.
        let freed = sequence.table.split_off(keep.min(sequence.table.len()));
        for &block in freed.iter().rev() {
            self.pool.release(block, false);
        }
        Ok(freed.len())
    }

    fn commit_tokens(&mut self, seq: SeqId, tokens: &[u32], computed_tokens: usize) {
        if !self.config.enable_prefix_caching {
            return;
        }
        let block_size = self.block_size();
        let Some(sequence) = self.sequences.get_mut(&seq) else {
            return;
        };
        let computed = computed_tokens
            .min(tokens.len())
            .min(sequence.table.len() * block_size);
        let full = computed / block_size;
        for i in sequence.sealed..full {
            let block_tokens = &tokens[i * block_size..(i + 1) * block_size];
            let registration = self
                .cache
                .register(sequence.tail, block_tokens, sequence.table[i]);
            if let Some(displaced) = registration.displaced {
                self.pool.demote(displaced);
            }
            sequence.tail = Some(registration.link);
        }
        sequence.sealed = sequence.sealed.max(full);
    }

    fn slot(&self, seq: SeqId, position: usize) -> Option<usize> {
        let block_size = self.block_size();
        let block = self.sequences.get(&seq)?.table.get(position / block_size)?;
        Some(block.index() * block_size + position % block_size)
    }

    /// Releases every block of `seq` (its lease was dropped); unknown `seq` is a no-op.
    /// Cached full blocks stay in the cache, evictable, so a later request or the
    /// recomputation of a preempted sequence can reuse them. A table's blocks are freed last
    /// block first, so a chain is evicted from its tail and its more widely shared head survives
    /// longest.
    pub(crate) fn free_sequence(&mut self, seq: SeqId) {
        let Some(sequence) = self.sequences.remove(&seq) else {
            return;
        };
        for &block in sequence.table.iter().rev() {
            self.pool.release(block, self.cache.is_cached(block));
        }
    }

    /// The cached prefix `start_sequence` would take: full blocks only, and never the block
    /// holding the last token, which must be computed to produce logits.
    fn lookup(&self, tokens: &[u32]) -> Lookup {
        if !self.config.enable_prefix_caching {
            return Lookup::default();
        }
        let max_blocks = tokens.len().saturating_sub(1) / self.block_size();
        self.cache.lookup(tokens, max_blocks)
    }
}
