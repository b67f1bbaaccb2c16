//! AVX2 + FMA K-quant kernels: llama.cpp's AVX2 `ggml_vec_dot_q4_K_q8_K` and
//! `ggml_vec_dot_q6_K_q8_K`, one weight row by one activation row. Each equals
//! `reference::dot` bit for bit: the integer lanes hold the same sums, and the float
//! operations are the same, in the same order.

use super::activation::SUMS;
use super::reference::{self, q4k_mins};
use super::{f16_at, q4k_scales_mins, SuperBlockFormat, SuperBlockRows, SUPER_BLOCK};
use std::arch::x86_64::*;

/// One weight row (its GGUF super-blocks) · activation row `t`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `row` holds `x.blocks_per_row()` super-blocks of `format`
/// and `t < x.rows()`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(
    format: SuperBlockFormat,
    row: &[u8],
    x: &SuperBlockRows,
    t: usize,
) -> f32 {
    let kb = x.blocks_per_row();
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = [0f32; 4];
    for (i, block) in row.chunks_exact(format.block_bytes()).enumerate() {
        let xb = t * kb + i;
        let q8 = x.qs[xb * SUPER_BLOCK..].as_ptr();
        let sums = &x.sums[xb * SUMS..(xb + 1) * SUMS];
        let (lanes, d) = match format {
            SuperBlockFormat::Q4K => {
                let (scales, mins) = q4k_scales_mins(block[4..16].try_into().unwrap());
                q4k_mins(&mut acc_m, &mins, sums, -x.d[xb] * f16_at(block, 2));
                (
                    q4k_lanes(block[16..].as_ptr(), &scales, q8),
                    x.d[xb] * f16_at(block, 0),
                )
            }
            SuperBlockFormat::Q6K => (q6k_lanes(block, q8, sums), x.d[xb] * f16_at(block, 208)),
        };
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    crate::ggml::hsum_float_8(&lanes) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]))
}

/// [`super::reference::dot_q4k_repacked`] with the chunk sums in SIMD.
///
/// # Safety
/// As [`dot`], for Q4_K.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q4k_repacked(
    row: &[u8],
    x: &SuperBlockRows,
    t: usize,
    grouped: bool,
) -> f32 {
    reference::dot_q4k_repacked(row, x, t, grouped, |qs, scales, q8| {
        // SAFETY: the CPU has AVX2 (this function's contract); a super-block's 128 bytes of
        // values and 256 activations.
        std::array::from_fn(|j| unsafe { hsum_i32(q4k_chunk(qs.as_ptr(), scales, q8.as_ptr(), j)) })
    })
}

/// [`super::reference::dot_tiled`] with the integer sums in SIMD.
///
/// # Safety
/// As [`dot`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_tiled(
    format: SuperBlockFormat,
    row: &[u8],
    x: &SuperBlockRows,
    t: usize,
) -> f32 {
    reference::dot_tiled(format, row, x, t, |format, block, q8, sums| {
        // SAFETY: the CPU has AVX2 (this function's contract); a whole super-block and its
        // activations.
        unsafe {
            match format {
                SuperBlockFormat::Q4K => {
                    let (scales, mins) = q4k_scales_mins(block[4..16].try_into().unwrap());
                    let values = q4k_lanes(block[16..].as_ptr(), &scales, q8.as_ptr());
                    let mins = reference::q4k_chunk_mins(&mins, sums);
                    (hsum_i32(values), mins.iter().sum())
                }
                SuperBlockFormat::Q6K => (hsum_i32(q6k_lanes(block, q8.as_ptr(), sums)), 0),
            }
        }
    })
}

/// The sum of 8 i32 lanes (exact, so in any order).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn hsum_i32(v: __m256i) -> i32 {
    let r = _mm_add_epi32(_mm256_extracti128_si256::<1>(v), _mm256_castsi256_si128(v));
    let r = _mm_add_epi32(r, _mm_shuffle_epi32::<0b01_00_11_10>(r));
    let r = _mm_add_epi32(r, _mm_shuffle_epi32::<0b10_11_00_01>(r));
    _mm_cvtsi128_si32(r)
}

/// [`super::reference`]'s Q4_K lanes, chunk by chunk.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q4k_lanes(qs: *const u8, scales: &[u8; 8], q8: *const i8) -> __m256i {
    let mut sumi = _mm256_setzero_si256();
    for j in 0..SUPER_BLOCK / 64 {
        sumi = _mm256_add_epi32(sumi, q4k_chunk(qs, scales, q8, j));
    }
    sumi
}

/// Chunk `j` of 64 values of [`q4k_lanes`]: the low nibbles times the first 32 activations
/// and the high nibbles times the next 32, pairs summed in i16, then pairs of pairs times the
/// sub-block's scale in i32.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q4k_chunk(qs: *const u8, scales: &[u8; 8], q8: *const i8, j: usize) -> __m256i {
    let m4 = _mm256_set1_epi8(0x0F);
    let bits = _mm256_loadu_si256(qs.add(32 * j).cast());
    let low = _mm256_and_si256(bits, m4);
    let high = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
    let x_low = _mm256_loadu_si256(q8.add(64 * j).cast());
    let x_high = _mm256_loadu_si256(q8.add(64 * j + 32).cast());
    let p_low = _mm256_madd_epi16(
        _mm256_set1_epi16(scales[2 * j] as i16),
        _mm256_maddubs_epi16(low, x_low),
    );
    let p_high = _mm256_madd_epi16(
        _mm256_set1_epi16(scales[2 * j + 1] as i16),
        _mm256_maddubs_epi16(high, x_high),
    );
    _mm256_add_epi32(p_low, p_high)
}

/// [`super::reference`]'s Q6_K lanes: per chunk of 32 values, the 6-bit values (unsigned)
/// times the activations, pairs summed in i16, then pairs of pairs times the scale of the
/// chunk's first or second 16 values; less `32 ·` the scaled sub-block sums.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q6k_lanes(block: &[u8], q8: *const i8, sums: &[i16]) -> __m256i {
    let (ql, qh, sc) = (block.as_ptr(), block[128..].as_ptr(), &block[192..208]);
    let (m3, m15) = (_mm256_set1_epi8(3), _mm256_set1_epi8(15));
    let scale = |s: usize| _mm_set1_epi16(sc[s] as i8 as i16);
    let mut sumi = _mm256_setzero_si256();
    for half in 0..2 {
        let bits1 = _mm256_loadu_si256(ql.add(64 * half).cast());
        let bits2 = _mm256_loadu_si256(ql.add(64 * half + 32).cast());
        let high = _mm256_loadu_si256(qh.add(32 * half).cast());
        let values = [
            _mm256_or_si256(
                _mm256_and_si256(bits1, m15),
                _mm256_slli_epi16::<4>(_mm256_and_si256(high, m3)),
            ),
            _mm256_or_si256(
                _mm256_and_si256(bits2, m15),
                _mm256_slli_epi16::<2>(_mm256_and_si256(high, _mm256_set1_epi8(12))),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(bits1), m15),
                _mm256_and_si256(high, _mm256_set1_epi8(48)),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(bits2), m15),
                _mm256_srli_epi16::<2>(_mm256_and_si256(high, _mm256_set1_epi8(-64))),
            ),
        ];
        for (k, q) in values.into_iter().enumerate() {
            let chunk = 4 * half + k;
            let xv = _mm256_loadu_si256(q8.add(32 * chunk).cast());
            let scales = _mm256_set_m128i(scale(2 * chunk + 1), scale(2 * chunk));
            let p = _mm256_madd_epi16(scales, _mm256_maddubs_epi16(q, xv));
            sumi = _mm256_add_epi32(sumi, p);
        }
    }
    let scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc.as_ptr().cast()));
    let sums16 = _mm256_loadu_si256(sums.as_ptr().cast());
    let subtract = _mm256_slli_epi32::<5>(_mm256_madd_epi16(sums16, scales16));
    _mm256_sub_epi32(sumi, subtract)
}
