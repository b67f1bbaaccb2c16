//! AVX2 + FMA versions of the hot functions of `ggml`: the same operations as llama.cpp's
//! intrinsics, so they equal the scalar versions bit for bit (tested there).

use super::LANES;
use std::arch::x86_64::*;

/// [`super::dot_vec_f32`].
///
/// # Safety
/// The CPU must have AVX2 and FMA; `x.len() == y.len()`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_vec_f32(x: &[f32], y: &[f32]) -> f32 {
    const STEP: usize = 4 * LANES;
    let whole = x.len() / STEP * STEP;
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut sum = [_mm256_setzero_ps(); 4];
    for i in (0..whole).step_by(STEP) {
        for (j, s) in sum.iter_mut().enumerate() {
            let at = i + j * LANES;
            *s = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(at)), _mm256_loadu_ps(yp.add(at)), *s);
        }
    }
    let x0 = _mm256_add_ps(sum[0], sum[2]);
    let x1 = _mm256_add_ps(sum[1], sum[3]);
    let x01 = _mm256_add_ps(x0, x1);
    let t0 = _mm_add_ps(_mm256_castps256_ps128(x01), _mm256_extractf128_ps::<1>(x01));
    let t1 = _mm_hadd_ps(t0, t0);
    let mut total = _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
    for i in whole..x.len() {
        total = x[i].mul_add(y[i], total);
    }
    total
}

/// `ggml_v_expf` on 8 lanes, written as llama.cpp writes it.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn expf8(x: __m256) -> __m256 {
    let r = _mm256_set1_ps(f32::from_bits(0x4B40_0000));
    let z = _mm256_fmadd_ps(x, _mm256_set1_ps(f32::from_bits(0x3FB8_AA3B)), r);
    let n = _mm256_sub_ps(z, r);
    let b = _mm256_fnmadd_ps(
        n,
        _mm256_set1_ps(f32::from_bits(0x35BF_BE8E)),
        _mm256_fnmadd_ps(n, _mm256_set1_ps(f32::from_bits(0x3F31_7200)), x),
    );
    let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
    let k = _mm256_castsi256_ps(_mm256_add_epi32(
        e,
        _mm256_castps_si256(_mm256_set1_ps(1.0)),
    ));
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let c = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(126.0)));
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_set1_ps(f32::from_bits(0x3C07_2010)),
                b,
                _mm256_set1_ps(f32::from_bits(0x3D2B_9F17)),
            ),
            u,
            _mm256_fmadd_ps(
                _mm256_set1_ps(f32::from_bits(0x3E2A_AF33)),
                b,
                _mm256_set1_ps(f32::from_bits(0x3EFF_FEDB)),
            ),
        ),
        u,
        _mm256_mul_ps(_mm256_set1_ps(f32::from_bits(0x3F7F_FFF6)), b),
    );
    if _mm256_movemask_ps(_mm256_castsi256_ps(c)) == 0 {
        return _mm256_fmadd_ps(j, k, k);
    }
    let g = _mm256_and_si256(
        _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_setzero_ps())),
        _mm256_set1_epi32(0x8200_0000u32 as i32),
    );
    let s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7F00_0000)));
    let s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    let d = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(192.0)));
    _mm256_or_ps(
        _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(
            _mm256_castsi256_ps(d),
            _mm256_or_ps(
                _mm256_and_ps(
                    _mm256_castsi256_ps(c),
                    _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1),
                ),
                _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)),
            ),
        ),
    )
}

/// [`super::exp_group`].
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn exp_group(group: &mut [f32; LANES], max: f32) -> f32 {
    let v = expf8(_mm256_sub_ps(
        _mm256_loadu_ps(group.as_ptr()),
        _mm256_set1_ps(max),
    ));
    _mm256_storeu_ps(group.as_mut_ptr(), v);
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    _mm_cvtss_f32(_mm_add_ss(r, _mm_movehdup_ps(r)))
}
