//! Llama (and Llama-shaped models such as SmolLM2) from GGUF: weight names and wiring only.

use crate::layers::{Attention, DecoderLayer, GateActivation, GatedMlp};
use crate::transformer::{linear, lm_head, rms_norm, Transformer};
use crate::{GgufFile, ModelConfig, ModelError};
use sluice_kernels::attention::AttentionParams;
use sluice_kernels::rope::{RopeStyle, RopeTable};

pub fn load(gguf: &mut GgufFile) -> Result<Transformer, ModelError> {
    let cfg = ModelConfig::from_gguf(gguf, "llama")?;
    let eps = cfg.rms_norm_eps;
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let p = format!("blk.{i}");
        layers.push(DecoderLayer {
            attn_norm: rms_norm(gguf, &format!("{p}.attn_norm.weight"), eps)?,
            attn: Attention {
                q: linear(gguf, &format!("{p}.attn_q.weight"))?,
                k: linear(gguf, &format!("{p}.attn_k.weight"))?,
                v: linear(gguf, &format!("{p}.attn_v.weight"))?,
                o: linear(gguf, &format!("{p}.attn_output.weight"))?,
                q_norm: None,
                k_norm: None,
                params: AttentionParams {
                    n_heads: cfg.num_heads,
                    kv_heads: cfg.num_kv_heads,
                    head_dim: cfg.head_dim,
                    scale: 1.0 / (cfg.head_dim as f32).sqrt(),
                    window: None,
                },
            },
            post_attn_norm: None,
            ffn_norm: rms_norm(gguf, &format!("{p}.ffn_norm.weight"), eps)?,
            mlp: GatedMlp {
                gate: linear(gguf, &format!("{p}.ffn_gate.weight"))?,
                up: linear(gguf, &format!("{p}.ffn_up.weight"))?,
                down: linear(gguf, &format!("{p}.ffn_down.weight"))?,
                activation: GateActivation::Silu,
            },
            post_ffn_norm: None,
        });
    }
    let rope = RopeTable::new(
        RopeStyle::Interleaved,
        cfg.rope_dim,
        cfg.rope_theta,
        cfg.context_length,
    );
    Ok(Transformer {
        embed: linear(gguf, "token_embd.weight")?,
        embed_scale: None,
        lm_head: lm_head(gguf)?,
        norm: rms_norm(gguf, "output_norm.weight", eps)?,
        layer_rope: vec![0; layers.len()],
        layers,
        ropes: vec![rope],
        cfg,
        buffers: Default::default(),
    })
}
