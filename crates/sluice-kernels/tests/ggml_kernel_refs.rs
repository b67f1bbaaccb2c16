//! The K-quant and Q5_0 kernels against ggml itself: products and dequantized rows that
//! llama.cpp's CPU code computed on the same deterministic data
//! (tests/data/kernel_refs.json, written by scripts/llama-cpp/make_kernel_refs.sh), equal bit
//! for bit.

use half::f16;
use serde_json::Value;
use sluice_kernels::quant::kquant::{
    quantize_rows_k, RowContext, SuperBlockFormat, SuperBlockMatrix, SuperBlockRows,
};
use sluice_kernels::quant::{self, PackedMatrix, QuantizedRows, WeightFormat};
use sluice_kernels::test_data::{bytes, uniform};

/// The weight generator of kernel_refs.c: random blocks, small finite scales.
fn weights(block_bytes: usize, scale_at: &[usize], blocks: usize, seed: u64) -> Vec<u8> {
    let mut w = bytes(seed, blocks * block_bytes);
    for (i, block) in w.chunks_exact_mut(block_bytes).enumerate() {
        let d = 0.001 + (i % 7) as f32 * 0.0003;
        block[scale_at[0]..scale_at[0] + 2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        if let Some(&at) = scale_at.get(1) {
            let dmin = 0.002 + (i % 5) as f32 * 0.0005;
            block[at..at + 2].copy_from_slice(&f16::from_f32(dmin).to_le_bytes());
        }
    }
    w
}

fn u(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap() as usize
}

fn bits(v: &Value, key: &str) -> Vec<u32> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn products_and_dequantized_rows_equal_ggml() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/kernel_refs.json"
    );
    let refs: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = refs["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let (n, k, rows) = (u(case, "n"), u(case, "k"), u(case, "rows"));
        let x: Vec<f32> = uniform(u(case, "x_seed") as u64, rows * k)
            .iter()
            .map(|v| v * 3.0)
            .collect();
        let seed = u(case, "weight_seed") as u64;
        let mut out = vec![0f32; rows * n];
        let mut last_row = vec![0f32; k];
        let kind = case["type"].as_str().unwrap();
        match kind {
            "q4_K" | "q6_K" => {
                let (format, scale_at) = match kind {
                    "q4_K" => (SuperBlockFormat::Q4K, vec![0, 2]),
                    _ => (SuperBlockFormat::Q6K, vec![208]),
                };
                let w = weights(format.block_bytes(), &scale_at, n * k / 256, seed);
                let m = SuperBlockMatrix::new(format, &w, n, k).unwrap();
                // llama.cpp's graph multiplies repacked weights by rows in groups of 4
                // (ggml_gemm_*) and the rest alone (ggml_gemv_*), and other K-quant weights
                // tile by tile for 8 rows or more.
                let path = case["path"].as_str().unwrap();
                let contexts: Vec<RowContext> = (0..rows)
                    .map(|t| RowContext {
                        grouped: path == "repacked" && t < rows / 4 * 4,
                        tiled: path == "graph" && rows >= 8,
                        ..RowContext::default()
                    })
                    .collect();
                let mut q = SuperBlockRows::default();
                quantize_rows_k(&x, k, &contexts, &mut q);
                quant::kquant::matmul_k(&m, &q, &mut out);
                m.dequantize_row(n - 1, &mut last_row);
            }
            "q5_0" => {
                let w = weights(quant::Q5_0_BLOCK_BYTES, &[0], n * k / 32, seed);
                let as_q8 = quant::q5_0_as_q8_0(&w).unwrap();
                let m = PackedMatrix::pack(WeightFormat::Q8_0, &as_q8, n, k).unwrap();
                let mut q = QuantizedRows::default();
                quant::quantize_rows(&x, k, &mut q);
                quant::matmul(&m, &q, &mut out);
                m.dequantize_row(n - 1, &mut last_row);
            }
            other => panic!("unknown type {other}"),
        }
        let shape = format!("{kind} {n}x{k}, {rows} rows");
        // ggml's products are rows of weights · one activation row: [t][n], as ours.
        let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, bits(case, "dot_bits"), "{shape}: products");
        let got: Vec<u32> = last_row.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            got,
            bits(case, "last_row_dequantized_bits"),
            "{shape}: dequantized"
        );
    }
}
