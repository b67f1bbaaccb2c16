//! Quantized matrix-vector products in ggml's block formats, with ggml's exact rounding.
//!
//! Weights stay in their GGUF bytes; activations are quantized once per row, to Q8_1 for Q4_1
//! weights and to Q8_0 for Q4_0/Q8_0 weights, as llama.cpp does. Each output is one row's
//! integer block dot products scaled in a fixed order, so a row's result never depends on how
//! many rows share the call (batch invariance).
//!
//! Why not candle's QMatMul: its Q4_1 path is scalar and computes the Q8_1 block sum `s` as
//! `f16(sum) * f16(d)`, rounding twice; llama.cpp stores `f16(sum * d)`. On SmolLM2 that alone
//! moves logprobs by ~0.03 and flips greedy choices.

use half::f16;
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
    pub fn block_bytes(self) -> usize {
        match self {
            WeightFormat::Q4_1 => 20,
            WeightFormat::Q4_0 => 18,
            WeightFormat::Q8_0 => 34,
        }
    }
}

/// An activation row quantized to 8 bits per value, 32 values per block.
#[derive(Clone, Debug, Default)]
pub struct QuantizedRows {
    /// Per block: scale `d` (as the f16 value, widened).
    pub d: Vec<f32>,
    /// Per block: `d * sum(q)` rounded to f16, widened (Q8_1's `s`; used by Q4_1 weights).
    pub s: Vec<f32>,
    pub qs: Vec<i8>,
}

fn f16_round(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Quantizes rows of width `k` (a multiple of 32) like ggml's x86 `quantize_row_q8_1`:
/// `d = amax / 127` stored as f16, values `round_ties_even(x * 127 / amax)`.
pub fn quantize_rows(x: &[f32], k: usize, out: &mut QuantizedRows) {
    let blocks = x.len() / BLOCK;
    debug_assert_eq!(k % BLOCK, 0);
    out.d.resize(blocks, 0.0);
    out.s.resize(blocks, 0.0);
    out.qs.resize(blocks * BLOCK, 0);
    for (b, xs) in x.chunks_exact(BLOCK).enumerate() {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in out.qs[b * BLOCK..(b + 1) * BLOCK].iter_mut().zip(xs) {
            *q = (v * id).round_ties_even() as i8;
            sum += *q as i32;
        }
        out.d[b] = f16_round(d);
        out.s[b] = f16_round(d * sum as f32);
    }
}

/// One block's contribution to `w · x`, per format. Monomorphised through [`matmul`], so the
/// format is decided once per call and the inner loops see fixed-size arrays.
#[inline(always)]
fn q4_1_block(w: &[u8], xq: &[i8; BLOCK], xd: f32, xs: f32) -> f32 {
    let (wd, wm) = (f16_at(w, 0), f16_at(w, 2));
    nibble_dot(w[4..20].try_into().expect("Q4_1 block"), xq, 0) as f32 * wd * xd + wm * xs
}

#[inline(always)]
fn q4_0_block(w: &[u8], xq: &[i8; BLOCK], xd: f32, _xs: f32) -> f32 {
    nibble_dot(w[2..18].try_into().expect("Q4_0 block"), xq, 8) as f32 * f16_at(w, 0) * xd
}

#[inline(always)]
fn q8_0_block(w: &[u8], xq: &[i8; BLOCK], xd: f32, _xs: f32) -> f32 {
    let wq: &[u8; BLOCK] = w[2..34].try_into().expect("Q8_0 block");
    let isum: i32 = wq
        .iter()
        .zip(xq)
        .map(|(&a, &b)| a as i8 as i32 * b as i32)
        .sum();
    isum as f32 * f16_at(w, 0) * xd
}

#[inline(always)]
fn f16_at(w: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([w[at], w[at + 1]]).to_f32()
}

/// Σ (nibble - offset) * x over a block: low nibbles are values 0..16, high ones 16..32.
/// Integer arithmetic, so the AVX2 path gives exactly the scalar result.
#[inline(always)]
fn nibble_dot(qs: &[u8; BLOCK / 2], x: &[i8; BLOCK], offset: i32) -> i32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    // SAFETY: this build targets AVX2 (`.cargo/config.toml` builds for the native CPU).
    return unsafe { avx2::nibble_dot(qs, x, offset) };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
    nibble_dot_scalar(qs, x, offset)
}

/// The reference [`nibble_dot`] is tested against.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "avx2"), allow(dead_code))]
fn nibble_dot_scalar(qs: &[u8; BLOCK / 2], x: &[i8; BLOCK], offset: i32) -> i32 {
    let mut sum = 0i32;
    for j in 0..BLOCK / 2 {
        let lo = (qs[j] & 0x0F) as i32 - offset;
        let hi = (qs[j] >> 4) as i32 - offset;
        sum += lo * x[j] as i32 + hi * x[j + BLOCK / 2] as i32;
    }
    sum
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
mod avx2 {
    use super::BLOCK;
    use std::arch::x86_64::*;

    /// Nibbles widened to 32 unsigned bytes in x's order (low nibbles, then high), multiplied
    /// by x as u8×i8 pairs into i16 (at most 2·15·127, no saturation), then summed in i32.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    pub unsafe fn nibble_dot(qs: &[u8; BLOCK / 2], x: &[i8; BLOCK], offset: i32) -> i32 {
        let packed = _mm_loadu_si128(qs.as_ptr().cast());
        let mask = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(packed, mask);
        let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
        let q = _mm256_set_m128i(hi, lo);
        let xv = _mm256_loadu_si256(x.as_ptr().cast());
        let ones = _mm256_set1_epi16(1);
        let mut sum = hsum(_mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), ones));
        if offset != 0 {
            let xsum = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), xv), ones);
            sum -= offset * hsum(xsum);
        }
        sum
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}

/// A weight matrix in its GGUF bytes: `rows` rows of `cols` values in `format`.
#[derive(Clone, Copy, Debug)]
pub struct QuantMatrix<'a> {
    pub format: WeightFormat,
    pub bytes: &'a [u8],
    pub rows: usize,
    pub cols: usize,
}

/// `out[t, n] = W[n] · x[t]` for activations quantized by [`quantize_rows`]. Parallel over
/// chunks of weight rows, each of which is read once for all activation rows.
pub fn matmul(w: &QuantMatrix<'_>, x: &QuantizedRows, out: &mut [f32]) {
    match w.format {
        WeightFormat::Q4_1 => matmul_with(q4_1_block, w, x, out),
        WeightFormat::Q4_0 => matmul_with(q4_0_block, w, x, out),
        WeightFormat::Q8_0 => matmul_with(q8_0_block, w, x, out),
    }
}

type BlockDot = fn(&[u8], &[i8; BLOCK], f32, f32) -> f32;

#[inline(always)]
fn matmul_with(block: BlockDot, w: &QuantMatrix<'_>, x: &QuantizedRows, out: &mut [f32]) {
    let (format, weights, n_out, k) = (w.format, w.bytes, w.rows, w.cols);
    let kb = k / BLOCK;
    let bb = format.block_bytes();
    let row_bytes = kb * bb;
    let rows = x.d.len() / kb;
    let dot = |n: usize, t: usize| {
        let wrow = &weights[n * row_bytes..(n + 1) * row_bytes];
        let xq = &x.qs[t * k..(t + 1) * k];
        let mut acc = 0f32;
        for (b, (w, xb)) in wrow
            .chunks_exact(bb)
            .zip(xq.chunks_exact(BLOCK))
            .enumerate()
        {
            let xb: &[i8; BLOCK] = xb.try_into().expect("32-value block");
            acc += block(w, xb, x.d[t * kb + b], x.s[t * kb + b]);
        }
        acc
    };
    const CHUNK: usize = 32;
    if rows == 0 {
        return;
    }
    if rows == 1 {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, part)| {
            for (i, o) in part.iter_mut().enumerate() {
                *o = dot(c * CHUNK + i, 0);
            }
        });
        return;
    }
    // Column-major scratch so each task owns a contiguous slice, then one transpose.
    let mut by_weight = vec![0f32; n_out * rows];
    by_weight
        .par_chunks_mut(CHUNK * rows)
        .enumerate()
        .for_each(|(c, part)| {
            for (i, col) in part.chunks_exact_mut(rows).enumerate() {
                for (t, o) in col.iter_mut().enumerate() {
                    *o = dot(c * CHUNK + i, t);
                }
            }
        });
    for (n, col) in by_weight.chunks_exact(rows).enumerate() {
        for (t, &v) in col.iter().enumerate() {
            out[t * n_out + n] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
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

    #[test]
    fn quantize_rounds_like_ggml() {
        let mut x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        x[0] = -127.0; // amax 127: id = 1, so values stay integers; 0.5 cases tie to even
        x[1] = 2.5;
        x[2] = 3.5;
        let mut q = QuantizedRows::default();
        quantize_rows(&x, 32, &mut q);
        assert_eq!(q.d[0], 1.0);
        assert_eq!(&q.qs[..3], &[-127, 2, 4]);
        let sum: i32 = q.qs.iter().map(|&v| v as i32).sum();
        assert_eq!(q.s[0], f16_round(sum as f32));
    }

    #[test]
    fn nibble_dot_equals_its_scalar_reference_exactly() {
        let extremes = [-127i8, 127, 0, -1, 1];
        for seed in 0..200u64 {
            let raw = bytes(seed, BLOCK / 2 + BLOCK);
            let qs: [u8; BLOCK / 2] = raw[..BLOCK / 2].try_into().unwrap();
            let mut x = [0i8; BLOCK];
            for (i, v) in x.iter_mut().enumerate() {
                // Quantized activations stay within ±127; mix in the extremes.
                *v = if seed % 4 == 0 {
                    extremes[i % extremes.len()]
                } else {
                    (raw[BLOCK / 2 + i] as i8).max(-127)
                };
            }
            for offset in [0, 8] {
                assert_eq!(
                    nibble_dot(&qs, &x, offset),
                    nibble_dot_scalar(&qs, &x, offset),
                    "seed {seed} offset {offset}"
                );
            }
        }
        let all_ones = [0xFFu8; BLOCK / 2];
        assert_eq!(nibble_dot(&all_ones, &[127; BLOCK], 0), 15 * 127 * 32);
        assert_eq!(nibble_dot(&all_ones, &[-127; BLOCK], 8), 7 * -127 * 32);
    }

    #[test]
    fn matmul_of_no_rows_writes_nothing() {
        let w = weights(WeightFormat::Q4_1, 4, 32, 1);
        let m = QuantMatrix {
            format: WeightFormat::Q4_1,
            bytes: &w,
            rows: 4,
            cols: 32,
        };
        let mut out: Vec<f32> = Vec::new();
        matmul(&m, &QuantizedRows::default(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn matmul_matches_dequantized_float_reference_and_is_batch_invariant() {
        for format in [WeightFormat::Q4_1, WeightFormat::Q4_0, WeightFormat::Q8_0] {
            for (n, k, rows) in [(1, 32, 1), (17, 64, 3), (40, 576, 5), (33, 96, 2)] {
                let w = weights(format, n, k, n as u64 * 31 + k as u64);
                let x: Vec<f32> = bytes(7 + rows as u64, rows * k)
                    .iter()
                    .map(|&b| b as f32 / 64.0 - 2.0)
                    .collect();
                let mut q = QuantizedRows::default();
                quantize_rows(&x, k, &mut q);
                let mut out = vec![0f32; rows * n];
                let m = QuantMatrix {
                    format,
                    bytes: &w,
                    rows: n,
                    cols: k,
                };
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
