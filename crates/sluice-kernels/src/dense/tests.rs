use super::*;
use crate::test_data::uniform;
use half::{bf16, f16};

/// The two orders give different bits on the same row (so the tests above tell them apart).
#[test]
fn the_two_orders_differ() {
    let w = uniform(3, 64);
    let x = uniform(4, 64);
    assert_ne!(dot_tiny_blas(&w, &x).to_bits(), dot_vec(&w, &x).to_bits());
}

/// `x Wᵀ` in f64, with the sum of the products' magnitudes that bounds f32 rounding.
fn naive<E: Element>(w: DenseMatrix<'_, E>, x: &[f32]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for xr in x.chunks_exact(w.cols) {
        for n in 0..w.rows {
            let row = &w.values[n * w.cols..(n + 1) * w.cols];
            let products = row
                .iter()
                .zip(xr)
                .map(|(&a, &b)| f64::from(a.to_f32()) * f64::from(E::operand(b)));
            let (dot, magnitude) = products.fold((0.0, 0.0), |(d, m), p| (d + p, m + p.abs()));
            let scale = f64::from(w.scales.map_or(1.0, |s| s[n]));
            out.push((dot * scale, magnitude * scale));
        }
    }
    out
}

/// Runs `matmul` on every ISA this CPU has, with rows in either order (runs of 1 to 4 rows in
/// tinyBLAS's order, so tiles of each height, between rows alone), and
/// checks they agree bit for bit, that each row of a batch equals the row alone in its
/// context, and that the sums are within float rounding of f64.
fn check<E: Element>(values: &[E], rows: usize, cols: usize, scales: Option<&[f32]>, x: &[f32]) {
    let w = DenseMatrix {
        values,
        rows,
        cols,
        scales,
    };
    let x_rows = x.len() / cols;
    let contexts: Vec<RowContext> = (0..x_rows)
        .map(|t| RowContext {
            // Runs of 1 to 3 rows in each order (a prompt's rows, a sequence's proposals).
            tiny_blas: !matches!(t % 12, 3 | 4 | 8 | 9 | 10),
            ..RowContext::default()
        })
        .collect();
    let mut scalar = vec![0f32; x_rows * rows];
    matmul_on(Isa::Scalar, w, x, &contexts, &mut scalar);
    if isa() == Isa::Avx2Fma {
        let mut simd = vec![0f32; x_rows * rows];
        matmul_on(Isa::Avx2Fma, w, x, &contexts, &mut simd);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&simd), bits(&scalar), "{rows}x{cols}, {x_rows} rows");
    }
    for (t, xr) in x.chunks_exact(cols).enumerate() {
        let mut alone = vec![0f32; rows];
        matmul(w, xr, &contexts[t..t + 1], &mut alone);
        assert_eq!(alone, scalar[t * rows..(t + 1) * rows], "row {t} alone");
    }
    for (got, (want, magnitude)) in scalar.iter().zip(naive(w, x)) {
        // Each of the `cols` roundings costs at most 2^-24 of a partial sum.
        let tolerance = magnitude * cols as f64 * 2f64.powi(-24) + 1e-30;
        assert!(
            (f64::from(*got) - want).abs() <= tolerance,
            "{got} vs {want}"
        );
    }
}

#[test]
fn every_type_sums_in_one_order_on_every_shape() {
    // Widths with and without a tail past the last 8 and past the last 32; weight rows not a
    // multiple of 4 or of a task's chunk; one activation row (decode) and several (a prompt).
    for (rows, cols, x_rows) in [
        (7, 16, 1),
        (37, 13, 3),
        (16, 576, 1),
        (21, 579, 5),
        (9, 40, 2),
        (13, 64, 12),
        (6, 27, 8),
    ] {
        let w = uniform(rows as u64, rows * cols);
        let x = uniform(99, x_rows * cols);
        check(&w, rows, cols, None, &x);
        check(
            &w.iter().map(|&v| f16::from_f32(v)).collect::<Vec<_>>(),
            rows,
            cols,
            None,
            &x,
        );
        check(
            &w.iter().map(|&v| bf16::from_f32(v)).collect::<Vec<_>>(),
            rows,
            cols,
            None,
            &x,
        );
        let (q, scales) = quantize_rows_i8(&w, cols);
        check(&q, rows, cols, Some(&scales), &x);
    }
}

#[test]
fn int8_rows_keep_their_largest_weight_and_round_the_rest() {
    let cols = 40;
    let mut w = uniform(5, 2 * cols);
    w[3] = -2.5; // row 0's largest magnitude
    w[cols..].fill(0.0); // an all-zero row
    let (q, scales) = quantize_rows_i8(&w, cols);
    assert_eq!(q[3], -127);
    assert_eq!(scales[0], 2.5 / 127.0);
    for (&v, &qv) in w[..cols].iter().zip(&q[..cols]) {
        assert!((v - f32::from(qv) * scales[0]).abs() <= scales[0] / 2.0 + 1e-7);
    }
    assert_eq!(scales[1], 0.0);
    assert!(q[cols..].iter().all(|&v| v == 0));
}
