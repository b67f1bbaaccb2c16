//! The plain number types kernels read values of and widen to f32, exactly: f32, f16, bf16
//! (weights and K/V held as stored) and i8 (weights quantized per row). One scalar widening
//! and one 8-wide AVX2 load per type, so every kernel generic over them has one form per ISA.

use half::{bf16, f16};

mod sealed {
    /// Only the types below: the SIMD load trusts [`super::Element::KIND`] for the width.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
    impl Sealed for i8 {}
}

/// How a type's bits become an f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementKind {
    F32,
    F16,
    Bf16,
    I8,
}

/// A value type kernels widen to f32 without rounding.
pub trait Element: sealed::Sealed + Copy + Send + Sync + 'static {
    const KIND: ElementKind;

    fn to_f32(self) -> f32;

    /// An f32 activation as it multiplies values of this type: llama.cpp (and torch) round
    /// it to a half-precision weight's own type first (to nearest even); f32 and int8
    /// weights (weight-only quantization) take it as it is.
    fn operand(x: f32) -> f32 {
        x
    }
}

impl Element for f32 {
    const KIND: ElementKind = ElementKind::F32;

    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for f16 {
    const KIND: ElementKind = ElementKind::F16;

    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }

    fn operand(x: f32) -> f32 {
        f16::from_f32(x).to_f32()
    }
}

impl Element for bf16 {
    const KIND: ElementKind = ElementKind::Bf16;

    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }

    fn operand(x: f32) -> f32 {
        bf16::from_f32(x).to_f32()
    }
}

impl Element for i8 {
    const KIND: ElementKind = ElementKind::I8;

    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

/// 8 consecutive values widened to f32 (exactly), as [`Element::to_f32`] widens each.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C, and `p` must point at 8 readable values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(crate) unsafe fn load8<E: Element>(p: *const E) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    match E::KIND {
        ElementKind::F32 => _mm256_loadu_ps(p.cast()),
        ElementKind::F16 => _mm256_cvtph_ps(_mm_loadu_si128(p.cast())),
        // A bf16 is the top half of an f32: widen to 32 bits, shift into place.
        ElementKind::Bf16 => _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(
            _mm_loadu_si128(p.cast()),
        ))),
        ElementKind::I8 => _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 load widens as the scalar one does, for every type, including f16 and bf16
    /// subnormals, infinities and the extremes of i8.
    #[test]
    fn load8_widens_as_to_f32() {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::isa() == crate::cpu::Isa::Avx2Fma {
            fn check<E: Element>(values: [E; 8]) {
                let mut out = [0f32; 8];
                // SAFETY: AVX2, FMA and F16C checked; 8 values.
                unsafe {
                    std::arch::x86_64::_mm256_storeu_ps(out.as_mut_ptr(), load8(values.as_ptr()))
                };
                let want = values.map(E::to_f32);
                assert_eq!(out.map(f32::to_bits), want.map(f32::to_bits));
            }
            let floats = [
                0.1f32,
                -2.5,
                1e-7,
                f32::MAX,
                -0.0,
                3.0e-41,
                f32::INFINITY,
                65504.0,
            ];
            check(floats);
            check(floats.map(f16::from_f32));
            check(floats.map(bf16::from_f32));
            check([i8::MIN, -1, 0, 1, 7, 100, -100, i8::MAX]);
            return;
        }
        println!("load8_widens_as_to_f32: the CPU has no AVX2; not run");
    }
}
