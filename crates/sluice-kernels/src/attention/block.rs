//! One task of [`super::paged_attention`]: some or all of the query heads that share one K/V
//! head (grouped-query attention), for consecutive rows of one sequence.

use super::element::KvElement;
use super::{AttentionParams, KvLayerView, SeqSlice};
use crate::cpu::DisjointOut;
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
    /// The block's V rows laid out by value (`RowBlock::values_by_dim`).
    values_by_dim: Vec<f32>,
    /// Per query, its values as they multiply K (rounded to the cache's type, see
    /// `element`), when they differ from `q`'s.
    rounded_q: Vec<f32>,
    /// One K row widened to f32, for the scalar `q · k`.
    k_row: Vec<f32>,
}

/// One (row, query head) of a block, worked out once rather than at every position.
struct Query {
    /// Where its values start in `q` and `out`.
    at: usize,
    /// The positions it attends to.
    attended: Range<usize>,
    /// Summation lanes of its `Σ p V`.
    lanes: usize,
    /// Summation lanes of its `q · k`.
    score_lanes: usize,
}

pub(super) struct RowBlock<'a, E> {
    pub q: &'a [f32],
    pub kv: &'a KvLayerView<'a, E>,
    pub seq: &'a SeqSlice<'a>,
    pub params: &'a AttentionParams,
    pub kv_head: usize,
    /// The query heads of this task: all of `kv_head`'s group, or some of them.
    pub heads: Range<usize>,
    /// Rows of the sequence (0 = its first row in the batch).
    pub rows: Range<usize>,
}

impl<E: KvElement> RowBlock<'_, E> {
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

    /// Whether llama.cpp multiplies row `i` with tinyBLAS: a prompt token in a ubatch of two
    /// or more (`ggml::ubatch_len`; tinyBLAS declines a batch of one).
    fn tiny_blas(&self, i: usize) -> bool {
        ggml::ubatch_len(self.position(i), self.seq.prompt_len) >= 2
    }

    /// Summation lanes of `Σ p V`: tinyBLAS's 8, or `ggml_vec_dot_f32`'s (or
    /// `ggml_vec_dot_f16`'s, the same) 32. tinyBLAS takes the product's rows (here the head's
    /// values) in tiles of 4 or 8, so it declines a head size that is not a multiple of 4; its
    /// sum runs over the cache's cells, which llama.cpp pads to a multiple of 256.
    fn lanes(&self, i: usize) -> usize {
        if self.tiny_blas(i) && self.params.head_dim.is_multiple_of(4) {
            LANES
        } else {
            4 * LANES
        }
    }

    /// Summation lanes of `q · k`: `ggml_vec_dot`'s 32, except for the rows tinyBLAS multiplies
    /// over an f16 cache (`element.rs`). Its sum runs over the head's values here, in steps of
    /// 8, so it declines a head size that is not a multiple of 8.
    fn score_lanes(&self, i: usize) -> usize {
        if E::HALF && self.tiny_blas(i) && self.params.head_dim.is_multiple_of(LANES) {
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
    pub(super) fn attend(&self, scratch: &mut Scratch, out: &DisjointOut<'_>) {
        let hd = self.params.head_dim;
        let n = self.rows.len();
        let queries = &mut scratch.queries;
        queries.clear();
        queries.extend((0..n).flat_map(|i| {
            self.heads.clone().map(move |head| Query {
                at: self.offset((i, head)),
                attended: self.attended(i),
                lanes: self.lanes(i),
                score_lanes: self.score_lanes(i),
            })
        }));
        let rounded_q = &mut scratch.rounded_q;
        rounded_q.clear();
        if E::HALF {
            for query in queries.iter() {
                rounded_q.extend(self.q[query.at..][..hd].iter().map(|&x| E::operand(x)));
            }
        }
        let queries = Queries {
            list: queries,
            values: if E::HALF { rounded_q } else { self.q },
            rounded: E::HALF,
            head_dim: hd,
        };
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
        let scores = &mut scratch.scores;
        scores.clear();
        scores.resize(queries.list.len() * width, f32::NEG_INFINITY);
        #[cfg(target_arch = "x86_64")]
        let by_group =
            crate::cpu::isa() == crate::cpu::Isa::Avx2Fma && hd.is_multiple_of(4 * LANES);
        #[cfg(not(target_arch = "x86_64"))]
        let by_group = false;
        if by_group {
            // Positions past the last attended one read the first cache row; their scores are
            // not kept.
            kv_rows.resize(width, 0);
            #[cfg(target_arch = "x86_64")]
            self.scores_by_group(&queries, kv_rows, start, scores);
        } else {
            let k_row = &mut scratch.k_row;
            self.scores_by_position(&queries, kv_rows, all.clone(), start, scores, k_row);
        }
        for row in scores.chunks_exact_mut(width) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
            let mut sum = 0f64;
            for group in row.chunks_exact_mut(LANES) {
                sum += ggml::exp_group(group.try_into().expect("8 lanes"), max) as f64;
            }
            // The weights as ggml scales them (`ggml_vec_scale_f32` by 1 / Σ), then as
            // `Σ p V` takes them.
            let inv = (1.0 / sum) as f32;
            row.iter_mut().for_each(|p| *p = E::operand(*p * inv));
        }
        let by_dim = self.values_by_dim(&mut scratch.values_by_dim, kv_rows, start, width);
        // Σ p V, 8 output values at a time: the partial sums of all lanes for those values stay
        // in registers while the V values stream past: prompt rows read them laid out by value
        // (when there is such a layout), other rows from the V rows themselves. Every query
        // takes its turn at the same 8 values before the next 8, so the cache lines holding
        // them are read from memory once per block rather than once per query.
        for d0 in (0..hd).step_by(LANES) {
            let d = d0..(d0 + LANES).min(hd);
            for (j, query) in queries.list.iter().enumerate() {
                let weights = &scores[j * width..(j + 1) * width];
                let sums = match by_dim {
                    #[cfg(target_arch = "x86_64")]
                    Some(values) if query.lanes == LANES => {
                        // The query's groups of 8 positions, from the layout's first. Weights
                        // of the positions it does not attend are 0, and adding 0 · v (v
                        // finite) leaves a sum that started at +0 as it was.
                        let groups = (query.attended.start - start) / LANES
                            ..(query.attended.end - start).div_ceil(LANES);
                        // SAFETY: the CPU has AVX2, FMA and F16C (`values_by_dim` gave a
                        // layout); the groups lie within `width` (a multiple of 8) and
                        // d0 + 8 <= hd.
                        unsafe {
                            super::avx2::weighted_sum8_by_dim(values, width, weights, groups, d0)
                        }
                    }
                    _ => {
                        let pv = WeightedSum {
                            v: self.kv.v,
                            rows: kv_rows,
                            weights,
                            first: start,
                            positions: query.attended.clone(),
                        };
                        match query.lanes {
                            LANES => pv.sum::<LANES>(d.clone()),
                            _ => pv.sum::<{ 4 * LANES }>(d.clone()),
                        }
                    }
                };
                // SAFETY: only this task owns these rows and heads of `out`.
                unsafe { out.write_all(query.at + d0, &sums[..d.len()]) };
            }
        }
    }
}

/// The block's queries, and their values as they multiply K: `q` itself (query `j` at its
/// offset `at`), or copies rounded to the cache's type (query `j` at `j * head_dim`).
struct Queries<'a> {
    list: &'a [Query],
    values: &'a [f32],
    rounded: bool,
    head_dim: usize,
}

impl Queries<'_> {
    fn values(&self, j: usize) -> &[f32] {
        let at = if self.rounded {
            j * self.head_dim
        } else {
            self.list[j].at
        };
        &self.values[at..][..self.head_dim]
    }
}

impl<E: KvElement> RowBlock<'_, E> {
    /// `scores[j * width + pos - start]` = query `j`'s scaled `q · k` at each position it
    /// attends, one position at a time: each K row is read once (widened into `k_row` from an
    /// f16 cache) for every query of the block. The cache rows of positions a few steps ahead
    /// are requested early (K for this pass, V for the weighted sums).
    fn scores_by_position(
        &self,
        queries: &Queries<'_>,
        kv_rows: &[usize],
        all: Range<usize>,
        start: usize,
        scores: &mut [f32],
        k_row: &mut Vec<f32>,
    ) {
        let hd = self.params.head_dim;
        let width = scores.len() / queries.list.len();
        let kv_row = |pos: usize| kv_rows[pos - start];
        for pos in all.clone() {
            if pos + PREFETCH_AHEAD < all.end {
                let ahead = kv_row(pos + PREFETCH_AHEAD);
                crate::cpu::prefetch(&self.kv.k[ahead..][..hd]);
                crate::cpu::prefetch(&self.kv.v[ahead..][..hd]);
            }
            let k = E::widen(&self.kv.k[kv_row(pos)..][..hd], k_row);
            for (j, query) in queries.list.iter().enumerate() {
                if query.attended.contains(&pos) {
                    let q = queries.values(j);
                    let dot = match (query.score_lanes, E::HALF) {
                        (LANES, _) => ggml::dot_tiny_blas(k, q),
                        (_, true) => ggml::dot_vec_f16(k, q),
                        (_, false) => ggml::dot_vec_f32(k, q),
                    };
                    scores[j * width + pos - start] = dot * self.params.scale;
                }
            }
        }
    }

    /// [`Self::scores_by_position`]'s scores, 8 positions at a time (`kv_rows` covers every
    /// group, `width` entries from `start`): each query's 8 dot products are reduced together
    /// ([`super::avx2::scaled_dots8`]), equal bit for bit to one at a time. The next group's
    /// cache rows are requested while this one is computed.
    #[cfg(target_arch = "x86_64")]
    fn scores_by_group(
        &self,
        queries: &Queries<'_>,
        kv_rows: &[usize],
        start: usize,
        scores: &mut [f32],
    ) {
        let hd = self.params.head_dim;
        let width = kv_rows.len();
        assert!(hd.is_multiple_of(4 * LANES) && width.is_multiple_of(LANES));
        assert!(kv_rows
            .iter()
            .all(|&r| r + hd <= self.kv.k.len().min(self.kv.v.len())));
        for (g, rows) in kv_rows.chunks_exact(LANES).enumerate() {
            let rows: &[usize; LANES] = rows.try_into().expect("8 rows");
            if let Some(next) = kv_rows.get((g + 1) * LANES..(g + 2) * LANES) {
                for &r in next {
                    crate::cpu::prefetch(&self.kv.k[r..][..hd]);
                    crate::cpu::prefetch(&self.kv.v[r..][..hd]);
                }
            }
            let group = start + g * LANES..start + (g + 1) * LANES;
            for (j, query) in queries.list.iter().enumerate() {
                let kept = group.start.max(query.attended.start)..group.end.min(query.attended.end);
                if kept.is_empty() {
                    continue;
                }
                let (q, k, scale) = (queries.values(j), self.kv.k, self.params.scale);
                // SAFETY: the CPU has AVX2, FMA and F16C (the caller checked); hd is a multiple
                // of 32 and every row holds hd values (asserted).
                let dots = unsafe {
                    match query.score_lanes {
                        LANES => super::avx2::scaled_dots8::<E, LANES>(k, rows, q, scale),
                        _ => super::avx2::scaled_dots8::<E, { 4 * LANES }>(k, rows, q, scale),
                    }
                };
                scores[j * width + kept.start - start..][..kept.len()]
                    .copy_from_slice(&dots[kept.start - group.start..kept.end - group.start]);
            }
        }
    }

    /// The block's V rows laid out by value (`[d][position - start]`, `width` positions, those
    /// outside the attended ones zero) for the prompt rows' weighted sums, when this CPU has
    /// the kernels that read them and the block has prompt rows; `None` otherwise.
    fn values_by_dim<'s>(
        &self,
        buffer: &'s mut Vec<f32>,
        kv_rows: &[usize],
        start: usize,
        width: usize,
    ) -> Option<&'s [f32]> {
        #[cfg(target_arch = "x86_64")]
        {
            let hd = self.params.head_dim;
            let prompt_rows = (0..self.rows.len()).any(|i| self.lanes(i) == LANES);
            let simd = crate::cpu::isa() == crate::cpu::Isa::Avx2Fma;
            if prompt_rows && simd && hd.is_multiple_of(LANES) {
                let n = self.rows.len();
                let filled = self.attended(0).start - start..self.attended(n - 1).end - start;
                assert!(filled.end <= kv_rows.len() && width.is_multiple_of(LANES));
                assert!(kv_rows[filled.clone()]
                    .iter()
                    .all(|&r| r + hd <= self.kv.v.len()));
                buffer.resize(hd * width, 0.0);
                // SAFETY: the CPU has AVX2, FMA and F16C; hd and width are multiples of 8, the
                // buffer holds hd · width values, and the filled rows lie within V (asserted).
                unsafe {
                    super::avx2::values_by_dim(self.kv.v, kv_rows, filled, hd, width, buffer)
                };
                return Some(buffer);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (buffer, kv_rows, start, width);
        None
    }
}

/// `Σ_p weight(p) V[p][d]` for up to 8 values `d` of one query.
pub(super) struct WeightedSum<'a, E> {
    pub v: &'a [E],
    /// Where position `first + i`'s V row starts, at `rows[i]`.
    pub rows: &'a [usize],
    /// Position `first + i`'s weight, at `weights[i]`.
    pub weights: &'a [f32],
    /// The position at index 0 of `rows` and `weights`.
    pub first: usize,
    /// The positions summed (at least `first`).
    pub positions: Range<usize>,
}

impl<E: KvElement> WeightedSum<'_, E> {
    /// Sums in `L` lanes by position (`p % L`), reduced as tinyBLAS (8) or `ggml_vec_dot_f32`
    /// (32) reduce them. `L` is a constant so the lanes can live in registers.
    fn sum<const L: usize>(&self, d: Range<usize>) -> [f32; LANES] {
        assert!(self.positions.start >= self.first);
        assert!(self.positions.end - self.first <= self.rows.len().min(self.weights.len()));
        #[cfg(target_arch = "x86_64")]
        if d.len() == LANES && crate::cpu::isa() == crate::cpu::Isa::Avx2Fma {
            // SAFETY: the CPU has AVX2, FMA and F16C; `rows` and `weights` cover the positions
            // (asserted); every V row holds `d` (within head_dim): `attend` sliced K at the same
            // offsets with bounds checks, and `paged_attention` asserts V is as long as K.
            return unsafe {
                super::avx2::weighted_sum8::<E, L>(
                    self.v,
                    self.rows,
                    self.weights,
                    self.first,
                    self.positions.clone(),
                    d.start,
                )
            };
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
                if let Ok(v) = <&[E; LANES]>::try_from(v) {
                    for t in 0..LANES {
                        lane[t] = v[t].to_f32().mul_add(w, lane[t]);
                    }
                } else {
                    for (a, &x) in lane.iter_mut().zip(v) {
                        *a = x.to_f32().mul_add(w, *a);
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

    /// The prompt rows' sums from V laid out by value equal the scalar sums by position bit
    /// for bit, though they also add the 0-weighted positions of a query's partial groups; for
    /// both cache types.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sums_by_value_equal_the_scalar_ones_exactly() {
        if crate::cpu::isa() != crate::cpu::Isa::Avx2Fma {
            return;
        }
        fn check<E: KvElement>() {
            let (hd, width, stride) = (16, 40, 20);
            let v: Vec<E> = (0..width * stride)
                .map(|i| E::from_f32(((i * 37 % 101) as f32 - 50.0) / 7.0))
                .collect();
            let rows: Vec<usize> = (0..width).map(|p| p * stride).collect();
            let mut layout = vec![0f32; hd * width];
            // Position 0 is outside the block's positions, as before a sliding window.
            // SAFETY: AVX2, FMA and F16C checked; 16 and 40 are multiples of 8; every row fits.
            unsafe {
                super::super::avx2::values_by_dim(&v, &rows, 1..width, hd, width, &mut layout)
            };
            for positions in [1..40, 3..29, 9..10, 31..40] {
                let weights: Vec<f32> = (0..width)
                    .map(|i| match positions.contains(&i) {
                        true => ((i * 13 % 17) as f32 + 0.5) / 17.0,
                        false => 0.0,
                    })
                    .collect();
                let pv = WeightedSum {
                    v: &v,
                    rows: &rows,
                    weights: &weights,
                    first: 0,
                    positions: positions.clone(),
                };
                let groups = positions.start / LANES..positions.end.div_ceil(LANES);
                for d0 in [0, 8] {
                    // SAFETY: as above; the groups lie within the 40 positions.
                    let by_value = unsafe {
                        super::super::avx2::weighted_sum8_by_dim(
                            &layout,
                            width,
                            &weights,
                            groups.clone(),
                            d0,
                        )
                    };
                    let bits = |x: [f32; LANES]| x.map(f32::to_bits);
                    assert_eq!(
                        bits(by_value),
                        bits(pv.sum_scalar::<8>(d0..d0 + 8)),
                        "{positions:?}"
                    );
                }
            }
        }
        check::<f32>();
        check::<half::f16>();
    }

    /// Which order sums each row: tinyBLAS's for a prompt token that shares its llama.cpp
    /// ubatch (`Σ p V`, and `q · k` over an f16 cache), `ggml_vec_dot`'s otherwise.
    #[test]
    fn rows_take_tiny_blas_order_by_ubatch_head_size_and_cache_type() {
        fn lanes<E: KvElement>(pos: usize, prompt_len: usize, head_dim: usize) -> [usize; 2] {
            let kv = KvLayerView::<E> {
                k: &[],
                v: &[],
                block_size: 16,
                kv_heads: 1,
                head_dim,
                slot_stride: head_dim,
            };
            let seq = SeqSlice {
                first_row: 0,
                rows: pos + 1,
                context_len: pos + 1,
                prompt_len,
                block_table: &[],
            };
            let params = AttentionParams {
                n_heads: 1,
                kv_heads: 1,
                head_dim,
                scale: 1.0,
                window: None,
            };
            let block = RowBlock {
                q: &[],
                kv: &kv,
                seq: &seq,
                params: &params,
                kv_head: 0,
                heads: 0..1,
                rows: 0..pos + 1,
            };
            [block.lanes(pos), block.score_lanes(pos)]
        }
        const VEC_DOT: usize = 4 * LANES;
        // [Σ p V, q · k]
        assert_eq!(lanes::<f32>(511, 513, 64), [LANES, VEC_DOT]);
        assert_eq!(lanes::<half::f16>(511, 513, 64), [LANES, LANES]);
        // The 513th prompt token is alone in the second ubatch; a 1-token prompt is alone.
        assert_eq!(lanes::<half::f16>(512, 513, 64), [VEC_DOT, VEC_DOT]);
        assert_eq!(lanes::<half::f16>(0, 1, 64), [VEC_DOT, VEC_DOT]);
        assert_eq!(lanes::<half::f16>(600, 513, 64), [VEC_DOT, VEC_DOT]);
        // tinyBLAS declines head sizes it cannot tile (Σ p V) or step through (q · k).
        assert_eq!(lanes::<half::f16>(3, 10, 12), [LANES, VEC_DOT]);
        assert_eq!(lanes::<half::f16>(3, 10, 6), [VEC_DOT, VEC_DOT]);
    }

    /// Eight dot products reduced together equal the scalar ones (`ggml_vec_dot_f32`'s and
    /// tinyBLAS's order) one at a time, scaled, bit for bit, for SmolLM2's and Gemma 3's head
    /// sizes and both cache types.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn dots_by_group_equal_those_by_position_exactly() {
        if crate::cpu::isa() != crate::cpu::Isa::Avx2Fma {
            return;
        }
        fn check<E: KvElement>(hd: usize) {
            let k: Vec<E> = (0..11 * hd)
                .map(|i| E::from_f32(((i * 7919 % 1009) as f32 - 504.0) / 97.0))
                .collect();
            let wide: Vec<f32> = k.iter().map(|x| x.to_f32()).collect();
            let q: Vec<f32> = (0..hd)
                .map(|i| ((i * 31 % 113) as f32 - 56.0) / 13.0)
                .collect();
            // Rows out of order, one twice, as a block table may place them.
            let rows = [3, 0, 10, 7, 7, 1, 9, 4].map(|r| r * hd);
            let scale = 0.125f32.sqrt();
            let bits = |x: [f32; LANES]| x.map(f32::to_bits);
            // SAFETY: AVX2, FMA and F16C checked; hd is a multiple of 32; every row fits in `k`.
            let (vec_dot, tiny_blas) = unsafe {
                (
                    super::super::avx2::scaled_dots8::<E, 32>(&k, &rows, &q, scale),
                    super::super::avx2::scaled_dots8::<E, 8>(&k, &rows, &q, scale),
                )
            };
            let want = rows.map(|r| ggml::dot_vec_f32(&wide[r..][..hd], &q) * scale);
            assert_eq!(bits(vec_dot), bits(want), "hd {hd}");
            let want = rows.map(|r| ggml::dot_tiny_blas(&wide[r..][..hd], &q) * scale);
            assert_eq!(bits(tiny_blas), bits(want), "hd {hd}");
        }
        for hd in [32, 64, 256] {
            check::<f32>(hd);
            check::<half::f16>(hd);
        }
    }

    #[test]
    fn detected_weighted_sum_equals_the_scalar_one_exactly() {
        fn check<E: KvElement>() {
            let v: Vec<E> = (0..40 * 16)
                .map(|i| E::from_f32(((i * 37 % 101) as f32 - 50.0) / 7.0))
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
        check::<f32>();
        check::<half::f16>();
    }
}
