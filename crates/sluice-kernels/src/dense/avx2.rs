//! The AVX2 + FMA forms of `dense`'s two orders, for up to [`WEIGHT_ROWS`] weight rows at once,
//! so the rows' chains of fused multiply-adds run side by side and the activations are loaded
//! once for all of them. The same operations per value as the scalar forms, so the results
//! are equal bit for bit (tested in `dense/tests.rs`).

use super::{finish_vec_dot, DenseMatrix, Order, WEIGHT_ROWS};
use crate::element::{load8, Element};
use crate::ggml::LANES;
use crate::simd::{hsum8_by_lane, transpose8};
use std::arch::x86_64::*;

/// `out[i] = W[ns.start + i] · x` in `order`, unscaled.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `ns` holds at most [`WEIGHT_ROWS`] rows of `w`, and
/// `x.len() == w.cols`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_rows<E: Element>(
    w: DenseMatrix<'_, E>,
    ns: std::ops::Range<usize>,
    x: &[f32],
    order: Order,
    out: &mut [f32; WEIGHT_ROWS],
) {
    let cols = w.cols;
    // Rows past `ns` repeat its last row: computed, never stored.
    let rows: [*const E; WEIGHT_ROWS] = std::array::from_fn(|i| {
        w.values
            .as_ptr()
            .add((ns.start + i.min(ns.len() - 1)) * cols)
    });
    match order {
        Order::TinyBlas => tiny_blas(rows, x, ns.len(), out),
        Order::VecDot => {
            for pair in (0..ns.len()).step_by(2) {
                let two = [rows[pair], rows[(pair + 1).min(ns.len() - 1)]];
                let sums = vec_dot_pair(two, x);
                out[pair] = sums[0];
                if pair + 1 < ns.len() {
                    out[pair + 1] = sums[1];
                }
            }
        }
    }
}

/// tinyBLAS's order: one 8-lane accumulator per row, reduced as `hsum_float_8`; values past
/// the last whole group of 8 added after, in order.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiny_blas<E: Element>(
    rows: [*const E; WEIGHT_ROWS],
    x: &[f32],
    n: usize,
    out: &mut [f32; WEIGHT_ROWS],
) {
    let whole = x.len() / LANES * LANES;
    let mut acc = [_mm256_setzero_ps(); WEIGHT_ROWS];
    for k in (0..whole).step_by(LANES) {
        let xv = _mm256_loadu_ps(x.as_ptr().add(k));
        for (a, row) in acc.iter_mut().zip(rows) {
            *a = _mm256_fmadd_ps(load8(row.add(k)), xv, *a);
        }
    }
    // Lane i of the sum is row i's hsum_float_8.
    let mut padded = [_mm256_setzero_ps(); LANES];
    padded[..WEIGHT_ROWS].copy_from_slice(&acc);
    let mut sums = [0f32; LANES];
    _mm256_storeu_ps(sums.as_mut_ptr(), hsum8_by_lane(transpose8(padded)));
    for (i, (o, row)) in out.iter_mut().zip(rows).enumerate().take(n) {
        let mut sum = sums[i];
        for (k, &xv) in x.iter().enumerate().skip(whole) {
            sum = (*row.add(k)).to_f32().mul_add(xv, sum);
        }
        *o = sum;
    }
}

/// `ggml_vec_dot_*`'s order for two rows: four 8-lane accumulators each over steps of 32 in
/// registers; their reduction and the tail are the scalar form's own (`finish_vec_dot`: a
/// dozen adds per row, once per row of thousands of products).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_dot_pair<E: Element>(rows: [*const E; 2], x: &[f32]) -> [f32; 2] {
    const STEP: usize = 4 * LANES;
    let whole = x.len() / STEP * STEP;
    let mut acc = [[_mm256_setzero_ps(); 4]; 2];
    for k in (0..whole).step_by(STEP) {
        for j in 0..4 {
            let xv = _mm256_loadu_ps(x.as_ptr().add(k + j * LANES));
            for (a, row) in acc.iter_mut().zip(rows) {
                a[j] = _mm256_fmadd_ps(load8(row.add(k + j * LANES)), xv, a[j]);
            }
        }
    }
    let mut out = [0f32; 2];
    for (i, (a, row)) in acc.iter().zip(rows).enumerate() {
        let mut lanes = [[0f32; LANES]; 4];
        for (l, v) in lanes.iter_mut().zip(a) {
            _mm256_storeu_ps(l.as_mut_ptr(), *v);
        }
        let tail = std::slice::from_raw_parts(row.add(whole), x.len() - whole);
        out[i] = finish_vec_dot(&lanes, tail, &x[whole..]);
    }
    out
}
