//! The scalar kernels: llama.cpp's AVX2 `ggml_vec_dot_q4_K_q8_K` and `ggml_vec_dot_q6_K_q8_K`
//! written out lane by lane.
//!
//! Per super-block, each of 8 lanes gets an exact integer sum (which values and scales go to
//! which lane is what the AVX2 code's shuffles decide), scaled by `d_w · d_x` with a fused
//! multiply-add into its float accumulator; the lanes are summed as `hsum_float_8` does. Q4_K
//! keeps its mins in 4 more lanes (sub-block pairs), fused with `-d_x · dmin_w` and summed
//! pairwise at the end. The SIMD kernels must equal this bit for bit.
//!
//! Q4_K matrices of a multiple of 8 rows are another story: llama.cpp repacks those on AVX2
//! and multiplies them with `ggml_gemv_q4_K_8x8_q8_K` / `ggml_gemm_q4_K_8x8_q8_K`, which add
//! each super-block's integer lanes up first ([`dot_q4k_repacked`]).

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

/// Q4_K as llama.cpp's repacked kernels compute it, with `chunk_values` giving a super-block's
/// integer sums of values times scales, one per chunk of 64 values (as [`q4k_chunk_values`]
/// does; the SIMD kernel brings its own). Per super-block, those sums are fused with
/// `d_w · d_x` into one accumulator, and the sums of mins times sub-block sums with
/// `dmin_w · d_x` into another; the second is taken from the first at the end.
/// `ggml_gemv_q4_K_8x8_q8_K` (a row alone) fuses each super-block's total once;
/// `ggml_gemm_q4_K_8x8_q8_K` (rows in groups of 4) fuses each chunk's (`grouped`).
pub(super) fn dot_q4k_repacked(
    row: &[u8],
    x: &SuperBlockRows,
    t: usize,
    grouped: bool,
    chunk_values: impl Fn(&[u8], &[u8; 8], &[i8]) -> [i32; 4],
) -> f32 {
    let kb = x.blocks_per_row();
    let (mut acc, mut acc_min) = (0f32, 0f32);
    for (i, block) in row
        .chunks_exact(SuperBlockFormat::Q4K.block_bytes())
        .enumerate()
    {
        let xb = t * kb + i;
        let q8 = &x.qs[xb * SUPER_BLOCK..(xb + 1) * SUPER_BLOCK];
        let sums = &x.sums[xb * SUMS..(xb + 1) * SUMS];
        let (scales, mins) = q4k_scales_mins(block[4..16].try_into().unwrap());
        let values = chunk_values(&block[16..144], &scales, q8);
        let mins = q4k_chunk_mins(&mins, sums);
        let (d, dmin) = (f16_at(block, 0) * x.d[xb], f16_at(block, 2) * x.d[xb]);
        if grouped {
            for j in 0..4 {
                acc = (values[j] as f32).mul_add(d, acc);
                acc_min = (mins[j] as f32).mul_add(dmin, acc_min);
            }
        } else {
            acc = (values.iter().sum::<i32>() as f32).mul_add(d, acc);
            acc_min = (mins.iter().sum::<i32>() as f32).mul_add(dmin, acc_min);
        }
    }
    acc - acc_min
}

/// A K-quant row as ggml's tiled matmul computes it (`tiled_run_microtile_avx2`), with
/// `block_sums` giving a super-block's two integer sums: values times scales (Q6_K's values
/// signed, `q - 32`), and mins times sub-block sums (Q4_K; 0 for Q6_K). Per super-block:
/// `d_w · values`, less `dmin_w · mins` fused (Q4_K), fused with `d_x` into the accumulator.
pub(super) fn dot_tiled(
    format: SuperBlockFormat,
    row: &[u8],
    x: &SuperBlockRows,
    t: usize,
    block_sums: impl Fn(SuperBlockFormat, &[u8], &[i8], &[i16]) -> (i32, i32),
) -> f32 {
    let kb = x.blocks_per_row();
    let mut acc = 0f32;
    for (i, block) in row.chunks_exact(format.block_bytes()).enumerate() {
        let xb = t * kb + i;
        let q8 = &x.qs[xb * SUPER_BLOCK..(xb + 1) * SUPER_BLOCK];
        let sums = &x.sums[xb * SUMS..(xb + 1) * SUMS];
        let (values, mins) = block_sums(format, block, q8, sums);
        let scaled = match format {
            SuperBlockFormat::Q4K => {
                let values = f16_at(block, 0) * values as f32;
                (-f16_at(block, 2)).mul_add(mins as f32, values)
            }
            SuperBlockFormat::Q6K => f16_at(block, 208) * values as f32,
        };
        acc = scaled.mul_add(x.d[xb], acc);
    }
    acc
}

/// [`dot_tiled`]'s integer sums of one super-block.
pub(super) fn super_block_sums(
    format: SuperBlockFormat,
    block: &[u8],
    q8: &[i8],
    sums: &[i16],
) -> (i32, i32) {
    match format {
        SuperBlockFormat::Q4K => {
            let (scales, mins) = q4k_scales_mins(block[4..16].try_into().unwrap());
            let values = q4k_chunk_values(&block[16..144], &scales, q8).iter().sum();
            (values, q4k_chunk_mins(&mins, sums).iter().sum())
        }
        SuperBlockFormat::Q6K => (q6k_lanes(block, q8, sums).iter().sum(), 0),
    }
}

/// Q4_K's mins times the sums of sub-blocks `2j` and `2j + 1` (of 32, formed in i16), per
/// chunk `j` of 64 values.
pub(super) fn q4k_chunk_mins(mins: &[u8; 8], sums: &[i16]) -> [i32; 4] {
    let q8s = |s: usize| sums[2 * s].wrapping_add(sums[2 * s + 1]) as i32;
    std::array::from_fn(|j| {
        mins[2 * j] as i32 * q8s(2 * j) + mins[2 * j + 1] as i32 * q8s(2 * j + 1)
    })
}

/// A Q4_K super-block's values times its scales, summed per chunk of 64 values.
pub(super) fn q4k_chunk_values(qs: &[u8], scales: &[u8; 8], q8: &[i8]) -> [i32; 4] {
    std::array::from_fn(|j| q4k_chunk_lanes(qs, scales, q8, j).iter().sum())
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
        for (lane, chunk) in lanes.iter_mut().zip(q4k_chunk_lanes(qs, scales, q8, j)) {
            *lane += chunk;
        }
    }
    lanes
}

/// Chunk `j`'s share of [`q4k_lanes`].
fn q4k_chunk_lanes(qs: &[u8], scales: &[u8; 8], q8: &[i8], j: usize) -> [i32; LANES] {
    std::array::from_fn(|l| {
        (4 * l..4 * l + 4)
            .map(|v| {
                let byte = qs[32 * j + v];
                let low = (byte & 0x0F) as i32 * q8[64 * j + v] as i32;
                let high = (byte >> 4) as i32 * q8[64 * j + 32 + v] as i32;
                scales[2 * j] as i32 * low + scales[2 * j + 1] as i32 * high
            })
            .sum()
    })
}

/// Q6_K's integer lanes: lane `l` sums, over the 8 chunks of 32 values, values `4l..4l+4` of
/// each chunk (unsigned, 0..64) times its sub-block's scale; then takes away `32 ·` (the
/// activation sums of sub-blocks `2l` and `2l + 1` times their scales), which turns the
/// unsigned values into the signed `q - 32` for the whole super-block at once.
pub(super) fn q6k_lanes(block: &[u8], q8: &[i8], sums: &[i16]) -> [i32; LANES] {
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
