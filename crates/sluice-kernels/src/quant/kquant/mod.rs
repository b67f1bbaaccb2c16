//! Products with llama.cpp's K-quant weights (Q4_K, Q6_K: super-blocks of 256 values with
//! 6- or 8-bit sub-block scales), against activations quantized to Q8_K. llama.cpp rounds
//! these products in one of three orders, depending on the matrix and on the batch the
//! activation row sits in (`reference::Order`: `ggml_vec_dot_*`, its repacked Q4_K kernels,
//! its tiled matmul); sluice follows the one llama.cpp would use, given each row's
//! [`RowContext`]. The integer sums are exact, so a row's result never depends on the CPU's
//! features, nor on the other rows of the step beyond their stated context.
//!
//! The weights keep their GGUF bytes, row by row (a super-block's layout is already what the
//! kernels read), and Q4_K's 6-bit scales are decoded once at load. Batches of 5 rows or more
//! run in tiles of 8 activation rows per weight row (`tile_avx2.rs`), except Q4_K rows in
//! `ggml_vec_dot_*`'s order (matrices llama.cpp does not repack), which, like single rows,
//! are multiplied one weight row by one activation row at a time.

mod activation;
#[cfg(target_arch = "x86_64")]
mod avx2;
mod reference;
#[cfg(target_arch = "x86_64")]
mod tile_avx2;

pub use crate::ggml::RowContext;
pub use activation::{quantize_rows_k, SuperBlockRows};
use reference::Order;

use crate::cpu::{isa, DisjointOut, Isa};
use crate::quant::activation::ROW_TILE;
use half::f16;
use rayon::prelude::*;

/// Values per super-block.
pub const SUPER_BLOCK: usize = 256;

/// The K-quant weight formats this module multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuperBlockFormat {
    /// Per super-block: f16 `d` and `dmin`, 12 bytes of 6-bit scales and mins for 8 sub-blocks
    /// of 32, 128 bytes of 4-bit values: `x = d·scale·q - dmin·min`.
    Q4K,
    /// Per super-block: 128 bytes of low 4 bits, 64 bytes of high 2 bits, 16 i8 scales for
    /// sub-blocks of 16, f16 `d`: `x = d·scale·(q - 32)`.
    Q6K,
}

impl SuperBlockFormat {
    /// Bytes of one super-block in a GGUF file.
    pub fn block_bytes(self) -> usize {
        match self {
            SuperBlockFormat::Q4K => 144,
            SuperBlockFormat::Q6K => 210,
        }
    }
}

/// A K-quant weight matrix `[rows, cols]` in its GGUF bytes, and each super-block's header
/// decoded once at load (f16 scales widened, Q4_K's 6-bit scales unpacked), not per product.
#[derive(Clone, Debug)]
pub struct SuperBlockMatrix {
    format: SuperBlockFormat,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
    headers: Vec<BlockHeader>,
}

/// A super-block's scales, decoded: `d` and `dmin` (Q4_K; 0 for Q6_K) as f32, and Q4_K's 8
/// sub-block scales and 8 mins (6 bits each in the file; Q6_K keeps its i8 scales in place).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct BlockHeader {
    d: f32,
    dmin: f32,
    scales: [u8; 8],
    mins: [u8; 8],
}

impl SuperBlockMatrix {
    /// `bytes` as stored in GGUF: `rows` rows of `cols / 256` super-blocks.
    pub fn new(
        format: SuperBlockFormat,
        bytes: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Self, String> {
        if !cols.is_multiple_of(SUPER_BLOCK) {
            return Err(format!(
                "row width {cols} is not a multiple of {SUPER_BLOCK}"
            ));
        }
        let expected = (rows * (cols / SUPER_BLOCK)).checked_mul(format.block_bytes());
        if expected != Some(bytes.len()) {
            return Err(format!(
                "{} bytes for a {rows}x{cols} {format:?} matrix",
                bytes.len()
            ));
        }
        let headers = bytes
            .chunks_exact(format.block_bytes())
            .map(|block| BlockHeader::of(format, block))
            .collect();
        Ok(SuperBlockMatrix {
            format,
            rows,
            cols,
            data: bytes.to_vec(),
            headers,
        })
    }

    pub fn format(&self) -> SuperBlockFormat {
        self.format
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether products follow llama.cpp's repacked Q4_K kernels: it repacks Q4_K matrices of
    /// a multiple of 8 rows on AVX2 CPUs (`ggml_repack_get_optimal_repack_type`), and
    /// multiplies the others with `ggml_vec_dot_q4_K_q8_K`, whose 8 lanes are scaled one by
    /// one. The repacked kernels scale differently for rows in groups of 4 and for rows
    /// alone ([`SuperBlockRows`] says which each row is).
    fn repacked(&self) -> bool {
        self.format == SuperBlockFormat::Q4K && self.rows.is_multiple_of(8)
    }

    /// Row `n`'s super-blocks.
    fn row(&self, n: usize) -> &[u8] {
        let bytes = self.cols / SUPER_BLOCK * self.format.block_bytes();
        &self.data[n * bytes..(n + 1) * bytes]
    }

    /// Row `n`'s decoded super-block headers.
    fn row_headers(&self, n: usize) -> &[BlockHeader] {
        let kb = self.cols / SUPER_BLOCK;
        &self.headers[n * kb..(n + 1) * kb]
    }

    /// Which of rows `ts` (one tile of `x`) the tile kernel computes, as a bit mask over the
    /// tile, and in what order: all of them for repacked Q4_K and for Q6_K, else those
    /// llama.cpp's tiled matmul takes. The others (other Q4_K rows in `ggml_vec_dot_*`'s
    /// order) go through the one-row kernel.
    fn tile_order(&self, x: &SuperBlockRows, ts: std::ops::Range<usize>) -> (u8, TileOrder) {
        let t0 = ts.start;
        let mask = |keep: &dyn Fn(RowContext) -> bool| {
            ts.clone()
                .filter(|&t| keep(x.context(t)))
                .fold(0u8, |m, t| m | 1 << (t - t0))
        };
        let (all, tiled) = (mask(&|_| true), mask(&|c| c.tiled));
        match self.format {
            _ if self.repacked() => {
                let grouped = mask(&|c| c.grouped);
                (all, TileOrder::Repacked { grouped })
            }
            SuperBlockFormat::Q6K if tiled != all => (all, TileOrder::TiledOrVecDot { tiled }),
            _ => (tiled, TileOrder::Tiled),
        }
    }

    /// How llama.cpp rounds this matrix's products with a row in `context`.
    fn order(&self, context: RowContext) -> Order {
        if self.repacked() {
            Order::Repacked {
                grouped: context.grouped,
            }
        } else if context.tiled {
            Order::Tiled
        } else {
            Order::VecDot
        }
    }

    /// Row `row` as floats, with ggml's `dequantize_row_q4_K` / `_q6_K` arithmetic (an
    /// embedding lookup).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let blocks = self.row(row).chunks_exact(self.format.block_bytes());
        let blocks = blocks.zip(self.row_headers(row));
        for ((block, header), values) in blocks.zip(out.chunks_exact_mut(SUPER_BLOCK)) {
            match self.format {
                SuperBlockFormat::Q4K => {
                    let BlockHeader {
                        d,
                        dmin,
                        scales,
                        mins,
                    } = *header;
                    for (j, chunk) in values.chunks_exact_mut(64).enumerate() {
                        let q = &block[16 + 32 * j..16 + 32 * (j + 1)];
                        for half in 0..2 {
                            let sub = 2 * j + half;
                            let (d1, m1) = (d * scales[sub] as f32, dmin * mins[sub] as f32);
                            for (l, v) in chunk[32 * half..32 * (half + 1)].iter_mut().enumerate() {
                                let nibble = (q[l] >> (4 * half)) & 0x0F;
                                *v = d1 * nibble as f32 - m1;
                            }
                        }
                    }
                }
                SuperBlockFormat::Q6K => {
                    let d = header.d;
                    for (v, value) in values.iter_mut().enumerate() {
                        let scale = block[192 + v / 16] as i8;
                        *value = d * scale as f32 * (q6k_value(block, v) - 32) as f32;
                    }
                }
            }
        }
    }
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

impl BlockHeader {
    fn of(format: SuperBlockFormat, block: &[u8]) -> Self {
        match format {
            SuperBlockFormat::Q4K => {
                let (scales, mins) = q4k_scales_mins(block[4..16].try_into().unwrap());
                BlockHeader {
                    d: f16_at(block, 0),
                    dmin: f16_at(block, 2),
                    scales,
                    mins,
                }
            }
            SuperBlockFormat::Q6K => BlockHeader {
                d: f16_at(block, 208),
                ..BlockHeader::default()
            },
        }
    }
}

/// Q4_K's 8 scales and 8 mins (6 bits each) from their 12 packed bytes, as ggml's
/// `get_scale_min_k4`.
fn q4k_scales_mins(packed: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut scales = [0u8; 8];
    let mut mins = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            scales[j] = packed[j] & 63;
            mins[j] = packed[j + 4] & 63;
        } else {
            scales[j] = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
            mins[j] = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }
    (scales, mins)
}

/// Value `v` (0..256) of a Q6_K super-block, unsigned (0..64; the weight is `q - 32`).
fn q6k_value(block: &[u8], v: usize) -> i32 {
    let (half, l) = (v / 128, v % 128);
    let (ql, qh) = (&block[64 * half..], &block[128 + 32 * half..]);
    let (quarter, l) = (l / 32, l % 32);
    let low = match quarter {
        0 => ql[l] & 0x0F,
        1 => ql[32 + l] & 0x0F,
        2 => ql[l] >> 4,
        _ => ql[32 + l] >> 4,
    };
    let high = (qh[l] >> (2 * quarter)) & 3;
    (low | (high << 4)) as i32
}

/// Weight rows per parallel task.
const ROW_CHUNK: usize = 16;

/// `out[t, n] = W[n] · x[t]`: `out` is `[x.rows(), w.rows()]`, row-major.
pub fn matmul_k(w: &SuperBlockMatrix, x: &SuperBlockRows, out: &mut [f32]) {
    matmul_k_on(isa(), w, x, out);
}

fn matmul_k_on(isa: Isa, w: &SuperBlockMatrix, x: &SuperBlockRows, out: &mut [f32]) {
    assert_eq!(x.cols, w.cols, "activation width differs from the weights'");
    let rows = x.rows();
    assert_eq!(out.len(), rows * w.rows, "output is not [rows, out_dim]");
    let n_out = w.rows;
    let out = DisjointOut::new(out);
    let tiles = if isa == Isa::Avx2Fma { x.tiles() } else { 0 };
    (0..n_out.div_ceil(ROW_CHUNK))
        .into_par_iter()
        .for_each(|chunk| {
            let ns = chunk * ROW_CHUNK..((chunk + 1) * ROW_CHUNK).min(n_out);
            // SAFETY: only the task that owns weight row n writes column n.
            let write = |t: usize, n: usize, v: f32| unsafe { out.write(t * n_out + n, v) };
            for tile in 0..tiles {
                let t0 = tile * ROW_TILE;
                let ts = t0..(t0 + ROW_TILE).min(rows);
                let (tiled, order) = w.tile_order(x, ts.clone());
                for n in ns.clone() {
                    let lanes = (tiled != 0).then(|| dot_tile(isa, w, n, x, tile, order));
                    for t in ts.clone() {
                        match lanes {
                            Some(lanes) if tiled >> (t - t0) & 1 == 1 => write(t, n, lanes[t - t0]),
                            _ => write(t, n, dot(isa, w, n, x, t)),
                        }
                    }
                }
            }
            for n in ns {
                for t in tiles * ROW_TILE..rows {
                    write(t, n, dot(isa, w, n, x, t));
                }
            }
        });
}

/// Which orders a tile kernel's lanes take.
#[derive(Clone, Copy, Debug)]
enum TileOrder {
    /// llama.cpp's repacked Q4_K kernels: lanes set in `grouped` (bit `t` for row `t`) in
    /// groups of 4, the others alone.
    Repacked { grouped: u8 },
    /// ggml's tiled matmul.
    Tiled,
    /// Q6_K: lanes set in `tiled` in ggml's tiled matmul, the others in
    /// `ggml_vec_dot_q6_K_q8_K`'s order.
    TiledOrVecDot { tiled: u8 },
}

/// `W[n] · x[8·tile + t]` in lane `t`, for the lanes whose order `order` covers.
fn dot_tile(
    isa: Isa,
    w: &SuperBlockMatrix,
    n: usize,
    x: &SuperBlockRows,
    tile: usize,
    order: TileOrder,
) -> [f32; ROW_TILE] {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2 and FMA; `dot_tile` checks the lengths and the tile.
        Isa::Avx2Fma => unsafe {
            tile_avx2::dot_tile(w.format, w.row(n), w.row_headers(n), x, tile, order)
        },
        _ => unreachable!("tiles run only on AVX2"),
    }
}

/// `W[n] · x[t]`, rounded as llama.cpp rounds it for the matrix and the row's context.
fn dot(isa: Isa, w: &SuperBlockMatrix, n: usize, x: &SuperBlockRows, t: usize) -> f32 {
    let (format, row, headers) = (w.format, w.row(n), w.row_headers(n));
    let order = w.order(x.context(t));
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` found AVX2 and FMA; `reference::dot` checks the lengths.
        Isa::Avx2Fma => unsafe { avx2::dot(order, format, row, headers, x, t) },
        _ => reference::dot(
            order,
            format,
            row,
            headers,
            x,
            t,
            |block, header, q8, sums| reference::block_sums(format, block, header, q8, sums),
        ),
    }
}

#[cfg(test)]
mod tests;
