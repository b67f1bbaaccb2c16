//! Weights repacked once at load from GGUF blocks into the layout the kernels stream over.

use super::{WeightFormat, BLOCK};
use half::f16;

/// Weight rows interleaved block by block in a [`PackedMatrix`].
pub(crate) const ROW_GROUP: usize = 4;

/// A `rows × cols` weight matrix, split by field so the kernels never decode f16 or skip
/// headers on the hot path: per block, the scale `d` and (Q4_1) the min `m` widened to f32, and
/// the quantized values, 16 bytes of nibbles (low nibbles are values 0..16, high 16..32) or 32
/// signed bytes.
///
/// Rows are interleaved in groups of [`ROW_GROUP`], block by block: block `b` of the group's
/// rows, then block `b + 1`, and so on (`[group][block][row]`, see [`PackedMatrix::block`]).
/// A decode step, with one activation row, then computes a group's rows together from one
/// sequential stream: their accumulations are independent, so they overlap instead of each
/// waiting on its own chain of fused multiply-adds. The last group is padded with zero rows.
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
        let vb = format.value_bytes();
        let stored = rows.next_multiple_of(ROW_GROUP) * cols / BLOCK;
        let mut packed = PackedMatrix {
            format,
            rows,
            cols,
            d: vec![0.0; stored],
            m: vec![
                0.0;
                if format == WeightFormat::Q4_1 {
                    stored
                } else {
                    0
                }
            ],
            qs: vec![0; stored * vb],
        };
        let kb = packed.blocks_per_row();
        for (i, block) in bytes.chunks_exact(format.block_bytes()).enumerate() {
            let at = packed.block(i / kb, i % kb);
            packed.d[at] = f16_at(block, 0);
            if format == WeightFormat::Q4_1 {
                packed.m[at] = f16_at(block, 2);
            }
            packed.qs[at * vb..(at + 1) * vb].copy_from_slice(&block[header..]);
        }
        Ok(packed)
    }

    /// Where block `b` of row `n` is in `d` and `m` (and, times the value bytes, in `qs`).
    /// A row's next block is [`ROW_GROUP`] further on.
    pub(super) fn block(&self, n: usize, b: usize) -> usize {
        ((n / ROW_GROUP) * self.blocks_per_row() + b) * ROW_GROUP + n % ROW_GROUP
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

    /// Bytes a product with one activation row streams: every scale, min and value once
    /// (padding rows included).
    pub fn streamed_bytes(&self) -> usize {
        std::mem::size_of_val(&self.d[..]) + std::mem::size_of_val(&self.m[..]) + self.qs.len()
    }

    pub(super) fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    /// Row `row` as floats, with ggml's `dequantize_row_*` arithmetic (an embedding lookup).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let vb = self.format.value_bytes();
        for (b, values) in out.chunks_exact_mut(BLOCK).enumerate() {
            let block = self.block(row, b);
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
