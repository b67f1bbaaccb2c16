//! Llama (and Llama-shaped models such as SmolLM2): tensor names and wiring only.

use crate::layers::GateActivation;
use crate::load::Settings;
use crate::transformer::{Ends, Transformer};
use crate::weights::{LayerSpec, TensorNames, Weights};
use crate::{ModelConfig, ModelError};
use sluice_kernels::rope::{RopeStyle, RopeTable};

pub(super) const NAMES: TensorNames = TensorNames {
    embed: "token_embd.weight",
    output: "output.weight",
    output_norm: "output_norm.weight",
    attn_norm: "blk.{i}.attn_norm.weight",
    q: "blk.{i}.attn_q.weight",
    k: "blk.{i}.attn_k.weight",
    v: "blk.{i}.attn_v.weight",
    o: "blk.{i}.attn_output.weight",
    qkv_bias: None,
    q_norm: None,
    k_norm: None,
    post_attn_norm: None,
    ffn_norm: "blk.{i}.ffn_norm.weight",
    gate: "blk.{i}.ffn_gate.weight",
    up: "blk.{i}.ffn_up.weight",
    down: "blk.{i}.ffn_down.weight",
    post_ffn_norm: None,
};

pub(super) fn build(weights: &Weights<'_>) -> Result<Transformer, ModelError> {
    build_with(weights, &NAMES, RopeStyle::Interleaved)
}

/// A Llama-shaped model with `names` whose rotation is `style`: Llama's own, and Qwen2's
/// (biases on q, k and v; rotation by halves).
pub(super) fn build_with(
    weights: &Weights<'_>,
    names: &TensorNames,
    style: RopeStyle,
) -> Result<Transformer, ModelError> {
    let cfg = ModelConfig::read(weights.source, names)?;
    // Mistral's sliding window, where a model has one, covers every layer.
    let window = Settings::new(weights.source).window()?;
    let layers = (0..cfg.num_layers)
        .map(|i| {
            let spec = LayerSpec {
                q_scale: None,
                window,
                activation: GateActivation::Silu,
            };
            weights.decoder_layer(names, i, &cfg, spec)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scaling = weights.rope_scaling(cfg.rope_dim)?;
    let rope = RopeTable::scaled(
        style,
        cfg.rope_dim,
        cfg.rope_theta,
        scaling,
        cfg.context_length,
    );
    let ends = Ends {
        embed_scale: None,
        layer_rope: vec![0; layers.len()],
        ropes: vec![rope],
    };
    Transformer::new(weights, names, cfg, layers, ends)
}
