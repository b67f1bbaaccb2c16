//! Activations quantized to Q8_K for K-quant weights, as ggml's `quantize_row_q8_K_ref` (which
//! its x86 build uses).

use super::SUPER_BLOCK;
use crate::ggml::RowContext;
use crate::quant::activation::{interleave, laid_out_tiles, tile_count, tile_slots, ROW_TILE};
use rayon::prelude::*;

/// Sub-blocks per super-block whose value sums Q8_K keeps (`bsums`).
pub(super) const SUMS: usize = SUPER_BLOCK / 16;

/// Groups of 4 values per super-block, as [`SuperBlockRows::qs_by_tile`] lays them out.
pub(super) const GROUPS: usize = SUPER_BLOCK / 4;

/// Rows of width `cols` quantized to Q8_K: per super-block of 256 values, an f32 scale `d`,
/// 256 i8 values and the sums of each 16 of them. Only [`quantize_rows_k`] fills it.
///
/// Each row also carries the [`RowContext`] llama.cpp would have multiplied it in, which
/// decides how its K-quant kernels round.
#[derive(Clone, Debug, Default)]
pub struct SuperBlockRows {
    pub(super) cols: usize,
    pub(super) d: Vec<f32>,
    pub(super) qs: Vec<i8>,
    pub(super) sums: Vec<i16>,
    contexts: Vec<RowContext>,
    /// The rows again for tiles of [`ROW_TILE`] (a last tile of more than 4 rows padded with
    /// zero rows), each `[tile][super-block]` laid out so that a vector lane can stand for a
    /// row: values as `[group of 4][row][4]`,
    pub(super) qs_by_tile: Vec<i8>,
    /// `d` as `[row]`,
    pub(super) d_by_tile: Vec<f32>,
    /// the 16 sums in pairs, `[pair][row][2]` (Q6_K's correction for its `q - 32`),
    pub(super) sums_by_tile: Vec<i16>,
    /// and the sums of the 8 sub-blocks of 32 (Q4_K's mins multiply them) in pairs, formed in
    /// i16 as ggml forms them, `[pair][row][2]`.
    pub(super) sums32_by_tile: Vec<i16>,
}

impl SuperBlockRows {
    pub fn rows(&self) -> usize {
        self.qs.len().checked_div(self.cols).unwrap_or(0)
    }

    pub(super) fn blocks_per_row(&self) -> usize {
        self.cols / SUPER_BLOCK
    }

    /// Row `t`'s [`RowContext`].
    pub(super) fn context(&self, t: usize) -> RowContext {
        self.contexts.get(t).copied().unwrap_or_default()
    }

    /// Tiles laid out in the `*_by_tile` fields.
    pub(super) fn tiles(&self) -> usize {
        tile_count(self.rows())
    }

    /// Lays the rows out again by tile (see the `*_by_tile` fields), which only the AVX2
    /// kernels read: a prompt's tiles in parallel.
    fn lay_out_tiles(&mut self) {
        let (kb, rows) = (self.blocks_per_row(), self.rows());
        let tiles = laid_out_tiles(rows);
        let slots = tiles * kb * ROW_TILE;
        self.qs_by_tile.resize(slots * SUPER_BLOCK, 0);
        self.d_by_tile.resize(slots, 0.0);
        self.sums_by_tile.resize(slots * SUMS, 0);
        self.sums32_by_tile.resize(slots * SUMS / 2, 0);
        if tiles == 0 {
            return;
        }
        let by_row = RowSuperBlocks {
            d: &self.d,
            qs: &self.qs,
            sums: &self.sums,
            kb,
            rows,
        };
        let per_tile = kb * ROW_TILE;
        self.qs_by_tile
            .par_chunks_exact_mut(per_tile * SUPER_BLOCK)
            .zip(self.d_by_tile.par_chunks_exact_mut(per_tile))
            .zip(self.sums_by_tile.par_chunks_exact_mut(per_tile * SUMS))
            .zip(
                self.sums32_by_tile
                    .par_chunks_exact_mut(per_tile * SUMS / 2),
            )
            .enumerate()
            .with_min_len(PARALLEL_TILES)
            .for_each(|(tile, (((qs, d), sums), sums32))| {
                by_row.lay_out_tile(
                    tile,
                    TileOut {
                        qs,
                        d,
                        sums,
                        sums32,
                    },
                )
            });
    }
}

/// Tiles per parallel task of the layout (and fewer than two tasks' worth stay on the calling
/// thread): a tile of Gemma 3's widest rows is 8 super-blocks.
const PARALLEL_TILES: usize = 8;

/// The super-blocks row by row, as [`quantize_rows_k`] first writes them.
struct RowSuperBlocks<'a> {
    d: &'a [f32],
    qs: &'a [i8],
    sums: &'a [i16],
    /// Super-blocks per row.
    kb: usize,
    rows: usize,
}

/// One tile's part of each `*_by_tile` field.
struct TileOut<'a> {
    qs: &'a mut [i8],
    d: &'a mut [f32],
    sums: &'a mut [i16],
    sums32: &'a mut [i16],
}

impl RowSuperBlocks<'_> {
    fn lay_out_tile(&self, tile: usize, out: TileOut<'_>) {
        for (b, r, from) in tile_slots(tile, self.kb, self.rows) {
            let (d, qs, sums) = match from {
                Some(at) => (
                    self.d[at],
                    &self.qs[at * SUPER_BLOCK..(at + 1) * SUPER_BLOCK],
                    &self.sums[at * SUMS..(at + 1) * SUMS],
                ),
                None => (0.0, &[0i8; SUPER_BLOCK][..], &[0i16; SUMS][..]),
            };
            out.d[b * ROW_TILE + r] = d;
            interleave::<_, 4>(qs, b, r, out.qs);
            interleave::<_, 2>(sums, b, r, out.sums);
            let sums32: [i16; SUMS / 2] =
                std::array::from_fn(|s| sums[2 * s].wrapping_add(sums[2 * s + 1]));
            interleave::<_, 2>(&sums32, b, r, out.sums32);
        }
    }
}

/// Quantizes rows of width `cols` (a multiple of 256) like ggml's `quantize_row_q8_K_ref`:
/// `iscale = -127 / x_max` where `x_max` is the value of largest magnitude (the first one),
/// values `round_ties_even(iscale * x)`, `d = 1 / iscale`. Reuses `out`'s buffers.
/// `contexts` has each row's [`RowContext`], or is empty (every row alone).
pub fn quantize_rows_k(x: &[f32], cols: usize, contexts: &[RowContext], out: &mut SuperBlockRows) {
    assert_eq!(
        cols % SUPER_BLOCK,
        0,
        "row width {cols} is not a multiple of {SUPER_BLOCK}"
    );
    let blocks = x.len() / SUPER_BLOCK;
    assert!(
        contexts.is_empty() || contexts.len() * cols == x.len(),
        "one context per row"
    );
    out.contexts.clear();
    out.contexts.extend_from_slice(contexts);
    out.cols = cols;
    out.d.resize(blocks, 0.0);
    out.qs.resize(blocks * SUPER_BLOCK, 0);
    out.sums.resize(blocks * SUMS, 0);
    x.par_chunks_exact(SUPER_BLOCK)
        .zip(out.qs.par_chunks_exact_mut(SUPER_BLOCK))
        .zip(out.d.par_iter_mut())
        .zip(out.sums.par_chunks_exact_mut(SUMS))
        .with_min_len(PARALLEL_TILES * ROW_TILE)
        .for_each(|(((xs, qs), d), sums)| quantize_super_block(xs, qs, d, sums));
    out.lay_out_tiles();
}

/// One super-block of [`quantize_rows_k`].
fn quantize_super_block(xs: &[f32], qs: &mut [i8], d: &mut f32, sums: &mut [i16]) {
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in xs {
        if v.abs() > amax {
            (amax, max) = (v.abs(), v);
        }
    }
    if amax == 0.0 {
        // ggml leaves the sums as they were; zero is what they sum to.
        *d = 0.0;
        qs.fill(0);
        sums.fill(0);
        return;
    }
    let iscale = -127.0 / max;
    for (q, &v) in qs.iter_mut().zip(xs) {
        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
    }
    for (sum, sixteen) in sums.iter_mut().zip(qs.chunks_exact(16)) {
        *sum = sixteen.iter().map(|&q| q as i16).sum();
    }
    *d = 1.0 / iscale;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizes_like_ggml_q8_k() {
        let mut x: Vec<f32> = (0..SUPER_BLOCK).map(|i| i as f32 / 200.0 - 0.6).collect();
        // The largest magnitude, negative: iscale = -127 / x[7] = 64 exactly.
        x[7] = -127.0 / 64.0;
        // 0.5, 1.5 and 2.5 after scaling: ties go to even.
        x[8..11].copy_from_slice(&[1.0 / 128.0, 3.0 / 128.0, 5.0 / 128.0]);
        let mut q = SuperBlockRows::default();
        quantize_rows_k(&x, SUPER_BLOCK, &[], &mut q);
        assert_eq!(q.rows(), 1);
        assert_eq!(q.d[0], 1.0 / 64.0);
        assert_eq!(q.qs[7], -127);
        assert_eq!(&q.qs[8..11], &[0, 2, 2]);
        assert_eq!(q.qs[0], (-0.6f32 * 64.0).round_ties_even() as i8);
        let first: i16 = q.qs[..16].iter().map(|&v| v as i16).sum();
        assert_eq!(q.sums[0], first);
        assert_eq!(q.sums.len(), SUMS);
    }

    #[test]
    fn an_all_zero_block_is_all_zero_even_in_reused_buffers() {
        let mut q = SuperBlockRows::default();
        quantize_rows_k(&[1.0; SUPER_BLOCK], SUPER_BLOCK, &[], &mut q);
        quantize_rows_k(&[0.0; SUPER_BLOCK], SUPER_BLOCK, &[], &mut q);
        assert_eq!(q.d, [0.0]);
        assert!(q.qs.iter().all(|&v| v == 0));
        assert!(q.sums.iter().all(|&v| v == 0));
    }
}
