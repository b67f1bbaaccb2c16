//! One task of [`super::paged_attention`]: some or all of the query heads that share one K/V
//! head (grouped-query attention), for consecutive rows of one sequence.

use super::{AttentionParams, KvLayerView, SeqSlice};
use crate::cpu::SharedOut;
use crate::ggml::{self, LANES};
use std::ops::Range;

/// How many positions ahead the K pass requests cache rows.
const PREFETCH_AHEAD: usize = 8;

/// Buffers reused by the tasks one worker runs.
#[derive(Default)]
pub(super) struct Scratch {
    /// The block's queries, row by row.
    queries: Vec<Query>,
    /// Where each position's K and V rows start in the cache, from the block's first group of 8
    /// positions (entries before its first attended position are unused).
    kv_rows: Vec<usize>,
    /// Per query: its scores, then its softmax weights, over the same positions.
    scores: Vec<f32>,
}

/// One (row, query head) of a block, worked out once rather than at every position.
struct Query {
    /// Where its values start in `q` and `out`.
    at: usize,
    /// The positions it attends to.
    attended: Range<usize>,
    /// Summation lanes of its `Σ p V`.
    lanes: usize,
}

pub(super) struct RowBlock<'a> {
    pub q: &'a [f32],
    pub kv: &'a KvLayerView<'a>,
    pub seq: &'a SeqSlice<'a>,
    pub params: &'a AttentionParams,
    pub kv_head: usize,
    /// The query heads of this task: all of `kv_head`'s group, or some of them.
    pub heads: Range<usize>,
    /// Rows of the sequence (0 = its first row in the batch).
    pub rows: Range<usize>,
}

impl RowBlock<'_> {
    fn position(&self, i: usize) -> usize {
        self.seq.context_len - self.seq.rows + self.rows.start + i
    }

    /// The positions row `i` of the block attends to.
    fn attended(&self, i: usize) -> Range<usize> {
        let pos = self.position(i);
        let first = self
            .params
            .window
            .map_or(0, |w| (pos + 1).saturating_sub(w));
        first..pos + 1
    }

    /// Summation lanes of `Σ p V`: tinyBLAS's 8 for prompt tokens, `ggml_vec_dot_f32`'s 32 for
    /// generated ones.
    fn lanes(&self, i: usize) -> usize {
        if self.position(i) < self.seq.prompt_len {
            LANES
        } else {
            4 * LANES
        }
    }

    /// Where (row `i` of the block, query head `head`) starts in `q` and `out`.
    fn offset(&self, (i, head): (usize, usize)) -> usize {
        let p = self.params;
        (self.seq.first_row + self.rows.start + i) * p.n_heads * p.head_dim + head * p.head_dim
    }

    /// Writes the block's rows of these heads into `out` (the batch's `[rows, n_heads * hd]`).
    pub(super) fn attend(&self, scratch: &mut Scratch, out: SharedOut) {
        let hd = self.params.head_dim;
        let n = self.rows.len();
        let queries = &mut scratch.queries;
        queries.clear();
        queries.extend((0..n).flat_map(|i| {
            self.heads.clone().map(move |head| Query {
                at: self.offset((i, head)),
                attended: self.attended(i),
                lanes: self.lanes(i),
            })
        }));
        let all = self.attended(0).start..self.attended(n - 1).end;
        // Softmax sums exp over groups of 8 positions counted from position 0, as ggml does
        // over a sequence's cache cells; unattended positions stay masked (-inf, weight 0).
        let start = all.start / LANES * LANES;
        let width = all.end.div_ceil(LANES) * LANES - start;
        let kv_rows = &mut scratch.kv_rows;
        kv_rows.clear();
        kv_rows.resize(all.start - start, 0);
        kv_rows.extend(
            all.clone()
                .map(|pos| self.kv.row_offset(self.seq.block_table, pos, self.kv_head)),
        );
        let kv_row = |pos: usize| kv_rows[pos - start];
        let scores = &mut scratch.scores;
        scores.clear();
        scores.resize(queries.len() * width, f32::NEG_INFINITY);
        // Each K row is read once for every query of the block. The cache rows of positions a
        // few steps ahead are requested early (K for this pass, V for the weighted sums).
        for pos in all.clone() {
            if pos + PREFETCH_AHEAD < all.end {
                let ahead = kv_row(pos + PREFETCH_AHEAD);
                crate::cpu::prefetch(&self.kv.k[ahead..][..hd]);
                crate::cpu::prefetch(&self.kv.v[ahead..][..hd]);
            }
            let k = &self.kv.k[kv_row(pos)..][..hd];
            for (j, query) in queries.iter().enumerate() {
                if query.attended.contains(&pos) {
                    let q = &self.q[query.at..][..hd];
                    scores[j * width + pos - start] = ggml::dot_vec_f32(k, q) * self.params.scale;
                }
            }
        }
        for row in scores.chunks_exact_mut(width) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
            let mut sum = 0f64;
            for group in row.chunks_exact_mut(LANES) {
                sum += ggml::exp_group(group.try_into().expect("8 lanes"), max) as f64;
            }
            // The weights as ggml scales them (`ggml_vec_scale_f32` by 1 / Σ).
            let inv = (1.0 / sum) as f32;
            row.iter_mut().for_each(|p| *p *= inv);
        }
        // Σ p V, 8 output values at a time: the partial sums of all lanes for those values stay
        // in registers while the V rows stream past. Every query takes its turn at the same 8
        // values before the next 8, so the V rows' cache lines holding them are read from
        // memory once per block rather than once per query (a long context's V rows outgrow
        // the L2 cache: 571 positions of Gemma's 256 values are 571 KB).
        for d0 in (0..hd).step_by(LANES) {
            let d = d0..(d0 + LANES).min(hd);
            for (j, query) in queries.iter().enumerate() {
                let pv = WeightedSum {
                    v: self.kv.v,
                    rows: kv_rows,
                    weights: &scores[j * width..(j + 1) * width],
                    first: start,
                    positions: query.attended.clone(),
                };
                let sums = if query.lanes == LANES {
                    pv.sum::<LANES>(d.clone())
                } else {
                    pv.sum::<{ 4 * LANES }>(d.clone())
                };
                for (t, value) in sums.into_iter().take(d.len()).enumerate() {
                    // SAFETY: (row, head, d) is inside `out` (paged_attention checked the
                    // shape), and only this task owns these rows and heads.
                    unsafe { out.write(query.at + d0 + t, value) };
                }
            }
        }
    }
}

/// `Σ_p weight(p) V[p][d]` for up to 8 values `d` of one query.
pub(super) struct WeightedSum<'a> {
    pub v: &'a [f32],
    /// Where position `first + i`'s V row starts, at `rows[i]`.
    pub rows: &'a [usize],
    /// Position `first + i`'s weight, at `weights[i]`.
    pub weights: &'a [f32],
    /// The position at index 0 of `rows` and `weights`.
    pub first: usize,
    /// The positions summed (at least `first`).
    pub positions: Range<usize>,
}

impl WeightedSum<'_> {
    /// Sums in `L` lanes by position (`p % L`), reduced as tinyBLAS (8) or `ggml_vec_dot_f32`
    /// (32) reduce them. `L` is a constant so the lanes can live in registers.
    fn sum<const L: usize>(&self, d: Range<usize>) -> [f32; LANES] {
        assert!(self.positions.start >= self.first);
        assert!(self.positions.end - self.first <= self.rows.len().min(self.weights.len()));
        #[cfg(target_arch = "x86_64")]
        if d.len() == LANES && crate::cpu::isa() == crate::cpu::Isa::Avx2Fma {
            // SAFETY: the CPU has AVX2 and FMA; `rows` and `weights` cover the positions
            // (asserted); every V row holds `d` (within head_dim): `attend` sliced K at the same
            // offsets with bounds checks, and `paged_attention` asserts V is as long as K.
            return unsafe { super::avx2::weighted_sum8::<L>(self, d.start) };
        }
        self.sum_scalar::<L>(d)
    }

    fn sum_scalar<const L: usize>(&self, d: Range<usize>) -> [f32; LANES] {
        let mut acc = [[0f32; LANES]; L];
        let first = self.positions.start / L * L;
        for base in (first..self.positions.end).step_by(L) {
            for (l, lane) in acc.iter_mut().enumerate() {
                let pos = base + l;
                if !self.positions.contains(&pos) {
                    continue;
                }
                let i = pos - self.first;
                let w = self.weights[i];
                let v = &self.v[self.rows[i] + d.start..][..d.len()];
                if let Ok(v) = <&[f32; LANES]>::try_from(v) {
                    for t in 0..LANES {
                        lane[t] = v[t].mul_add(w, lane[t]);
                    }
                } else {
                    for (a, &x) in lane.iter_mut().zip(v) {
                        *a = x.mul_add(w, *a);
                    }
                }
            }
        }
        std::array::from_fn(|t| {
            if L == LANES {
                ggml::hsum_float_8(&std::array::from_fn(|l| acc[l][t]))
            } else {
                ggml::reduce_f32x8x4(&std::array::from_fn(|g| {
                    std::array::from_fn(|l| acc[g * LANES + l][t])
                }))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_weighted_sum_equals_the_scalar_one_exactly() {
        let v: Vec<f32> = (0..40 * 16)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let weights: Vec<f32> = (0..40)
            .map(|i| ((i * 13 % 17) as f32 + 0.5) / 17.0)
            .collect();
        let rows: Vec<usize> = (0..40).map(|p| p * 16).collect();
        for positions in [0..40, 3..29, 9..10, 31..40] {
            let pv = WeightedSum {
                v: &v,
                rows: &rows,
                weights: &weights,
                first: 0,
                positions,
            };
            for d in [0..8, 8..16] {
                let bits = |x: [f32; LANES]| x.map(f32::to_bits);
                assert_eq!(
                    bits(pv.sum::<8>(d.clone())),
                    bits(pv.sum_scalar::<8>(d.clone()))
                );
                assert_eq!(bits(pv.sum::<32>(d.clone())), bits(pv.sum_scalar::<32>(d)));
            }
        }
    }
}
