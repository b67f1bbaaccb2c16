use sluice_core::BlockId;

/// One model step: prefill chunks and decodes of several sequences, flattened into rows.
///
/// Row `i` is token `tokens[i]` at `positions[i]`; its K/V go to cache slot `slots[i]`. The rows of
/// a sequence are contiguous and end at its newest token. Logits are computed only for
/// `logit_rows` (the last row of a prompt's final chunk and every decode row).
#[derive(Clone, Debug, Default)]
pub struct ForwardBatch {
    pub tokens: Vec<u32>,
    pub positions: Vec<usize>,
    pub slots: Vec<usize>,
    pub seqs: Vec<BatchSeq>,
    pub logit_rows: Vec<usize>,
}

/// A sequence's share of the batch.
#[derive(Clone, Debug)]
pub struct BatchSeq {
    pub first_row: usize,
    pub rows: usize,
    /// Tokens in the cache once this step has run (the positions of its rows end at
    /// `context_len - 1`).
    pub context_len: usize,
    /// Positions below this hold the prompt, which attention sums in llama.cpp's batch order
    /// (see `sluice_kernels::attention`); generated tokens in its single-token order.
    pub prompt_len: usize,
    pub block_table: Vec<BlockId>,
}

impl ForwardBatch {
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The sequences' block tables as the kernels index them (plain block numbers).
    pub fn kernel_block_tables(&self) -> Vec<Vec<u32>> {
        self.seqs
            .iter()
            .map(|s| s.block_table.iter().map(|b| b.0).collect())
            .collect()
    }

    /// Checks the invariants the kernels rely on, so a scheduler bug becomes an error, not
    /// an out-of-bounds panic.
    pub fn validate(&self, num_slots: usize, block_size: usize) -> Result<(), String> {
        let n = self.tokens.len();
        if self.positions.len() != n || self.slots.len() != n {
            return Err("tokens, positions and slots differ in length".into());
        }
        if let Some(s) = self.slots.iter().find(|&&s| s >= num_slots) {
            return Err(format!("slot {s} is outside the cache ({num_slots} slots)"));
        }
        let mut next_row = 0;
        for seq in &self.seqs {
            if seq.first_row != next_row || seq.rows == 0 || seq.rows > seq.context_len {
                return Err(format!(
                    "sequence rows {}+{} are not contiguous",
                    seq.first_row, seq.rows
                ));
            }
            if seq.block_table.len() * block_size < seq.context_len {
                return Err("block table shorter than the context".into());
            }
            if seq
                .block_table
                .iter()
                .any(|&b| (b.index() + 1) * block_size > num_slots)
            {
                return Err("block table points outside the cache".into());
            }
            for i in 0..seq.rows {
                if self.positions[seq.first_row + i] != seq.context_len - seq.rows + i {
                    return Err("positions do not end at context_len - 1".into());
                }
            }
            next_row += seq.rows;
        }
        if next_row != n {
            return Err("sequences do not cover the batch".into());
        }
        if self.logit_rows.iter().any(|&r| r >= n) {
            return Err("logit row outside the batch".into());
        }
        Ok(())
    }
}
