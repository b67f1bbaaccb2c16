//! AVX2 + FMA K-quant kernels: [`super::reference`]'s integer sums of a super-block in SIMD,
//! as llama.cpp's AVX2 `ggml_vec_dot_q4_K_q8_K` / `_q6_K_q8_K` form them, under the same
//! float driver, so each product equals the scalar one bit for bit.

use super::activation::SUMS;
use super::reference::{self, BlockSums, Order};
use super::{BlockHeader, SuperBlockFormat, SuperBlockRows, SUPER_BLOCK};
use std::arch::x86_64::*;

/// One weight row (its GGUF super-blocks and their decoded headers) · activation row `t`.
///
/// # Safety
/// The CPU must have AVX2 and FMA. (The lengths are checked by `reference::dot`.)
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(
    order: Order,
    format: SuperBlockFormat,
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    t: usize,
) -> f32 {
    reference::dot(
        order,
        format,
        row,
        headers,
        x,
        t,
        |block, header, q8, sums| {
            // SAFETY: the CPU has AVX2 (this function's contract); `block_sums` checks the
            // lengths.
            unsafe { block_sums(format, block, header, q8, sums) }
        },
    )
}

/// [`reference::block_sums`] in SIMD.
///
/// # Safety
/// The CPU must have AVX2. (`block` must be one whole super-block of `format`, `q8` its 256
/// activations and `sums` their 16 sums: asserted, as the loads below read through raw
/// pointers.)
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block_sums(
    format: SuperBlockFormat,
    block: &[u8],
    header: &BlockHeader,
    q8: &[i8],
    sums: &[i16],
) -> BlockSums {
    assert!(block.len() == format.block_bytes() && q8.len() == SUPER_BLOCK && sums.len() == SUMS);
    let q8 = q8.as_ptr();
    if format == SuperBlockFormat::Q6K {
        return BlockSums {
            lanes: to_array(q6k_lanes(block, q8, sums)),
            ..BlockSums::default()
        };
    }
    let qs = block[16..].as_ptr();
    // Written out: a closure (as `array::from_fn` takes) would not inline these.
    let c = [
        q4k_chunk(qs, header, q8, 0),
        q4k_chunk(qs, header, q8, 1),
        q4k_chunk(qs, header, q8, 2),
        q4k_chunk(qs, header, q8, 3),
    ];
    let lanes = _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3]));
    // The four chunks' totals at once: pairs of lanes, then pairs of pairs, then the halves.
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(c[0], c[1]), _mm256_hadd_epi32(c[2], c[3]));
    let totals = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    let mut chunks = [0i32; 4];
    _mm_storeu_si128(chunks.as_mut_ptr().cast(), totals);
    BlockSums {
        lanes: to_array(lanes),
        chunks,
        mins: reference::q4k_chunk_mins(header, sums),
    }
}

/// The 8 lanes of `v`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn to_array(v: __m256i) -> [i32; 8] {
    let mut out = [0i32; 8];
    // SAFETY: `out` holds the 32 bytes stored.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
    out
}

/// Chunk `j` of 64 Q4_K values: the low nibbles times the first 32 activations and the high
/// nibbles times the next 32, pairs summed in i16, then pairs of pairs times the sub-block's
/// scale in i32.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `qs` points at a Q4_K super-block's 128 value bytes, `q8`
/// at its 256 activations, and `j < 4`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q4k_chunk(qs: *const u8, header: &BlockHeader, q8: *const i8, j: usize) -> __m256i {
    let m4 = _mm256_set1_epi8(0x0F);
    let bits = _mm256_loadu_si256(qs.add(32 * j).cast());
    let low = _mm256_and_si256(bits, m4);
    let high = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
    let x_low = _mm256_loadu_si256(q8.add(64 * j).cast());
    let x_high = _mm256_loadu_si256(q8.add(64 * j + 32).cast());
    let p_low = _mm256_madd_epi16(
        _mm256_set1_epi16(header.scales[2 * j] as i16),
        _mm256_maddubs_epi16(low, x_low),
    );
    let p_high = _mm256_madd_epi16(
        _mm256_set1_epi16(header.scales[2 * j + 1] as i16),
        _mm256_maddubs_epi16(high, x_high),
    );
    _mm256_add_epi32(p_low, p_high)
}

/// Q6_K's lanes: per chunk of 32 values, the 6-bit values (unsigned) times the activations,
/// pairs summed in i16, then pairs of pairs times the scale of the chunk's first or second 16
/// values; less `32 ·` the scaled sub-block sums.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `block` is one whole Q6_K super-block (210 bytes), `q8`
/// points at its 256 activations, and `sums` holds their 16 sums.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q6k_lanes(block: &[u8], q8: *const i8, sums: &[i16]) -> __m256i {
    let (ql, qh, sc) = (block.as_ptr(), block[128..].as_ptr(), &block[192..208]);
    let scale = |s: usize| _mm_set1_epi16(sc[s] as i8 as i16);
    let mut sumi = _mm256_setzero_si256();
    for half in 0..2 {
        let bits1 = _mm256_loadu_si256(ql.add(64 * half).cast());
        let bits2 = _mm256_loadu_si256(ql.add(64 * half + 32).cast());
        let high = _mm256_loadu_si256(qh.add(32 * half).cast());
        let values = q6k_quarters(bits1, bits2, high);
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

/// Q6_K's 6-bit values (unsigned) from the low-bit bytes `bits1` (quarters 0 and 2, low and
/// high nibbles) and `bits2` (quarters 1 and 3) and the high-bit bytes `high` (2 bits per
/// quarter): the 4 quarters of a half super-block, byte for byte as the inputs are laid out.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn q6k_quarters(bits1: __m256i, bits2: __m256i, high: __m256i) -> [__m256i; 4] {
    let (m3, m15) = (_mm256_set1_epi8(3), _mm256_set1_epi8(15));
    [
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
    ]
}
