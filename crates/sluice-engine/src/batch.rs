//! Turns a schedule into the model's flattened batch (DESIGN.md's forward contract).

use crate::sequence::Sequence;
use crate::Schedule;
use sluice_core::SeqId;
use sluice_kv::BlockManager;
use sluice_models::{BatchSeq, ForwardBatch};
use std::collections::HashMap;

/// What one logits row of the step is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitRow {
    /// The sequence's next token is chosen from it. A sequence with proposals has one such
    /// row per proposal and one more, in order: row `i` checks proposal `i`.
    Sample(SeqId),
    /// It scores prompt token `target` (the request asked for prompt logprobs).
    Prompt { seq: SeqId, target: u32 },
}

pub struct BuiltBatch {
    pub forward: ForwardBatch,
    /// One entry per logits row, in row order.
    pub rows: Vec<LogitRow>,
    /// Prompt (or recomputed) tokens in this step, decode tokens (one per decoding sequence)
    /// and the proposals checked beside them.
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
    pub proposed_tokens: usize,
}

pub fn build_batch(
    plan: &Schedule,
    seqs: &HashMap<SeqId, Sequence>,
    blocks: &BlockManager,
) -> BuiltBatch {
    let mut out = BuiltBatch {
        forward: ForwardBatch::default(),
        rows: Vec::new(),
        prefill_tokens: 0,
        decode_tokens: 0,
        proposed_tokens: 0,
    };
    let f = &mut out.forward;
    for &(id, n) in &plan.items {
        let seq = &seqs[&id];
        let first_row = f.tokens.len();
        let end = seq.computed + n;
        for pos in seq.computed..end {
            if seq.scores_prompt_at(pos) {
                f.logit_rows.push(f.tokens.len());
                out.rows.push(LogitRow::Prompt {
                    seq: id,
                    target: seq.tokens[pos + 1],
                });
            }
            // The last token and each proposal: its logits choose the token after it.
            if pos + 1 >= seq.tokens.len() {
                f.logit_rows.push(f.tokens.len());
                out.rows.push(LogitRow::Sample(id));
            }
            f.tokens.push(seq.token_at(pos));
            f.positions.push(pos);
            // The scheduler grew the table to `end`, so every slot exists.
            f.slots.push(blocks.slot(id, pos).unwrap_or(usize::MAX));
        }
        f.seqs.push(BatchSeq {
            first_row,
            rows: n,
            context_len: end,
            prompt_len: seq.prompt_len,
            block_table: blocks.block_table(id).unwrap_or_default(),
        });
        let proposed = end.saturating_sub(seq.tokens.len());
        out.proposed_tokens += proposed;
        if n - proposed == 1 && seq.computed >= seq.prompt_len {
            out.decode_tokens += 1;
        } else {
            out.prefill_tokens += n - proposed;
        }
    }
    out
}
