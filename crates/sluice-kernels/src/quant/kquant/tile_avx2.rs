//! AVX2 + FMA: one K-quant weight row times a tile of 8 activation rows at once, computed
//! transposed (vector lane `t` is activation row `t` of the tile, laid out for it in
//! `SuperBlockRows::*_by_tile`). The weights are unpacked once per tile instead of once per
//! row, and the per-super-block horizontal sums of the one-row kernels become plain vector
//! adds. Only the orders whose float steps take whole chunks or super-blocks are computed here
//! (llama.cpp's repacked Q4_K kernels, alone and in groups of 4, and its tiled matmul); rows in
//! `ggml_vec_dot_*`'s order, with 8 float lanes of their own, go through the one-row kernel.
//!
//! The integer sums are exact (as every kernel's): pairs of products in i16 (`maddubs`), up to
//! 8 pairs of a 32-value Q4_K sub-block added in i16 (at most 8·2·15·127 = 30,480) or 2 of a
//! 16-value Q6_K one (2·2·63·127 = 32,004), then times the sub-block's scale in i32.

use super::activation::{GROUPS, SUMS};
use super::avx2::q6k_quarters;
use super::{BlockHeader, SuperBlockFormat, SuperBlockRows, TileOrder, SUPER_BLOCK};
use crate::quant::activation::ROW_TILE;
use crate::simd::hsum8_by_lane;
use std::arch::x86_64::*;

/// `W[n] · x[8·tile + t]` in lane `t`, in `order`, for one weight row (its GGUF super-blocks and
/// decoded headers). Lanes of the padded rows of a last tile are unspecified.
///
/// # Safety
/// The CPU must have AVX2 and FMA. (`tile < x.tiles()` and the lengths are asserted.)
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_tile(
    format: SuperBlockFormat,
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    tile: usize,
    order: TileOrder,
) -> [f32; ROW_TILE] {
    let kb = x.blocks_per_row();
    assert!(tile < x.tiles() && headers.len() == kb && row.len() == kb * format.block_bytes());
    let lanes = match (format, order) {
        (SuperBlockFormat::Q4K, TileOrder::Repacked { grouped }) => {
            let (grouped_acc, alone_acc) = q4k_repacked(row, headers, x, tile);
            _mm256_blendv_ps(alone_acc, grouped_acc, lane_mask(grouped))
        }
        (SuperBlockFormat::Q4K, TileOrder::Tiled) => q4k_tiled(row, headers, x, tile),
        (SuperBlockFormat::Q6K, TileOrder::Tiled) => q6k_tiled(row, headers, x, tile),
        (SuperBlockFormat::Q6K, TileOrder::TiledOrVecDot { tiled }) => {
            let (tiled_acc, vec_dot) = q6k_tiled_and_vec_dot(row, headers, x, tile);
            _mm256_blendv_ps(vec_dot, tiled_acc, lane_mask(tiled))
        }
        (SuperBlockFormat::Q6K, TileOrder::Repacked { .. }) => {
            unreachable!("llama.cpp repacks Q4_K only")
        }
        (SuperBlockFormat::Q4K, TileOrder::TiledOrVecDot { .. }) => {
            unreachable!("Q4_K rows in vec_dot's order run one by one")
        }
    };
    let mut out = [0f32; ROW_TILE];
    _mm256_storeu_ps(out.as_mut_ptr(), lanes);
    out
}

/// All bits set in the lanes whose bit is set in `bits`, for `blendv`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lane_mask(bits: u8) -> __m256 {
    let mask: [i32; ROW_TILE] = std::array::from_fn(|t| -((bits >> t) as i32 & 1));
    // SAFETY: `mask` holds the 32 bytes loaded.
    _mm256_castsi256_ps(unsafe { _mm256_loadu_si256(mask.as_ptr().cast()) })
}

/// Where super-block `b` of `tile` starts in the `*_by_tile` layouts, counted in rows' slots.
fn slot(x: &SuperBlockRows, tile: usize, b: usize) -> usize {
    (tile * x.blocks_per_row() + b) * ROW_TILE
}

/// One Q4_K super-block's integer sums for the 8 rows: values times scales per chunk of 64
/// values, and mins times the sub-block sums per chunk.
struct Q4kSums {
    chunks: [__m256i; 4],
    mins: [__m256i; 4],
}

impl Q4kSums {
    /// The sums of the Q4_K super-block at `block` (144 bytes) with its decoded `header`, for
    /// the 8 rows of `x`'s tile slot `slot` ([`slot`]).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `block` points at a whole Q4_K super-block, and `slot`
    /// is a super-block's slot of one of the tiles `x` laid out.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn of(block: *const u8, header: &BlockHeader, x: &SuperBlockRows, slot: usize) -> Self {
        let xq = x.qs_by_tile.as_ptr().add(slot * SUPER_BLOCK);
        let sums32 = x.sums32_by_tile.as_ptr().add(slot * SUMS / 2);
        let m4 = _mm256_set1_epi8(0x0F);
        let mut chunks = [_mm256_setzero_si256(); 4];
        let mut mins = [_mm256_setzero_si256(); 4];
        for j in 0..4 {
            // Chunk j's 32 bytes: low nibbles are sub-block 2j, high nibbles 2j + 1; the first
            // 16 bytes hold each sub-block's values 0..16, the next 16 its values 16..32.
            let qs = block.add(16 + 32 * j);
            let (first, second) = (both_lanes(qs), both_lanes(qs.add(16)));
            let (s0, s1) = (2 * j, 2 * j + 1);
            let low = sub_block_sum32(
                _mm256_and_si256(first, m4),
                _mm256_and_si256(second, m4),
                xq.add(8 * s0 * ROW_TILE * 4),
            );
            let high = sub_block_sum32(
                _mm256_and_si256(_mm256_srli_epi16::<4>(first), m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(second), m4),
                xq.add(8 * s1 * ROW_TILE * 4),
            );
            chunks[j] = _mm256_add_epi32(
                _mm256_madd_epi16(low, _mm256_set1_epi16(header.scales[s0] as i16)),
                _mm256_madd_epi16(high, _mm256_set1_epi16(header.scales[s1] as i16)),
            );
            let pair = pair_i16(header.mins[s0] as i16, header.mins[s1] as i16);
            let sums = _mm256_loadu_si256(sums32.add(j * ROW_TILE * 2).cast());
            mins[j] = _mm256_madd_epi16(sums, pair);
        }
        Q4kSums { chunks, mins }
    }

    /// The values' and the mins' sums over the 4 chunks.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn totals(&self) -> (__m256i, __m256i) {
        (sum4(self.chunks), sum4(self.mins))
    }
}

/// The repacked Q4_K kernels' results for every lane, in groups of 4 and alone.
///
/// # Safety
/// As [`dot_tile`], once its assertions hold, for a Q4_K row.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q4k_repacked(
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    tile: usize,
) -> (__m256, __m256) {
    let zero = _mm256_setzero_ps();
    let (mut grouped, mut grouped_m, mut alone, mut alone_m) = (zero, zero, zero, zero);
    for (b, header) in headers.iter().enumerate() {
        let slot = slot(x, tile, b);
        let s = Q4kSums::of(row.as_ptr().add(b * 144), header, x, slot);
        let d_x = _mm256_loadu_ps(x.d_by_tile.as_ptr().add(slot));
        let d = _mm256_mul_ps(_mm256_set1_ps(header.d), d_x);
        let dmin = _mm256_mul_ps(_mm256_set1_ps(header.dmin), d_x);
        for j in 0..4 {
            grouped = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s.chunks[j]), d, grouped);
            grouped_m = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s.mins[j]), dmin, grouped_m);
        }
        let (values, mins) = s.totals();
        alone = _mm256_fmadd_ps(_mm256_cvtepi32_ps(values), d, alone);
        alone_m = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), dmin, alone_m);
    }
    (
        _mm256_sub_ps(grouped, grouped_m),
        _mm256_sub_ps(alone, alone_m),
    )
}

/// ggml's tiled matmul for Q4_K: `d_w · values - dmin_w · mins`, fused with `d_x`.
///
/// # Safety
/// As [`dot_tile`], once its assertions hold, for a Q4_K row.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q4k_tiled(
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    tile: usize,
) -> __m256 {
    let mut acc = _mm256_setzero_ps();
    for (b, header) in headers.iter().enumerate() {
        let slot = slot(x, tile, b);
        let (values, mins) = Q4kSums::of(row.as_ptr().add(b * 144), header, x, slot).totals();
        let values = _mm256_mul_ps(_mm256_set1_ps(header.d), _mm256_cvtepi32_ps(values));
        let scaled = _mm256_fmadd_ps(
            _mm256_set1_ps(-header.dmin),
            _mm256_cvtepi32_ps(mins),
            values,
        );
        acc = _mm256_fmadd_ps(scaled, _mm256_loadu_ps(x.d_by_tile.as_ptr().add(slot)), acc);
    }
    acc
}

/// ggml's tiled matmul for Q6_K: `d_w · values` fused with `d_x` (its `- dmin · mins` term is
/// `- 0 · 0`, which leaves the product's bits as they are).
///
/// # Safety
/// As [`dot_tile`], once its assertions hold, for a Q6_K row.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q6k_tiled(
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    tile: usize,
) -> __m256 {
    let mut acc = _mm256_setzero_ps();
    for (b, header) in headers.iter().enumerate() {
        let slot = slot(x, tile, b);
        let values = q6k_values(row.as_ptr().add(b * 210), x, slot);
        let values = _mm256_mul_ps(_mm256_set1_ps(header.d), _mm256_cvtepi32_ps(values));
        acc = _mm256_fmadd_ps(values, _mm256_loadu_ps(x.d_by_tile.as_ptr().add(slot)), acc);
    }
    acc
}

/// For every lane, Q6_K in ggml's tiled matmul (as [`q6k_tiled`]) and in
/// `ggml_vec_dot_q6_K_q8_K`'s order: its 8 integer lanes (values `4l..4l+4` of each chunk of
/// 32) each fused with `d_x · d_w` into a float lane, the float lanes summed as
/// `hsum_float_8`, plus its mins' sum (zero for Q6_K: `+ 0.0`, which only turns a -0 into +0).
///
/// # Safety
/// As [`dot_tile`], once its assertions hold, for a Q6_K row.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q6k_tiled_and_vec_dot(
    row: &[u8],
    headers: &[BlockHeader],
    x: &SuperBlockRows,
    tile: usize,
) -> (__m256, __m256) {
    let mut tiled = _mm256_setzero_ps();
    let mut lanes = [_mm256_setzero_ps(); 8];
    for (b, header) in headers.iter().enumerate() {
        let slot = slot(x, tile, b);
        let sums = q6k_lane_sums(row.as_ptr().add(b * 210), x, slot);
        let d_x = _mm256_loadu_ps(x.d_by_tile.as_ptr().add(slot));
        let d_w = _mm256_set1_ps(header.d);
        let total = sum4([
            _mm256_add_epi32(sums[0], sums[1]),
            _mm256_add_epi32(sums[2], sums[3]),
            _mm256_add_epi32(sums[4], sums[5]),
            _mm256_add_epi32(sums[6], sums[7]),
        ]);
        let values = _mm256_mul_ps(d_w, _mm256_cvtepi32_ps(total));
        tiled = _mm256_fmadd_ps(values, d_x, tiled);
        let d = _mm256_mul_ps(d_x, d_w);
        for (lane, sum) in lanes.iter_mut().zip(sums) {
            *lane = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum), *lane);
        }
    }
    let vec_dot = hsum8_by_lane(lanes);
    (tiled, _mm256_add_ps(vec_dot, _mm256_setzero_ps()))
}

/// One Q6_K super-block's 8 integer lanes for the 8 rows, as `ggml_vec_dot_q6_K_q8_K` forms
/// them: lane `l` sums scale · q · x over values `4l..4l+4` of each chunk of 32 (q unsigned),
/// less `32 ·` the scaled 16-value sums of sub-blocks `2l` and `2l + 1`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `block` points at a whole Q6_K super-block (210 bytes), and
/// `slot` is a super-block's slot of one of the tiles `x` laid out.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q6k_lane_sums(block: *const u8, x: &SuperBlockRows, slot: usize) -> [__m256i; 8] {
    let (ql, qh, sc) = (block, block.add(128), block.add(192).cast::<i8>());
    let xq = x.qs_by_tile.as_ptr().add(slot * SUPER_BLOCK);
    let mut lanes = [_mm256_setzero_si256(); 8];
    for half in 0..2 {
        for part in 0..2 {
            let bits1 = both_lanes(ql.add(64 * half + 16 * part));
            let bits2 = both_lanes(ql.add(64 * half + 32 + 16 * part));
            let high = both_lanes(qh.add(32 * half + 16 * part));
            for (k, v) in q6k_quarters(bits1, bits2, high).into_iter().enumerate() {
                let sub = 2 * (4 * half + k) + part;
                let xg = xq.add(4 * sub * ROW_TILE * 4);
                let scale = _mm256_set1_epi16(*sc.add(sub) as i16);
                let l = &mut lanes[4 * part..4 * part + 4];
                let products = [
                    group_pairs::<0x00>(v, xg, 0),
                    group_pairs::<0x55>(v, xg, 1),
                    group_pairs::<0xAA>(v, xg, 2),
                    group_pairs::<0xFF>(v, xg, 3),
                ];
                for (lane, pairs) in l.iter_mut().zip(products) {
                    *lane = _mm256_add_epi32(*lane, _mm256_madd_epi16(pairs, scale));
                }
            }
        }
    }
    let sums = x.sums_by_tile.as_ptr().add(slot * SUMS);
    for (p, lane) in lanes.iter_mut().enumerate() {
        let pair = pair_i16(*sc.add(2 * p) as i16, *sc.add(2 * p + 1) as i16);
        let s = _mm256_loadu_si256(sums.add(p * ROW_TILE * 2).cast());
        *lane = _mm256_sub_epi32(*lane, _mm256_slli_epi32::<5>(_mm256_madd_epi16(s, pair)));
    }
    lanes
}

/// One Q6_K super-block's sum of scale · (q - 32) · x for the 8 rows: the unsigned values
/// first, less `32 ·` the scaled 16-value sums.
///
/// # Safety
/// As [`q6k_lane_sums`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn q6k_values(block: *const u8, x: &SuperBlockRows, slot: usize) -> __m256i {
    let (ql, qh, sc) = (block, block.add(128), block.add(192).cast::<i8>());
    let xq = x.qs_by_tile.as_ptr().add(slot * SUPER_BLOCK);
    let mut acc = _mm256_setzero_si256();
    for half in 0..2 {
        // Values 0..16 (part 0) or 16..32 (part 1) of the half's 4 chunks of 32, in both
        // 128-bit lanes.
        for part in 0..2 {
            let bits1 = both_lanes(ql.add(64 * half + 16 * part));
            let bits2 = both_lanes(ql.add(64 * half + 32 + 16 * part));
            let high = both_lanes(qh.add(32 * half + 16 * part));
            let values = q6k_quarters(bits1, bits2, high);
            for (k, v) in values.into_iter().enumerate() {
                let chunk = 4 * half + k;
                let sub = 2 * chunk + part;
                let xg = xq.add(4 * sub * ROW_TILE * 4);
                let first =
                    _mm256_add_epi16(group_pairs::<0x00>(v, xg, 0), group_pairs::<0x55>(v, xg, 1));
                let second =
                    _mm256_add_epi16(group_pairs::<0xAA>(v, xg, 2), group_pairs::<0xFF>(v, xg, 3));
                let scale = _mm256_set1_epi16(*sc.add(sub) as i16);
                acc = _mm256_add_epi32(
                    acc,
                    _mm256_add_epi32(
                        _mm256_madd_epi16(first, scale),
                        _mm256_madd_epi16(second, scale),
                    ),
                );
            }
        }
    }
    let sums = x.sums_by_tile.as_ptr().add(slot * SUMS);
    let mut scaled_sums = _mm256_setzero_si256();
    for p in 0..SUMS / 2 {
        let pair = pair_i16(*sc.add(2 * p) as i16, *sc.add(2 * p + 1) as i16);
        let s = _mm256_loadu_si256(sums.add(p * ROW_TILE * 2).cast());
        scaled_sums = _mm256_add_epi32(scaled_sums, _mm256_madd_epi16(s, pair));
    }
    _mm256_sub_epi32(acc, _mm256_slli_epi32::<5>(scaled_sums))
}

/// A 32-value sub-block's products for the 8 rows, pairs summed in i16: `first` holds its
/// values 0..16 and `second` its values 16..32, each in both 128-bit lanes; `xg` is the
/// sub-block's first group of 4 in `qs_by_tile`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `xg` has the sub-block's 8 groups of 4 values for the 8
/// rows after it (256 bytes).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn sub_block_sum32(first: __m256i, second: __m256i, xg: *const i8) -> __m256i {
    let a = _mm256_add_epi16(
        _mm256_add_epi16(
            group_pairs::<0x00>(first, xg, 0),
            group_pairs::<0x55>(first, xg, 1),
        ),
        _mm256_add_epi16(
            group_pairs::<0xAA>(first, xg, 2),
            group_pairs::<0xFF>(first, xg, 3),
        ),
    );
    let b = _mm256_add_epi16(
        _mm256_add_epi16(
            group_pairs::<0x00>(second, xg, 4),
            group_pairs::<0x55>(second, xg, 5),
        ),
        _mm256_add_epi16(
            group_pairs::<0xAA>(second, xg, 6),
            group_pairs::<0xFF>(second, xg, 7),
        ),
    );
    _mm256_add_epi16(a, b)
}

/// Group `g` (counted from `xg`) of 4 values for the 8 rows: the weights' 4 values (picked from
/// both 128-bit lanes of `values` by `PICK`) times each row's 4 activations, in i16 pairs.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `xg` has at least `g + 1` groups of 4 values for the 8 rows
/// (32 bytes each) after it.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn group_pairs<const PICK: i32>(values: __m256i, xg: *const i8, g: usize) -> __m256i {
    let w = _mm256_shuffle_epi32::<PICK>(values);
    _mm256_maddubs_epi16(w, _mm256_loadu_si256(xg.add(g * ROW_TILE * 4).cast()))
}

/// 16 bytes at `p` in both 128-bit lanes.
///
/// # Safety
/// The CPU must have AVX2; 16 bytes can be read at `p`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn both_lanes(p: *const u8) -> __m256i {
    _mm256_broadcastsi128_si256(_mm_loadu_si128(p.cast()))
}

/// The 4 vectors' lanes added, pairwise.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sum4(v: [__m256i; 4]) -> __m256i {
    _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]))
}

/// `(a, b)` in every pair of i16 lanes, to multiply pairs by with `madd`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn pair_i16(a: i16, b: i16) -> __m256i {
    _mm256_set1_epi32(((b as u16 as u32) << 16 | a as u16 as u32) as i32)
}

const _: () = assert!(GROUPS == 8 * 8);
