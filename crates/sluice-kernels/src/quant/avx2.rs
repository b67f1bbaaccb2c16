//! AVX2 + FMA kernels, chosen at run time when the CPU has both. Each computes exactly what
//! `reference::dot` computes (llama.cpp's AVX2 arithmetic), for several activation rows at
//! once, so a weight block is loaded and unpacked once for all of them, which is what makes a
//! batched step cheaper than its rows one by one. Up to [`TILE`] rows (a decode step, a
//! sequence checking speculative proposals, a prompt's last few rows) run against a group of 4
//! weight rows at a time ([`dot_group_rows`]); tiles of 8 rows transposed, their 8 block
//! scales (and Q4_1's mins) one vector each ([`dot_tile`], [`dot_tile_block`]).

use super::{PackedMatrix, QuantizedRows, WeightFormat, BLOCK, ROW_GROUP, ROW_TILE};
use crate::simd::{hsum8_by_lane, transpose8};
use std::arch::x86_64::*;

/// The most activation rows [`dot_group_rows`] takes: its 4·[`TILE`] accumulators about fill
/// the 16 registers.
pub(super) const TILE: usize = 4;

// The formats as const generic parameters, so each loop is compiled per format.
const Q4_1: u8 = 0;
const Q4_0: u8 = 1;
const Q8_0: u8 = 2;

/// `out[i] = W[n] · x[t0 + i]` for a tile of [`ROW_TILE`] rows, `t0` a multiple of it; the
/// tile may be the padded last one (its rows past `x.rows()` are unspecified).
///
/// # Safety
/// The CPU must have AVX2 and FMA; `n < w.rows`, `t0` a tile's first row, and
/// `x.cols == w.cols`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_tile(
    w: &PackedMatrix,
    n: usize,
    x: &QuantizedRows,
    t0: usize,
    out: &mut [f32; ROW_TILE],
) {
    _mm256_storeu_ps(out.as_mut_ptr(), tile8_of(w, n, x, t0));
}

/// `W[n] · x[t0 + t]` in lane `t`, for the 8 rows of a tile starting at a multiple of 8,
/// computed transposed: vector lane `t` is activation row `t`, and accumulator `l` holds every
/// row's lane `l` of `reference::dot`'s accumulator (values `4l..4l+4` of each block). So one
/// block's scales `d_w · d_x` for the 8 rows are one vector that every multiply-add uses as it
/// is, where a row-per-accumulator kernel would broadcast each row's scale (a lane-crossing
/// permute per row and block, about a quarter of the time); the weights' 4 values
/// `4l..4l+4` are broadcast instead, within 128-bit halves. The
/// activations come laid out for this (`QuantizedRows::qs_by_tile`). The end sums the 8
/// accumulators in `hsum`'s order, all 8 rows at once. Lane `t` of the result is row `t0 + t`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `w.format` is `F`, `n < w.rows`, `x.cols == w.cols`, and
/// `t0` is the first row of one of the tiles `x` laid out (`QuantizedRows::qs_by_tile`): the
/// tile's scales and values are read through raw pointers.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile8<const F: u8>(w: &PackedMatrix, n: usize, x: &QuantizedRows, t0: usize) -> __m256 {
    let wr = WeightRow::of(w, n);
    let kb = wr.kb;
    // Where the tile's blocks start in the `*_by_tile` layouts, counted in scales.
    let tile_at = (t0 / ROW_TILE) * kb * ROW_TILE;
    let (x_q, x_d, x_s) = (
        x.qs_by_tile.as_ptr().add(tile_at * BLOCK),
        x.d_by_tile.as_ptr().add(tile_at),
        x.s_by_tile.as_ptr().add(tile_at),
    );
    let mut acc = [_mm256_setzero_ps(); LANE_GROUPS];
    let mut mins = _mm256_setzero_ps();
    for b in 0..kb {
        // Values 0..16 in both 128-bit halves, and values 16..32.
        let (low, high) = weight_halves::<F>(wr.q.add(b * wr.q_step));
        let scales = _mm256_mul_ps(
            _mm256_set1_ps(*wr.d.add(b * ROW_GROUP)),
            _mm256_loadu_ps(x_d.add(b * ROW_TILE)),
        );
        if F == Q4_1 {
            let m = _mm256_set1_ps(*wr.m.add(b * ROW_GROUP));
            mins = _mm256_fmadd_ps(m, _mm256_loadu_ps(x_s.add(b * ROW_TILE)), mins);
        }
        let x_b = x_q.add(b * ROW_TILE * BLOCK);
        macro_rules! lane {
            ($l:literal, $half:expr, $imm:literal) => {
                let q = _mm256_shuffle_epi32::<$imm>($half);
                let xv = _mm256_loadu_si256(x_b.add($l * ROW_TILE * 4).cast());
                let lanes = _mm256_cvtepi32_ps(lane_sums::<F>(q, xv));
                acc[$l] = _mm256_fmadd_ps(scales, lanes, acc[$l]);
            };
        }
        lane!(0, low, 0x00);
        lane!(1, low, 0x55);
        lane!(2, low, 0xAA);
        lane!(3, low, 0xFF);
        lane!(4, high, 0x00);
        lane!(5, high, 0x55);
        lane!(6, high, 0xAA);
        lane!(7, high, 0xFF);
    }
    // hsum's order, lane by lane.
    _mm256_add_ps(hsum8_by_lane(acc), mins)
}

/// [`tile8`] for the weights' format.
///
/// # Safety
/// As [`tile8`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile8_of(w: &PackedMatrix, n: usize, x: &QuantizedRows, t0: usize) -> __m256 {
    match w.format {
        WeightFormat::Q4_1 => tile8::<Q4_1>(w, n, x, t0),
        WeightFormat::Q4_0 => tile8::<Q4_0>(w, n, x, t0),
        WeightFormat::Q8_0 => tile8::<Q8_0>(w, n, x, t0),
    }
}

/// `out[i][j] = W[n0 + j] · x[t0 + i]`: a tile of 8 activation rows (as [`dot_tile`] takes it,
/// padded or not) against 8 weight rows. Each [`tile8`] result is a column of `out`; they are
/// transposed in registers so that each activation row's 8 results can be stored together,
/// rather than as 8 scattered stores per weight row.
///
/// # Safety
/// As [`dot_tile`], and `n0 + 8 <= w.rows`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_tile_block(
    w: &PackedMatrix,
    n0: usize,
    x: &QuantizedRows,
    t0: usize,
    out: &mut [[f32; ROW_TILE]; ROW_TILE],
) {
    let mut columns = [_mm256_setzero_ps(); ROW_TILE];
    for (j, column) in columns.iter_mut().enumerate() {
        *column = tile8_of(w, n0 + j, x, t0);
    }
    for (row, v) in out.iter_mut().zip(transpose8(columns)) {
        _mm256_storeu_ps(row.as_mut_ptr(), v);
    }
}

/// Accumulators of [`tile8`]: one per group of 4 values in a block, as `hsum` has lanes.
const LANE_GROUPS: usize = BLOCK / 4;

/// A block's weight values 0..16 in both 128-bit halves of one vector, and values 16..32 in
/// another (as [`weight_bytes`] has them: nibbles widened, or i8).
///
/// # Safety
/// The CPU must have AVX2 and FMA; `qs` points at one whole block's values of format `F` (16
/// bytes of nibbles, or 32 of i8).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn weight_halves<const F: u8>(qs: *const u8) -> (__m256i, __m256i) {
    if F == Q8_0 {
        let low = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.cast()));
        let high = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.add(16).cast()));
        return (low, high);
    }
    let both = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.cast()));
    let mask = _mm256_set1_epi8(0x0F);
    (
        _mm256_and_si256(both, mask),
        _mm256_and_si256(_mm256_srli_epi16::<4>(both), mask),
    )
}

/// Weight row `n`: blocks per row, the bytes from one block's values to the next's, and where
/// its first scale, min (Q4_1 only) and values are. The row's next block is [`ROW_GROUP`]
/// scales (and `q_step` bytes) further on.
struct WeightRow {
    kb: usize,
    q_step: usize,
    d: *const f32,
    m: *const f32,
    q: *const u8,
}

impl WeightRow {
    fn of(w: &PackedMatrix, n: usize) -> Self {
        let (at, vb) = (w.block(n, 0), w.format.value_bytes());
        WeightRow {
            kb: w.blocks_per_row(),
            q_step: ROW_GROUP * vb,
            d: w.d[at..].as_ptr(),
            // Empty unless the format has mins; read only for Q4_1.
            m: w.m.as_ptr().wrapping_add(at),
            q: w.qs[at * vb..].as_ptr(),
        }
    }
}

/// `out[t][r] = W[n0 + r] · x[t0 + t]` for `rows` activation rows (1 to [`TILE`]) and the
/// [`ROW_GROUP`] weight rows of the group that starts at row `n0` (padding rows included),
/// each computed as `reference::dot` computes it alone: the group's blocks lie together, each weight
/// block is unpacked once for every activation row, each activation block is loaded once for
/// the group's rows, and each (weight row, activation row) pair keeps its own accumulator, so
/// the pairs' chains of multiply-adds run side by side. A decode step is one activation row;
/// a sequence checking speculative proposals, or a short prompt, a few.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `n0` a multiple of [`ROW_GROUP`] below `w.rows`,
/// `t0 + rows <= x.rows()` and `x.cols == w.cols`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_group_rows(
    w: &PackedMatrix,
    n0: usize,
    x: &QuantizedRows,
    t0: usize,
    rows: usize,
    out: &mut [[f32; ROW_GROUP]; TILE],
) {
    macro_rules! by_rows {
        ($f:ident) => {
            match rows {
                1 => group_rows::<1, $f>(w, n0, x, t0, out),
                2 => group_rows::<2, $f>(w, n0, x, t0, out),
                3 => group_rows::<3, $f>(w, n0, x, t0, out),
                4 => group_rows::<4, $f>(w, n0, x, t0, out),
                _ => unreachable!("no group kernel for {rows} activation rows"),
            }
        };
    }
    match w.format {
        WeightFormat::Q4_1 => by_rows!(Q4_1),
        WeightFormat::Q4_0 => by_rows!(Q4_0),
        WeightFormat::Q8_0 => by_rows!(Q8_0),
    }
}

/// How many blocks ahead of the one being multiplied [`group_rows`] asks for the weights (1 KiB
/// of Q4 values). A decode step reads every weight once, in short runs (a task's rows of one
/// matrix); the hardware prefetcher alone does not run far enough ahead in them. Measured on
/// `sluice generate`, 256 tokens, 2 threads: +14–19% decode (16 and 32 blocks alike).
const PREFETCH_BLOCKS: usize = 16;

/// [`dot_group_rows`] for `T` activation rows and format `F`.
///
/// # Safety
/// As [`dot_group_rows`], with `w.format` being `F` and `rows` being `T`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn group_rows<const T: usize, const F: u8>(
    w: &PackedMatrix,
    n0: usize,
    x: &QuantizedRows,
    t0: usize,
    out: &mut [[f32; ROW_GROUP]; TILE],
) {
    let wr = WeightRow::of(w, n0);
    let kb = wr.kb;
    let vb = w.format.value_bytes();
    let x_q = x.qs.as_ptr().add(t0 * x.cols);
    let (x_d, x_s) = (x.d.as_ptr().add(t0 * kb), x.s.as_ptr().add(t0 * kb));
    let mut acc = [[_mm256_setzero_ps(); ROW_GROUP]; T];
    let mut mins = [_mm_setzero_ps(); T];
    for b in 0..kb {
        let (d, q) = (wr.d.add(b * ROW_GROUP), wr.q.add(b * wr.q_step));
        // `wrapping_add`: past the matrix's end a prefetch is a harmless hint.
        let ahead = b + PREFETCH_BLOCKS;
        _mm_prefetch::<_MM_HINT_T0>(wr.q.wrapping_add(ahead * wr.q_step).cast());
        if F == Q8_0 {
            // A group's Q8_0 block is two cache lines (4 rows of 32 bytes).
            _mm_prefetch::<_MM_HINT_T0>(wr.q.wrapping_add(ahead * wr.q_step + 64).cast());
        }
        _mm_prefetch::<_MM_HINT_T0>(wr.d.wrapping_add(ahead * ROW_GROUP).cast());
        if F == Q4_1 {
            _mm_prefetch::<_MM_HINT_T0>(wr.m.wrapping_add(ahead * ROW_GROUP).cast());
        }
        for r in 0..ROW_GROUP {
            let wq = weight_bytes::<F>(q.add(r * vb));
            let w_scale = _mm256_broadcast_ss(&*d.add(r));
            for (t, acc) in acc.iter_mut().enumerate() {
                // The activations are loaded where they are used (from L1), which leaves the
                // registers to the 4·T accumulators.
                let xv = _mm256_loadu_si256(x_q.add((t * kb + b) * BLOCK).cast());
                let lanes = _mm256_cvtepi32_ps(lane_sums::<F>(wq, xv));
                // d_w · d_x (a product's bits do not depend on the order).
                let scale = _mm256_mul_ps(w_scale, _mm256_broadcast_ss(&*x_d.add(t * kb + b)));
                acc[r] = _mm256_fmadd_ps(scale, lanes, acc[r]);
            }
        }
        if F == Q4_1 {
            // Each lane is one weight row's `m · s` chain, fused as `reference::dot` fuses it.
            let m = _mm_loadu_ps(wr.m.add(b * ROW_GROUP));
            for (t, mins) in mins.iter_mut().enumerate() {
                *mins = _mm_fmadd_ps(m, _mm_set1_ps(*x_s.add(t * kb + b)), *mins);
            }
        }
    }
    for t in 0..T {
        let mut m = [0f32; ROW_GROUP];
        _mm_storeu_ps(m.as_mut_ptr(), mins[t]);
        for r in 0..ROW_GROUP {
            out[t][r] = hsum(acc[t][r]) + m[r];
        }
    }
}

/// A block's 32 weight values as bytes in value order: nibbles widened (unsigned), or i8.
///
/// # Safety
/// As [`weight_halves`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn weight_bytes<const F: u8>(qs: *const u8) -> __m256i {
    if F == Q8_0 {
        return _mm256_loadu_si256(qs.cast());
    }
    let packed = _mm_loadu_si128(qs.cast());
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(packed), packed);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// Eight i32 lanes, lane `l` = Σ weight·x over values `4l..4l+4`. Pairs are summed in i16
/// first; no pair can saturate (at most 2·15·127, or 2·128·127 for i8 weights).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lane_sums<const F: u8>(q: __m256i, x: __m256i) -> __m256i {
    let ones = _mm256_set1_epi16(1);
    let pairs = match F {
        Q4_1 => _mm256_maddubs_epi16(q, x),
        // (q - 8)·x = q·x - 8·x, kept unsigned × signed.
        Q4_0 => _mm256_sub_epi16(
            _mm256_maddubs_epi16(q, x),
            _mm256_maddubs_epi16(_mm256_set1_epi8(8), x),
        ),
        // |w| × (x with w's sign).
        _ => _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q)),
    };
    _mm256_madd_epi16(pairs, ones)
}

/// ggml's `hsum_float_8`, in its order.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    _mm_cvtss_f32(_mm_add_ss(r, _mm_movehdup_ps(r)))
}

/// [`super::activation`]'s `quantize_values` as ggml's AVX2 `quantize_row_q8_1` computes it:
/// the same largest magnitude, products `x * id` rounded to nearest even, and integer sum.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn quantize_values(xs: &[f32; BLOCK], qs: &mut [i8; BLOCK]) -> (f32, i32) {
    let v: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(xs.as_ptr().add(8 * i)));
    let sign = _mm256_set1_ps(-0.0);
    let abs = v.map(|x| _mm256_andnot_ps(sign, x));
    let m = _mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3]));
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), m);
    let amax = lanes.iter().fold(0f32, |a, &b| a.max(b));
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    let q = v.map(|x| {
        _mm256_cvtps_epi32(_mm256_round_ps::<
            { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
        >(_mm256_mul_ps(x, id)))
    });
    let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    let mut sums = [0i32; 8];
    _mm256_storeu_si256(sums.as_mut_ptr().cast(), sum);
    // Packing interleaves the 128-bit halves; the permutation puts the values back in order.
    let packed = _mm256_packs_epi16(
        _mm256_packs_epi32(q[0], q[1]),
        _mm256_packs_epi32(q[2], q[3]),
    );
    let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(qs.as_mut_ptr().cast(), ordered);
    (amax, sums.iter().sum())
}
