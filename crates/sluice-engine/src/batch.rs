//! Turns a schedule into the model's flattened batch (DESIGN.md's forward contract).

use crate::sequence::Sequence;
use crate::Schedule;
use sluice_kv::BlockManager;
use sluice_models::{BatchSeq, ForwardBatch};
use std::collections::HashMap;

pub struct BuiltBatch {
    pub forward: ForwardBatch,
    /// The sequences that get a token this step, in the order of the logits rows.
    pub sampled: Vec<u64>,
    /// Prompt (or recomputed) tokens in this step, and decode tokens (one per decoding sequence).
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
}

pub fn build_batch(
    plan: &Schedule,
    seqs: &HashMap<u64, Sequence>,
    blocks: &BlockManager,
) -> BuiltBatch {
    let mut out = BuiltBatch {
        forward: ForwardBatch::default(),
        sampled: Vec::new(),
        prefill_tokens: 0,
        decode_tokens: 0,
    };
    let f = &mut out.forward;
    for &(key, n) in &plan.items {
        let seq = &seqs[&key];
        let first_row = f.tokens.len();
        let end = seq.computed + n;
        for pos in seq.computed..end {
            f.tokens.push(seq.tokens[pos]);
            f.positions.push(pos);
            // The scheduler grew the table to `end`, so every slot exists.
            f.slots.push(blocks.slot(key, pos).unwrap_or(usize::MAX));
        }
        let table = blocks.block_table(key).unwrap_or(&[]);
        f.seqs.push(BatchSeq {
            first_row,
            rows: n,
            context_len: end,
            block_table: table.iter().map(|b| b.0).collect(),
        });
        if end == seq.tokens.len() {
            f.logit_rows.push(first_row + n - 1);
            out.sampled.push(key);
        }
        if n == 1 && seq.computed >= seq.prompt_len {
            out.decode_tokens += 1;
        } else {
            out.prefill_tokens += n;
        }
    }
    out
}
