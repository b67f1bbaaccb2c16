//! The AVX2 + FMA forms of `dense`'s two orders, for up to [`WEIGHT_ROWS`] weight rows and
//! [`X_TILE`] activation rows at once, so the chains of fused multiply-adds run side by side
//! and each value is loaded once for all of them. The same operations per value as the scalar
//! forms, so the results are equal bit for bit (tested in `dense/tests.rs`).

use super::{finish_vec_dot, DenseMatrix, Order, WEIGHT_ROWS, X_TILE};
use crate::element::{load8, Element};
use crate::ggml::LANES;
use crate::simd::{hsum8_by_lane, transpose8};
use std::arch::x86_64::*;

/// `out[j][i] = W[ns.start + i] · xs[j]` in `order`, unscaled.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `ns` holds at most [`WEIGHT_ROWS`] rows of `w`, and
/// `xs` is 1 to [`X_TILE`] rows of `w.cols`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_rows<E: Element>(
    w: DenseMatrix<'_, E>,
    ns: std::ops::Range<usize>,
    xs: &[f32],
    order: Order,
    out: &mut [[f32; WEIGHT_ROWS]; X_TILE],
) {
    let cols = w.cols;
    // Rows past `ns` repeat its last row: computed, never stored.
    let rows: [*const E; WEIGHT_ROWS] = std::array::from_fn(|i| {
        w.values
            .as_ptr()
            .add((ns.start + i.min(ns.len() - 1)) * cols)
    });
    let x = |j: usize| xs.as_ptr().add(j * cols);
    match (order, xs.len() / cols) {
        (Order::TinyBlas, 3) => tiny_blas::<E, 3>(rows, [x(0), x(1), x(2)], cols, ns.len(), out),
        (Order::TinyBlas, 2) => tiny_blas::<E, 2>(rows, [x(0), x(1)], cols, ns.len(), out),
        (Order::TinyBlas, _) => tiny_blas::<E, 1>(rows, [x(0)], cols, ns.len(), out),
        (Order::VecDot, 3) => vec_dot_rows::<E, 3>(rows, [x(0), x(1), x(2)], cols, ns.len(), out),
        (Order::VecDot, 2) => vec_dot_rows::<E, 2>(rows, [x(0), x(1)], cols, ns.len(), out),
        (Order::VecDot, _) => {
            for pair in (0..ns.len()).step_by(2) {
                let two = [rows[pair], rows[(pair + 1).min(ns.len() - 1)]];
                let sums = vec_dot_pair(two, xs);
                out[0][pair] = sums[0];
                if pair + 1 < ns.len() {
                    out[0][pair + 1] = sums[1];
                }
            }
        }
    }
}

/// tinyBLAS's order for [`WEIGHT_ROWS`] weight rows against `XR` activation rows: one 8-lane
/// accumulator per pair, each loaded weight multiplied into all `XR` of them, reduced as
/// `hsum_float_8`; values past the last whole group of 8 added after, in order. `n` weight
/// rows are stored.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiny_blas<E: Element, const XR: usize>(
    rows: [*const E; WEIGHT_ROWS],
    xs: [*const f32; XR],
    cols: usize,
    n: usize,
    out: &mut [[f32; WEIGHT_ROWS]; X_TILE],
) {
    let whole = cols / LANES * LANES;
    let mut acc = [[_mm256_setzero_ps(); WEIGHT_ROWS]; XR];
    for k in (0..whole).step_by(LANES) {
        let xv: [__m256; XR] = std::array::from_fn(|j| _mm256_loadu_ps(xs[j].add(k)));
        for (i, row) in rows.iter().enumerate() {
            let wv = load8(row.add(k));
            for (a, xv) in acc.iter_mut().zip(xv) {
                a[i] = _mm256_fmadd_ps(wv, xv, a[i]);
            }
        }
    }
    for ((acc, x), out) in acc.iter().zip(xs).zip(out.iter_mut()) {
        // Lane i of the sum is row i's hsum_float_8.
        let mut padded = [_mm256_setzero_ps(); LANES];
        padded[..WEIGHT_ROWS].copy_from_slice(acc);
        let mut sums = [0f32; LANES];
        _mm256_storeu_ps(sums.as_mut_ptr(), hsum8_by_lane(transpose8(padded)));
        for (i, (o, row)) in out.iter_mut().zip(rows).enumerate().take(n) {
            let mut sum = sums[i];
            for k in whole..cols {
                sum = (*row.add(k)).to_f32().mul_add(*x.add(k), sum);
            }
            *o = sum;
        }
    }
}

/// `ggml_vec_dot_*`'s order for `XR` activation rows (the rows a sequence checks its
/// speculative proposals in, each computed as a decode alone): a weight row at a time, each
/// loaded weight multiplied into the four accumulators of every activation row, so a step of
/// a few rows reads the weights once. `n` weight rows are stored.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_dot_rows<E: Element, const XR: usize>(
    rows: [*const E; WEIGHT_ROWS],
    xs: [*const f32; XR],
    cols: usize,
    n: usize,
    out: &mut [[f32; WEIGHT_ROWS]; X_TILE],
) {
    const STEP: usize = 4 * LANES;
    let whole = cols / STEP * STEP;
    for (i, row) in rows.iter().enumerate().take(n) {
        let mut acc = [[_mm256_setzero_ps(); 4]; XR];
        for k in (0..whole).step_by(STEP) {
            for j in 0..4 {
                let at = k + j * LANES;
                let wv = load8(row.add(at));
                for (a, x) in acc.iter_mut().zip(xs) {
                    a[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x.add(at)), a[j]);
                }
            }
        }
        for ((a, x), out) in acc.iter().zip(xs).zip(out.iter_mut()) {
            let mut lanes = [[0f32; LANES]; 4];
            for (l, v) in lanes.iter_mut().zip(a) {
                _mm256_storeu_ps(l.as_mut_ptr(), *v);
            }
            let tail = std::slice::from_raw_parts(row.add(whole), cols - whole);
            let x = std::slice::from_raw_parts(x.add(whole), cols - whole);
            out[i] = finish_vec_dot(&lanes, tail, x);
        }
    }
}

/// `ggml_vec_dot_*`'s order for two rows: four 8-lane accumulators each over steps of 32 in
/// registers; their reduction and the tail are the scalar form's own (`finish_vec_dot`: a
/// dozen adds per row, once per row of thousands of products).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_dot_pair<E: Element>(rows: [*const E; 2], x: &[f32]) -> [f32; 2] {
    const STEP: usize = 4 * LANES;
    let whole = x.len() / STEP * STEP;
    // Two named accumulator sets (not an array of them), which LLVM keeps in registers.
    let (mut acc0, mut acc1) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
    for k in (0..whole).step_by(STEP) {
        for j in 0..4 {
            let at = k + j * LANES;
            let xv = _mm256_loadu_ps(x.as_ptr().add(at));
            acc0[j] = _mm256_fmadd_ps(load8(rows[0].add(at)), xv, acc0[j]);
            acc1[j] = _mm256_fmadd_ps(load8(rows[1].add(at)), xv, acc1[j]);
        }
    }
    let acc = [acc0, acc1];
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
