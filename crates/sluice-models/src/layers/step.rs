//! What every layer of one step shares.

use crate::{llama_cpp_batching, ForwardBatch};
use sluice_kernels::attention::SeqSlice;
use sluice_kernels::quant::kquant::RowContext;

/// One step as the kernels see it: the batch, its sequences, and where llama.cpp would have
/// multiplied each row, which its K-quant roundings depend on ([`llama_cpp_batching`]).
pub struct StepContext<'a> {
    pub batch: &'a ForwardBatch,
    pub seqs: Vec<SeqSlice<'a>>,
    /// Per row of the batch.
    pub contexts: Vec<RowContext>,
}

impl<'a> StepContext<'a> {
    /// `tables` are the sequences' block tables as the kernels index them
    /// ([`ForwardBatch::kernel_block_tables`]).
    pub fn new(batch: &'a ForwardBatch, tables: &'a [Vec<u32>]) -> Self {
        let seqs = batch
            .seqs
            .iter()
            .zip(tables)
            .map(|(s, table)| SeqSlice {
                first_row: s.first_row,
                rows: s.rows,
                context_len: s.context_len,
                prompt_len: s.prompt_len,
                block_table: table,
            })
            .collect();
        StepContext {
            batch,
            seqs,
            contexts: llama_cpp_batching::row_contexts(batch),
        }
    }
}
