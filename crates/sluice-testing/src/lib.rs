//! Test fixtures: tiny random-weight models that the tests write for themselves.
//! May import candle; a dev-dependency only, never imported by a crate's library.
//!
//! Most tests then run in milliseconds without the real model, through the same loader as
//! real files.

use anyhow::Context;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::path::Path;

/// Shape of a tiny model: a Llama (Q4_1 weights) by default, or a Gemma 3. Widths must be
/// multiples of 32 (the quantization block); a Gemma 3's `heads * head_dim` and `ffn` of 256
/// (a K-quant super-block), for its Q4_K and Q6_K projections.
#[derive(Clone, Debug)]
pub struct TinyLlama {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub context: usize,
    pub seed: u64,
    pub gemma3: bool,
    /// Every matrix (the embedding too) stored as this type instead of the model's own mix:
    /// floats for the paths that hold a checkpoint's weights as stored or quantize them at
    /// load. The values drawn are the same whatever the type.
    pub matrices: Option<GgmlDType>,
    /// Metadata written over (or after) the model's own, to make files the loader refuses.
    pub metadata: Vec<(String, Value)>,
}

impl Default for TinyLlama {
    fn default() -> Self {
        TinyLlama {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            ffn: 128,
            context: 1024,
            seed: 7,
            gemma3: false,
            matrices: None,
            metadata: Vec::new(),
        }
    }
}

impl TinyLlama {
    /// A tiny Gemma 3: Q5_0 q/k/v/gate/up, Q4_K attention output, Q6_K down projection, a
    /// sliding window of 4 on the first 5 of every 6 layers.
    pub fn gemma3() -> Self {
        TinyLlama {
            hidden: 64,
            layers: 6,
            heads: 2,
            kv_heads: 1,
            ffn: 256,
            gemma3: true,
            ..TinyLlama::default()
        }
    }

    fn head_dim(&self) -> usize {
        if self.gemma3 {
            128
        } else {
            self.hidden / self.heads
        }
    }
}

/// Special tokens of the tiny vocabulary, after the 256 byte tokens.
pub const TINY_SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the rest are
/// shifted past U+0100 so every byte has a visible symbol.
fn byte_symbol(b: u8) -> char {
    let printable = |b: u8| {
        (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    if printable(b) {
        return char::from(b);
    }
    let shifted = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + shifted).unwrap_or('?')
}

/// Writes a GGUF Llama (or Gemma 3) with random weights (Q4_1 matmuls, Q8_0 tied embedding,
/// like the default model; Gemma 3's types as [`TinyLlama::gemma3`] says) and a byte-level BPE
/// vocabulary with a few merges.
pub fn write_tiny_llama(path: &Path, cfg: &TinyLlama) -> anyhow::Result<()> {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_symbol(b).to_string()).collect();
    let merges = ["Ġ t", "h e", "Ġt he", "i n", "e r"];
    for m in merges {
        tokens.push(m.replace(' ', ""));
    }
    tokens.extend(TINY_SPECIALS.iter().map(|s| s.to_string()));
    let vocab = tokens.len();
    let eos = (vocab - 1) as u32; // <|im_end|>
    let token_types: Vec<Value> = (0..vocab)
        .map(|i| {
            Value::I32(if i >= vocab - TINY_SPECIALS.len() {
                3
            } else {
                1
            })
        })
        .collect();
    let head_dim = cfg.head_dim();
    let s = |v: &str| Value::String(v.to_string());
    let arch = if cfg.gemma3 { "gemma3" } else { "llama" };
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
        (key("vocab_size"), Value::U32(vocab as u32)),
    ];
    if cfg.gemma3 {
        metadata.push((key("attention.sliding_window"), Value::U32(4)));
    }
    let tokenizer: Vec<(&str, Value)> = vec![
        ("tokenizer.ggml.model", s("gpt2")),
        ("tokenizer.ggml.pre", s("smollm")),
        ("tokenizer.ggml.tokens", Value::Array(tokens.iter().map(|t| s(t)).collect())),
        ("tokenizer.ggml.token_type", Value::Array(token_types)),
        ("tokenizer.ggml.merges", Value::Array(merges.iter().map(|m| s(m)).collect())),
        ("tokenizer.ggml.bos_token_id", Value::U32(vocab as u32 - 2)),
        ("tokenizer.ggml.eos_token_id", Value::U32(eos)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
        ("tokenizer.chat_template", s("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")),
    ];
    metadata.extend(tokenizer.into_iter().map(|(k, v)| (k.to_string(), v)));
    for (k, v) in &cfg.metadata {
        match metadata.iter_mut().find(|(key, _)| key == k) {
            Some(entry) => entry.1 = v.clone(),
            None => metadata.push((k.clone(), v.clone())),
        }
    }
    // Norm weights near 1, matmul weights scaled by 1/sqrt(fan-in) so activations stay O(1).
    let (h, kvw, ffn) = (cfg.hidden, cfg.kv_heads * head_dim, cfg.ffn);
    let (w, w_ffn) = (1.0 / (h as f32).sqrt(), 1.0 / (ffn as f32).sqrt());
    let norm = (GgmlDType::F32, 0.2, 1.0);
    let mut specs: Vec<(String, (usize, usize), Init)> = vec![
        (
            "token_embd.weight".into(),
            (vocab, h),
            (GgmlDType::Q8_0, 1.0, 0.0),
        ),
        ("output_norm.weight".into(), (1, h), norm),
    ];
    // Gemma 3 files mix types (as its Q4_K_M file does); Llama's are all Q4_1.
    let (qkv_gate_up, attn_out, down) = if cfg.gemma3 {
        (GgmlDType::Q5_0, GgmlDType::Q4K, GgmlDType::Q6K)
    } else {
        (GgmlDType::Q4_1, GgmlDType::Q4_1, GgmlDType::Q4_1)
    };
    let qw = cfg.heads * head_dim;
    for i in 0..cfg.layers {
        let p = format!("blk.{i}");
        specs.extend([
            (format!("{p}.attn_norm.weight"), (1, h), norm),
            (format!("{p}.ffn_norm.weight"), (1, h), norm),
            (
                format!("{p}.attn_q.weight"),
                (qw, h),
                (qkv_gate_up, 2.0 * w, 0.0),
            ),
            (
                format!("{p}.attn_k.weight"),
                (kvw, h),
                (qkv_gate_up, 2.0 * w, 0.0),
            ),
            (
                format!("{p}.attn_v.weight"),
                (kvw, h),
                (qkv_gate_up, w, 0.0),
            ),
            (
                format!("{p}.attn_output.weight"),
                (h, qw),
                (attn_out, w, 0.0),
            ),
            (
                format!("{p}.ffn_gate.weight"),
                (ffn, h),
                (qkv_gate_up, w, 0.0),
            ),
            (
                format!("{p}.ffn_up.weight"),
                (ffn, h),
                (qkv_gate_up, w, 0.0),
            ),
            (format!("{p}.ffn_down.weight"), (h, ffn), (down, w_ffn, 0.0)),
        ]);
        if cfg.gemma3 {
            specs.extend([
                (format!("{p}.attn_q_norm.weight"), (1, head_dim), norm),
                (format!("{p}.attn_k_norm.weight"), (1, head_dim), norm),
                (format!("{p}.post_attention_norm.weight"), (1, h), norm),
                (format!("{p}.post_ffw_norm.weight"), (1, h), norm),
            ]);
        }
    }
    let mut rng = cfg.seed;
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(specs.len());
    for (name, shape, (dtype, scale, offset)) in specs {
        let data: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| offset + scale * next_uniform(&mut rng))
            .collect();
        let t = Tensor::from_vec(data, shape, &Device::Cpu)?;
        let t = if shape.0 == 1 { t.flatten_all()? } else { t };
        let dtype = match cfg.matrices {
            Some(matrices) if shape.0 > 1 => matrices,
            _ => dtype,
        };
        tensors.push((name, QTensor::quantize(&t, dtype)?));
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md, &ts)?;
    Ok(())
}

/// How a tensor is drawn: stored type, then `offset + scale * uniform(-1, 1)`.
type Init = (GgmlDType, f32, f32);

/// Uniform in [-1, 1) from a 64-bit LCG: tests need repeatable variety, not quality.
fn next_uniform(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}
