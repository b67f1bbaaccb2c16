//! Quantized matrix products in ggml's block formats, with llama.cpp's exact arithmetic.
//!
//! Weights are repacked once at load ([`PackedMatrix`]); activations are quantized once per row
//! and step ([`quantize_rows`]), to Q8_1 for Q4_1 weights and to Q8_0 for Q4_0/Q8_0 weights, as
//! llama.cpp does. Every output is computed as llama.cpp's AVX2 `ggml_vec_dot_*` computes it
//! (`reference.rs` spells the order out), whichever kernel runs, so a row's result never depends
//! on how many rows share the step (batch invariance) nor on the CPU's features.
//!
//! Why not candle's QMatMul: its Q4_1 path is scalar and computes the Q8_1 block sum `s` as
//! `f16(sum) * f16(d)`, rounding twice; llama.cpp stores `f16(sum * d)`. On SmolLM2 that alone
//! moves logprobs by ~0.03 and flips greedy choices. It also unpacks the weights again for
//! every activation row.

mod activation;
#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod kquant;
mod packed;
mod q5;
mod reference;

use crate::cpu::{isa, weight_rows_per_task, DisjointOut, Isa};
use activation::runs_as_tile;
use activation::ROW_TILE;
pub use activation::{quantize_rows, QuantizedRows};
pub use packed::PackedMatrix;
use packed::ROW_GROUP;
pub use q5::{q5_0_as_q8_0, Q5_0_BLOCK_BYTES};
use rayon::prelude::*;

/// Values per quantization block in every format here.
pub const BLOCK: usize = 32;

/// The weight formats this module multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// Per block: f16 scale `d`, f16 min `m`, 16 bytes of 4-bit values: `x = d * q + m`.
    Q4_1,
    /// Per block: f16 scale `d`, 16 bytes of 4-bit values: `x = d * (q - 8)`.
    Q4_0,
    /// Per block: f16 scale `d`, 32 signed bytes: `x = d * q`.
    Q8_0,
}

impl WeightFormat {
    /// Bytes of one block in a GGUF file.
    pub fn block_bytes(self) -> usize {
        match self {
            WeightFormat::Q4_1 => 20,
            WeightFormat::Q4_0 => 18,
            WeightFormat::Q8_0 => 34,
        }
    }

    /// Bytes of one block's quantized values (after the f16 header).
    pub fn value_bytes(self) -> usize {
        match self {
            WeightFormat::Q4_1 | WeightFormat::Q4_0 => BLOCK / 2,
            WeightFormat::Q8_0 => BLOCK,
        }
    }
}

/// Weight rows per parallel task: enough tasks to balance two to a few dozen threads on the
/// smallest matrices (576 rows), and a chunk's weights stay in L1/L2 while every activation
/// tile streams past them.
const ROW_CHUNK: usize = 16;
// Single-row products run whole weight groups, so chunks must start at a group's first row.
const _: () = assert!(ROW_CHUNK.is_multiple_of(ROW_GROUP));

/// `out[t, n] = W[n] · x[t]`: `out` is `[x.rows(), w.rows()]`, row-major.
pub fn matmul(w: &PackedMatrix, x: &QuantizedRows, out: &mut [f32]) {
    matmul_on(isa(), w, x, out);
}

fn matmul_on(isa: Isa, w: &PackedMatrix, x: &QuantizedRows, out: &mut [f32]) {
    assert_eq!(x.cols, w.cols, "activation width differs from the weights'");
    let rows = x.rows();
    assert_eq!(out.len(), rows * w.rows, "output is not [rows, out_dim]");
    if rows == 0 {
        return;
    }
    let n_out = w.rows;
    // One tile of activation rows reads each weight once: the weights stream.
    let chunk_rows = weight_rows_per_task(n_out, rows <= TILE, ROW_CHUNK, ROW_GROUP);
    let out = DisjointOut::new(out);
    (0..n_out.div_ceil(chunk_rows))
        .into_par_iter()
        .for_each(|chunk| {
            let ns = chunk * chunk_rows..((chunk + 1) * chunk_rows).min(n_out);
            let mut tile = [0f32; ROW_TILE];
            let mut block = [[0f32; ROW_TILE]; ROW_TILE];
            let mut group = [[0f32; ROW_GROUP]; TILE];
            for t0 in (0..rows).step_by(ROW_TILE) {
                let len = ROW_TILE.min(rows - t0);
                if !runs_as_tile(len) {
                    // A decode step, a few rows of one sequence, or a prompt's last few rows:
                    // a weight group at a time, its rows side by side, every activation row
                    // against each.
                    for n0 in ns.clone().step_by(ROW_GROUP) {
                        dot_group_rows(isa, w, n0, x, t0, len, &mut group);
                        let width = ROW_GROUP.min(ns.end - n0);
                        for (i, values) in group[..len].iter().enumerate() {
                            // SAFETY: only this task owns columns n0..n0 + width.
                            unsafe { out.write_all((t0 + i) * n_out + n0, &values[..width]) };
                        }
                    }
                    continue;
                }
                // 8 weight rows at a time, so each activation row's results are stored
                // together.
                let mut first = ns.start;
                while first + ROW_TILE <= ns.end {
                    dot_tile_block(isa, w, first, x, t0, &mut block);
                    for (i, values) in block[..len].iter().enumerate() {
                        // SAFETY: only this task owns columns first..first + 8.
                        unsafe { out.write_all((t0 + i) * n_out + first, values) };
                    }
                    first += ROW_TILE;
                }
                for n in first..ns.end {
                    dot_tile(isa, w, n, x, t0, &mut tile);
                    for (i, &v) in tile[..len].iter().enumerate() {
                        // SAFETY: only the task that owns weight row n writes column n.
                        unsafe { out.write((t0 + i) * n_out + n, v) };
                    }
                }
            }
        });
}

#[cfg(target_arch = "x86_64")]
const TILE: usize = avx2::TILE;
#[cfg(not(target_arch = "x86_64"))]
const TILE: usize = 4;

/// `out[i] = W[n] · x[t0 + i]` for a tile of 8 activation rows (which may be the padded last
/// tile).
fn dot_tile(
    isa: Isa,
    w: &PackedMatrix,
    n: usize,
    x: &QuantizedRows,
    t0: usize,
    out: &mut [f32; ROW_TILE],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2 and FMA; the caller keeps n < w.rows and t0 a tile's first
        // row, and matmul_on checked the widths.
        Isa::Avx2Fma => unsafe { avx2::dot_tile(w, n, x, t0, out) },
        _ => {
            // Rows past the end (a padded tile's) are left unspecified: the caller drops them.
            for (i, o) in out.iter_mut().enumerate().take(x.rows() - t0) {
                *o = reference::dot(w, n, x, t0 + i);
            }
        }
    }
}

/// `out[i][j] = W[n0 + j] · x[t0 + i]` for a tile of 8 activation rows (which may be the padded
/// last tile) and 8 weight rows.
fn dot_tile_block(
    isa: Isa,
    w: &PackedMatrix,
    n0: usize,
    x: &QuantizedRows,
    t0: usize,
    out: &mut [[f32; ROW_TILE]; ROW_TILE],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2 and FMA; the caller keeps n0 + 8 <= w.rows and t0 a tile's
        // first row, and matmul_on checked the widths.
        Isa::Avx2Fma => unsafe { avx2::dot_tile_block(w, n0, x, t0, out) },
        _ => {
            for (i, row) in out.iter_mut().enumerate().take(x.rows() - t0) {
                for (j, o) in row.iter_mut().enumerate() {
                    *o = reference::dot(w, n0 + j, x, t0 + i);
                }
            }
        }
    }
}

/// `out[t][r] = W[n0 + r] · x[t0 + t]` for `rows` activation rows (1 to [`TILE`]) and the
/// weight group starting at row `n0`.
fn dot_group_rows(
    isa: Isa,
    w: &PackedMatrix,
    n0: usize,
    x: &QuantizedRows,
    t0: usize,
    rows: usize,
    out: &mut [[f32; ROW_GROUP]; TILE],
) {
    assert!(
        n0.is_multiple_of(ROW_GROUP) && n0 < w.rows,
        "not a weight group's first row"
    );
    assert!((1..=TILE).contains(&rows) && t0 + rows <= x.rows());
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2 and FMA; n0 is a group's first row below w.rows and the
        // activation rows exist (asserted), and x has w's width (checked in matmul_on).
        Isa::Avx2Fma => unsafe { avx2::dot_group_rows(w, n0, x, t0, rows, out) },
        _ => {
            for (t, row) in out.iter_mut().enumerate().take(rows) {
                for (r, o) in row.iter_mut().enumerate() {
                    *o = reference::dot(w, n0 + r, x, t0 + t);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::bytes;
    use half::f16;

    /// Dequantizes one weight row, for the float reference.
    fn dequant(format: WeightFormat, row: &[u8]) -> Vec<f32> {
        row.chunks_exact(format.block_bytes())
            .flat_map(|w| {
                let d = f16::from_le_bytes([w[0], w[1]]).to_f32();
                (0..BLOCK).map(move |j| match format {
                    WeightFormat::Q4_1 => {
                        let m = f16::from_le_bytes([w[2], w[3]]).to_f32();
                        let q = if j < 16 {
                            w[4 + j] & 0xF
                        } else {
                            w[4 + j - 16] >> 4
                        };
                        d * q as f32 + m
                    }
                    WeightFormat::Q4_0 => {
                        let q = if j < 16 {
                            w[2 + j] & 0xF
                        } else {
                            w[2 + j - 16] >> 4
                        };
                        d * (q as f32 - 8.0)
                    }
                    WeightFormat::Q8_0 => d * (w[2 + j] as i8) as f32,
                })
            })
            .collect()
    }

    fn weights(format: WeightFormat, n: usize, k: usize, seed: u64) -> Vec<u8> {
        let mut w = bytes(seed, n * k / BLOCK * format.block_bytes());
        // Keep scales small and finite: overwrite the f16 fields.
        for (i, blk) in w.chunks_exact_mut(format.block_bytes()).enumerate() {
            blk[..2].copy_from_slice(&f16::from_f32(0.01 + (i % 7) as f32 * 0.003).to_le_bytes());
            if format == WeightFormat::Q4_1 {
                blk[2..4]
                    .copy_from_slice(&f16::from_f32(-0.05 + (i % 5) as f32 * 0.01).to_le_bytes());
            }
        }
        w
    }

    fn packed(format: WeightFormat, n: usize, k: usize, seed: u64) -> (Vec<u8>, PackedMatrix) {
        let w = weights(format, n, k, seed);
        let p = PackedMatrix::pack(format, &w, n, k).unwrap();
        (w, p)
    }

    fn activations(rows: usize, k: usize, seed: u64) -> Vec<f32> {
        bytes(seed, rows * k)
            .iter()
            .map(|&b| b as f32 / 64.0 - 2.0)
            .collect()
    }

    const FORMATS: [WeightFormat; 3] = [WeightFormat::Q4_1, WeightFormat::Q4_0, WeightFormat::Q8_0];

    #[test]
    fn pack_refuses_wrong_sizes() {
        assert!(PackedMatrix::pack(WeightFormat::Q4_1, &[0; 20], 1, 33).is_err());
        assert!(PackedMatrix::pack(WeightFormat::Q4_1, &[0; 19], 1, 32).is_err());
    }

    #[test]
    fn dequantize_row_equals_the_gguf_definition() {
        for format in FORMATS {
            let (w, p) = packed(format, 3, 96, 5);
            let row_bytes = 96 / BLOCK * format.block_bytes();
            let mut got = vec![0f32; 96];
            p.dequantize_row(2, &mut got);
            assert_eq!(got, dequant(format, &w[2 * row_bytes..]), "{format:?}");
        }
    }

    #[test]
    fn matmul_of_no_rows_writes_nothing() {
        let (_, m) = packed(WeightFormat::Q4_1, 4, 32, 1);
        let mut out: Vec<f32> = Vec::new();
        let none = QuantizedRows {
            cols: 32,
            ..QuantizedRows::default()
        };
        matmul(&m, &none, &mut out);
        assert!(out.is_empty());
    }

    /// `W · x` element by element with the scalar reference, as bits.
    fn reference_bits(w: &PackedMatrix, q: &QuantizedRows) -> Vec<u32> {
        (0..q.rows())
            .flat_map(|t| (0..w.rows).map(move |n| reference::dot(w, n, q, t).to_bits()))
            .collect()
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Whatever kernel this CPU runs, and the scalar fallback, equal the scalar reference bit
    /// for bit, on shapes that cover: partial weight groups (`n` not a multiple of 4) against
    /// 1 to 4 activation rows; last tiles of 5 to 7 rows run padded; chunks whose end is not a
    /// multiple of 8 weight rows; K that is not a multiple of 256; prompts of many
    /// tiles.
    #[test]
    fn detected_kernel_equals_scalar_reference_exactly() {
        for format in FORMATS {
            for (n, k, rows) in [
                (1, 32, 1),
                (17, 64, 1),
                (70, 576, 1),
                (33, 96, 1),
                (17, 64, 2),
                (17, 64, 3),
                (20, 64, 4),
                (40, 576, 5),
                (20, 1536, 6),
                (33, 96, 9),
                (20, 64, 12),
                (45, 96, 13),
                (24, 64, 15),
                // Enough tiles that the activations are laid out in parallel.
                (40, 576, 70),
                (20, 64, 515),
            ] {
                let (_, m) = packed(format, n, k, 3 * n as u64 + k as u64);
                let mut q = QuantizedRows::default();
                quantize_rows(&activations(rows, k, rows as u64), k, &mut q);
                let want = reference_bits(&m, &q);
                let mut fast = vec![0f32; rows * n];
                let mut scalar = vec![0f32; rows * n];
                matmul(&m, &q, &mut fast);
                matmul_on(Isa::Scalar, &m, &q, &mut scalar);
                let shape = format!("{format:?} {n}x{k}, {rows} rows");
                assert_eq!(bits(&fast), want, "{shape} on {:?}", isa());
                assert_eq!(bits(&scalar), want, "{shape}, scalar");
            }
        }
    }

    /// Activations quantized again into the same buffers, at fewer rows each time (as a
    /// model's buffers are from step to step), give what fresh buffers give.
    #[test]
    fn reused_activation_buffers_give_fresh_results() {
        let (_, m) = packed(WeightFormat::Q4_1, 20, 64, 9);
        let mut reused = QuantizedRows::default();
        for rows in [15, 6, 13, 1] {
            let x = activations(rows, 64, 40 + rows as u64);
            quantize_rows(&x, 64, &mut reused);
            let mut fresh = QuantizedRows::default();
            quantize_rows(&x, 64, &mut fresh);
            let (mut a, mut b) = (vec![0f32; rows * 20], vec![0f32; rows * 20]);
            matmul(&m, &reused, &mut a);
            matmul(&m, &fresh, &mut b);
            assert_eq!(bits(&a), bits(&b), "{rows} rows");
        }
    }

    #[test]
    fn matmul_matches_dequantized_float_reference_and_is_batch_invariant() {
        for format in FORMATS {
            for (n, k, rows) in [(1, 32, 1), (17, 64, 3), (40, 576, 5), (33, 96, 2)] {
                let (w, m) = packed(format, n, k, n as u64 * 31 + k as u64);
                let x = activations(rows, k, 7 + rows as u64);
                let mut q = QuantizedRows::default();
                quantize_rows(&x, k, &mut q);
                let mut out = vec![0f32; rows * n];
                matmul(&m, &q, &mut out);
                let row_bytes = k / BLOCK * format.block_bytes();
                for t in 0..rows {
                    // The quantized activations dequantized: the exact math the kernel does.
                    let xq: Vec<f32> = (0..k)
                        .map(|i| q.qs[t * k + i] as f32 * q.d[t * k / BLOCK + i / BLOCK])
                        .collect();
                    for j in 0..n {
                        let wf = dequant(format, &w[j * row_bytes..(j + 1) * row_bytes]);
                        let want: f32 = wf.iter().zip(&xq).map(|(a, b)| a * b).sum();
                        let got = out[t * n + j];
                        assert!(
                            (got - want).abs() <= 1e-3 * (1.0 + want.abs()),
                            "{format:?} {n}x{k} row {t} col {j}: {got} vs {want}"
                        );
                    }
                    // One row alone gives bit-identical results.
                    let mut single = QuantizedRows::default();
                    quantize_rows(&x[t * k..(t + 1) * k], k, &mut single);
                    let mut alone = vec![0f32; n];
                    matmul(&m, &single, &mut alone);
                    assert_eq!(alone, out[t * n..(t + 1) * n]);
                }
            }
        }
    }
}
