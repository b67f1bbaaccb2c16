//! Root-mean-square layer norm (Zhang & Sennrich), as Llama and Gemma use it.

use crate::cpu::for_each_row;

/// `out[r] = x[r] / rms(x[r]) * (weight + weight_offset)` for every row `r` of width `weight.len()`.
///
/// Gemma stores its norm weights as `w - 1` and multiplies by `1 + w`; pass `weight_offset = 1.0`
/// for it and `0.0` for Llama. As in ggml, squares are taken in f32 and summed in f64, and the
/// row is scaled before the weight multiplies it: the next matmul quantizes its input to 8 bits,
/// which turns last-bit differences here into visible ones downstream.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, weight_offset: f32, out: &mut [f32]) {
    let dim = weight.len();
    assert_eq!(x.len(), out.len());
    for_each_row(out, dim, |r, or| {
        let xr = &x[r * dim..][..dim];
        let scale = inverse_rms(xr, eps);
        for ((o, &v), &w) in or.iter_mut().zip(xr).zip(weight) {
            *o = v * scale * (w + weight_offset);
        }
    });
}

/// In-place variant for per-head norms (Gemma 3's q/k norms): every `weight.len()`-wide chunk of
/// `x` is normalised on its own.
pub fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32, weight_offset: f32) {
    let dim = weight.len();
    for_each_row(x, dim, |_, xr| {
        let scale = inverse_rms(xr, eps);
        for (v, &w) in xr.iter_mut().zip(weight) {
            *v = *v * scale * (w + weight_offset);
        }
    });
}

/// `1 / sqrt(mean(x²) + eps)`, squares in f32 summed in f64 (see [`rms_norm`]).
fn inverse_rms(x: &[f32], eps: f32) -> f32 {
    let sum_sq: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    1.0 / ((sum_sq / x.len() as f64) as f32 + eps).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_rows_are_scaled_by_weight() {
        let x = [1.0, -1.0, 1.0, -1.0, 2.0, 2.0, 2.0, 2.0];
        let w = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0; 8];
        rms_norm(&x, &w, 0.0, 0.0, &mut out);
        assert_eq!(out, [1.0, -2.0, 3.0, -4.0, 1.0, 2.0, 3.0, 4.0]);
        let mut y = x;
        rms_norm_in_place(&mut y, &w, 0.0, 0.0);
        assert_eq!(y, out);
    }

    #[test]
    fn weight_offset_adds_one() {
        let x = [3.0, 3.0];
        let mut out = [0.0; 2];
        rms_norm(&x, &[0.0, 1.0], 0.0, 1.0, &mut out);
        assert_eq!(out, [1.0, 2.0]);
    }
}
