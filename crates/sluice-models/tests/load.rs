//! Loading GGUF files through their source: the tiny model round-trips through the loader, and files the engine
//! cannot run are refused with errors that say why.

mod common;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::GgmlDType;
use common::*;
use sluice_models::load::{load, LoadOptions, Quantization, WeightDtype};
use sluice_testing::{write_tiny_llama, TinyLlama};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sluice-models-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn unsupported_architecture_is_named() {
    let path = dir("arch").join("mamba.gguf");
    let arch = Value::String("mamba".into());
    gguf_file::write(
        &mut std::fs::File::create(&path).unwrap(),
        &[("general.architecture", &arch)],
        &[],
    )
    .unwrap();
    let err = load(&path, Default::default())
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        err.contains("unsupported model architecture `mamba`"),
        "{err}"
    );
}

#[test]
fn truncated_and_foreign_files_are_refused() {
    let d = dir("bad");
    let tiny = d.join("tiny.gguf");
    write_tiny_llama(&tiny, &TinyLlama::default()).unwrap();
    let bytes = std::fs::read(&tiny).unwrap();
    let truncated = d.join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load(&truncated, Default::default()).is_err());
    let text = d.join("text.gguf");
    std::fs::write(&text, "hello").unwrap();
    assert!(load(&text, Default::default())
        .err()
        .unwrap()
        .to_string()
        .contains("is not a GGUF file"));
}

#[test]
fn tiny_model_runs_a_batch_and_rejects_a_bad_one() {
    let path = dir("run").join("tiny.gguf");
    let cfg = TinyLlama::default();
    write_tiny_llama(&path, &cfg).unwrap();
    let loaded = load(&path, Default::default()).unwrap();
    let mc = loaded.model.config();
    assert_eq!(
        (mc.hidden_size, mc.num_layers, mc.num_heads, mc.num_kv_heads),
        (cfg.hidden, cfg.layers, cfg.heads, cfg.kv_heads)
    );
    assert_eq!(loaded.model.weight_type(), "q4_1");
    let mut kv = store(loaded.model.as_ref(), 4);
    let batch = one_sequence(vec![1, 2, 3], 0..3, 3, &[1], vec![2]);
    let logits = loaded.model.forward(&batch, &mut kv).unwrap();
    assert_eq!(logits.len(), mc.vocab_size);
    assert!(logits.iter().all(|v| v.is_finite()));
    let mut bad = batch.clone();
    bad.slots[0] = 1000;
    assert!(loaded.model.forward(&bad, &mut kv).is_err());
    let mut bad = batch;
    bad.tokens[0] = 1_000_000;
    assert!(loaded.model.forward(&bad, &mut kv).is_err());
}

/// A tiny Gemma 3 (Q5_0, Q4_K and Q6_K projections, q/k norms, sliding window) loads and runs
/// a prompt longer than its window, alone and in two chunks with the same logits.
#[test]
fn tiny_gemma3_runs_and_chunks_give_the_same_logits() {
    let path = dir("gemma").join("tiny.gguf");
    write_tiny_llama(&path, &TinyLlama::gemma3()).unwrap();
    let loaded = load(&path, Default::default()).unwrap();
    let mc = loaded.model.config();
    assert_eq!((mc.architecture.as_str(), mc.head_dim), ("gemma3", 128));
    let step = |rows: std::ops::Range<usize>| {
        let tokens = rows.clone().map(|p| 1 + p as u32).collect();
        one_sequence(tokens, rows.clone(), 9, &[0, 1, 2], vec![rows.len() - 1])
    };
    let mut kv = store(loaded.model.as_ref(), 3);
    let alone = loaded.model.forward(&step(0..9), &mut kv).unwrap();
    let mut kv = store(loaded.model.as_ref(), 3);
    loaded.model.forward(&step(0..5), &mut kv).unwrap();
    let chunked = loaded.model.forward(&step(5..9), &mut kv).unwrap();
    assert_eq!(alone.len(), mc.vocab_size);
    assert!(alone.iter().all(|v| v.is_finite()));
    assert_eq!(alone, chunked);
}

/// Settings sluice does not implement, and shapes that disagree with the settings, are refused
/// at load with errors that say which.
#[test]
fn unsupported_settings_and_bad_shapes_are_refused() {
    let d = dir("refuse");
    let refused = |name: &str, cfg: TinyLlama| {
        let path = d.join(format!("{name}.gguf"));
        write_tiny_llama(&path, &cfg).unwrap();
        load(&path, Default::default())
            .err()
            .expect("must fail")
            .to_string()
    };
    let with = |base: TinyLlama, key: &str, value: Value| TinyLlama {
        metadata: vec![(key.to_string(), value)],
        ..base
    };
    let err = refused(
        "scaling",
        with(
            TinyLlama::gemma3(),
            "gemma3.rope.scaling.type",
            Value::String("linear".into()),
        ),
    );
    assert!(err.contains("rotary scaling"), "{err}");
    let err = refused(
        "softcap",
        with(
            TinyLlama::gemma3(),
            "gemma3.final_logit_softcapping",
            Value::F32(30.0),
        ),
    );
    assert!(err.contains("soft cap"), "{err}");
    let err = refused(
        "layerless",
        with(TinyLlama::default(), "llama.block_count", Value::U32(0)),
    );
    assert!(err.contains("no layers"), "{err}");
    // The file says the feed-forward is twice as wide as its tensors are.
    let err = refused(
        "shape",
        with(
            TinyLlama::default(),
            "llama.feed_forward_length",
            Value::U32(256),
        ),
    );
    assert!(
        err.contains("blk.0.ffn_gate.weight") && err.contains("expected [256, 64]"),
        "{err}"
    );
}

/// Logits of the last of 5 prompt tokens, and the type the layers' weights are held as.
fn run_prompt(path: &std::path::Path, options: LoadOptions) -> (String, Vec<f32>) {
    let loaded = load(path, options).unwrap();
    let batch = one_sequence(vec![3, 1, 4, 1, 5], 0..5, 5, &[0, 1], vec![4]);
    let mut kv = store(loaded.model.as_ref(), 2);
    let logits = loaded.model.forward(&batch, &mut kv).unwrap();
    (loaded.model.weight_type(), logits)
}

/// A checkpoint's float weights are held as stored, converted by `--dtype`, or quantized at
/// load; and `--quantize q4_1` on an f32 file computes exactly what the same weights quantized
/// beforehand (by the same ggml quantizer) compute: the same blocks come back.
#[test]
fn float_weights_are_held_as_asked_and_quantize_like_a_quantized_file() {
    let d = dir("floats");
    let (f32_file, q4_1_file) = (d.join("f32.gguf"), d.join("q4_1.gguf"));
    write_tiny_llama(&f32_file, &TinyLlama::default().in_f32()).unwrap();
    write_tiny_llama(&q4_1_file, &TinyLlama::default()).unwrap();
    let options = |dtype, quantize| LoadOptions { dtype, quantize };
    let (held, quantized_before) = run_prompt(&q4_1_file, LoadOptions::default());
    assert_eq!(held, "q4_1");
    let q4_1 = "q4_1".parse::<Quantization>().unwrap();
    let (held, quantized_at_load) = run_prompt(&f32_file, options(None, Some(q4_1)));
    assert_eq!(held, "q4_1");
    assert_eq!(quantized_at_load, quantized_before);

    let (held, exact) = run_prompt(&f32_file, LoadOptions::default());
    assert_eq!(held, "f32");
    let close = |other: &[f32], tolerance: f32| {
        let worst = exact
            .iter()
            .zip(other)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < tolerance, "differs by {worst}");
    };
    for (dtype, name, tolerance) in [
        (WeightDtype::F16, "f16", 1e-2),
        (WeightDtype::Bf16, "bf16", 1e-1),
    ] {
        let (held, logits) = run_prompt(&f32_file, options(Some(dtype), None));
        assert_eq!(held, name);
        close(&logits, tolerance);
    }
    let int8 = "eetq".parse::<Quantization>().unwrap();
    let (held, logits) = run_prompt(&f32_file, options(None, Some(int8)));
    assert_eq!(held, "int8");
    close(&logits, 1e-1);
    // A file stored in f16 is read in place as f16.
    let f16_file = d.join("f16.gguf");
    let halves = TinyLlama {
        matrices: Some(GgmlDType::F16),
        ..TinyLlama::default()
    };
    write_tiny_llama(&f16_file, &halves).unwrap();
    let (held, logits) = run_prompt(&f16_file, LoadOptions::default());
    assert_eq!(held, "f16");
    close(&logits, 1e-2);
}
