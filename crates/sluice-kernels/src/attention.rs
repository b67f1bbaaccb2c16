//! Causal attention that reads K and V in place from the paged KV cache.
//!
//! The cache of one layer holds `num_slots = num_blocks * block_size` token slots, each with
//! `kv_heads * head_dim` values of K and of V (f32). A sequence's token
//! at position `p` lives in slot `table[p / block_size] * block_size + p % block_size`.
//!
//! Every (query row, head) pair is an independent task, so a row's result never depends on
//! what else is in the batch. Each computes what llama.cpp's CPU attention (f32 cache, no flash
//! attention) computes, in its order (`crate::ggml`): scores `q·k` as `ggml_vec_dot_f32`;
//! softmax with ggml's exp over groups of 8 positions and a double-precision sum; then `Σ p V`
//! summed by position as tinyBLAS does for a prompt's tokens and as `ggml_vec_dot_f32` does for
//! a generated token. (llama.cpp sends a matmul to tinyBLAS only when its batch holds two or
//! more tokens; we decide by position, so chunking and batching never change a result.)

use crate::ggml::{self, LANES};
use rayon::prelude::*;
use std::ops::Range;

/// Widest head the kernel supports (Gemma 3 uses 256); the accumulator lives on the stack.
pub const MAX_HEAD_DIM: usize = 256;

/// One layer of the paged cache.
pub struct KvLayerView<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub block_size: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl KvLayerView<'_> {
    fn row_offset(&self, table: &[u32], position: usize, kv_head: usize) -> usize {
        let slot = table[position / self.block_size] as usize * self.block_size
            + position % self.block_size;
        (slot * self.kv_heads + kv_head) * self.head_dim
    }
}

/// The query rows of one sequence in the batch: rows `first_row .. first_row + rows` hold its
/// newest tokens, whose positions end at `context_len - 1`.
pub struct SeqSlice<'a> {
    pub first_row: usize,
    pub rows: usize,
    pub context_len: usize,
    /// Positions below this hold the prompt (see the module's note on summation order).
    pub prompt_len: usize,
    pub block_table: &'a [u32],
}

#[derive(Clone, Copy, Debug)]
pub struct AttentionParams {
    pub n_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Multiplies q·k (usually `1/sqrt(head_dim)`).
    pub scale: f32,
    /// Attend only to the last `window` positions (sliding-window layers), `None` for all.
    pub window: Option<usize>,
}

/// `out[row, head] = softmax(q·K * scale) V` over each row's causal context.
///
/// `q` and `out` are `[rows, n_heads * head_dim]`; the K/V of the rows themselves must already be
/// in the cache.
pub fn paged_attention(
    q: &[f32],
    kv: &KvLayerView<'_>,
    seqs: &[SeqSlice<'_>],
    params: &AttentionParams,
    out: &mut [f32],
) {
    let hd = params.head_dim;
    assert!(hd <= MAX_HEAD_DIM, "head_dim {hd} exceeds {MAX_HEAD_DIM}");
    let row_width = params.n_heads * hd;
    // Batch row -> (sequence, position): small, built once per call.
    let mut rows = vec![(0usize, 0usize); q.len() / row_width];
    for (s, seq) in seqs.iter().enumerate() {
        for i in 0..seq.rows {
            rows[seq.first_row + i] = (s, seq.context_len - seq.rows + i);
        }
    }
    let group = params.n_heads / params.kv_heads;
    out.par_chunks_mut(hd).enumerate().for_each_init(
        Scratch::default,
        |scratch, (task, out_head)| {
            let (row, head) = (task / params.n_heads, task % params.n_heads);
            let (seq_idx, position) = rows[row];
            let seq = &seqs[seq_idx];
            let first = params
                .window
                .map_or(0, |w| (position + 1).saturating_sub(w));
            let head = Head {
                q: &q[row * row_width + head * hd..][..hd],
                kv,
                table: seq.block_table,
                kv_head: head / group,
                prompt_row: position < seq.prompt_len,
            };
            head.attend(first..position + 1, params.scale, scratch, out_head);
        },
    );
}

/// Buffers reused by the tasks of one worker.
#[derive(Default)]
struct Scratch {
    /// Scores, then softmax weights, of the positions attended to.
    scores: Vec<f32>,
    /// Partial sums of `Σ p V`: one `head_dim` row per summation lane.
    sums: Vec<f32>,
}

/// One query head of one row, and the cache it reads.
struct Head<'a> {
    q: &'a [f32],
    kv: &'a KvLayerView<'a>,
    table: &'a [u32],
    kv_head: usize,
    prompt_row: bool,
}

impl Head<'_> {
    fn attend(&self, positions: Range<usize>, scale: f32, scratch: &mut Scratch, out: &mut [f32]) {
        let hd = self.q.len();
        let scores = &mut scratch.scores;
        // Softmax sums exp over groups of 8 positions counted from position 0, as ggml does
        // over a sequence's cache cells; positions outside the range are masked (weight 0).
        let start = positions.start / LANES * LANES;
        let end = positions.end.div_ceil(LANES) * LANES;
        scores.clear();
        scores.resize(end - start, f32::NEG_INFINITY);
        let mut max = f32::NEG_INFINITY;
        for p in positions.clone() {
            let k = &self.kv.k[self.offset(p)..][..hd];
            let score = ggml::dot_vec_f32(k, self.q) * scale;
            scores[p - start] = score;
            max = max.max(score);
        }
        let mut sum = 0f64;
        for group in scores.chunks_exact_mut(LANES) {
            for s in group.iter_mut() {
                *s = ggml::expf(*s - max);
            }
            sum += ggml::hsum_float_8(&(*group).try_into().expect("8 lanes")) as f64;
        }
        let inv = (1.0 / sum) as f32;
        // Per output value, independent sums by position: tinyBLAS keeps 8 (position mod 8),
        // ggml_vec_dot_f32 32 (four accumulators of 8 lanes).
        let lanes = if self.prompt_row { LANES } else { 4 * LANES };
        let acc = &mut scratch.sums;
        acc.clear();
        acc.resize(lanes * hd, 0.0);
        for p in positions {
            let w = scores[p - start] * inv;
            let v = &self.kv.v[self.offset(p)..][..hd];
            let lane = p % lanes;
            for (a, &x) in acc[lane * hd..][..hd].iter_mut().zip(v) {
                *a = x.mul_add(w, *a);
            }
        }
        let at = |lane: usize, d: usize| acc[lane * hd + d];
        for (d, o) in out.iter_mut().enumerate() {
            *o = if self.prompt_row {
                ggml::hsum_float_8(&std::array::from_fn(|l| at(l, d)))
            } else {
                ggml::reduce_f32x8x4(&std::array::from_fn(|j| {
                    std::array::from_fn(|l| at(j * LANES + l, d))
                }))
            };
        }
    }

    fn offset(&self, position: usize) -> usize {
        self.kv.row_offset(self.table, position, self.kv_head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Straightforward attention over contiguous K/V, gathered from the blocks first.
    fn reference(
        q: &[f32],
        kv: &KvLayerView<'_>,
        seqs: &[SeqSlice<'_>],
        p: &AttentionParams,
    ) -> Vec<f32> {
        let hd = p.head_dim;
        let mut out = vec![0f32; q.len()];
        for seq in seqs {
            for i in 0..seq.rows {
                let pos = seq.context_len - seq.rows + i;
                let row = seq.first_row + i;
                for h in 0..p.n_heads {
                    let kvh = h / (p.n_heads / p.kv_heads);
                    let qh = &q[(row * p.n_heads + h) * hd..][..hd];
                    let first = p.window.map_or(0, |w| (pos + 1).saturating_sub(w));
                    let scores: Vec<f32> = (first..=pos)
                        .map(|j| {
                            let off = kv.row_offset(seq.block_table, j, kvh);
                            (0..hd).map(|d| qh[d] * kv.k[off + d]).sum::<f32>() * p.scale
                        })
                        .collect();
                    let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                    let z: f32 = e.iter().sum();
                    for (j, w) in (first..=pos).zip(&e) {
                        let off = kv.row_offset(seq.block_table, j, kvh);
                        for d in 0..hd {
                            out[(row * p.n_heads + h) * hd + d] += w / z * kv.v[off + d];
                        }
                    }
                }
            }
        }
        out
    }

    fn values(seed: u64, n: usize) -> Vec<f32> {
        // Small deterministic generator: the test data needs variety, not quality.
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_reference(
            seed in 0u64..1000,
            block_size in 1usize..6,
            kv_heads in 1usize..3,
            group in 1usize..4,
            head_dim in proptest::sample::select(vec![1usize, 3, 8, 16, 24]),
            lens in proptest::collection::vec((1usize..12, 0usize..5), 1..4),
            window in proptest::option::of(1usize..6),
        ) {
            let n_heads = kv_heads * group;
            // Give each sequence its own shuffled blocks: table entries are reversed slot ranges.
            let mut tables = Vec::new();
            let mut next_block = 0u32;
            for &(ctx, _) in &lens {
                let nb = ctx.div_ceil(block_size) as u32;
                tables.push((next_block..next_block + nb).rev().collect::<Vec<u32>>());
                next_block += nb;
            }
            let slots = next_block as usize * block_size;
            let width = kv_heads * head_dim;
            let k: Vec<f32> = values(seed, slots * width);
            let v: Vec<f32> = values(seed + 1, slots * width);
            let kv = KvLayerView { k: &k, v: &v, block_size, kv_heads, head_dim };
            let mut seqs = Vec::new();
            let mut first_row = 0;
            for (i, &(ctx, extra)) in lens.iter().enumerate() {
                let rows = (extra % ctx) + 1;
                seqs.push(SeqSlice { first_row, rows, context_len: ctx, prompt_len: ctx - rows + i % 2, block_table: &tables[i] });
                first_row += rows;
            }
            let params = AttentionParams {
                n_heads, kv_heads, head_dim, scale: 1.0 / (head_dim as f32).sqrt(), window,
            };
            let q = values(seed + 2, first_row * n_heads * head_dim);
            let mut out = vec![0f32; q.len()];
            paged_attention(&q, &kv, &seqs, &params, &mut out);
            let want = reference(&q, &kv, &seqs, &params);
            for (a, b) in out.iter().zip(&want) {
                prop_assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }
}
