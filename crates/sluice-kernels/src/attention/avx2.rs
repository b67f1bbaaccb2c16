//! The AVX2 + FMA forms of attention's sums: the instruction-set layer under `block.rs`, which
//! calls it and which it never imports. The same operations per value as the scalar forms, so
//! the results are equal bit for bit (tested in `block.rs`).

use super::element::KvElement;
use crate::element::load8;
use crate::ggml::LANES;
use crate::simd::{halves_then_hadds_by_lane, hsum8_by_lane, transpose8};
use std::arch::x86_64::*;

/// `Σ_p weight(p) V[p][d0..d0 + 8]` over `positions` in `L` lanes by position, reduced as
/// `block::WeightedSum`'s scalar form: position `first + i`'s V row starts at `rows[i]` of
/// `v`, and its weight is `weights[i]`.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `first <= positions.start`, `rows` and `weights`
/// cover `positions` from `first`, and `row + d0 + 8 <= v.len()` for every position's row.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn weighted_sum8<E: KvElement, const L: usize>(
    v: &[E],
    rows: &[usize],
    weights: &[f32],
    first: usize,
    positions: std::ops::Range<usize>,
    d0: usize,
) -> [f32; LANES] {
    let add = |lane: &mut __m256, pos: usize| {
        let i = pos - first;
        let x = load8(v.as_ptr().add(*rows.get_unchecked(i) + d0));
        *lane = _mm256_fmadd_ps(x, _mm256_set1_ps(*weights.get_unchecked(i)), *lane);
    };
    // Lane `l` sums positions `p % L == l`. The lanes are filled 8 at a time (one pass over
    // the positions per 8 lanes) so that the 8 being summed stay in registers.
    let mut acc = [_mm256_setzero_ps(); L];
    for group in 0..L / LANES {
        let mut part = [_mm256_setzero_ps(); LANES];
        let mut base = positions.start / L * L + group * LANES;
        while base < positions.end {
            if base >= positions.start && base + LANES <= positions.end {
                for (l, lane) in part.iter_mut().enumerate() {
                    add(lane, base + l);
                }
            } else {
                for (l, lane) in part.iter_mut().enumerate() {
                    if positions.contains(&(base + l)) {
                        add(lane, base + l);
                    }
                }
            }
            base += L;
        }
        acc[group * LANES..(group + 1) * LANES].copy_from_slice(&part);
    }
    let sum = if L == LANES {
        // hsum_float_8, value by value.
        hsum8_by_lane(std::array::from_fn(|l| acc[l]))
    } else {
        // reduce_f32x8x4, value by value: the four accumulators pairwise, then the rest.
        halves_then_hadds_by_lane(std::array::from_fn(|l| {
            let x0 = _mm256_add_ps(acc[l], acc[2 * LANES + l]);
            let x1 = _mm256_add_ps(acc[LANES + l], acc[3 * LANES + l]);
            _mm256_add_ps(x0, x1)
        }))
    };
    let mut out = [0f32; LANES];
    _mm256_storeu_ps(out.as_mut_ptr(), sum);
    out
}

/// V of positions `start + i` (`i < width`) laid out by value, `out[d * width + i]`: 8×8
/// blocks of V rows transposed in registers. Positions whose index is outside `filled` are
/// zero (their `rows` entries are not read).
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `head_dim` and `width` are multiples of 8,
/// `out.len() >= head_dim * width`, `rows.len() >= filled.end`, and every `rows[i]` of `filled`
/// has `rows[i] + head_dim <= v.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn values_by_dim<E: KvElement>(
    v: &[E],
    rows: &[usize],
    filled: std::ops::Range<usize>,
    head_dim: usize,
    width: usize,
    out: &mut [f32],
) {
    for i0 in (0..width).step_by(LANES) {
        for d0 in (0..head_dim).step_by(LANES) {
            let mut c = [_mm256_setzero_ps(); LANES];
            for (k, row) in c.iter_mut().enumerate() {
                if filled.contains(&(i0 + k)) {
                    *row = load8(v.as_ptr().add(rows[i0 + k] + d0));
                }
            }
            for (k, values) in transpose8(c).into_iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add((d0 + k) * width + i0), values);
            }
        }
    }
}

/// What `weighted_sum8::<8>` computes, from V laid out by value ([`values_by_dim`]): for values
/// `d0..d0 + 8`, over the groups of 8 positions `groups` (counted from the layout's first
/// position, a multiple of 8), lane `l` of each value's accumulator takes positions
/// `8g + l`, then the 8 lanes are added in `hsum_float_8`'s order. One weight load serves 8
/// values, and each value's positions are consecutive in memory.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `8 * groups.end <= weights.len()` and
/// `(d0 + 8) * width <= values.len()` with `8 * groups.end <= width`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn weighted_sum8_by_dim(
    values: &[f32],
    width: usize,
    weights: &[f32],
    groups: std::ops::Range<usize>,
    d0: usize,
) -> [f32; LANES] {
    let mut acc = [_mm256_setzero_ps(); LANES];
    let (vp, wp) = (values.as_ptr().add(d0 * width), weights.as_ptr());
    for g in groups {
        let w = _mm256_loadu_ps(wp.add(LANES * g));
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(_mm256_loadu_ps(vp.add(k * width + LANES * g)), w, *a);
        }
    }
    // Lane k of transposed[l] is lane l of value k's accumulator; hsum_float_8 per value.
    let sum = hsum8_by_lane(transpose8(acc));
    let mut out = [0f32; LANES];
    _mm256_storeu_ps(out.as_mut_ptr(), sum);
    out
}

/// `scale · (K[rows[p]] · q)` for the 8 positions `p`, each dot product in `L` lanes over the
/// values as the scalar forms sum them: `ggml_vec_dot_f32`'s order for `L` = 32 (four 8-lane
/// accumulators over steps of 32 values, reduced pairwise, then halves, then `hadd` twice), or
/// tinyBLAS's for `L` = 8 (one accumulator, reduced as `hsum_float_8`). The per-position sums
/// stay vectors, and their horizontal reductions run for all 8 at once after a transpose.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `q.len()` is a multiple of `L`, and
/// `rows[p] + q.len() <= k.len()` for every `p`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn scaled_dots8<E: KvElement, const L: usize>(
    k: &[E],
    rows: &[usize; LANES],
    q: &[f32],
    scale: f32,
) -> [f32; LANES] {
    let qp = q.as_ptr();
    let x: [__m256; LANES] = std::array::from_fn(|p| {
        let kp = k.as_ptr().add(rows[p]);
        let mut sum = [_mm256_setzero_ps(); 4];
        for i in (0..q.len()).step_by(L) {
            for (j, s) in sum.iter_mut().enumerate().take(L / LANES) {
                let at = i + j * LANES;
                *s = _mm256_fmadd_ps(load8(kp.add(at)), _mm256_loadu_ps(qp.add(at)), *s);
            }
        }
        if L == LANES {
            sum[0]
        } else {
            _mm256_add_ps(_mm256_add_ps(sum[0], sum[2]), _mm256_add_ps(sum[1], sum[3]))
        }
    });
    // Lane p of transposed[i] is lane i of position p's sum.
    let dots = if L == LANES {
        hsum8_by_lane(transpose8(x))
    } else {
        halves_then_hadds_by_lane(transpose8(x))
    };
    let mut out = [0f32; LANES];
    _mm256_storeu_ps(out.as_mut_ptr(), _mm256_mul_ps(dots, _mm256_set1_ps(scale)));
    out
}
