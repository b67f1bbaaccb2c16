//! `y = x Wᵀ` over weights held as stored, unpacked: f32, f16 or bf16 (a checkpoint's own
//! floats), or i8 with one scale per row (symmetric per-output-channel int8, EETQ's weight-only
//! format). The CPU computes in f32: each weight is widened exactly, multiplied by the f32
//! activation and summed.
//!
//! Every output element is summed in one fixed order, whatever the tile, the batch or the ISA:
//! 8 lanes by `k % 8` over the whole groups of 8, fused multiply-adds in `k` order, the lanes
//! added as ggml's `hsum_float_8` adds them, then the values past the last whole group in
//! order; times the row's scale for i8. So a row's result never depends on what else is in the
//! step, and the AVX2 form equals the scalar one bit for bit.

#[cfg(target_arch = "x86_64")]
mod avx2;

use crate::cpu::{isa, DisjointOut, Isa};
use crate::element::Element;
use crate::ggml::{hsum_float_8, LANES};
use rayon::prelude::*;

/// A matrix `[rows, cols]` of `E`, row-major, with a scale per row for i8 weights.
#[derive(Clone, Copy)]
pub struct DenseMatrix<'a, E> {
    pub values: &'a [E],
    pub rows: usize,
    pub cols: usize,
    /// What each row's sums are multiplied by (i8 weights); `None` for floats.
    pub scales: Option<&'a [f32]>,
}

/// Weight rows per parallel task: a few dozen KiB of f32 weights, and enough tasks on the
/// smallest matrices (576 rows) to balance two threads or more.
const ROW_CHUNK: usize = 16;

/// Weight rows multiplied together by one kernel call (one accumulator each).
pub(crate) const WEIGHT_ROWS: usize = 4;

/// `out[t, n] = W[n] · x[t]` (times `scales[n]` if any): `x` is `[x_rows, cols]`, `out`
/// `[x_rows, w.rows]`, both row-major.
pub fn matmul<E: Element>(w: DenseMatrix<'_, E>, x: &[f32], out: &mut [f32]) {
    matmul_on(isa(), w, x, out);
}

fn matmul_on<E: Element>(isa: Isa, w: DenseMatrix<'_, E>, x: &[f32], out: &mut [f32]) {
    assert_eq!(
        w.values.len(),
        w.rows * w.cols,
        "weights are not [rows, cols]"
    );
    assert!(
        w.scales.is_none_or(|s| s.len() == w.rows),
        "not one scale per weight row"
    );
    assert_eq!(
        x.len() % w.cols.max(1),
        0,
        "activations are not [rows, cols]"
    );
    let x_rows = x.len().checked_div(w.cols).unwrap_or(0);
    assert_eq!(out.len(), x_rows * w.rows, "output is not [rows, out_dim]");
    if x_rows == 1 {
        // A decode step of one sequence: each task's columns are a chunk of the one row.
        out.par_chunks_mut(ROW_CHUNK)
            .enumerate()
            .for_each(|(chunk, out)| {
                for (g, out) in out.chunks_mut(WEIGHT_ROWS).enumerate() {
                    let n0 = chunk * ROW_CHUNK + g * WEIGHT_ROWS;
                    let sums = dot_rows(isa, w, n0..n0 + out.len(), x);
                    out.copy_from_slice(&sums[..out.len()]);
                }
            });
        return;
    }
    let writer = DisjointOut::new(out);
    (0..w.rows.div_ceil(ROW_CHUNK))
        .into_par_iter()
        .for_each(|chunk| {
            let ns = chunk * ROW_CHUNK..((chunk + 1) * ROW_CHUNK).min(w.rows);
            for (t, x_row) in x.chunks_exact(w.cols).enumerate() {
                for n0 in ns.clone().step_by(WEIGHT_ROWS) {
                    let n_end = (n0 + WEIGHT_ROWS).min(ns.end);
                    let sums = dot_rows(isa, w, n0..n_end, x_row);
                    // SAFETY: only the task that owns weight rows `ns` writes their columns.
                    unsafe { writer.write_all(t * w.rows + n0, &sums[..n_end - n0]) };
                }
            }
        });
}

/// `W[n] · x` for the weight rows `ns` (at most [`WEIGHT_ROWS`]) and one activation row,
/// scaled; lanes past `ns` are unspecified.
fn dot_rows<E: Element>(
    isa: Isa,
    w: DenseMatrix<'_, E>,
    ns: std::ops::Range<usize>,
    x: &[f32],
) -> [f32; WEIGHT_ROWS] {
    assert!(ns.len() <= WEIGHT_ROWS && ns.end <= w.rows && x.len() == w.cols);
    let mut sums = [0f32; WEIGHT_ROWS];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2, FMA and F16C; the rows are inside `w` and `x` is one
        // row of its width (asserted).
        Isa::Avx2Fma => unsafe { avx2::dot_rows(w, ns.clone(), x, &mut sums) },
        _ => {
            for (sum, n) in sums.iter_mut().zip(ns.clone()) {
                *sum = dot(&w.values[n * w.cols..(n + 1) * w.cols], x);
            }
        }
    }
    if let Some(scales) = w.scales {
        for (sum, n) in sums.iter_mut().zip(ns) {
            *sum *= scales[n];
        }
    }
    sums
}

/// One row's sum in the module's order (the scalar form the AVX2 one equals).
fn dot<E: Element>(w: &[E], x: &[f32]) -> f32 {
    let whole = w.len() / LANES * LANES;
    let mut lanes = [0f32; LANES];
    for (wg, xg) in w[..whole].chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
        for l in 0..LANES {
            lanes[l] = wg[l].to_f32().mul_add(xg[l], lanes[l]);
        }
    }
    let mut sum = hsum_float_8(&lanes);
    for (&wv, &xv) in w[whole..].iter().zip(&x[whole..]) {
        sum = wv.to_f32().mul_add(xv, sum);
    }
    sum
}

/// Rows of f32 weights quantized symmetrically per row to i8, as EETQ quantizes a checkpoint:
/// `scale = max |w| / 127` and `q = round(w / scale)`, so a row's largest weight is ±127.
/// Returns the values and one scale per row.
pub fn quantize_rows_i8(w: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut values = vec![0i8; w.len()];
    let scales = w
        .par_chunks_exact(cols)
        .zip(values.par_chunks_exact_mut(cols))
        .map(|(row, q)| {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            for (q, &v) in q.iter_mut().zip(row) {
                *q = (v * inverse).round().clamp(-127.0, 127.0) as i8;
            }
            scale
        })
        .collect();
    (values, scales)
}

#[cfg(test)]
mod tests;
