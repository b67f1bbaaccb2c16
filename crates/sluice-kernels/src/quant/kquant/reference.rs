//! The K-quant arithmetic, spelled out: per super-block, exact integer sums ([`BlockSums`],
//! which the SIMD kernels compute their own way), then llama.cpp's float steps in one of the
//! three orders its CPU kernels use ([`Order`]). [`dot`] is the driver both the scalar and the
//! SIMD kernels run, so they can differ only in the integer sums, which are exact.

use super::activation::SUMS;
use super::{q6k_value, BlockHeader, SuperBlockFormat, SuperBlockRows, SUPER_BLOCK};
use crate::ggml::{hsum_float_8, LANES};

/// Which of llama.cpp's K-quant kernels a product follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    /// `ggml_vec_dot_q4_K_q8_K` / `_q6_K_q8_K` (AVX2): per super-block, 8 integer lanes
    /// (values `4l..4l+4` of each 32-value chunk) each fused with `d_x · d_w` into its float
    /// lane, summed as `hsum_float_8`; Q4_K's mins in 4 more lanes (sub-block pairs), fused
    /// with `-d_x · dmin_w`, summed pairwise and added at the end.
    VecDot,
    /// The repacked Q4_K kernels: the values' sum fused with `d_w · d_x` into one accumulator,
    /// the mins' with `dmin_w · d_x` into another, the second taken from the first at the end;
    /// per super-block for a row alone (`ggml_gemv_q4_K_8x8_q8_K`), per chunk of 64 values for
    /// rows in groups of 4 (`ggml_gemm_q4_K_8x8_q8_K`, `grouped`).
    Repacked { grouped: bool },
    /// ggml's tiled matmul (`tiled_run_microtile_avx2`): `d_w · values` (Q4_K: less
    /// `dmin_w · mins`, fused), fused with `d_x` into the accumulator, per super-block.
    Tiled,
}

/// A super-block's exact integer sums against one activation block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct BlockSums {
    /// [`Order::VecDot`]'s 8 lanes: values times scales (Q6_K: of `q - 32`).
    pub lanes: [i32; LANES],
    /// Values times scales per chunk of 64 values (Q4_K; their sum is the lanes').
    pub chunks: [i32; 4],
    /// Mins times sub-block sums, per chunk of 64 values (Q4_K; 0 for Q6_K).
    pub mins: [i32; 4],
}

/// One weight row (its GGUF super-blocks and their decoded headers) · activation row `t`, in
/// `order`, with `block_sums` giving each super-block's integer sums.
#[inline(always)]
pub(super) fn dot(
    order: Order,
    format: SuperBlockFormat,
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    t: usize,
    block_sums: impl Fn(&[u8], &BlockHeader, &[i8], &[i16]) -> BlockSums,
) -> f32 {
    let kb = x.blocks_per_row();
    assert!(headers.len() == kb && row.len() == kb * format.block_bytes() && t < x.rows());
    let mut lanes = [0f32; LANES];
    let mut lanes_m = [0f32; 4];
    let (mut acc, mut acc_m) = (0f32, 0f32);
    let blocks = row.chunks_exact(format.block_bytes()).zip(headers);
    for (i, (block, header)) in blocks.enumerate() {
        let xb = t * kb + i;
        let q8 = &x.qs[xb * SUPER_BLOCK..(xb + 1) * SUPER_BLOCK];
        let sums = &x.sums[xb * SUMS..(xb + 1) * SUMS];
        let s = block_sums(block, header, q8, sums);
        let (d_x, d_w, dmin_w) = (x.d[xb], header.d, header.dmin);
        match order {
            Order::VecDot => {
                let d = d_x * d_w;
                for (a, &lane) in lanes.iter_mut().zip(&s.lanes) {
                    *a = d.mul_add(lane as f32, *a);
                }
                let dmin = -d_x * dmin_w;
                for (a, &m) in lanes_m.iter_mut().zip(&s.mins) {
                    *a = dmin.mul_add(m as f32, *a);
                }
            }
            Order::Repacked { grouped } => {
                let (d, dmin) = (d_w * d_x, dmin_w * d_x);
                if grouped {
                    for (&v, &m) in s.chunks.iter().zip(&s.mins) {
                        acc = (v as f32).mul_add(d, acc);
                        acc_m = (m as f32).mul_add(dmin, acc_m);
                    }
                } else {
                    acc = (s.chunks.iter().sum::<i32>() as f32).mul_add(d, acc);
                    acc_m = (s.mins.iter().sum::<i32>() as f32).mul_add(dmin, acc_m);
                }
            }
            Order::Tiled => {
                let values = d_w * s.lanes.iter().sum::<i32>() as f32;
                let scaled = (-dmin_w).mul_add(s.mins.iter().sum::<i32>() as f32, values);
                acc = scaled.mul_add(d_x, acc);
            }
        }
    }
    match order {
        Order::VecDot => {
            hsum_float_8(&lanes) + ((lanes_m[0] + lanes_m[2]) + (lanes_m[1] + lanes_m[3]))
        }
        Order::Repacked { .. } => acc - acc_m,
        Order::Tiled => acc,
    }
}

/// [`BlockSums`] of one super-block, value by value.
pub(super) fn block_sums(
    format: SuperBlockFormat,
    block: &[u8],
    header: &BlockHeader,
    q8: &[i8],
    sums: &[i16],
) -> BlockSums {
    match format {
        SuperBlockFormat::Q4K => {
            let chunks: [[i32; LANES]; 4] =
                std::array::from_fn(|j| q4k_chunk_lanes(&block[16..144], header, q8, j));
            BlockSums {
                lanes: std::array::from_fn(|l| chunks.iter().map(|c| c[l]).sum()),
                chunks: chunks.map(|c| c.iter().sum()),
                mins: q4k_chunk_mins(header, sums),
            }
        }
        SuperBlockFormat::Q6K => BlockSums {
            lanes: q6k_lanes(block, q8, sums),
            ..BlockSums::default()
        },
    }
}

/// Q4_K's mins times the sums of sub-blocks `2j` and `2j + 1` (of 32 values, formed in i16
/// as ggml's `hadd` forms them), per chunk `j` of 64 values.
#[inline(always)]
pub(super) fn q4k_chunk_mins(header: &BlockHeader, sums: &[i16]) -> [i32; 4] {
    let q8s = |s: usize| sums[2 * s].wrapping_add(sums[2 * s + 1]) as i32;
    let m = |s: usize| header.mins[s] as i32;
    std::array::from_fn(|j| m(2 * j) * q8s(2 * j) + m(2 * j + 1) * q8s(2 * j + 1))
}

/// Chunk `j` (64 values) of Q4_K's lanes: lane `l` sums values `4l..4l+4` of each 32-value
/// half times that half's sub-block scale.
fn q4k_chunk_lanes(qs: &[u8], header: &BlockHeader, q8: &[i8], j: usize) -> [i32; LANES] {
    std::array::from_fn(|l| {
        (4 * l..4 * l + 4)
            .map(|v| {
                let byte = qs[32 * j + v];
                let low = (byte & 0x0F) as i32 * q8[64 * j + v] as i32;
                let high = (byte >> 4) as i32 * q8[64 * j + 32 + v] as i32;
                header.scales[2 * j] as i32 * low + header.scales[2 * j + 1] as i32 * high
            })
            .sum()
    })
}

/// Q6_K's lanes: lane `l` sums, over the 8 chunks of 32 values, values `4l..4l+4` of each
/// chunk (unsigned, 0..64) times its sub-block's scale; then takes away `32 ·` (the activation
/// sums of sub-blocks `2l` and `2l + 1` times their scales), which turns the unsigned values
/// into the signed `q - 32` for the whole super-block at once.
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
