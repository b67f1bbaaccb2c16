//! The tiny model as a GGUF file, as llama.cpp's converter and quantizer would write it.

use crate::weights::tensors;
use crate::{TinyArch, TinyLlama, Vocab, CHAT_TEMPLATE, TINY_SPECIALS};
use anyhow::Context;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use std::path::Path;

/// Writes a GGUF Llama (or Qwen2, or Gemma 3) with random weights (Q4_1 matmuls, Q8_0 tied
/// embedding, like the default model; Gemma 3's types as [`TinyLlama::gemma3`] says) and a
/// byte-level BPE vocabulary with a few merges.
pub fn write_tiny_llama(path: &Path, cfg: &TinyLlama) -> anyhow::Result<()> {
    let vocab = Vocab::new();
    let n = vocab.len();
    let token_types: Vec<Value> = (0..n)
        .map(|i| Value::I32(if i >= n - TINY_SPECIALS.len() { 3 } else { 1 }))
        .collect();
    let head_dim = cfg.head_dim();
    let s = |v: &str| Value::String(v.to_string());
    let arch = cfg.arch_name();
    let key = |k: &str| format!("{arch}.{k}");
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), s(arch)),
        (key("block_count"), Value::U32(cfg.layers as u32)),
        (key("context_length"), Value::U32(cfg.context as u32)),
        (key("embedding_length"), Value::U32(cfg.hidden as u32)),
        (key("feed_forward_length"), Value::U32(cfg.ffn as u32)),
        (key("attention.head_count"), Value::U32(cfg.heads as u32)),
        (
            key("attention.head_count_kv"),
            Value::U32(cfg.kv_heads as u32),
        ),
        (key("attention.key_length"), Value::U32(head_dim as u32)),
        (key("rope.freq_base"), Value::F32(10000.0)),
        (key("rope.dimension_count"), Value::U32(head_dim as u32)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (key("vocab_size"), Value::U32(n as u32)),
    ];
    if cfg.arch == TinyArch::Gemma3 {
        metadata.push((key("attention.sliding_window"), Value::U32(4)));
    }
    let merges: Vec<Value> = vocab
        .merges
        .iter()
        .map(|(a, b)| s(&format!("{a} {b}")))
        .collect();
    let tokenizer: Vec<(&str, Value)> = vec![
        ("tokenizer.ggml.model", s("gpt2")),
        ("tokenizer.ggml.pre", s("smollm")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(vocab.tokens.iter().map(|t| s(t)).collect()),
        ),
        ("tokenizer.ggml.token_type", Value::Array(token_types)),
        ("tokenizer.ggml.merges", Value::Array(merges)),
        ("tokenizer.ggml.bos_token_id", Value::U32(vocab.bos())),
        ("tokenizer.ggml.eos_token_id", Value::U32(vocab.eos())),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
        ("tokenizer.chat_template", s(CHAT_TEMPLATE)),
    ];
    metadata.extend(tokenizer.into_iter().map(|(k, v)| (k.to_string(), v)));
    for (k, v) in &cfg.metadata {
        match metadata.iter_mut().find(|(key, _)| key == k) {
            Some(entry) => entry.1 = v.clone(),
            None => metadata.push((k.clone(), v.clone())),
        }
    }
    let mut quantized: Vec<(String, QTensor)> = Vec::new();
    for t in tensors(cfg, n) {
        let tensor = Tensor::from_vec(t.values, t.shape, &Device::Cpu)?;
        quantized.push((t.name, QTensor::quantize(&tensor, t.gguf_type)?));
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = quantized.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md, &ts)?;
    Ok(())
}
