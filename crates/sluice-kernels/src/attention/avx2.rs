//! AVX2 + FMA form of `block::WeightedSum::sum` for a full group of 8 output values: the lanes'
//! partial sums live in registers. The same operations per value as the scalar form, so the
//! results are equal bit for bit (tested in `block.rs`).

use super::block::WeightedSum;
use crate::ggml::LANES;
use std::arch::x86_64::*;

/// `Σ_p weight(p) V[p][d0..d0 + 8]` in `L` lanes by position, reduced as the scalar form.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `pv.rows` and `pv.weights` cover `pv.positions` from
/// `pv.first`, and `row + d0 + 8 <= pv.v.len()` for every position's row.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn weighted_sum8<const L: usize>(
    pv: &WeightedSum<'_>,
    d0: usize,
) -> [f32; LANES] {
    let positions = pv.positions.clone();
    let add = |lane: &mut __m256, pos: usize| {
        let i = pos - pv.first;
        let x = _mm256_loadu_ps(pv.v.as_ptr().add(*pv.rows.get_unchecked(i) + d0));
        *lane = _mm256_fmadd_ps(x, _mm256_set1_ps(*pv.weights.get_unchecked(i)), *lane);
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
        // hsum_float_8, value by value: (a0+a4 + a2+a6) + (a1+a5 + a3+a7).
        let r: [__m256; 4] = std::array::from_fn(|i| _mm256_add_ps(acc[i + 4], acc[i]));
        _mm256_add_ps(_mm256_add_ps(r[0], r[2]), _mm256_add_ps(r[1], r[3]))
    } else {
        // reduce_f32x8x4, value by value.
        let x: [__m256; LANES] = std::array::from_fn(|l| {
            let x0 = _mm256_add_ps(acc[l], acc[2 * LANES + l]);
            let x1 = _mm256_add_ps(acc[LANES + l], acc[3 * LANES + l]);
            _mm256_add_ps(x0, x1)
        });
        let t: [__m256; 4] = std::array::from_fn(|i| _mm256_add_ps(x[i], x[i + 4]));
        _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3]))
    };
    let mut out = [0f32; LANES];
    _mm256_storeu_ps(out.as_mut_ptr(), sum);
    out
}
