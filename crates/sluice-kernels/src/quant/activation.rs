//! Activations quantized to 8 bits, once per row and step, as llama.cpp's x86 `quantize_row_q8_1`.

use super::BLOCK;
use crate::cpu::{isa, Isa};
use half::f16;
use rayon::prelude::*;

/// Rows of width `cols` quantized to 8 bits per value, 32 values per block: Q8_1 (scale and
/// scaled sum) for Q4_1 weights, and the same values read as Q8_0 for Q4_0/Q8_0 weights.
/// Only [`quantize_rows`] fills it: the kernels read it through raw pointers and rely on its
/// lengths agreeing.
#[derive(Clone, Debug, Default)]
pub struct QuantizedRows {
    /// Values per row (a multiple of 32).
    pub(crate) cols: usize,
    /// Per block: scale `d` (as the f16 value, widened).
    pub(crate) d: Vec<f32>,
    /// Per block: `d * sum(q)` rounded to f16, widened (Q8_1's `s`; used by Q4_1 weights).
    pub(crate) s: Vec<f32>,
    pub(crate) qs: Vec<i8>,
    /// `d` and `s` again for each tile of [`ROW_TILE`] rows (and a last tile of more than 4,
    /// padded with zero rows), block-major (`[tile][block][row]`), so a kernel loads one
    /// block's scales for 8 rows at once.
    pub(crate) d_by_tile: Vec<f32>,
    pub(crate) s_by_tile: Vec<f32>,
    /// `qs` again for the same tiles, as `[tile][block][l][row][4]`: values `4l..4l+4` of one
    /// block of the 8 rows side by side, so that a vector lane can stand for a row.
    pub(crate) qs_by_tile: Vec<i8>,
}

/// Rows per tile in [`QuantizedRows::d_by_tile`].
pub(crate) const ROW_TILE: usize = 8;

impl QuantizedRows {
    pub fn rows(&self) -> usize {
        self.qs.len().checked_div(self.cols).unwrap_or(0)
    }

    pub fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }
}

/// Whether a last tile of `rows` (fewer than [`ROW_TILE`]) runs padded to a whole tile: the
/// 8-row kernel's cost does not depend on how many of its rows are real, and with more than
/// half of them it beats smaller tiles.
pub(super) fn runs_as_tile(rows: usize) -> bool {
    rows > ROW_TILE / 2
}

/// Tiles that `rows` activation rows are laid out in: the whole ones, and a last partial one
/// when it [`runs_as_tile`].
pub(super) fn tile_count(rows: usize) -> usize {
    rows / ROW_TILE + usize::from(runs_as_tile(rows % ROW_TILE))
}

/// Tiles to lay `rows` rows out in on this CPU: only the AVX2 kernels read the tiled layouts.
pub(crate) fn laid_out_tiles(rows: usize) -> usize {
    match isa() {
        Isa::Avx2Fma => tile_count(rows),
        Isa::Scalar => 0,
    }
}

/// The slots of tile `tile` of a tiled layout, block by block, row by row: `(b, r, from)`
/// for block `b` of the tile's row `r`, with `from` that block's index in the row-by-row
/// layout (`row * blocks_per_row + b`), or `None` for a row past the last (a padded tile's,
/// laid out as zeros).
pub(crate) fn tile_slots(
    tile: usize,
    blocks_per_row: usize,
    rows: usize,
) -> impl Iterator<Item = (usize, usize, Option<usize>)> {
    (0..blocks_per_row).flat_map(move |b| {
        (0..ROW_TILE).map(move |r| {
            let row = tile * ROW_TILE + r;
            (b, r, (row < rows).then_some(row * blocks_per_row + b))
        })
    })
}

/// Blocks per parallel task of [`quantize_rows`]; fewer than two tasks' worth stay serial.
const PARALLEL_BLOCKS: usize = 64;

/// One block of 32 values: its 8-bit values, scale `d` and Q8_1 sum `s`.
fn quantize_block(xs: &[f32], qs: &mut [i8], d: &mut f32, s: &mut f32) {
    let xs: &[f32; BLOCK] = xs.try_into().expect("a whole block");
    let qs: &mut [i8; BLOCK] = qs.try_into().expect("a whole block");
    let (amax, sum) = match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2.
        Isa::Avx2Fma => unsafe { super::avx2::quantize_values(xs, qs) },
        _ => quantize_values(xs, qs),
    };
    let scale = amax / 127.0;
    *d = f16_round(scale);
    *s = f16_round(scale * sum as f32);
}

/// The block's largest magnitude `amax`, its values `round_ties_even(x * 127 / amax)` in `qs`,
/// and their sum.
fn quantize_values(xs: &[f32; BLOCK], qs: &mut [i8; BLOCK]) -> (f32, i32) {
    let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(xs) {
        *q = (v * id).round_ties_even() as i8;
        sum += *q as i32;
    }
    (amax, sum)
}

pub(super) fn f16_round(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Quantizes rows of width `cols` (a multiple of 32) like ggml's x86 `quantize_row_q8_1`:
/// `d = amax / 127` stored as f16, values `round_ties_even(x * 127 / amax)`. Reuses `out`'s
/// buffers, so a step that quantizes the same shapes again allocates nothing.
pub fn quantize_rows(x: &[f32], cols: usize, out: &mut QuantizedRows) {
    assert_eq!(
        cols % BLOCK,
        0,
        "row width {cols} is not a multiple of {BLOCK}"
    );
    let blocks = x.len() / BLOCK;
    out.cols = cols;
    out.d.resize(blocks, 0.0);
    out.s.resize(blocks, 0.0);
    out.qs.resize(blocks * BLOCK, 0);
    // A block takes tens of nanoseconds: small steps (a decode step's row) stay on this thread.
    if blocks < 2 * PARALLEL_BLOCKS {
        for (b, xs) in x.chunks_exact(BLOCK).enumerate() {
            let qs = &mut out.qs[b * BLOCK..(b + 1) * BLOCK];
            quantize_block(xs, qs, &mut out.d[b], &mut out.s[b]);
        }
    } else {
        x.par_chunks_exact(BLOCK)
            .zip(out.qs.par_chunks_exact_mut(BLOCK))
            .zip(out.d.par_iter_mut().zip(out.s.par_iter_mut()))
            .with_min_len(PARALLEL_BLOCKS)
            .for_each(|((xs, qs), (d, s))| quantize_block(xs, qs, d, s));
    }
    let kb = cols / BLOCK;
    let rows = out.rows();
    // A partial last tile that runs as a tile gets zero rows (scale 0, so they add nothing).
    let tiles = laid_out_tiles(rows);
    let QuantizedRows {
        d,
        s,
        qs,
        d_by_tile,
        s_by_tile,
        qs_by_tile,
        ..
    } = out;
    d_by_tile.resize(tiles * kb * ROW_TILE, 0.0);
    s_by_tile.resize(tiles * kb * ROW_TILE, 0.0);
    qs_by_tile.resize(tiles * kb * ROW_TILE * BLOCK, 0);
    if tiles == 0 {
        return;
    }
    let by_row = RowBlocks { d, s, qs, kb, rows };
    let per_tile = kb * ROW_TILE;
    // As many blocks per task as above: a prompt's tiles in parallel, a few decode rows on
    // this thread (rayon splits no range shorter than twice the minimum).
    d_by_tile
        .par_chunks_exact_mut(per_tile)
        .zip(s_by_tile.par_chunks_exact_mut(per_tile))
        .zip(qs_by_tile.par_chunks_exact_mut(per_tile * BLOCK))
        .enumerate()
        .with_min_len(PARALLEL_BLOCKS.div_ceil(kb))
        .for_each(|(tile, ((d, s), qs))| by_row.lay_out_tile(tile, d, s, qs));
}

/// Row `r` of a tile's block `b`, `values`, into the tile's layout `[block][group][row][N]`:
/// each group of `N` consecutive values sits beside the same group of the tile's other rows, so
/// that one vector load takes a group of every row.
pub(crate) fn interleave<T: Copy, const N: usize>(values: &[T], b: usize, r: usize, out: &mut [T]) {
    let groups = values.len() / N;
    for (g, group) in values.chunks_exact(N).enumerate() {
        let to = ((b * groups + g) * ROW_TILE + r) * N;
        out[to..to + N].copy_from_slice(group);
    }
}

/// The quantized blocks row by row, as [`quantize_rows`] first writes them.
struct RowBlocks<'a> {
    d: &'a [f32],
    s: &'a [f32],
    qs: &'a [i8],
    /// Blocks per row.
    kb: usize,
    rows: usize,
}

impl RowBlocks<'_> {
    /// Tile `tile`'s part of [`QuantizedRows::d_by_tile`], `s_by_tile` and `qs_by_tile`.
    fn lay_out_tile(&self, tile: usize, d_out: &mut [f32], s_out: &mut [f32], qs_out: &mut [i8]) {
        for (b, r, from) in tile_slots(tile, self.kb, self.rows) {
            let (d, s, values) = match from {
                Some(at) => (
                    self.d[at],
                    self.s[at],
                    &self.qs[at * BLOCK..(at + 1) * BLOCK],
                ),
                None => (0.0, 0.0, &[0i8; BLOCK][..]),
            };
            d_out[b * ROW_TILE + r] = d;
            s_out[b * ROW_TILE + r] = s;
            interleave::<_, 4>(values, b, r, qs_out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_like_ggml() {
        let mut x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        x[0] = -127.0; // amax 127: id = 1, so values stay integers; 0.5 cases tie to even
        x[1] = 2.5;
        x[2] = 3.5;
        let mut q = QuantizedRows::default();
        quantize_rows(&x, 32, &mut q);
        assert_eq!(q.d[0], 1.0);
        assert_eq!(&q.qs[..3], &[-127, 2, 4]);
        let sum: i32 = q.qs.iter().map(|&v| v as i32).sum();
        assert_eq!(q.s[0], f16_round(sum as f32));
        assert_eq!(q.rows(), 1);
    }

    #[test]
    fn many_rows_quantize_as_each_row_alone() {
        let (rows, cols) = (16, 576);
        let x: Vec<f32> = crate::test_data::uniform(9, rows * cols);
        let mut all = QuantizedRows::default();
        quantize_rows(&x, cols, &mut all);
        assert!(
            all.d.len() >= 2 * PARALLEL_BLOCKS,
            "takes the parallel path"
        );
        for (r, row) in x.chunks_exact(cols).enumerate() {
            let mut alone = QuantizedRows::default();
            quantize_rows(row, cols, &mut alone);
            let blocks = r * cols / BLOCK..(r + 1) * cols / BLOCK;
            assert_eq!(alone.qs, all.qs[r * cols..(r + 1) * cols]);
            assert_eq!(alone.d, all.d[blocks.clone()]);
            assert_eq!(alone.s, all.s[blocks]);
        }
    }

    #[test]
    fn detected_quantizer_equals_the_scalar_one_exactly() {
        let mut blocks: Vec<[f32; BLOCK]> = (0..40u64)
            .map(|seed| {
                let x = crate::test_data::uniform(seed, BLOCK);
                std::array::from_fn(|i| x[i] * (1.0 + seed as f32))
            })
            .collect();
        blocks.push([0.0; BLOCK]);
        // Ties: amax 127 makes x * id = x, so halves must round to even.
        blocks.push(std::array::from_fn(|i| {
            if i == 0 {
                -127.0
            } else {
                i as f32 - 15.5
            }
        }));
        for xs in &blocks {
            let (mut fast, mut scalar) = ([0i8; BLOCK], [0i8; BLOCK]);
            let (mut d, mut s) = (0.0, 0.0);
            quantize_block(xs, &mut fast, &mut d, &mut s);
            let (amax, sum) = quantize_values(xs, &mut scalar);
            assert_eq!(fast, scalar, "{xs:?}");
            assert_eq!(d.to_bits(), f16_round(amax / 127.0).to_bits());
            assert_eq!(s.to_bits(), f16_round(amax / 127.0 * sum as f32).to_bits());
        }
    }
}
