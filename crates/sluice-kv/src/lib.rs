//! Paged KV-cache bookkeeping: which physical cache blocks each sequence owns, and prefix reuse.
//! May import `sluice-core` (the id types); never tensors, models or the engine.
//!
//! The KV cache is `num_blocks` physical blocks of `block_size` token slots. A sequence owns a
//! *block table*; token position `p` lives in slot `table[p / block_size] * block_size +
//! p % block_size`. This crate holds no tensors, clocks or global state: it only decides which
//! slots the engine writes, so it can be tested exhaustively without a model.
//!
//! With prefix caching, full blocks whose KV has been computed are indexed by a hash chain over
//! their token ids, so a later request (or the recomputation of a preempted sequence) that starts
//! with the same tokens reuses them instead of recomputing them. Shared blocks are reference
//! counted; freed blocks that still hold a cached prefix stay evictable in LRU order.
//!
//! The engine's loop per sequence:
//! 1. [`BlockManager::can_allocate`] to decide whether to admit it (`Later` = wait,
//!    `Impossible` = reject);
//! 2. [`BlockManager::start_sequence`], which returns the sequence's [`BlockLease`] and how
//!    many leading tokens are already computed;
//! 3. per step, [`BlockManager::grow`] to cover the tokens of the step, write KV into
//!    [`BlockManager::slot`]s, then [`BlockManager::commit_tokens`] for the tokens that are
//!    final ([`BlockManager::truncate`] gives back the blocks of rejected speculative ones);
//! 4. drop the lease on finish, abort or preemption: its blocks are freed.

mod block;
mod config;
mod error;
mod free_list;
mod invariants;
mod lease;
mod manager;
mod pool;
mod prefix;

#[cfg(test)]
mod tests;

pub use block::AllocStatus;
pub use config::KvConfig;
pub use error::KvError;
pub use lease::BlockLease;
pub use manager::BlockManager;
pub use sluice_core::{BlockId, SeqId};
