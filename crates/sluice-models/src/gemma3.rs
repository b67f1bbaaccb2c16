//! Gemma 3 from GGUF, as llama.cpp's `llama_model_gemma3` builds it: weight names and wiring
//! only. What differs from Llama: embeddings times `√hidden`; per-head RMS norms of q and k;
//! norms after attention and after the MLP too ("sandwich"); GeGLU; q scaled by
//! `1/√head_dim` (attention itself by 1); five sliding-window layers (rotary base 10,000) to
//! every global one (the file's base); rotation by halves (NeoX). The GGUF converter already
//! added Gemma's `1 +` to the norm weights.

use crate::layers::{Attention, DecoderLayer, GateActivation, GatedMlp};
use crate::transformer::{linear, lm_head, rms_norm, Transformer};
use crate::{GgufFile, ModelConfig, ModelError};
use sluice_kernels::attention::AttentionParams;
use sluice_kernels::rope::{RopeStyle, RopeTable};

/// llama.cpp's default for Gemma 3: of every 6 layers, the first 5 use the sliding window.
const SWA_PATTERN: usize = 6;
/// llama.cpp's rotary base for sliding-window layers (`rope_freq_base_train_swa`).
const SWA_ROPE_BASE: f32 = 10_000.0;

pub fn load(gguf: &mut GgufFile) -> Result<Transformer, ModelError> {
    let cfg = ModelConfig::from_gguf(gguf, "gemma3")?;
    let eps = cfg.rms_norm_eps;
    let window = if gguf.has("gemma3.attention.sliding_window") {
        Some(gguf.usize("gemma3.attention.sliding_window")?).filter(|&w| w > 0)
    } else {
        None
    };
    let is_swa = |i: usize| window.is_some() && i % SWA_PATTERN < SWA_PATTERN - 1;
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let p = format!("blk.{i}");
        let norm = |g: &mut GgufFile, name: &str| rms_norm(g, &format!("{p}.{name}.weight"), eps);
        layers.push(DecoderLayer {
            attn_norm: norm(gguf, "attn_norm")?,
            attn: Attention {
                q: linear(gguf, &format!("{p}.attn_q.weight"))?,
                k: linear(gguf, &format!("{p}.attn_k.weight"))?,
                v: linear(gguf, &format!("{p}.attn_v.weight"))?,
                o: linear(gguf, &format!("{p}.attn_output.weight"))?,
                q_norm: Some(norm(gguf, "attn_q_norm")?),
                k_norm: Some(norm(gguf, "attn_k_norm")?),
                params: AttentionParams {
                    n_heads: cfg.num_heads,
                    kv_heads: cfg.num_kv_heads,
                    head_dim: cfg.head_dim,
                    // llama.cpp scales q by this before attending with scale 1; a power of
                    // two here (1/16), so scaling the scores instead rounds alike.
                    scale: 1.0 / (cfg.head_dim as f32).sqrt(),
                    window: window.filter(|_| is_swa(i)),
                },
            },
            post_attn_norm: Some(norm(gguf, "post_attention_norm")?),
            ffn_norm: norm(gguf, "ffn_norm")?,
            mlp: GatedMlp {
                gate: linear(gguf, &format!("{p}.ffn_gate.weight"))?,
                up: linear(gguf, &format!("{p}.ffn_up.weight"))?,
                down: linear(gguf, &format!("{p}.ffn_down.weight"))?,
                activation: GateActivation::Gelu,
            },
            post_ffn_norm: Some(norm(gguf, "post_ffw_norm")?),
        });
    }
    let rope = |base| RopeTable::new(RopeStyle::Halves, cfg.rope_dim, base, cfg.context_length);
    Ok(Transformer {
        embed: linear(gguf, "token_embd.weight")?,
        embed_scale: Some((cfg.hidden_size as f32).sqrt()),
        lm_head: lm_head(gguf)?,
        norm: rms_norm(gguf, "output_norm.weight", eps)?,
        layer_rope: (0..layers.len()).map(|i| usize::from(is_swa(i))).collect(),
        layers,
        ropes: vec![rope(cfg.rope_theta), rope(SWA_ROPE_BASE)],
        cfg,
        buffers: Default::default(),
    })
}
