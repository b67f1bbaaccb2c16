//! Hugging Face folders: a folder holding a tiny model's values the way `transformers` stores
//! them computes exactly what the GGUF file of the same values computes, for every
//! architecture, sharded or not; its tokenizer, chat template, end-of-generation ids and
//! sampling defaults come from its files; and broken folders are refused with errors that
//! name what is wrong.

mod common;
use candle_core::quantized::GgmlDType;
use common::*;
use sluice_models::load::{load, LoadOptions};
use sluice_testing::{write_tiny_hf, write_tiny_llama, TinyHf, TinyLlama};
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sluice-hf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Logits of a 9-token prompt (longer than Gemma's window of 4) at its last two positions,
/// computed in two chunks.
fn logits(path: &Path) -> Vec<f32> {
    let loaded = load(path, LoadOptions::default()).unwrap();
    let model = loaded.model.as_ref();
    let mut kv = store(model, 3);
    let step = |rows: std::ops::Range<usize>| {
        let tokens = rows.clone().map(|p| 3 + 5 * p as u32).collect();
        one_sequence(
            tokens,
            rows.clone(),
            9,
            &[0, 1, 2],
            (0..rows.len()).collect(),
        )
    };
    let mut out = model.forward(&step(0..5), &mut kv).unwrap();
    out.extend(model.forward(&step(5..9), &mut kv).unwrap());
    out
}

#[test]
fn a_folder_computes_what_the_gguf_file_of_its_values_computes() {
    for (name, cfg) in [
        ("llama", TinyLlama::default().in_f32()),
        ("qwen2", TinyLlama::qwen2().in_f32()),
        ("gemma3", TinyLlama::gemma3().in_f32()),
    ] {
        let d = dir(name);
        let gguf = d.join("model.gguf");
        write_tiny_llama(&gguf, &cfg).unwrap();
        let (single, sharded) = (d.join("single"), d.join("sharded"));
        write_tiny_hf(&single, &cfg, TinyHf::default()).unwrap();
        let two = TinyHf {
            shards: 2,
            ..TinyHf::default()
        };
        write_tiny_hf(&sharded, &cfg, two).unwrap();
        assert!(sharded.join("model.safetensors.index.json").exists());
        let want = logits(&gguf);
        assert!(want.iter().all(|v| v.is_finite()));
        assert_eq!(logits(&single), want, "{name}: one file");
        assert_eq!(logits(&sharded), want, "{name}: two shards");
    }
}

#[test]
fn half_precision_folders_stay_close_to_f32() {
    let cfg = TinyLlama::default().in_f32();
    let d = dir("halves");
    write_tiny_hf(&d.join("f32"), &cfg, TinyHf::default()).unwrap();
    let exact = logits(&d.join("f32"));
    for (dtype, tolerance) in [(GgmlDType::F16, 1e-2), (GgmlDType::BF16, 1e-1)] {
        let path = d.join(format!("{dtype:?}"));
        let hf = TinyHf {
            dtype,
            ..TinyHf::default()
        };
        write_tiny_hf(&path, &cfg, hf).unwrap();
        let loaded = load(&path, LoadOptions::default()).unwrap();
        assert_eq!(
            loaded.model.weight_type(),
            format!("{dtype:?}").to_lowercase()
        );
        let worst = logits(&path)
            .iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < tolerance, "{dtype:?} differs by {worst}");
    }
}

#[test]
fn tokenizer_template_eos_and_sampling_defaults_come_from_the_files() {
    let d = dir("files");
    let cfg = TinyLlama::default();
    write_tiny_llama(&d.join("model.gguf"), &cfg).unwrap();
    write_tiny_hf(&d.join("hf"), &cfg.clone().in_f32(), TinyHf::default()).unwrap();
    let gguf = load(&d.join("model.gguf"), LoadOptions::default()).unwrap();
    let hf = load(&d.join("hf"), LoadOptions::default()).unwrap();
    for text in ["the theater is in there", "<|im_start|>user\nhi!<|im_end|>"] {
        assert_eq!(
            hf.tokenizer.encode(text, true).unwrap(),
            gguf.tokenizer.encode(text, true).unwrap(),
            "{text:?}"
        );
    }
    let ids = hf.tokenizer.encode("the theater", true).unwrap();
    assert_eq!(hf.tokenizer.decode(&ids, false), "the theater");
    // generation_config.json's list: <|im_end|> (the EOS) and <|endoftext|>.
    let vocab = hf.tokenizer.vocab_size() as u32;
    assert!(hf.tokenizer.eog_ids().contains(&(vocab - 1)));
    assert!(hf.tokenizer.eog_ids().contains(&(vocab - 3)));
    let messages = [sluice_tokenizer::ChatMessage {
        role: "user".into(),
        content: "hi".into(),
    }];
    assert_eq!(
        hf.tokenizer
            .apply_chat_template(&messages, None, true)
            .unwrap(),
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(hf.generation.temperature, Some(0.7));
    assert_eq!(hf.generation.top_p, Some(0.9));
    assert_eq!(hf.generation.top_k, None);
    assert_eq!(gguf.generation, Default::default());
}

/// The error loading the folder `path`, as one line.
fn refused(path: &Path) -> String {
    load(path, LoadOptions::default())
        .err()
        .expect("must fail")
        .to_string()
}

#[test]
fn broken_folders_are_refused_with_what_is_wrong() {
    let d = dir("broken");
    let cfg = TinyLlama::default().in_f32();
    let fresh = |name: &str, shards| {
        let path = d.join(name);
        let hf = TinyHf {
            shards,
            ..TinyHf::default()
        };
        write_tiny_hf(&path, &cfg, hf).unwrap();
        path
    };
    let edit_config = |path: &Path, key: &str, value: serde_json::Value| {
        let file = path.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        config[key] = value;
        std::fs::write(file, config.to_string()).unwrap();
    };

    let no_config = fresh("no-config", 1);
    std::fs::remove_file(no_config.join("config.json")).unwrap();
    assert!(refused(&no_config).contains("has no config.json"));

    let foreign = fresh("foreign", 1);
    edit_config(
        &foreign,
        "architectures",
        serde_json::json!(["MambaForCausalLM"]),
    );
    let err = refused(&foreign);
    assert!(
        err.contains("MambaForCausalLM") && err.contains("LlamaForCausalLM"),
        "{err}"
    );

    let missing_shard = fresh("missing-shard", 2);
    let shard = missing_shard.join("model-00002-of-00002.safetensors");
    std::fs::remove_file(&shard).unwrap();
    assert!(refused(&missing_shard).contains("model-00002-of-00002.safetensors"));

    let truncated = fresh("truncated", 2);
    let shard = truncated.join("model-00001-of-00002.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 100]).unwrap();
    let err = refused(&truncated);
    assert!(
        err.contains("model-00001-of-00002.safetensors") && err.contains("not a whole"),
        "{err}"
    );

    let wide = fresh("shape", 1);
    edit_config(&wide, "intermediate_size", serde_json::json!(256));
    let err = refused(&wide);
    assert!(
        err.contains("blk.0.ffn_gate.weight") && err.contains("expected [256, 64]"),
        "{err}"
    );

    let typed = fresh("dtype", 1);
    retype(
        &typed.join("model.safetensors"),
        "model.layers.0.mlp.up_proj.weight",
    );
    let err = refused(&typed);
    assert!(
        err.contains("model.layers.0.mlp.up_proj.weight") && err.contains("F64"),
        "{err}"
    );

    let bad_tokenizer = fresh("tokenizer", 1);
    std::fs::write(bad_tokenizer.join("tokenizer.json"), "{\"model\": 3}").unwrap();
    let err = refused(&bad_tokenizer);
    assert!(err.contains("tokenizer.json"), "{err}");
}

/// Rewrites one tensor of a safetensors file as f64 (twice the bytes of its f32 values).
fn retype(file: &Path, name: &str) {
    use safetensors::{Dtype, SafeTensors};
    let bytes = std::fs::read(file).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            if n == name {
                let wide = t
                    .data()
                    .chunks_exact(4)
                    .flat_map(|b| {
                        f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes()
                    })
                    .collect();
                (n, Dtype::F64, t.shape().to_vec(), wide)
            } else {
                (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())
            }
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, file).unwrap();
}

/// `rope_scaling` is read as llama.cpp reads its own keys: linear scaling computes what the
/// GGUF file with `rope.scaling.*` computes; llama3 runs on its frequency factors; a kind
/// sluice lacks is refused by name.
#[test]
fn rotary_scaling_is_read_from_the_config() {
    use candle_core::quantized::gguf_file::Value;
    let d = dir("rope");
    let cfg = TinyLlama {
        metadata: vec![
            (
                "llama.rope.scaling.type".into(),
                Value::String("linear".into()),
            ),
            ("llama.rope.scaling.factor".into(), Value::F32(2.0)),
        ],
        ..TinyLlama::default().in_f32()
    };
    write_tiny_llama(&d.join("linear.gguf"), &cfg).unwrap();
    write_tiny_llama(&d.join("plain.gguf"), &TinyLlama::default().in_f32()).unwrap();
    let with_scaling = |name: &str, scaling: serde_json::Value| {
        let path = d.join(name);
        write_tiny_hf(&path, &TinyLlama::default().in_f32(), TinyHf::default()).unwrap();
        let file = path.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        config["rope_scaling"] = scaling;
        std::fs::write(file, config.to_string()).unwrap();
        path
    };
    let linear = with_scaling(
        "linear",
        serde_json::json!({"type": "linear", "factor": 2.0}),
    );
    let scaled = logits(&linear);
    assert_eq!(scaled, logits(&d.join("linear.gguf")));
    assert_ne!(scaled, logits(&d.join("plain.gguf")));
    let llama3 = with_scaling(
        "llama3",
        serde_json::json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
    );
    let slowed = logits(&llama3);
    assert!(slowed.iter().all(|v| v.is_finite()));
    assert_ne!(slowed, logits(&d.join("plain.gguf")));
    let yarn = with_scaling(
        "yarn",
        serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
    );
    assert!(refused(&yarn).contains("rotary scaling `yarn` is not supported"));
}

/// A Mistral folder is Llama's wiring with its sliding window on every layer: it computes what
/// the GGUF file with that window computes, and not what the file without it does.
#[test]
fn a_mistral_folder_slides_its_window() {
    use candle_core::quantized::gguf_file::Value;
    let d = dir("mistral");
    let windowed = TinyLlama {
        metadata: vec![("llama.attention.sliding_window".into(), Value::U32(4))],
        ..TinyLlama::default().in_f32()
    };
    write_tiny_llama(&d.join("windowed.gguf"), &windowed).unwrap();
    write_tiny_llama(&d.join("plain.gguf"), &TinyLlama::default().in_f32()).unwrap();
    let folder = d.join("mistral");
    write_tiny_hf(&folder, &TinyLlama::default().in_f32(), TinyHf::default()).unwrap();
    let file = folder.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    config["architectures"] = serde_json::json!(["MistralForCausalLM"]);
    config["sliding_window"] = serde_json::json!(4);
    std::fs::write(file, config.to_string()).unwrap();
    let mistral = logits(&folder);
    assert_eq!(mistral, logits(&d.join("windowed.gguf")));
    assert_ne!(mistral, logits(&d.join("plain.gguf")));
}
