//! AVX2 building blocks shared by several kernels.

use std::arch::x86_64::*;

/// The 8×8 transpose: lane `j` of result `i` is lane `i` of `c[j]`.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn transpose8(c: [__m256; 8]) -> [__m256; 8] {
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
