use super::*;
use crate::test_data::{bytes, uniform};

/// `n` random rows of `k` values: random bits, with the f16 scales overwritten by small
/// finite ones.
fn weights(format: SuperBlockFormat, n: usize, k: usize, seed: u64) -> Vec<u8> {
    let mut w = bytes(seed, n * k / SUPER_BLOCK * format.block_bytes());
    for (i, block) in w.chunks_exact_mut(format.block_bytes()).enumerate() {
        let d = f16::from_f32(0.001 + (i % 7) as f32 * 0.0003).to_le_bytes();
        match format {
            SuperBlockFormat::Q4K => {
                block[..2].copy_from_slice(&d);
                let dmin = f16::from_f32(0.002 + (i % 5) as f32 * 0.0005).to_le_bytes();
                block[2..4].copy_from_slice(&dmin);
            }
            SuperBlockFormat::Q6K => block[208..210].copy_from_slice(&d),
        }
    }
    w
}

const FORMATS: [SuperBlockFormat; 2] = [SuperBlockFormat::Q4K, SuperBlockFormat::Q6K];

/// `rows` random activation rows, in every [`RowContext`] in turn.
fn quantized(rows: usize, k: usize, seed: u64) -> (Vec<f32>, SuperBlockRows) {
    let x: Vec<f32> = uniform(seed, rows * k).iter().map(|v| v * 3.0).collect();
    let contexts: Vec<RowContext> = (0..rows)
        .map(|t| RowContext {
            grouped: t % 2 == 0,
            tiled: t % 3 == 1,
            ..RowContext::default()
        })
        .collect();
    let mut q = SuperBlockRows::default();
    quantize_rows_k(&x, k, &contexts, &mut q);
    (x, q)
}

#[test]
fn new_refuses_wrong_sizes() {
    assert!(SuperBlockMatrix::new(SuperBlockFormat::Q4K, &[0; 144], 1, 128).is_err());
    assert!(SuperBlockMatrix::new(SuperBlockFormat::Q4K, &[0; 143], 1, 256).is_err());
    assert!(SuperBlockMatrix::new(SuperBlockFormat::Q6K, &[0; 420], 2, 256).is_ok());
}

/// Whatever kernel this CPU runs, and the scalar fallback, equal the scalar reference bit for
/// bit.
#[test]
fn detected_kernel_equals_scalar_reference_exactly() {
    for format in FORMATS {
        // 8 and 16 rows: Q4_K as llama.cpp's repacked kernels sum it. 5 activation rows and
        // more: tiles of 8 (the last padded when it has more than 4), mixing orders.
        for (n, k, rows) in [
            (1, 256, 1),
            (5, 512, 3),
            (17, 1024, 2),
            (3, 2048, 5),
            (8, 512, 3),
            (16, 256, 2),
            (8, 512, 13),
            (24, 768, 21),
            (16, 256, 8),
            (17, 512, 12),
            (5, 1024, 16),
            // Enough rows that they are quantized and laid out in parallel.
            (8, 512, 133),
        ] {
            let w = weights(format, n, k, n as u64 * 7 + k as u64);
            let m = SuperBlockMatrix::new(format, &w, n, k).unwrap();
            let (_, q) = quantized(rows, k, rows as u64 + 11);
            let want: Vec<u32> = (0..rows)
                .flat_map(|t| (0..n).map(move |j| (t, j)))
                .map(|(t, j)| {
                    let (row, headers) = (m.row(j), m.row_headers(j));
                    let order = m.order(q.context(t));
                    reference::dot(order, format, row, headers, &q, t, |b, h, q8, s| {
                        reference::block_sums(format, b, h, q8, s)
                    })
                })
                .map(f32::to_bits)
                .collect();
            let mut fast = vec![0f32; rows * n];
            let mut scalar = vec![0f32; rows * n];
            matmul_k(&m, &q, &mut fast);
            matmul_k_on(Isa::Scalar, &m, &q, &mut scalar);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let shape = format!("{format:?} {n}x{k}, {rows} rows");
            assert_eq!(bits(&fast), want, "{shape} on {:?}", isa());
            assert_eq!(bits(&scalar), want, "{shape}, scalar");
        }
    }
}

/// The products equal the float dot products of the dequantized weights and activations, to
/// float precision: the integer lanes put every value with its own scale.
#[test]
fn matmul_matches_dequantized_float_reference() {
    for (format, n) in FORMATS.into_iter().flat_map(|f| [(f, 6), (f, 8)]) {
        let (k, rows) = (768, 3);
        let m = SuperBlockMatrix::new(format, &weights(format, n, k, 5), n, k).unwrap();
        let (_, q) = quantized(rows, k, 8);
        let mut out = vec![0f32; rows * n];
        matmul_k(&m, &q, &mut out);
        let mut w_row = vec![0f32; k];
        for j in 0..n {
            m.dequantize_row(j, &mut w_row);
            for t in 0..rows {
                let x_row = (0..k).map(|v| q.d[(t * k + v) / SUPER_BLOCK] * q.qs[t * k + v] as f32);
                let want: f64 = w_row
                    .iter()
                    .zip(x_row)
                    .map(|(a, b)| *a as f64 * b as f64)
                    .sum();
                let scale: f64 = w_row.iter().map(|a| a.abs() as f64).sum::<f64>() * 3.0;
                let got = out[t * n + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * scale,
                    "{format:?} row {j} x {t}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn q4k_scales_and_mins_unpack_six_bits() {
    // Scales 0..4 and mins 0..4 in the low 6 bits of bytes 0..8; 4..8 split over bytes 8..12
    // (low and high nibbles) and the top 2 bits of bytes 0..8.
    let packed = [
        0b11_000001,
        2,
        3,
        4,
        0b01_000101,
        6,
        7,
        8,
        0x9A,
        0xBC,
        0xDE,
        0xF0,
    ];
    let (scales, mins) = q4k_scales_mins(&packed);
    assert_eq!(scales, [1, 2, 3, 4, 0x0A | (0b11 << 4), 0x0C, 0x0E, 0x00]);
    assert_eq!(mins, [5, 6, 7, 8, 0x09 | (0b01 << 4), 0x0B, 0x0D, 0x0F]);
}

/// At the limits of the integer ranges (every 4- or 6-bit value and 6-bit scale at its
/// largest, Q6_K's scales at ±127 and -128, activations at ±127): the SIMD pair sums in i16
/// must not saturate, so the kernel still equals the value-by-value sums.
#[test]
fn extreme_blocks_do_not_saturate() {
    let k = 512;
    for format in FORMATS {
        let mut w = vec![0xFFu8; 8 * k / SUPER_BLOCK * format.block_bytes()];
        for (i, block) in w.chunks_exact_mut(format.block_bytes()).enumerate() {
            let d = f16::from_f32(0.001).to_le_bytes();
            match format {
                SuperBlockFormat::Q4K => {
                    block[..2].copy_from_slice(&d);
                    block[2..4].copy_from_slice(&d);
                }
                SuperBlockFormat::Q6K => {
                    let scale = [127i8, -128, -127][i % 3];
                    block[192..208].fill(scale as u8);
                    block[208..210].copy_from_slice(&d);
                }
            }
        }
        let m = SuperBlockMatrix::new(format, &w, 8, k).unwrap();
        // 9 rows: a tile of 8 and one row alone, in every context.
        let rows = 9;
        for sign in [1.0f32, -1.0] {
            let x: Vec<f32> = (0..rows * k)
                .map(|v| sign * (1.0 + (v % 5) as f32))
                .collect();
            let contexts: Vec<RowContext> = (0..rows)
                .map(|t| RowContext {
                    grouped: t % 3 == 0,
                    tiled: t % 3 == 1,
                    ..RowContext::default()
                })
                .collect();
            let mut q = SuperBlockRows::default();
            quantize_rows_k(&x, k, &contexts, &mut q);
            let mut fast = vec![0f32; rows * 8];
            let mut scalar = vec![0f32; rows * 8];
            matmul_k(&m, &q, &mut fast);
            matmul_k_on(Isa::Scalar, &m, &q, &mut scalar);
            assert_eq!(fast, scalar, "{format:?}, sign {sign}");
            assert!(fast.iter().all(|v| v.is_finite() && *v != 0.0), "{fast:?}");
        }
    }
}
