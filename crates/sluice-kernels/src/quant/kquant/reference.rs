//! The scalar kernels: llama.cpp's AVX2 `ggml_vec_dot_q4_K_q8_K` and `ggml_vec_dot_q6_K_q8_K`
//! written out lane by lane.
//!
//! Per super-block, each of 8 lanes gets an exact integer sum (which values and scales go to
//! which lane is what the AVX2 code's shuffles decide), scaled by `d_w · d_x` with a fused
//! multiply-add into its float accumulator; the lanes are summed as `hsum_float_8` does. Q4_K
//! keeps its mins in 4 more lanes (sub-block pairs), fused with `-d_x · dmin_w` and summed
//! pairwise at the end. The SIMD kernels must equal this bit for bit.

use super::activation::SUMS;
use super::{f16_at, q4k_scales_mins, q6k_value, SuperBlockFormat, SuperBlockRows, SUPER_BLOCK};
use crate::ggml::{hsum_float_8, LANES};

/// One weight row (its GGUF super-blocks) · activation row `t`.
pub(super) fn dot(format: SuperBlockFormat, row: &[u8], x: &SuperBlockRows, t: usize) -> f32 {
    let kb = x.blocks_per_row();
    let blocks = row.chunks_exact(format.block_bytes()).enumerate();
    let mut acc = [0f32; LANES];
    let mut acc_m = [0f32; 4];
    for (i, block) in blocks {
        let xb = t * kb + i;
        let q8 = &x.qs[xb * SUPER_BLOCK..(xb + 1) * SUPER_BLOCK];
        let sums = &x.sums[xb * SUMS..(xb + 1) * SUMS];
        let lanes = match format {
            SuperBlockFormat::Q4K => {
                let (scales, mins) = q4k_scales_mins(block[4..16].try_into().unwrap());
                q4k_mins(&mut acc_m, &mins, sums, -x.d[xb] * f16_at(block, 2));
                q4k_lanes(&block[16..144], &scales, q8)
            }
            SuperBlockFormat::Q6K => q6k_lanes(block, q8, sums),
        };
        let d = match format {
            SuperBlockFormat::Q4K => x.d[xb] * f16_at(block, 0),
            SuperBlockFormat::Q6K => x.d[xb] * f16_at(block, 208),
        };
        for (a, lane) in acc.iter_mut().zip(lanes) {
            *a = d.mul_add(lane as f32, *a);
        }
    }
    hsum_float_8(&acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]))
}

/// Q4_K's mins: lane `k` adds `dmin · (min[2k] · Σ sub-block 2k + min[2k+1] · Σ sub-block
/// 2k+1)` of the activations, the sub-block sums of 32 formed in i16 as ggml's `hadd` forms
/// them. `dmin` is `-d_x · dmin_w`.
pub(super) fn q4k_mins(acc_m: &mut [f32; 4], mins: &[u8; 8], sums: &[i16], dmin: f32) {
    let q8s = |s: usize| sums[2 * s].wrapping_add(sums[2 * s + 1]) as i32;
    for (k, m) in acc_m.iter_mut().enumerate() {
        let prod = mins[2 * k] as i32 * q8s(2 * k) + mins[2 * k + 1] as i32 * q8s(2 * k + 1);
        *m = dmin.mul_add(prod as f32, *m);
    }
}

/// Q4_K's integer lanes: lane `l` sums, over the 4 chunks of 64 values, values `4l..4l+4` of
/// each 32-value half times its sub-block's scale.
fn q4k_lanes(qs: &[u8], scales: &[u8; 8], q8: &[i8]) -> [i32; LANES] {
    let mut lanes = [0i32; LANES];
    for j in 0..SUPER_BLOCK / 64 {
        for (l, lane) in lanes.iter_mut().enumerate() {
            for v in 4 * l..4 * l + 4 {
                let byte = qs[32 * j + v];
                let low = (byte & 0x0F) as i32 * q8[64 * j + v] as i32;
                let high = (byte >> 4) as i32 * q8[64 * j + 32 + v] as i32;
                *lane += scales[2 * j] as i32 * low + scales[2 * j + 1] as i32 * high;
            }
        }
    }
    lanes
}

/// Q6_K's integer lanes: lane `l` sums, over the 8 chunks of 32 values, values `4l..4l+4` of
/// each chunk (unsigned, 0..64) times its sub-block's scale; then takes away `32 ·` (the
/// activation sums of sub-blocks `2l` and `2l + 1` times their scales), which turns the
/// unsigned values into the signed `q - 32` for the whole super-block at once.
fn q6k_lanes(block: &[u8], q8: &[i8], sums: &[i16]) -> [i32; LANES] {
    let scale = |s: usize| block[192 + s] as i8 as i32;
    let mut lanes = [0i32; LANES];
    for chunk in 0..SUPER_BLOCK / 32 {
        for (l, lane) in lanes.iter_mut().enumerate() {
            let sub = 2 * chunk + usize::from(l >= 4);
            let values = 32 * chunk + 4 * l..32 * chunk + 4 * l + 4;
            for (v, &x) in values.clone().zip(&q8[values]) {
                *lane += scale(sub) * q6k_value(block, v) * x as i32;
            }
        }
    }
    for (l, lane) in lanes.iter_mut().enumerate() {
        let subtract =
            sums[2 * l] as i32 * scale(2 * l) + sums[2 * l + 1] as i32 * scale(2 * l + 1);
        *lane -= subtract << 5;
    }
    lanes
}
