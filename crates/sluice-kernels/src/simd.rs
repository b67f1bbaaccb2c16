//! AVX2 building blocks shared by several kernels. They take and return registers only, so
//! they are safe functions: callable from code compiled for the same features, which is where
//! every kernel that uses them runs.

use std::arch::x86_64::*;

/// The 8×8 transpose: lane `j` of result `i` is lane `i` of `c[j]`.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn transpose8(c: [__m256; 8]) -> [__m256; 8] {
    let t: [__m256; 8] = [
        _mm256_unpacklo_ps(c[0], c[1]),
        _mm256_unpackhi_ps(c[0], c[1]),
        _mm256_unpacklo_ps(c[2], c[3]),
        _mm256_unpackhi_ps(c[2], c[3]),
        _mm256_unpacklo_ps(c[4], c[5]),
        _mm256_unpackhi_ps(c[4], c[5]),
        _mm256_unpacklo_ps(c[6], c[7]),
        _mm256_unpackhi_ps(c[6], c[7]),
    ];
    let u: [__m256; 8] = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    [
        _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ]
}

/// ggml's `hsum_float_8` for 8 sums at once: lane `j` of the result adds lane `j` of the 8
/// vectors as `hsum_float_8` adds its 8 lanes, `((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))`.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn hsum8_by_lane(v: [__m256; 8]) -> __m256 {
    let r: [__m256; 4] = std::array::from_fn(|i| _mm256_add_ps(v[i], v[i + 4]));
    _mm256_add_ps(_mm256_add_ps(r[0], r[2]), _mm256_add_ps(r[1], r[3]))
}

/// The end of ggml's `GGML_F32x8_REDUCE` (the 8 lanes' halves added, then `hadd` twice) for
/// 8 sums at once: lane `j` of the result is `((x0 + x4) + (x1 + x5)) + ((x2 + x6) + (x3 + x7))`
/// over lane `j` of the 8 vectors.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn halves_then_hadds_by_lane(x: [__m256; 8]) -> __m256 {
    let h: [__m256; 4] = std::array::from_fn(|i| _mm256_add_ps(x[i], x[i + 4]));
    _mm256_add_ps(_mm256_add_ps(h[0], h[1]), _mm256_add_ps(h[2], h[3]))
}
