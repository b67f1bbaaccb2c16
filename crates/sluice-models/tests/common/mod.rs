//! What the model tests build alike: a host K/V store of small blocks, and a step of one
//! sequence in it.
#![allow(dead_code)] // each test binary uses a different subset

use sluice_core::BlockId;
use sluice_models::{BatchSeq, CausalLm, ForwardBatch, KvDtype, KvStore};
use std::ops::Range;

/// Slots per block of the tests' K/V stores.
pub const BLOCK: usize = 4;

/// A host K/V store for `model` of `num_blocks` blocks of [`BLOCK`] slots.
pub fn store(model: &dyn CausalLm, num_blocks: usize) -> KvStore {
    KvStore::new(model.kv_layout(num_blocks, BLOCK, KvDtype::F32))
}

/// One model step of one sequence: `tokens` at `positions`, the sequence's K/V in `blocks`
/// (in order), the first `prompt_len` positions its prompt, logits for `logit_rows`.
pub fn one_sequence(
    tokens: Vec<u32>,
    positions: Range<usize>,
    prompt_len: usize,
    blocks: &[u32],
    logit_rows: Vec<usize>,
) -> ForwardBatch {
    assert_eq!(tokens.len(), positions.len());
    let block_table: Vec<BlockId> = blocks.iter().map(|&b| BlockId(b)).collect();
    ForwardBatch {
        tokens,
        positions: positions.clone().collect(),
        slots: positions
            .clone()
            .map(|p| block_table[p / BLOCK].index() * BLOCK + p % BLOCK)
            .collect(),
        seqs: vec![BatchSeq {
            first_row: 0,
            rows: positions.len(),
            context_len: positions.end,
            prompt_len,
            block_table,
        }],
        logit_rows,
    }
}
