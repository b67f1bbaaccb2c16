//! Where llama.cpp would have multiplied each row of a step, for its K-quant kernels.
//!
//! llama.cpp rounds K-quant products differently depending on the batch a row sits in. It
//! repacks Q4_K matrices (of a multiple of 8 rows, on AVX2 CPUs) and multiplies a batch's
//! rows in groups of 4 (`ggml_gemm_q4_K_8x8_q8_K`), the last `rows % 4` alone
//! (`ggml_gemv_q4_K_8x8_q8_K`); other K-quant matrices it multiplies tile by tile for batches
//! of 8 rows or more (`ggml_compute_forward_mul_mat_tiled`), row by row below that. sluice's
//! batches are its own, so it reproduces what llama.cpp computes for a sequence run alone,
//! the reference's setup: the prompt in ubatches of 512 tokens (llama.cpp's default
//! `n_ubatch`), then one token per step. That depends only on a row's position and its
//! sequence's prompt length, so a row's result still never depends on the other sequences of
//! the step, nor on how the prompt is chunked, nor on preemption (generated tokens recomputed
//! as part of the prompt keep their positions past the prompt, so stay "alone"). Two cases
//! differ from llama.cpp run alone. A prefix taken from the cache keeps the roundings of the
//! request it was computed for: its prompt rows grouped for that prompt's length, its
//! generated rows alone (llama-server's prompt cache does the same). And both run the last
//! layer's MLP on the output rows only (`Transformer::forward`), each as a row alone: true
//! for one output row per sequence, not for requests of prompt logprobs, whose many output
//! rows llama.cpp would multiply together.

use crate::ForwardBatch;
use sluice_kernels::ggml::{ubatch_len, RowContext, UBATCH};

/// Rows llama.cpp's repacked kernels multiply together.
const GROUP: usize = 4;

/// The fewest rows for which ggml takes its tiled K-quant matmul.
const TILED_ROWS: usize = 8;

/// The fewest rows for which ggml multiplies float matrices with tinyBLAS.
const TINY_BLAS_ROWS: usize = 2;

/// Where llama.cpp, running this sequence alone, multiplies position `pos`.
fn context(pos: usize, prompt_len: usize) -> RowContext {
    // A generated token is alone in its ubatch: neither grouped nor tiled.
    let rows = ubatch_len(pos, prompt_len);
    RowContext {
        grouped: pos % UBATCH < rows / GROUP * GROUP,
        tiled: rows >= TILED_ROWS,
        tiny_blas: rows >= TINY_BLAS_ROWS,
    }
}

/// [`context`] for every row of `batch`.
pub(crate) fn row_contexts(batch: &ForwardBatch) -> Vec<RowContext> {
    let mut out = vec![RowContext::default(); batch.len()];
    for seq in &batch.seqs {
        let rows = seq.first_row..seq.first_row + seq.rows;
        for (c, &pos) in out[rows.clone()].iter_mut().zip(&batch.positions[rows]) {
            *c = context(pos, seq.prompt_len);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{context, row_contexts};
    use crate::{BatchSeq, ForwardBatch};
    use sluice_core::BlockId;
    use sluice_kernels::ggml::RowContext;

    fn grouped(pos: usize, prompt_len: usize) -> bool {
        context(pos, prompt_len).grouped
    }

    fn tiled(pos: usize, prompt_len: usize) -> bool {
        context(pos, prompt_len).tiled
    }

    #[test]
    fn prompt_rows_go_in_fours_per_ubatch_and_the_rest_alone() {
        // A 6-token prompt: 4 grouped, 2 alone; then generated tokens alone.
        let six: Vec<bool> = (0..8).map(|p| grouped(p, 6)).collect();
        assert_eq!(six, [true, true, true, true, false, false, false, false]);
        // Prompts shorter than 4 tokens: all alone.
        assert!((0..3).all(|p| !grouped(p, 3)));
        // 571 tokens: a full ubatch of 512 grouped, then 59 = 56 grouped + 3 alone.
        assert!((0..512).all(|p| grouped(p, 571)));
        assert!((512..568).all(|p| grouped(p, 571)));
        assert!((568..580).all(|p| !grouped(p, 571)));
    }

    #[test]
    fn prompt_rows_are_tiled_in_ubatches_of_eight_rows_or_more() {
        assert!((0..7).all(|p| !tiled(p, 7)));
        assert!((0..8).all(|p| tiled(p, 8)));
        assert!(!tiled(8, 8), "a generated token is alone");
        // 515 tokens: a full ubatch, then 3 tokens, too few to tile.
        assert!(tiled(511, 515) && !tiled(512, 515) && !tiled(514, 515));
    }

    /// A step with the middle chunk of one prompt and a decode of another: each row's context
    /// comes from its own sequence's prompt length and its position.
    #[test]
    fn each_row_takes_its_own_sequences_context() {
        let seq = |first_row, rows, context_len, prompt_len| BatchSeq {
            first_row,
            rows,
            context_len,
            prompt_len,
            block_table: vec![BlockId(0)],
        };
        let batch = ForwardBatch {
            tokens: vec![1; 4],
            // Positions 4..7 of a 10-token prompt, then position 6 of a sequence whose prompt
            // had 5 tokens (a decode).
            positions: vec![4, 5, 6, 6],
            slots: vec![0, 1, 2, 3],
            seqs: vec![seq(0, 3, 7, 10), seq(3, 1, 7, 5)],
            logit_rows: vec![3],
        };
        let out = row_contexts(&batch);
        let all = RowContext {
            grouped: true,
            tiled: true,
            tiny_blas: true,
        };
        assert_eq!(out, [all, all, all, RowContext::default()]);
    }
}
