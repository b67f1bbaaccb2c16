//! The scalar kernel: llama.cpp's AVX2 `ggml_vec_dot_*` arithmetic written out lane by lane.
//!
//! Each block's integer products are summed in 8 lanes of 4 consecutive values; every lane is
//! scaled by `d_w * d_x` and accumulated with a fused multiply-add, in block order; the lanes
//! are summed as `hsum_float_8` does; Q4_1 adds its `Σ m * s` term, also fused, at the end.
//! The SIMD kernels must equal this bit for bit, and so a row's result never depends on the
//! other rows of the step or on the CPU's features.

use super::packed::nibble;
use super::{PackedMatrix, QuantizedRows, WeightFormat, BLOCK};
use crate::ggml::{hsum_float_8, LANES};

/// `W[n] · x[t]`.
pub(super) fn dot(w: &PackedMatrix, n: usize, x: &QuantizedRows, t: usize) -> f32 {
    let kb = w.blocks_per_row();
    let vb = w.format.value_bytes();
    let mut acc = [0f32; LANES];
    let mut mins = 0f32;
    for b in 0..kb {
        let (wb, xb) = (w.block(n, b), t * kb + b);
        let qs = &w.qs[wb * vb..(wb + 1) * vb];
        let xq = &x.qs[xb * BLOCK..(xb + 1) * BLOCK];
        let scale = w.d[wb] * x.d[xb];
        for (l, a) in acc.iter_mut().enumerate() {
            let lane: i32 = (4 * l..4 * l + 4)
                .map(|j| weight_value(w.format, qs, j) * xq[j] as i32)
                .sum();
            *a = scale.mul_add(lane as f32, *a);
        }
        if w.format == WeightFormat::Q4_1 {
            mins = w.m[wb].mul_add(x.s[xb], mins);
        }
    }
    hsum_float_8(&acc) + mins
}

fn weight_value(format: WeightFormat, qs: &[u8], j: usize) -> i32 {
    match format {
        WeightFormat::Q4_1 => nibble(qs, j) as i32,
        WeightFormat::Q4_0 => nibble(qs, j) as i32 - 8,
        WeightFormat::Q8_0 => qs[j] as i8 as i32,
    }
}
