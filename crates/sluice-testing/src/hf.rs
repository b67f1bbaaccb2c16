//! The tiny model as a Hugging Face folder, holding the values of the GGUF writer the way
//! `transformers` stores them: its own tensor names, q and k rows in the halves order its
//! rotation uses (llama.cpp's converter interleaves them), Gemma's norms as `w` where GGUF has
//! `1 + w`; with `config.json`, `tokenizer.json`, `tokenizer_config.json`, a chat template
//! and `generation_config.json`. These rewrites are written here independently of sluice's
//! loader: they are what the loader's are tested against.

use crate::weights::{tensors, TinyTensor};
use crate::{TinyArch, TinyLlama, Vocab, CHAT_TEMPLATE};
use anyhow::Context;
use candle_core::quantized::GgmlDType;
use safetensors::{Dtype, View};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

/// How the folder stores its weights.
#[derive(Clone, Copy, Debug)]
pub struct TinyHf {
    /// `F32`, `F16` or `BF16` (every tensor, norms too, as `transformers` saves them).
    pub dtype: GgmlDType,
    /// Safetensors files: 1 is `model.safetensors`, more are shards with an index.
    pub shards: usize,
}

impl Default for TinyHf {
    fn default() -> Self {
        TinyHf {
            dtype: GgmlDType::F32,
            shards: 1,
        }
    }
}

/// Writes the folder `dir` (created if missing).
pub fn write_tiny_hf(dir: &Path, cfg: &TinyLlama, hf: TinyHf) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let vocab = Vocab::new();
    let write_json = |name: &str, value: &Value| {
        std::fs::write(dir.join(name), serde_json::to_string_pretty(value)?)
            .with_context(|| format!("writing {name}"))
    };
    write_json("config.json", &config(cfg, &vocab, hf.dtype))?;
    write_json(
        "generation_config.json",
        &json!({
            "eos_token_id": [vocab.eos(), vocab.end_of_text()],
            "temperature": 0.7,
            "top_p": 0.9,
        }),
    )?;
    write_json(
        "tokenizer_config.json",
        &json!({
            "add_bos_token": false,
            "bos_token": "<|im_start|>",
            "eos_token": {"content": "<|im_end|>", "special": true},
        }),
    )?;
    std::fs::write(dir.join("chat_template.jinja"), CHAT_TEMPLATE)?;
    tokenizer(&vocab)?
        .save(dir.join("tokenizer.json"), true)
        .map_err(|e| anyhow::anyhow!("writing tokenizer.json: {e}"))?;
    let weights: Vec<(String, Stored)> = tensors(cfg, vocab.len())
        .into_iter()
        .map(|t| as_stored(cfg, t, hf.dtype))
        .collect();
    write_weights(dir, weights, hf.shards)
}

fn config(cfg: &TinyLlama, vocab: &Vocab, dtype: GgmlDType) -> Value {
    let architecture = match cfg.arch {
        TinyArch::Llama => "LlamaForCausalLM",
        TinyArch::Qwen2 => "Qwen2ForCausalLM",
        TinyArch::Gemma3 => "Gemma3ForCausalLM",
    };
    let mut config = json!({
        "architectures": [architecture],
        "hidden_size": cfg.hidden,
        "intermediate_size": cfg.ffn,
        "num_hidden_layers": cfg.layers,
        "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim(),
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": null,
        "max_position_embeddings": cfg.context,
        "vocab_size": vocab.len(),
        "tie_word_embeddings": true,
        "bos_token_id": vocab.bos(),
        "eos_token_id": vocab.eos(),
        "torch_dtype": match dtype {
            GgmlDType::F16 => "float16",
            GgmlDType::BF16 => "bfloat16",
            _ => "float32",
        },
    });
    match cfg.arch {
        // A window Qwen2 does not use: `use_sliding_window` is off.
        TinyArch::Qwen2 => {
            config["use_sliding_window"] = json!(false);
            config["sliding_window"] = json!(4);
        }
        TinyArch::Gemma3 => {
            config["sliding_window"] = json!(4);
            config["rope_local_base_freq"] = json!(10000.0);
            config["query_pre_attn_scalar"] = json!(cfg.head_dim());
            let layer_types: Vec<&str> = (0..cfg.layers)
                .map(|i| match i % 6 {
                    5 => "full_attention",
                    _ => "sliding_attention",
                })
                .collect();
            config["layer_types"] = json!(layer_types);
        }
        TinyArch::Llama => {}
    }
    config
}

/// A byte-level BPE `tokenizer.json` over the tiny vocabulary, its specials as added tokens.
fn tokenizer(vocab: &Vocab) -> anyhow::Result<Tokenizer> {
    let specials = crate::TINY_SPECIALS.len();
    let model_vocab: tokenizers::models::bpe::Vocab = vocab.tokens[..vocab.len() - specials]
        .iter()
        .zip(0u32..)
        .map(|(t, id)| (t.clone(), id))
        .collect();
    let model = BPE::builder()
        .vocab_and_merges(model_vocab, vocab.merges.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("building the tiny BPE: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    let byte_level = tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true);
    tokenizer.with_pre_tokenizer(Some(byte_level));
    tokenizer.with_decoder(Some(byte_level));
    let added: Vec<AddedToken> = crate::TINY_SPECIALS
        .iter()
        .map(|s| AddedToken::from(s.to_string(), true))
        .collect();
    tokenizer
        .add_special_tokens(added)
        .map_err(|e| anyhow::anyhow!("adding the special tokens: {e}"))?;
    Ok(tokenizer)
}

/// A tensor's checkpoint name and bytes.
struct Stored {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Stored {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// A tensor as `transformers` stores it: its name, q/k rows in halves order, Gemma's norms
/// without their `1 +`, every value in `dtype`.
fn as_stored(cfg: &TinyLlama, t: TinyTensor, dtype: GgmlDType) -> (String, Stored) {
    let name = checkpoint_name(cfg.arch, &t.name);
    let mut values = t.values;
    let part = t.name.rsplit_once("blk.").map_or("", |(_, p)| p);
    let heads = if part.ends_with("attn_q.weight") {
        Some(cfg.heads)
    } else if part.ends_with("attn_k.weight") {
        Some(cfg.kv_heads)
    } else {
        None
    };
    if let (TinyArch::Llama, Some(heads)) = (cfg.arch, heads) {
        values = halves_order(&values, heads, t.shape[1]);
    }
    if cfg.arch == TinyArch::Gemma3 && t.name.ends_with("norm.weight") {
        values.iter_mut().for_each(|v| *v -= 1.0);
    }
    let (st_dtype, bytes): (Dtype, Vec<u8>) = match dtype {
        GgmlDType::F16 => (
            Dtype::F16,
            values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
        ),
        GgmlDType::BF16 => (
            Dtype::BF16,
            values
                .iter()
                .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                .collect(),
        ),
        _ => (
            Dtype::F32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    };
    let stored = Stored {
        dtype: st_dtype,
        shape: t.shape,
        bytes,
    };
    (name, stored)
}

/// Rows of `heads` heads from llama.cpp's interleaved order back to the halves order: row
/// `2j + half` of a head becomes row `half * (rows / 2) + j`.
fn halves_order(values: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols;
    let head_rows = rows / heads;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for j in 0..head_rows / 2 {
            for half in 0..2 {
                let from = h * head_rows + 2 * j + half;
                let to = h * head_rows + half * head_rows / 2 + j;
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&values[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

/// The `transformers` name of a llama.cpp tensor. Written out here again, not taken from
/// the loader's table (`sluice_models::load::hf::names`), on purpose: the tests' folders are
/// an independent statement of how `transformers` names things, so a wrong name in the
/// loader fails them instead of agreeing with itself.
fn checkpoint_name(arch: TinyArch, name: &str) -> String {
    let whole = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output.weight" => Some("lm_head.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        _ => None,
    };
    if let Some(hf) = whole {
        return hf.to_string();
    }
    let rest = name.strip_prefix("blk.").expect("a layer's tensor");
    let (layer, part) = rest.split_once('.').expect("blk.N.part");
    let part = match part {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "attn_q.bias" => "self_attn.q_proj.bias",
        "attn_k.bias" => "self_attn.k_proj.bias",
        "attn_v.bias" => "self_attn.v_proj.bias",
        "attn_q_norm.weight" => "self_attn.q_norm.weight",
        "attn_k_norm.weight" => "self_attn.k_norm.weight",
        "post_attention_norm.weight" => "post_attention_layernorm.weight",
        "post_ffw_norm.weight" => "post_feedforward_layernorm.weight",
        "ffn_norm.weight" if arch == TinyArch::Gemma3 => "pre_feedforward_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        other => panic!("no checkpoint name for {other}"),
    };
    format!("model.layers.{layer}.{part}")
}

/// `model.safetensors`, or `shards` files and `model.safetensors.index.json`.
fn write_weights(dir: &Path, weights: Vec<(String, Stored)>, shards: usize) -> anyhow::Result<()> {
    if shards <= 1 {
        let views: Vec<(&str, &Stored)> = weights.iter().map(|(n, s)| (n.as_str(), s)).collect();
        safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))?;
        return Ok(());
    }
    let per_shard = weights.len().div_ceil(shards);
    let mut weight_map = BTreeMap::new();
    for (i, chunk) in weights.chunks(per_shard).enumerate() {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", i + 1);
        let views: Vec<(&str, &Stored)> = chunk.iter().map(|(n, s)| (n.as_str(), s)).collect();
        safetensors::serialize_to_file(views, None, &dir.join(&file))?;
        for (name, _) in chunk {
            weight_map.insert(name.clone(), file.clone());
        }
    }
    let index = json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string_pretty(&index)?,
    )?;
    Ok(())
}
