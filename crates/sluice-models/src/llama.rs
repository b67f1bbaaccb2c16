//! Llama (and Llama-shaped models such as SmolLM2) from GGUF: weight names and wiring only.

use crate::layers::{DecoderLayer, GateActivation};
use crate::transformer::{attention, gated_mlp, rms_norm, AttentionSpec, Ends, Transformer};
use crate::{GgufFile, ModelConfig, ModelError};
use sluice_kernels::rope::{RopeStyle, RopeTable};

pub fn load(gguf: &mut GgufFile) -> Result<Transformer, ModelError> {
    let cfg = ModelConfig::from_gguf(gguf, "llama")?;
    let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let spec = AttentionSpec {
            qk_norms: false,
            q_scale: None,
            window: None,
        };
        layers.push(DecoderLayer {
            attn_norm: rms_norm(gguf, &format!("blk.{i}.attn_norm.weight"), h, eps)?,
            attn: attention(gguf, i, &cfg, spec)?,
            post_attn_norm: None,
            ffn_norm: rms_norm(gguf, &format!("blk.{i}.ffn_norm.weight"), h, eps)?,
            mlp: gated_mlp(gguf, i, &cfg, GateActivation::Silu)?,
            post_ffn_norm: None,
        });
    }
    let rope = RopeTable::new(
        RopeStyle::Interleaved,
        cfg.rope_dim,
        cfg.rope_theta,
        cfg.context_length,
    );
    let ends = Ends {
        embed_scale: None,
        ropes: vec![rope],
        layer_rope: vec![0; layers.len()],
    };
    Transformer::new(gguf, cfg, layers, ends)
}
