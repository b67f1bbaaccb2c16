//! The number types a KV cache can hold, and what llama.cpp's CPU attention does differently
//! for each (flash attention off).
//!
//! With an f32 cache every operand stays f32. With an f16 cache, `ggml_mul_mat` converts its f32
//! operand to f16 (round to nearest even) before multiplying: the queries before `q · k`, and
//! the softmax weights before `Σ p V`; f16 values are then widened to f32 exactly and multiplied
//! with the same fused multiply-adds as in f32, except that `ggml_vec_dot_f16` adds the values
//! past its last whole step of 32 in double (`ggml::dot_vec_f16`). The conversion also makes the
//! queries contiguous, so that a batch of two or more tokens multiplies them by K with tinyBLAS
//! (8 lanes), where with an f32 cache `q · k` is always `ggml_vec_dot_f32` (the permuted queries
//! are not contiguous).

use crate::element::Element;
use half::f16;

/// A value type of the KV cache: f32 or f16 (widened to f32 as [`Element`] widens it, and
/// multiplied by queries and softmax weights rounded as [`Element::operand`] rounds them).
pub trait KvElement: Element {
    /// IEEE half precision: loads widen it, and llama.cpp rounds the queries and softmax
    /// weights to it first (and so multiplies a prompt's queries by K with tinyBLAS).
    const HALF: bool;

    fn from_f32(x: f32) -> Self;

    /// `len` zeros, allocated zeroed so that the pages stay untouched (and out of the
    /// resident set) until they are written.
    fn zeros(len: usize) -> Vec<Self>;

    /// `values` as f32: themselves, or widened into `buffer`.
    fn widen<'a>(values: &'a [Self], buffer: &'a mut Vec<f32>) -> &'a [f32];
}

impl KvElement for f32 {
    const HALF: bool = false;

    fn from_f32(x: f32) -> Self {
        x
    }

    fn zeros(len: usize) -> Vec<Self> {
        vec![0.0; len]
    }

    fn widen<'a>(values: &'a [Self], _: &'a mut Vec<f32>) -> &'a [f32] {
        values
    }
}

impl KvElement for f16 {
    const HALF: bool = true;

    /// Round to nearest even, as F16C's `vcvtps2ph` with rounding mode 0 (ggml's conversion).
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }

    /// `vec![f16::ZERO; len]` would write every element; zero bits allocate zeroed.
    fn zeros(len: usize) -> Vec<Self> {
        use half::vec::HalfBitsVecExt;
        vec![0u16; len].reinterpret_into()
    }

    fn widen<'a>(values: &'a [Self], buffer: &'a mut Vec<f32>) -> &'a [f32] {
        buffer.clear();
        buffer.extend(values.iter().map(|x| x.to_f32()));
        buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_operands_round_to_nearest_even() {
        // 1 + 2^-11 lies halfway between 1 and the next f16 (1 + 2^-10): ties go to even, 1.
        assert_eq!(f16::operand(1.0 + 2f32.powi(-11)), 1.0);
        // 1 + 3·2^-11 lies halfway between 1 + 2^-10 and 1 + 2^-9: to 1 + 2^-9.
        assert_eq!(
            f16::operand(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2f32.powi(-9)
        );
        assert_eq!(f16::operand(0.1), 0.099975586);
        assert_eq!(f32::operand(0.1), 0.1);
    }

    #[test]
    fn zeros_are_zero() {
        assert!(f16::zeros(5)
            .iter()
            .all(|x| x.to_f32() == 0.0 && x.is_sign_positive()));
        assert_eq!(f32::zeros(5), vec![0.0; 5]);
    }
}
