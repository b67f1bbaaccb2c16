//! Causal attention that reads K and V in place from the paged KV cache.
//!
//! The cache of one layer holds `num_slots = num_blocks * block_size` token slots, each with
//! `kv_heads * head_dim` values of K and of V (f32 or f16), [`slot_stride`] values apart. A sequence's
//! token at position `p` lives in slot `table[p / block_size] * block_size + p % block_size`.
//!
//! Each (query row, head) is computed as llama.cpp's CPU attention (f32 cache, no flash
//! attention) computes it, in its order (`crate::ggml`): scores `q·k` as `ggml_vec_dot_f32`;
//! softmax with ggml's exp over groups of 8 positions and a double-precision sum; then `Σ p V`
//! summed by position as tinyBLAS does for a prompt's tokens and as `ggml_vec_dot_f32` does for
//! a generated token. (llama.cpp sends a matmul to tinyBLAS only when its batch holds two or
//! more tokens; we decide by the ubatch llama.cpp would put the row in, from its position and
//! prompt length (`ggml::ubatch_len`), so chunking and batching never change a result.) An f16
//! cache is computed as llama.cpp computes one: the queries and the weights rounded to f16 first,
//! and a prompt's `q·k` by tinyBLAS (`element.rs` says why).
//!
//! For a block's prompt rows on AVX2, the V rows are first laid out by value (8×8 transposes),
//! so that each weighted sum reads one value's positions from consecutive memory, 8 values
//! sharing each load of the weights; the lanes and their order stay those of tinyBLAS.
//!
//! The parallel tasks are blocks of up to [`ROW_BLOCK`] consecutive rows of one sequence, with
//! all the query heads of one K/V head (`block.rs`): each K and V row is read once per block
//! rather than once per row and head, which is what long prefill chunks and grouped-query
//! attention need. When that gives fewer than two tasks per thread (decoding a single
//! sequence, say), each query head is a task of its own, so that no thread idles. A row's
//! arithmetic is the same in any task (tested).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod block;
mod element;

pub use element::KvElement;

use crate::cpu::DisjointOut;
use rayon::prelude::*;

/// Query rows of one sequence and head that share their reads of K and V.
const ROW_BLOCK: usize = 8;

/// One layer of the paged cache, of f32 or f16 values (`element`).
pub struct KvLayerView<'a, E> {
    pub k: &'a [E],
    pub v: &'a [E],
    pub block_size: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Values from one slot's start to the next's: at least `kv_heads * head_dim`.
    pub slot_stride: usize,
}

impl<E> KvLayerView<'_, E> {
    fn row_offset(&self, table: &[u32], position: usize, kv_head: usize) -> usize {
        let slot = table[position / self.block_size] as usize * self.block_size
            + position % self.block_size;
        slot * self.slot_stride + kv_head * self.head_dim
    }
}

/// Values per cache slot for `kv_heads * head_dim` values: rounded up to an odd number of
/// 64-byte cache lines. The weighted sums read the same 8 values of every position's slot in
/// turn; with a slot of a power-of-two size (Gemma 3's 256 values are 1 KB) those reads fall
/// into a few cache sets and evict each other, so a 571-token prompt's V rows missed the L1
/// and L2 caches. An odd stride spreads them over every set.
pub fn slot_stride<E>(kv_heads: usize, head_dim: usize) -> usize {
    let line = 64 / std::mem::size_of::<E>();
    ((kv_heads * head_dim).div_ceil(line) | 1) * line
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
pub fn paged_attention<E: KvElement>(
    q: &[f32],
    kv: &KvLayerView<'_, E>,
    seqs: &[SeqSlice<'_>],
    params: &AttentionParams,
    out: &mut [f32],
) {
    let hd = params.head_dim;
    assert_eq!(q.len(), out.len());
    let rows: usize = seqs.iter().map(|s| s.rows).sum();
    assert_eq!(rows * params.n_heads * hd, out.len(), "rows do not cover q");
    assert_eq!(
        params.n_heads % params.kv_heads,
        0,
        "query heads in unequal groups"
    );
    // The SIMD sums load V rows without bounds checks; the K pass checks K's.
    assert_eq!(kv.k.len(), kv.v.len(), "K and V caches differ in size");
    let group = params.n_heads / params.kv_heads;
    let blocks: usize = seqs.iter().map(|s| s.rows.div_ceil(ROW_BLOCK)).sum();
    let heads_per_task = heads_per_task(blocks * params.kv_heads, group);
    // (sequence, K/V head, first query head, first row within the sequence): small, built
    // once per call.
    let tasks: Vec<(usize, usize, usize, usize)> = seqs
        .iter()
        .enumerate()
        .flat_map(|(s, seq)| {
            (0..params.kv_heads).flat_map(move |h| {
                (h * group..(h + 1) * group)
                    .step_by(heads_per_task)
                    .flat_map(move |head| {
                        (0..seq.rows)
                            .step_by(ROW_BLOCK)
                            .map(move |r| (s, h, head, r))
                    })
            })
        })
        .collect();
    let out = DisjointOut::new(out);
    tasks.par_iter().for_each_init(
        block::Scratch::default,
        |scratch, &(s, kv_head, head, r)| {
            let seq = &seqs[s];
            let block = block::RowBlock {
                q,
                kv,
                seq,
                params,
                kv_head,
                heads: head..head + heads_per_task,
                rows: r..(r + ROW_BLOCK).min(seq.rows),
            };
            block.attend(scratch, &out);
        },
    );
}

/// Query heads per task: a K/V head's whole group, or one head when the groups would give fewer
/// than two tasks per thread (a thread with one big task and none to steal idles at the end).
fn heads_per_task(group_tasks: usize, group: usize) -> usize {
    if group_tasks < 2 * rayon::current_num_threads() {
        1
    } else {
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::uniform;
    use half::f16;
    use proptest::prelude::*;

    /// Straightforward attention over contiguous K/V, gathered from the blocks first. The queries
    /// and weights are rounded as the cache's type has them rounded.
    fn reference<E: KvElement>(
        q: &[f32],
        kv: &KvLayerView<'_, E>,
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
                            (0..hd)
                                .map(|d| E::operand(qh[d]) * kv.k[off + d].to_f32())
                                .sum::<f32>()
                                * p.scale
                        })
                        .collect();
                    let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                    let z: f32 = e.iter().sum();
                    for (j, w) in (first..=pos).zip(&e) {
                        let off = kv.row_offset(seq.block_table, j, kvh);
                        for d in 0..hd {
                            out[(row * p.n_heads + h) * hd + d] +=
                                E::operand(w / z) * kv.v[off + d].to_f32();
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn slot_strides_are_odd_numbers_of_cache_lines() {
        assert_eq!(slot_stride::<f32>(1, 256), 17 * 16);
        assert_eq!(slot_stride::<f32>(3, 64), 13 * 16);
        assert_eq!(slot_stride::<f32>(1, 8), 16);
        assert_eq!(slot_stride::<f32>(5, 48), 15 * 16);
        assert_eq!(slot_stride::<f16>(1, 256), 9 * 32);
        assert_eq!(slot_stride::<f16>(3, 64), 7 * 32);
    }

    /// One random case, with the cache's values of type `E`: the result equals the reference
    /// within `tolerance`, and does not depend on how the heads are split into tasks.
    #[allow(clippy::too_many_arguments)]
    fn check_case<E: KvElement>(
        seed: u64,
        block_size: usize,
        kv_heads: usize,
        group: usize,
        head_dim: usize,
        lens: &[(usize, usize)],
        window: Option<usize>,
        tolerance: f32,
    ) -> Result<(), TestCaseError> {
        let n_heads = kv_heads * group;
        // Give each sequence its own shuffled blocks: table entries are reversed slot ranges.
        let mut tables = Vec::new();
        let mut next_block = 0u32;
        for &(ctx, _) in lens {
            let nb = ctx.div_ceil(block_size) as u32;
            tables.push((next_block..next_block + nb).rev().collect::<Vec<u32>>());
            next_block += nb;
        }
        let slots = next_block as usize * block_size;
        // Slots packed, or apart by more than their width.
        let slot_stride = kv_heads * head_dim + (seed % 3) as usize;
        let values = |seed| -> Vec<E> {
            uniform(seed, slots * slot_stride)
                .into_iter()
                .map(E::from_f32)
                .collect()
        };
        let (k, v) = (values(seed), values(seed + 1));
        let kv = KvLayerView {
            k: &k,
            v: &v,
            block_size,
            kv_heads,
            head_dim,
            slot_stride,
        };
        let mut seqs = Vec::new();
        let mut first_row = 0;
        for (i, &(ctx, extra)) in lens.iter().enumerate() {
            let rows = (extra % ctx) + 1;
            seqs.push(SeqSlice {
                first_row,
                rows,
                context_len: ctx,
                prompt_len: ctx - rows + i % 2,
                block_table: &tables[i],
            });
            first_row += rows;
        }
        let params = AttentionParams {
            n_heads,
            kv_heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            window,
        };
        let q = uniform(seed + 2, first_row * n_heads * head_dim);
        // One thread keeps the query heads of a K/V head in one task, eight split these small
        // cases into a task per head: the split must not change a bit.
        let on_threads = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = vec![0f32; q.len()];
            pool.install(|| paged_attention(&q, &kv, &seqs, &params, &mut out));
            out
        };
        let out = on_threads(1);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&out), bits(&on_threads(8)));
        let want = reference(&q, &kv, &seqs, &params);
        for (a, b) in out.iter().zip(&want) {
            prop_assert!((a - b).abs() < tolerance, "{a} vs {b}");
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_reference(
            seed in 0u64..1000,
            block_size in 1usize..6,
            kv_heads in 1usize..3,
            group in 1usize..4,
            // 32 and 64: the SIMD q·k path, 8 positions at a time.
            head_dim in proptest::sample::select(vec![1usize, 3, 8, 16, 24, 32, 64]),
            lens in proptest::collection::vec((1usize..12, 0usize..5), 1..4),
            window in proptest::option::of(1usize..6),
        ) {
            let case = (seed, block_size, kv_heads, group, head_dim);
            check_case::<f32>(case.0, case.1, case.2, case.3, case.4, &lens, window, 1e-5)?;
            // The reference rounds each weight too, but from its own sum: a weight may round
            // the other way (2^-11 relative).
            check_case::<f16>(case.0, case.1, case.2, case.3, case.4, &lens, window, 1e-3)?;
        }
    }
}
