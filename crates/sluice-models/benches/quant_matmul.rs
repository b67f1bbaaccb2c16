//! `cargo bench -p sluice-models --bench quant_matmul`: sluice's quantized matmul against
//! candle's `QMatMul` on SmolLM2-135M's shapes, per weight format and rows per step, and the
//! K-quants (Q4_K, Q6_K; Q5_0 runs as Q8_0) on Gemma 3 270M's shapes. Weights held unpacked
//! (`sluice_kernels::dense`) follow Q8_0: int8 per row (`--quantize eetq`) beside candle's
//! Q8_0, the nearest format it has, and a checkpoint's f32 and bf16 beside candle's f32.
//!
//! Prints GFLOP/s (2·rows·out·in per call, activation quantization included for both) and the
//! ratio, the median of several timed runs. Then a whole model's step: one product per
//! projection of 30 SmolLM2 layers and the Q8_0 output head, each matrix its own copy, so the
//! weights stream from memory as in a real decode step (the table above reuses one matrix,
//! which stays in cache and hides what memory costs). Threads: rayon's global pool for both
//! (`RAYON_NUM_THREADS` to change).

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use half::bf16;
use sluice_kernels::dense::{self, DenseMatrix};
use sluice_kernels::ggml::RowContext;
use sluice_kernels::quant::kquant::{self, SuperBlockFormat, SuperBlockMatrix, SuperBlockRows};
use sluice_kernels::quant::{self, PackedMatrix, QuantizedRows, WeightFormat};
use sluice_kernels::test_data::{median_seconds_per_call as time, uniform};

/// (name, out_dim, in_dim): the projections of one SmolLM2 layer, and its output head.
const SHAPES: [(&str, usize, usize); 4] = [
    ("q/o 576x576", 576, 576),
    ("gate/up 1536x576", 1536, 576),
    ("down 576x1536", 576, 1536),
    ("lm_head 49152x576", 49152, 576),
];
const ROWS: [usize; 4] = [1, 8, 32, 128];

/// (name, out_dim, in_dim): Gemma 3 270M's K-quant projections (in_dim a multiple of 256).
const K_SHAPES: [(&str, usize, usize); 2] = [
    ("attn_output 640x1024", 640, 1024),
    ("ffn_down 640x2048", 640, 2048),
];
const K_FORMATS: [(SuperBlockFormat, GgmlDType); 2] = [
    (SuperBlockFormat::Q4K, GgmlDType::Q4K),
    (SuperBlockFormat::Q6K, GgmlDType::Q6K),
];
const FORMATS: [(WeightFormat, GgmlDType); 3] = [
    (WeightFormat::Q4_1, GgmlDType::Q4_1),
    (WeightFormat::Q4_0, GgmlDType::Q4_0),
    (WeightFormat::Q8_0, GgmlDType::Q8_0),
];

/// One SmolLM2 layer's projections in order, (out_dim, in_dim, whether it quantizes a new input):
/// q, k, v share one quantized input, as gate and up do (`Linear::forward_shared`).
const LAYER: [(usize, usize, bool); 7] = [
    (576, 576, true),
    (192, 576, false),
    (192, 576, false),
    (576, 576, true),
    (1536, 576, true),
    (1536, 576, false),
    (576, 1536, true),
];

/// A random `n × k` matrix in `dtype`, as candle holds it and repacked for sluice.
fn quantized(
    format: WeightFormat,
    dtype: GgmlDType,
    n: usize,
    k: usize,
) -> (QTensor, PackedMatrix) {
    let w = Tensor::from_vec(uniform(1, n * k), (n, k), &Device::Cpu).unwrap();
    let qt = QTensor::quantize(&w, dtype).unwrap();
    let packed = PackedMatrix::pack(format, &qt.data().unwrap(), n, k).unwrap();
    (qt, packed)
}

/// A decode-shaped step through a whole model's weights (`model` in the filter).
fn model_step() {
    let layer: Vec<(PackedMatrix, bool)> = LAYER
        .iter()
        .map(|&(n, k, new_input)| {
            (
                quantized(WeightFormat::Q4_1, GgmlDType::Q4_1, n, k).1,
                new_input,
            )
        })
        .collect();
    let mut model: Vec<(PackedMatrix, bool)> =
        (0..30).flat_map(|_| layer.iter().cloned()).collect();
    model.push((
        quantized(WeightFormat::Q8_0, GgmlDType::Q8_0, 49152, 576).1,
        true,
    ));
    let bytes: usize = model.iter().map(|(w, _)| w.streamed_bytes()).sum();
    println!();
    println!(
        "| model step (30 layers Q4_1 + Q8_0 head, {} MB) | rows | ms per step | weight GB/s |",
        bytes / 1_000_000
    );
    println!("|---|---:|---:|---:|");
    for rows in [1, 2, 3, 4, 8] {
        let inputs = [576, 1536].map(|k| uniform(3, rows * k));
        let mut q = QuantizedRows::default();
        let mut out = vec![0f32; rows * 49152];
        let secs = time(|| {
            for (w, new_input) in &model {
                if *new_input {
                    let x = inputs.iter().find(|x| x.len() == rows * w.cols()).unwrap();
                    quant::quantize_rows(x, w.cols(), &mut q);
                }
                quant::matmul(w, &q, &mut out[..rows * w.rows()]);
            }
        });
        println!(
            "| | {rows} | {:.2} | {:.1} |",
            secs * 1e3,
            bytes as f64 / secs / 1e9
        );
    }
}

/// One table line per row count: `ours(x, rows, out)` (activation quantization included)
/// against candle's `QMatMul` of the same weights.
fn compare(
    format: &str,
    name: &str,
    qt: QTensor,
    n: usize,
    k: usize,
    mut ours: impl FnMut(&[f32], usize, &mut [f32]),
) {
    let candle = QMatMul::from_qtensor(qt).unwrap();
    for rows in ROWS {
        let x = uniform(2, rows * k);
        let xt = Tensor::from_vec(x.clone(), (rows, k), &Device::Cpu).unwrap();
        let mut out = vec![0f32; rows * n];
        let secs = time(|| ours(&x, rows, &mut out));
        let theirs = time(|| {
            candle.forward(&xt).unwrap();
        });
        let gflops = |secs: f64| 2.0 * (rows * n * k) as f64 / secs / 1e9;
        println!(
            "| {format} | {name} | {rows} | {:.1} | {:.1} | {:.2}x |",
            gflops(secs),
            gflops(theirs),
            theirs / secs
        );
    }
}

/// The dense kernels on one shape: int8 rows beside candle's Q8_0, f32 and bf16 beside
/// candle's f32, rows of a prompt in tinyBLAS's order as llama.cpp takes them.
fn dense_rows(skip: &dyn Fn(&str) -> bool, name: &str, n: usize, k: usize) {
    let values = uniform(1, n * k);
    let w = Tensor::from_vec(values.clone(), (n, k), &Device::Cpu).unwrap();
    let contexts = |rows: usize| {
        let context = RowContext {
            tiny_blas: rows >= 2,
            ..RowContext::default()
        };
        vec![context; rows]
    };
    fn run<E: sluice_kernels::element::Element>(
        values: &[E],
        (rows, cols, scales): (usize, usize, Option<&[f32]>),
        x: &[f32],
        contexts: &[RowContext],
        out: &mut [f32],
    ) {
        let w = DenseMatrix {
            values,
            rows,
            cols,
            scales,
        };
        dense::matmul(w, x, contexts, out);
    }
    if !skip(&format!("Int8 {name}")) {
        let (q, scales) = dense::quantize_rows_i8(&values, k);
        let qt = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        compare("Int8 (eetq) vs Q8_0", name, qt, n, k, |x, rows, out| {
            run(
                &q,
                (n, k, Some(&scales[..])),
                x,
                &contexts(rows),
                &mut out[..rows * n],
            );
        });
    }
    if !skip(&format!("F32 {name}")) {
        let qt = QTensor::quantize(&w, GgmlDType::F32).unwrap();
        compare("F32", name, qt, n, k, |x, rows, out| {
            run(
                &values,
                (n, k, None),
                x,
                &contexts(rows),
                &mut out[..rows * n],
            );
        });
    }
    if !skip(&format!("BF16 {name}")) {
        let halves: Vec<bf16> = values.iter().map(|&v| bf16::from_f32(v)).collect();
        let qt = QTensor::quantize(&w, GgmlDType::F32).unwrap();
        compare("BF16 vs f32", name, qt, n, k, |x, rows, out| {
            run(
                &halves,
                (n, k, None),
                x,
                &contexts(rows),
                &mut out[..rows * n],
            );
        });
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks formats or shapes by substring,
    // and `model` the model step alone.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!(
        "threads: {}, kernel: {:?}",
        rayon::current_num_threads(),
        sluice_kernels::cpu::isa()
    );
    println!("| format | shape | rows | sluice GFLOP/s | candle GFLOP/s | ratio |");
    println!("|---|---|---:|---:|---:|---:|");
    let skip = |label: &str| filter.as_ref().is_some_and(|f| !label.contains(f.as_str()));
    for (format, dtype) in FORMATS {
        for (name, n, k) in SHAPES {
            if skip(&format!("{format:?} {name}")) {
                continue;
            }
            let (qt, packed) = quantized(format, dtype, n, k);
            let mut q = QuantizedRows::default();
            compare(&format!("{format:?}"), name, qt, n, k, |x, rows, out| {
                quant::quantize_rows(x, k, &mut q);
                quant::matmul(&packed, &q, &mut out[..rows * n]);
            });
        }
    }
    for (name, n, k) in SHAPES {
        dense_rows(&skip, name, n, k);
    }
    // Rows of a prompt (multiplied as llama.cpp multiplies a prompt alone): repacked Q4_K in
    // groups of 4, Q6_K tiled.
    for (format, dtype) in K_FORMATS {
        for (name, n, k) in K_SHAPES {
            if skip(&format!("{format:?} {name}")) {
                continue;
            }
            let w = Tensor::from_vec(uniform(1, n * k), (n, k), &Device::Cpu).unwrap();
            let qt = QTensor::quantize(&w, dtype).unwrap();
            let m = SuperBlockMatrix::new(format, &qt.data().unwrap(), n, k).unwrap();
            compare(&format!("{format:?}"), name, qt, n, k, |x, rows, out| {
                let contexts = vec![
                    RowContext {
                        grouped: rows >= 4,
                        tiled: rows >= 8,
                        tiny_blas: rows >= 2,
                    };
                    rows
                ];
                let mut q = SuperBlockRows::default();
                kquant::quantize_rows_k(x, k, &contexts, &mut q);
                kquant::matmul_k(&m, &q, &mut out[..rows * n]);
            });
        }
    }
    if filter.as_deref().is_none_or(|f| "model".contains(f)) {
        model_step();
    }
}
