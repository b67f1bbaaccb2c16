//! Gemma 3, as llama.cpp's `llama_model_gemma3` builds it: tensor names and wiring only.
//! What differs from Llama: embeddings times `√hidden`; per-head RMS norms of q and k;
//! norms after attention and after the MLP too ("sandwich"); GeGLU; q scaled by
//! `1/√head_dim` after its rotation (the scores then by 1); sliding-window layers (by default
//! five to every global one, rotating with base 10,000; the global ones with the model's base);
//! rotation by halves (NeoX). The norm weights are stored with Gemma's `1 +` already added (as
//! llama.cpp's converter writes them). Settings of the larger Gemma 3 models that sluice lacks
//! are refused.

use super::llama;
use crate::layers::GateActivation;
use crate::load::Settings;
use crate::transformer::{Ends, Transformer};
use crate::weights::{LayerSpec, TensorNames, Weights};
use crate::{ModelConfig, ModelError};
use sluice_kernels::rope::{RopeStyle, RopeTable};

const NAMES: TensorNames = TensorNames {
    q_norm: Some("blk.{i}.attn_q_norm.weight"),
    k_norm: Some("blk.{i}.attn_k_norm.weight"),
    post_attn_norm: Some("blk.{i}.post_attention_norm.weight"),
    post_ffn_norm: Some("blk.{i}.post_ffw_norm.weight"),
    ..llama::NAMES
};

/// llama.cpp's default for Gemma 3: of every 6 layers, the first 5 use the sliding window.
const SWA_PATTERN: usize = 6;
/// llama.cpp's default rotary base for sliding-window layers (`rope_freq_base_train_swa`).
const SWA_ROPE_BASE: f32 = 10_000.0;
/// Gemma 3 27B, which llama.cpp knows by its layer count, scales q by `1/√(hidden/heads)`.
const LAYERS_27B: usize = 62;

pub(super) fn build(weights: &Weights<'_>) -> Result<Transformer, ModelError> {
    let cfg = ModelConfig::read(weights.source, &NAMES)?;
    let s = Settings::new(weights.source);
    refuse_unsupported(&s)?;
    let window = s.window()?;
    let pattern = s.usize_or("attention.sliding_window_pattern", SWA_PATTERN)?;
    let swa_base = s.f32_or("rope.freq_base_swa", SWA_ROPE_BASE)?;
    // llama.cpp's `set_swa_pattern`: pattern 0 makes every layer a sliding-window one.
    let is_swa = |i: usize| window.is_some() && (pattern == 0 || i % pattern < pattern - 1);
    let q_scale_dim = if cfg.num_layers == LAYERS_27B {
        cfg.hidden_size / cfg.num_heads
    } else {
        cfg.head_dim
    };
    let layers = (0..cfg.num_layers)
        .map(|i| {
            let spec = LayerSpec {
                q_scale: Some(1.0 / (q_scale_dim as f32).sqrt()),
                window: window.filter(|_| is_swa(i)),
                activation: GateActivation::Gelu,
            };
            weights.decoder_layer(&NAMES, i, &cfg, spec)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rope = |base| RopeTable::new(RopeStyle::Halves, cfg.rope_dim, base, cfg.context_length);
    let ends = Ends {
        embed_scale: Some((cfg.hidden_size as f32).sqrt()),
        layer_rope: (0..layers.len()).map(|i| usize::from(is_swa(i))).collect(),
        ropes: vec![rope(cfg.rope_theta), rope(swa_base)],
    };
    Transformer::new(weights, &NAMES, cfg, layers, ends)
}

/// Settings of larger Gemma 3 models that sluice does not implement, refused rather than run
/// wrongly: rotary scaling (4B and up) and a final logit soft cap.
fn refuse_unsupported(s: &Settings<'_>) -> Result<(), ModelError> {
    let unsupported = |what: &str| {
        Err(ModelError::Metadata(format!(
            "gemma3 with {what} is not supported yet"
        )))
    };
    if s.has("rope.scaling.type")? || s.has("rope.scaling.factor")? {
        return unsupported("rotary scaling (rope.scaling.*)");
    }
    if s.f32_or("final_logit_softcapping", 0.0)? != 0.0 {
        return unsupported("a final logit soft cap");
    }
    Ok(())
}
