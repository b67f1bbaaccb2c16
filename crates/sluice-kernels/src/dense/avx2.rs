//! The AVX2 + FMA form of `dense::dot`, for up to [`WEIGHT_ROWS`] weight rows at once: one
//! 8-lane accumulator per row, so the rows' chains of fused multiply-adds run side by side and
//! the activations are loaded once for all of them. Lane `l` sums `k % 8 == l`, as the scalar
//! form does, so the results are equal bit for bit.

use super::{DenseMatrix, WEIGHT_ROWS};
use crate::element::{load8, Element};
use crate::ggml::LANES;
use crate::simd::{hsum8_by_lane, transpose8};
use std::arch::x86_64::*;

/// `out[i] = W[ns.start + i] · x`, unscaled.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `ns` holds at most [`WEIGHT_ROWS`] rows of `w`, and
/// `x.len() == w.cols`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_rows<E: Element>(
    w: DenseMatrix<'_, E>,
    ns: std::ops::Range<usize>,
    x: &[f32],
    out: &mut [f32; WEIGHT_ROWS],
) {
    let cols = w.cols;
    let whole = cols / LANES * LANES;
    let rows: [*const E; WEIGHT_ROWS] = std::array::from_fn(|i| {
        w.values
            .as_ptr()
            .add((ns.start + i.min(ns.len() - 1)) * cols)
    });
    let mut acc = [_mm256_setzero_ps(); WEIGHT_ROWS];
    for k in (0..whole).step_by(LANES) {
        let xv = _mm256_loadu_ps(x.as_ptr().add(k));
        for (a, row) in acc.iter_mut().zip(rows) {
            *a = _mm256_fmadd_ps(load8(row.add(k)), xv, *a);
        }
    }
    // Lane i of `sums` is row i's hsum_float_8.
    let mut padded = [_mm256_setzero_ps(); LANES];
    padded[..WEIGHT_ROWS].copy_from_slice(&acc);
    let mut sums = [0f32; LANES];
    _mm256_storeu_ps(sums.as_mut_ptr(), hsum8_by_lane(transpose8(padded)));
    for (i, (o, row)) in out.iter_mut().zip(rows).enumerate().take(ns.len()) {
        let mut sum = sums[i];
        for (k, &xv) in x.iter().enumerate().skip(whole) {
            sum = (*row.add(k)).to_f32().mul_add(xv, sum);
        }
        *o = sum;
    }
}
