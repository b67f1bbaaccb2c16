//! Loading GGUF files through their source: the tiny model round-trips through the loader, and files the engine
//! cannot run are refused with errors that say why.

use candle_core::quantized::gguf_file::{self, Value};
use sluice_core::BlockId;
use sluice_models::load::load;
use sluice_models::{BatchSeq, ForwardBatch, KvDtype, KvStore};
use sluice_testing::{write_tiny_llama, TinyLlama};

/// A host K/V store for `model` of `num_blocks` blocks of 4 slots.
fn store(model: &dyn sluice_models::CausalLm, num_blocks: usize) -> KvStore {
    KvStore::new(model.kv_layout(num_blocks, 4, KvDtype::F32))
}

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
    let err = load(&path).err().expect("must fail").to_string();
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
    assert!(load(&truncated).is_err());
    let text = d.join("text.gguf");
    std::fs::write(&text, "hello").unwrap();
    assert!(load(&text)
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
    let loaded = load(&path).unwrap();
    let mc = loaded.model.config();
    assert_eq!(
        (mc.hidden_size, mc.num_layers, mc.num_heads, mc.num_kv_heads),
        (cfg.hidden, cfg.layers, cfg.heads, cfg.kv_heads)
    );
    assert_eq!(loaded.model.weight_type(), "q4_1");
    let mut kv = store(loaded.model.as_ref(), 4);
    let batch = ForwardBatch {
        tokens: vec![1, 2, 3],
        positions: vec![0, 1, 2],
        slots: vec![4, 5, 6],
        seqs: vec![BatchSeq {
            first_row: 0,
            rows: 3,
            context_len: 3,
            prompt_len: 3,
            block_table: vec![BlockId(1)],
        }],
        logit_rows: vec![2],
    };
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
    let loaded = load(&path).unwrap();
    let mc = loaded.model.config();
    assert_eq!((mc.architecture.as_str(), mc.head_dim), ("gemma3", 128));
    let step = |rows: std::ops::Range<usize>| ForwardBatch {
        tokens: rows.clone().map(|p| 1 + p as u32).collect(),
        positions: rows.clone().collect(),
        slots: rows.clone().collect(),
        seqs: vec![BatchSeq {
            first_row: 0,
            rows: rows.len(),
            context_len: rows.end,
            prompt_len: 9,
            block_table: vec![BlockId(0), BlockId(1), BlockId(2)],
        }],
        logit_rows: vec![rows.len() - 1],
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
        load(&path).err().expect("must fail").to_string()
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
