//! llama.cpp's float arithmetic on x86 (AVX2 + FMA), written out lane by lane so that our
//! kernels reproduce its results bit for bit, and the batching fact ([`ubatch_len`]) that decides
//! which of its kernels a row goes through. This model family's 8-bit activation quantization
//! turns last-bit differences into different tokens, so greedy agreement with the reference
//! engine needs the same operations in the same order, not merely the same math.

#[cfg(target_arch = "x86_64")]
mod avx2;

use crate::cpu::{isa, Isa};

/// Lanes of an AVX2 float vector.
pub const LANES: usize = 8;

/// llama.cpp's default physical batch size (`n_ubatch`).
pub const UBATCH: usize = 512;

/// How many tokens share the ubatch in which llama.cpp, running one sequence alone as the
/// references do, computes position `pos`: its prompt in ubatches of [`UBATCH`] tokens, then one
/// token per step. Which kernel a matmul takes depends on it (tinyBLAS needs two or more rows;
/// the K-quant kernels group and tile rows by it), so a row's arithmetic is fixed by its
/// position and its prompt's length, never by the batch sluice computes it in.
pub fn ubatch_len(pos: usize, prompt_len: usize) -> usize {
    if pos >= prompt_len {
        return 1;
    }
    UBATCH.min(prompt_len - pos / UBATCH * UBATCH)
}

/// Where llama.cpp would have multiplied an activation row, which decides how its kernels
/// round the row's products: the caller knows (see `sluice_models`' batching rule). The
/// default is a row alone, as in a decode step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowContext {
    /// In a group of 4 rows of its batch (`ggml_gemm_q4_K_8x8_q8_K` for repacked Q4_K),
    /// rather than alone (`ggml_gemv_q4_K_8x8_q8_K`).
    pub grouped: bool,
    /// In a batch of 8 rows or more, which ggml multiplies tile by tile for K-quant matrices it
    /// did not repack (`ggml_compute_forward_mul_mat_tiled`) rather than with
    /// `ggml_vec_dot_*`.
    pub tiled: bool,
    /// In a batch of 2 rows or more, which ggml multiplies by float matrices with tinyBLAS
    /// (`llamafile_sgemm`) rather than with `ggml_vec_dot_*`.
    pub tiny_blas: bool,
}

/// `hsum_float_8` (and tinyBLAS's `hsum`): upper half onto lower, then pairs, then the last two.
#[inline(always)]
pub fn hsum_float_8(a: &[f32; LANES]) -> f32 {
    let r: [f32; 4] = std::array::from_fn(|i| a[i + 4] + a[i]);
    (r[0] + r[2]) + (r[1] + r[3])
}

/// `x · y` as `ggml_vec_dot_f32` computes it: four 8-lane accumulators over steps of 32
/// elements, reduced pairwise (`GGML_F32x8_REDUCE`), then the leftover elements one by one.
#[inline]
pub fn dot_vec_f32(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA; the lengths are equal.
        Isa::Avx2Fma => unsafe { avx2::dot_vec_f32(x, y) },
        _ => dot_vec_f32_scalar(x, y),
    }
}

/// `x · y` as tinyBLAS multiplies a row by a column on AVX2: one 8-lane accumulator over steps
/// of 8 elements, reduced as [`hsum_float_8`]. The length must be a multiple of 8 (tinyBLAS
/// declines other matrices).
#[inline]
pub fn dot_tiny_blas(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    assert!(
        x.len().is_multiple_of(LANES),
        "tinyBLAS sums whole groups of 8"
    );
    let mut acc = [0f32; LANES];
    for (xs, ys) in x.chunks_exact(LANES).zip(y.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] = xs[l].mul_add(ys[l], acc[l]);
        }
    }
    hsum_float_8(&acc)
}

/// `x · y` as `ggml_vec_dot_f16` computes it, for f16 values given widened to f32:
/// [`dot_vec_f32`]'s whole steps of 32, but the leftover products (exact in f32) are added to
/// that sum in double, which is rounded to f32 once at the end.
pub fn dot_vec_f16(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    let whole = x.len() / (4 * LANES) * (4 * LANES);
    let mut sum = dot_vec_f32(&x[..whole], &y[..whole]) as f64;
    for (a, b) in x[whole..].iter().zip(&y[whole..]) {
        sum += (a * b) as f64;
    }
    sum as f32
}

/// The scalar [`dot_vec_f32`].
fn dot_vec_f32_scalar(x: &[f32], y: &[f32]) -> f32 {
    const STEP: usize = 4 * LANES;
    let whole = x.len() / STEP * STEP;
    let mut sum = [[0f32; LANES]; 4];
    for (xs, ys) in x[..whole]
        .chunks_exact(STEP)
        .zip(y[..whole].chunks_exact(STEP))
    {
        for (j, s) in sum.iter_mut().enumerate() {
            for l in 0..LANES {
                s[l] = xs[j * LANES + l].mul_add(ys[j * LANES + l], s[l]);
            }
        }
    }
    let mut total = reduce_f32x8x4(&sum);
    for (a, b) in x[whole..].iter().zip(&y[whole..]) {
        total = a.mul_add(*b, total);
    }
    total
}

/// `GGML_F32x8_REDUCE` of `ggml_vec_dot_f32`'s four accumulators: pairwise across them, then
/// halves, then `hadd` twice.
#[inline(always)]
pub fn reduce_f32x8x4(sum: &[[f32; LANES]; 4]) -> f32 {
    let x: [f32; LANES] = std::array::from_fn(|l| {
        let x0 = sum[0][l] + sum[2][l];
        let x1 = sum[1][l] + sum[3][l];
        x0 + x1
    });
    let t0: [f32; 4] = std::array::from_fn(|i| x[i] + x[i + 4]);
    (t0[0] + t0[1]) + (t0[2] + t0[3])
}

/// `group[i] = exp(group[i] - max)` with `ggml_v_expf`, returning the group's sum as
/// `ggml_vec_soft_max_f32` adds it (`hsum_float_8`).
#[inline]
pub fn exp_group(group: &mut [f32; LANES], max: f32) -> f32 {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA.
        Isa::Avx2Fma => unsafe { avx2::exp_group(group, max) },
        _ => exp_group_scalar(group, max),
    }
}

/// The scalar [`exp_group`].
fn exp_group_scalar(group: &mut [f32; LANES], max: f32) -> f32 {
    for v in group.iter_mut() {
        *v = expf(*v - max);
    }
    hsum_float_8(group)
}

/// `ggml_v_expf` for one lane: ARM's optimized-routines exp (max error 1.45 ulp + 0.5), which
/// llama.cpp uses in softmax and SiLU instead of libm's `expf`.
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    let r = f32::from_bits(0x4B40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3FB8_AA3B), r); // 0x1.715476p+0
    let n = z - r;
    let b = (-n).mul_add(
        f32::from_bits(0x35BF_BE8E),                  // 0x1.7f7d1cp-20
        (-n).mul_add(f32::from_bits(0x3F31_7200), x), // 0x1.62e4p-1
    );
    let e = z.to_bits().wrapping_shl(23);
    let k = f32::from_bits(e.wrapping_add(1f32.to_bits()));
    let u = b * b;
    let j = f32::from_bits(0x3C07_2010) // 0x1.0e4020p-7
        .mul_add(b, f32::from_bits(0x3D2B_9F17)) // 0x1.573e2ep-5
        .mul_add(
            u,
            f32::from_bits(0x3E2A_AF33).mul_add(b, f32::from_bits(0x3EFF_FEDB)), // 0x1.555e66p-3, 0x1.fffdb6p-2
        )
        .mul_add(u, f32::from_bits(0x3F7F_FFF6) * b); // 0x1.ffffecp-1
    if n.abs() <= 126.0 {
        return j.mul_add(k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7F00_0000));
    if n.abs() > 192.0 {
        return s1 * s1;
    }
    let s2 = f32::from_bits(e.wrapping_sub(g));
    s2.mul_add(j, s2) * s1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_go_in_ubatches_of_512_and_generated_tokens_alone() {
        assert_eq!(ubatch_len(0, 1), 1);
        assert_eq!(ubatch_len(0, 6), 6);
        assert_eq!(ubatch_len(6, 6), 1);
        assert_eq!(ubatch_len(511, 513), 512);
        // A 513-token prompt's last token is alone in its ubatch.
        assert_eq!(ubatch_len(512, 513), 1);
        assert_eq!(ubatch_len(514, 571), 59);
    }

    /// 35 values: one step of 32 as `ggml_vec_dot_f32`, then 3 products added in double.
    #[test]
    fn f16_dots_add_their_leftovers_in_double() {
        let x: Vec<f32> = (0..35).map(|i| 1.0 + i as f32 / 64.0).collect();
        let y: Vec<f32> = (0..35).map(|i| (i as f32 - 17.0) / 1024.0).collect();
        let mut want = dot_vec_f32(&x[..32], &y[..32]) as f64;
        for i in 32..35 {
            want += (x[i] * y[i]) as f64;
        }
        assert_eq!(dot_vec_f16(&x, &y).to_bits(), (want as f32).to_bits());
        assert_eq!(
            dot_vec_f16(&x[..32], &y[..32]),
            dot_vec_f32(&x[..32], &y[..32])
        );
    }

    #[test]
    fn constants_are_the_hex_floats_ggml_writes() {
        // 0x1.8p23 = 1.5 * 2^23; 0x1.715476p+0 = log2(e) rounded; 0x1.62e4p-1 ≈ ln 2.
        assert_eq!(f32::from_bits(0x4B40_0000), 1.5 * (1u32 << 23) as f32);
        assert_eq!(f32::from_bits(0x3FB8_AA3B), std::f32::consts::LOG2_E);
        assert!((f32::from_bits(0x3F31_7200) - std::f32::consts::LN_2).abs() < 1e-5);
    }

    #[test]
    fn expf_is_within_two_ulp_of_libm_and_saturates() {
        let mut x = -100.0f32;
        while x < 88.0 {
            let (ours, libm) = (expf(x), x.exp());
            let ulps = (ours.to_bits() as i64 - libm.to_bits() as i64).abs();
            assert!(ulps <= 2, "exp({x}) = {ours}, libm {libm}");
            x += 0.37;
        }
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(-200.0), 0.0);
        assert_eq!(expf(100.0), f32::INFINITY);
        assert_eq!(expf(0.0), 1.0);
    }

    /// Values in [-4, 4).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        crate::test_data::uniform(seed, n)
            .iter()
            .map(|v| v * 4.0)
            .collect()
    }

    #[test]
    fn detected_kernels_equal_the_scalar_ones_exactly() {
        for n in [0, 5, 32, 64, 96, 100, 256] {
            let (x, y) = (values(n, 1 + n as u64), values(n, 2));
            assert_eq!(
                dot_vec_f32(&x, &y).to_bits(),
                dot_vec_f32_scalar(&x, &y).to_bits(),
                "dot of {n}"
            );
        }
        let specials = [
            f32::NEG_INFINITY,
            -150.0,
            -100.0,
            -87.5,
            0.0,
            60.0,
            89.0,
            200.0,
        ];
        for seed in 0..50u64 {
            let mut group: [f32; LANES] = values(LANES, seed).try_into().unwrap();
            for v in group.iter_mut() {
                *v *= 30.0;
            }
            if seed % 5 == 0 {
                group[seed as usize % LANES] = specials[seed as usize / 5 % specials.len()];
            }
            let max = 10.0;
            let (mut a, mut b) = (group, group);
            let (sa, sb) = (exp_group(&mut a, max), exp_group_scalar(&mut b, max));
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "{group:?}");
            assert_eq!(sa.to_bits(), sb.to_bits());
        }
    }

    #[test]
    fn dots_sum_in_their_documented_orders() {
        // Values whose sums depend on order: 1e8 swallows 1 unless they pair up first.
        let mut x = [0f32; 32];
        x[0] = 1e8;
        x[4] = -1e8;
        x[1] = 1.0;
        x[5] = 1.0;
        let ones = [1f32; 32];
        // hsum_float_8: lanes 0 and 4 meet first (1e8 - 1e8 = 0), then lanes 1 and 5 (2).
        assert_eq!(hsum_float_8(&x[..8].try_into().unwrap()), 2.0);
        // vec_dot_f32: the same lane pairing in its final reduction.
        assert_eq!(dot_vec_f32(&x, &ones), 2.0);
        let mut y = [0f32; 32];
        y[0] = 1e8;
        y[1] = 1.0;
        y[2] = -1e8;
        // hsum_float_8 adds lanes 0+4 and 2+6 before 1+5: (1e8 + -1e8) + 1 = 1.
        assert_eq!(hsum_float_8(&y[..8].try_into().unwrap()), 1.0);
        // GGML_F32x8_REDUCE adds (0+4) + (1+5) first: (1e8 + 1) rounds to 1e8, minus 1e8 is 0.
        assert_eq!(dot_vec_f32(&y, &ones), 0.0);
    }
}
