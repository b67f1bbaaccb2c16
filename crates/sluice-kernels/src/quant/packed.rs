//! Weights repacked once at load from GGUF blocks into the layout the kernels stream over.

use super::{WeightFormat, BLOCK};
use half::f16;

/// A `rows × cols` weight matrix, split by field so the kernels never decode f16 or skip
/// headers on the hot path: per block, the scale `d` and (Q4_1) the min `m` widened to f32, and
/// the quantized values, 16 bytes of nibbles (low nibbles are values 0..16, high 16..32) or 32
/// signed bytes. Blocks of a row are contiguous, rows follow each other.
#[derive(Clone, Debug)]
pub struct PackedMatrix {
    pub(super) format: WeightFormat,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) d: Vec<f32>,
    pub(super) m: Vec<f32>,
    pub(super) qs: Vec<u8>,
}

impl PackedMatrix {
    /// Repacks `rows × cols` weights stored as consecutive GGUF blocks of `format`.
    pub fn pack(
        format: WeightFormat,
        bytes: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Self, String> {
        if !cols.is_multiple_of(BLOCK) {
            return Err(format!("{cols} columns are not a multiple of {BLOCK}"));
        }
        let blocks = rows * cols / BLOCK;
        if bytes.len() != blocks * format.block_bytes() {
            return Err(format!(
                "{rows}x{cols} {format:?} weights need {} bytes, got {}",
                blocks * format.block_bytes(),
                bytes.len()
            ));
        }
        let f16_at = |b: &[u8], at: usize| f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
        let header = format.block_bytes() - format.value_bytes();
        let mut packed = PackedMatrix {
            format,
            rows,
            cols,
            d: Vec::with_capacity(blocks),
            m: Vec::with_capacity(if format == WeightFormat::Q4_1 {
                blocks
            } else {
                0
            }),
            qs: Vec::with_capacity(blocks * format.value_bytes()),
        };
        for block in bytes.chunks_exact(format.block_bytes()) {
            packed.d.push(f16_at(block, 0));
            if format == WeightFormat::Q4_1 {
                packed.m.push(f16_at(block, 2));
            }
            packed.qs.extend_from_slice(&block[header..]);
        }
        Ok(packed)
    }

    pub fn format(&self) -> WeightFormat {
        self.format
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes a product with one activation row streams: every scale, min and value once.
    pub fn streamed_bytes(&self) -> usize {
        std::mem::size_of_val(&self.d[..]) + std::mem::size_of_val(&self.m[..]) + self.qs.len()
    }

    pub(super) fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    /// Row `row` as floats, with ggml's `dequantize_row_*` arithmetic (an embedding lookup).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let kb = self.blocks_per_row();
        let vb = self.format.value_bytes();
        for (b, values) in out.chunks_exact_mut(BLOCK).enumerate() {
            let block = row * kb + b;
            let d = self.d[block];
            let qs = &self.qs[block * vb..(block + 1) * vb];
            for (j, v) in values.iter_mut().enumerate() {
                *v = match self.format {
                    WeightFormat::Q4_1 => d * nibble(qs, j) as f32 + self.m[block],
                    WeightFormat::Q4_0 => d * (nibble(qs, j) as i32 - 8) as f32,
                    WeightFormat::Q8_0 => d * (qs[j] as i8) as f32,
                };
            }
        }
    }
}

/// Value `j` (0..32) of a block of 16 nibble bytes.
pub(super) fn nibble(qs: &[u8], j: usize) -> u8 {
    if j < BLOCK / 2 {
        qs[j] & 0x0F
    } else {
        qs[j - BLOCK / 2] >> 4
    }
}
