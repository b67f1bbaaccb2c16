//! `y = x Wᵀ` over weights held as stored, unpacked: f32, f16 or bf16 (a checkpoint's own
//! floats), or i8 with one scale per row (symmetric per-output-channel int8, EETQ's weight-only
//! format). The CPU computes in f32: each weight is widened exactly, multiplied by the
//! activation and summed; for half-precision weights the activations are first rounded to the
//! weights' type, as llama.cpp and torch multiply them (`Element::operand`).
//!
//! Each float row is summed in the order llama.cpp sums it where the row's [`RowContext`] says
//! llama.cpp would have multiplied it, so that a checkpoint's greedy text follows llama.cpp's on
//! the same weights: rows in a batch of two or more as tinyBLAS sums them (8 lanes by `k % 8`,
//! fused multiply-adds in `k` order, the lanes added as `hsum_float_8`), a row alone as
//! `ggml_vec_dot_f32`/`_f16`/`_bf16` does (four 8-lane accumulators over steps of 32, reduced
//! pairwise, then the type's horizontal sum and tail). Int8 rows, which llama.cpp does not
//! have, always take tinyBLAS's order. A row's result depends on its context only, never on
//! what else is in the step, and the AVX2 forms equal the scalar ones bit for bit.

#[cfg(target_arch = "x86_64")]
mod avx2;

use crate::cpu::{isa, weight_rows_per_task, DisjointOut, Isa};
use crate::element::{Element, ElementKind};
use crate::ggml::{hsum_float_8, reduce_f32x8x4, RowContext, LANES};
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

/// The two summation orders (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    TinyBlas,
    VecDot,
}

impl Order {
    /// The order of a row in `context`, for a matrix of `E` and `cols` columns: tinyBLAS
    /// declines a row alone and widths that are not whole groups of 8.
    fn of<E: Element>(context: RowContext, cols: usize) -> Self {
        let tiny_blas = context.tiny_blas && cols.is_multiple_of(LANES);
        if E::KIND == ElementKind::I8 || tiny_blas {
            Order::TinyBlas
        } else {
            Order::VecDot
        }
    }
}

/// Weight rows per parallel task when activation rows pass them: a few dozen KiB of f32
/// weights, and enough tasks on the smallest matrices (576 rows) to balance two threads or
/// more.
const ROW_CHUNK: usize = 16;

/// Weight rows multiplied together by one kernel call (one accumulator set each).
pub(crate) const WEIGHT_ROWS: usize = 4;

/// Activation rows multiplied together: in tinyBLAS's order with [`WEIGHT_ROWS`] weight rows,
/// twelve accumulators; in `ggml_vec_dot`'s (a sequence's speculative proposals) with one
/// weight row, twelve too; either way each weight is loaded (and widened) once for all of
/// them.
pub(crate) const X_TILE: usize = 3;

/// `out[t, n] = W[n] · x[t]` (times `scales[n]` if any): `x` is `[x_rows, cols]`, `out`
/// `[x_rows, w.rows]`, both row-major. `contexts` says, per row of `x`, where llama.cpp would
/// have multiplied it; empty for every row alone.
pub fn matmul<E: Element>(
    w: DenseMatrix<'_, E>,
    x: &[f32],
    contexts: &[RowContext],
    out: &mut [f32],
) {
    matmul_on(isa(), w, x, contexts, out);
}

fn matmul_on<E: Element>(
    isa: Isa,
    w: DenseMatrix<'_, E>,
    x: &[f32],
    contexts: &[RowContext],
    out: &mut [f32],
) {
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
    assert!(
        contexts.is_empty() || contexts.len() == x_rows,
        "one context per row"
    );
    if x_rows == 0 {
        return;
    }
    let order = |t: usize| Order::of::<E>(contexts.get(t).copied().unwrap_or_default(), w.cols);
    let rounded: Vec<f32>;
    let x = match E::KIND {
        ElementKind::F16 | ElementKind::Bf16 => {
            rounded = x.iter().map(|&v| E::operand(v)).collect();
            &rounded[..]
        }
        ElementKind::F32 | ElementKind::I8 => x,
    };
    let chunk_rows = weight_rows_per_task(w.rows, x_rows <= X_TILE, ROW_CHUNK, WEIGHT_ROWS);
    if x_rows == 1 {
        // A decode step of one sequence: each task's columns are a chunk of the one row.
        out.par_chunks_mut(chunk_rows)
            .enumerate()
            .for_each(|(chunk, out)| {
                for (g, out) in out.chunks_mut(WEIGHT_ROWS).enumerate() {
                    let n0 = chunk * chunk_rows + g * WEIGHT_ROWS;
                    let sums = dot_rows(isa, w, n0..n0 + out.len(), x, order(0));
                    out.copy_from_slice(&sums[0][..out.len()]);
                }
            });
        return;
    }
    // Runs of up to X_TILE rows in one order, multiplied together.
    let mut runs = Vec::new();
    let mut t = 0;
    while t < x_rows {
        let len = (t..x_rows.min(t + X_TILE))
            .take_while(|&u| order(u) == order(t))
            .count();
        runs.push((t..t + len, order(t)));
        t += len;
    }
    let writer = DisjointOut::new(out);
    (0..w.rows.div_ceil(chunk_rows))
        .into_par_iter()
        .for_each(|chunk| {
            let ns = chunk * chunk_rows..((chunk + 1) * chunk_rows).min(w.rows);
            for (ts, order) in &runs {
                let xs = &x[ts.start * w.cols..ts.end * w.cols];
                for n0 in ns.clone().step_by(WEIGHT_ROWS) {
                    let n_end = (n0 + WEIGHT_ROWS).min(ns.end);
                    let sums = dot_rows(isa, w, n0..n_end, xs, *order);
                    for (t, sums) in ts.clone().zip(sums) {
                        // SAFETY: only the task that owns weight rows `ns` writes their columns.
                        unsafe { writer.write_all(t * w.rows + n0, &sums[..n_end - n0]) };
                    }
                }
            }
        });
}

/// `W[n] · x` for the weight rows `ns` (at most [`WEIGHT_ROWS`]) and each activation row `x`
/// of `xs` (rows of `w.cols`, already rounded to the weights' operand type; at most
/// [`X_TILE`]), in `order`, scaled: `sums[j][i]` is row
/// `ns.start + i` times row `j` of `xs`; entries past `ns` and `xs` are unspecified.
fn dot_rows<E: Element>(
    isa: Isa,
    w: DenseMatrix<'_, E>,
    ns: std::ops::Range<usize>,
    xs: &[f32],
    order: Order,
) -> [[f32; WEIGHT_ROWS]; X_TILE] {
    assert!(ns.len() <= WEIGHT_ROWS && ns.end <= w.rows);
    let x_rows = xs.len() / w.cols;
    assert!(x_rows * w.cols == xs.len() && (1..=X_TILE).contains(&x_rows));
    let mut sums = [[0f32; WEIGHT_ROWS]; X_TILE];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2, FMA and F16C; the rows are inside `w`, and `xs` are rows
        // of its width, as many as the kernels take (asserted).
        Isa::Avx2Fma => unsafe { avx2::dot_rows(w, ns.clone(), xs, order, &mut sums) },
        _ => {
            for (sums, x) in sums.iter_mut().zip(xs.chunks_exact(w.cols)) {
                for (sum, n) in sums.iter_mut().zip(ns.clone()) {
                    let row = &w.values[n * w.cols..(n + 1) * w.cols];
                    *sum = match order {
                        Order::TinyBlas => dot_tiny_blas(row, x),
                        Order::VecDot => dot_vec(row, x),
                    };
                }
            }
        }
    }
    if let Some(scales) = w.scales {
        for sums in &mut sums[..x_rows] {
            for (sum, n) in sums.iter_mut().zip(ns.clone()) {
                *sum *= scales[n];
            }
        }
    }
    sums
}

/// One row in tinyBLAS's order (the scalar form the AVX2 one equals); values past the last
/// whole group of 8 (int8 rows only) are added after, in order.
fn dot_tiny_blas<E: Element>(w: &[E], x: &[f32]) -> f32 {
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

/// One row in `ggml_vec_dot_*`'s order for the weights' type.
fn dot_vec<E: Element>(w: &[E], x: &[f32]) -> f32 {
    const STEP: usize = 4 * LANES;
    let whole = w.len() / STEP * STEP;
    let mut acc = [[0f32; LANES]; 4];
    for (ws, xs) in w[..whole].chunks_exact(STEP).zip(x.chunks_exact(STEP)) {
        for ((a, wg), xg) in acc
            .iter_mut()
            .zip(ws.chunks_exact(LANES))
            .zip(xs.chunks_exact(LANES))
        {
            for ((lane, w), x) in a.iter_mut().zip(wg).zip(xg) {
                *lane = w.to_f32().mul_add(*x, *lane);
            }
        }
    }
    finish_vec_dot::<E>(&acc, &w[whole..], &x[whole..])
}

/// The end of `ggml_vec_dot_*` for `E` from its four accumulators: `_f32` and `_f16` reduce
/// them as `GGML_F32x8_REDUCE`, `_bf16` pairwise and then as `hsum_float_8`; `_f32` adds the
/// leftover products in f32, `_f16` and `_bf16` in double (their products are exact in f32).
pub(super) fn finish_vec_dot<E: Element>(acc: &[[f32; LANES]; 4], w: &[E], x: &[f32]) -> f32 {
    match E::KIND {
        ElementKind::Bf16 | ElementKind::F16 => {
            let sum = match E::KIND {
                ElementKind::Bf16 => hsum_float_8(&std::array::from_fn(|l| {
                    (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l])
                })),
                _ => reduce_f32x8x4(acc),
            };
            let total = w.iter().zip(x).fold(f64::from(sum), |total, (a, b)| {
                total + f64::from(a.to_f32() * b)
            });
            total as f32
        }
        ElementKind::F32 | ElementKind::I8 => {
            let mut sum = reduce_f32x8x4(acc);
            for (a, b) in w.iter().zip(x) {
                sum = a.to_f32().mul_add(*b, sum);
            }
            sum
        }
    }
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
