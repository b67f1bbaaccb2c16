//! Gemma 3 from GGUF, as llama.cpp's `llama_model_gemma3` builds it: weight names and wiring
//! only. What differs from Llama: embeddings times `√hidden`; per-head RMS norms of q and k;
//! norms after attention and after the MLP too ("sandwich"); GeGLU; q scaled by
//! `1/√head_dim` after its rotation (the scores then by 1); sliding-window layers (by default
//! five to every global one, rotating with base 10,000; the global ones with the file's base);
//! rotation by halves (NeoX). The GGUF converter already added Gemma's `1 +` to the norm
//! weights. Settings of the larger Gemma 3 files that sluice lacks are refused.

use crate::layers::{DecoderLayer, GateActivation};
use crate::transformer::{attention, gated_mlp, rms_norm, AttentionSpec, Ends, Transformer};
use crate::{GgufFile, ModelConfig, ModelError};
use sluice_kernels::rope::{RopeStyle, RopeTable};

/// llama.cpp's default for Gemma 3: of every 6 layers, the first 5 use the sliding window.
const SWA_PATTERN: usize = 6;
/// llama.cpp's default rotary base for sliding-window layers (`rope_freq_base_train_swa`).
const SWA_ROPE_BASE: f32 = 10_000.0;
/// Gemma 3 27B, which llama.cpp knows by its layer count, scales q by `1/√(hidden/heads)`.
const LAYERS_27B: usize = 62;

pub fn load(gguf: &mut GgufFile) -> Result<Transformer, ModelError> {
    let cfg = ModelConfig::from_gguf(gguf, "gemma3")?;
    refuse_unsupported(gguf)?;
    let key = |k: &str| format!("gemma3.{k}");
    let window = match gguf.has(&key("attention.sliding_window")) {
        true => Some(gguf.usize(&key("attention.sliding_window"))?).filter(|&w| w > 0),
        false => None,
    };
    let pattern = match gguf.has(&key("attention.sliding_window_pattern")) {
        true => gguf.usize(&key("attention.sliding_window_pattern"))?,
        false => SWA_PATTERN,
    };
    let swa_base = match gguf.has(&key("rope.freq_base_swa")) {
        true => gguf.f32(&key("rope.freq_base_swa"))?,
        false => SWA_ROPE_BASE,
    };
    // llama.cpp's `set_swa_pattern`: pattern 0 makes every layer a sliding-window one.
    let is_swa = |i: usize| window.is_some() && (pattern == 0 || i % pattern < pattern - 1);
    let q_scale_dim = if cfg.num_layers == LAYERS_27B {
        cfg.hidden_size / cfg.num_heads
    } else {
        cfg.head_dim
    };
    let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let norm =
            |g: &mut GgufFile, name: &str| rms_norm(g, &format!("blk.{i}.{name}.weight"), h, eps);
        let spec = AttentionSpec {
            qk_norms: true,
            q_scale: Some(1.0 / (q_scale_dim as f32).sqrt()),
            window: window.filter(|_| is_swa(i)),
        };
        layers.push(DecoderLayer {
            attn_norm: norm(gguf, "attn_norm")?,
            attn: attention(gguf, i, &cfg, spec)?,
            post_attn_norm: Some(norm(gguf, "post_attention_norm")?),
            ffn_norm: norm(gguf, "ffn_norm")?,
            mlp: gated_mlp(gguf, i, &cfg, GateActivation::Gelu)?,
            post_ffn_norm: Some(norm(gguf, "post_ffw_norm")?),
        });
    }
    let rope = |base| RopeTable::new(RopeStyle::Halves, cfg.rope_dim, base, cfg.context_length);
    let ends = Ends {
        embed_scale: Some((cfg.hidden_size as f32).sqrt()),
        layer_rope: (0..layers.len()).map(|i| usize::from(is_swa(i))).collect(),
        ropes: vec![rope(cfg.rope_theta), rope(swa_base)],
    };
    Transformer::new(gguf, cfg, layers, ends)
}

/// Settings of larger Gemma 3 files that sluice does not implement, refused rather than run
/// wrongly: rotary scaling (4B and up) and a final logit soft cap.
fn refuse_unsupported(gguf: &GgufFile) -> Result<(), ModelError> {
    let unsupported = |what: &str| {
        Err(ModelError::Metadata(format!(
            "gemma3 with {what} is not supported yet"
        )))
    };
    if gguf.has("gemma3.rope.scaling.type") || gguf.has("gemma3.rope.scaling.factor") {
        return unsupported("rotary scaling (gemma3.rope.scaling.*)");
    }
    if gguf.has("gemma3.final_logit_softcapping")
        && gguf.f32("gemma3.final_logit_softcapping")? != 0.0
    {
        return unsupported("a final logit soft cap");
    }
    Ok(())
}
