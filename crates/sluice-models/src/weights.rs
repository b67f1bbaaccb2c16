//! The shared layers, read from a source by the names an architecture states: each layer is
//! checked against the config as it loads, so a file whose shapes disagree with its settings
//! is refused at load, not found out in the middle of a step.

use crate::layers::{Attention, DecoderLayer, GateActivation, GatedMlp, Linear, RmsNorm};
use crate::load::WeightSource;
use crate::{ModelConfig, ModelError};
use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::GgmlDType;
use candle_core::Device;
use sluice_kernels::attention::AttentionParams;

/// Where an architecture keeps its weights, in llama.cpp's vocabulary (see [`crate::load`]);
/// `{i}` stands for the layer. A part an architecture lacks is `None`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TensorNames {
    pub embed: &'static str,
    /// The output projection; a model without it ties it to the embedding.
    pub output: &'static str,
    pub output_norm: &'static str,
    pub attn_norm: &'static str,
    pub q: &'static str,
    pub k: &'static str,
    pub v: &'static str,
    pub o: &'static str,
    /// Per-head RMS norms of q and k, before the rotation.
    pub q_norm: Option<&'static str>,
    pub k_norm: Option<&'static str>,
    /// Norms of attention's and the MLP's outputs ("sandwich" norms).
    pub post_attn_norm: Option<&'static str>,
    pub ffn_norm: &'static str,
    pub gate: &'static str,
    pub up: &'static str,
    pub down: &'static str,
    pub post_ffn_norm: Option<&'static str>,
}

/// `pattern` for layer `i`.
fn layer_name(pattern: &str, i: usize) -> String {
    pattern.replace("{i}", &i.to_string())
}

/// How one layer of an architecture differs from Llama's, besides its names.
pub(crate) struct LayerSpec {
    /// What q is multiplied by after its rotation (then the scores are not scaled), or `None`
    /// to scale the scores by `1/√head_dim`.
    pub q_scale: Option<f32>,
    /// The sliding window, for a layer that has one.
    pub window: Option<usize>,
    pub activation: GateActivation,
}

/// A projection's weights, checked to be `[out_dim, in_dim]`.
pub(crate) fn linear(
    source: &dyn WeightSource,
    name: &str,
    out_dim: usize,
    in_dim: usize,
) -> Result<Linear, ModelError> {
    let linear = Linear::new(name, source.tensor(name)?)?;
    if (linear.out_dim(), linear.in_dim()) != (out_dim, in_dim) {
        return Err(ModelError::Tensor {
            name: name.to_string(),
            reason: format!(
                "shape [{}, {}], expected [{out_dim}, {in_dim}]",
                linear.out_dim(),
                linear.in_dim()
            ),
        });
    }
    Ok(linear)
}

/// A vector of weights (a norm's) as `f32` values.
fn f32_values(source: &dyn WeightSource, name: &str) -> Result<Vec<f32>, ModelError> {
    let view = source.tensor(name)?;
    if view.dtype == GgmlDType::F32 {
        return Ok(view
            .data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    let tensor = qtensor_from_ggml(view.dtype, view.data, view.shape, &Device::Cpu)?;
    Ok(tensor
        .dequantize(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// An RMS norm's weights (stored as llama.cpp multiplies them), checked to be `width` long.
pub(crate) fn rms_norm(
    source: &dyn WeightSource,
    name: &str,
    width: usize,
    eps: f32,
) -> Result<RmsNorm, ModelError> {
    let weight = f32_values(source, name)?;
    if weight.len() != width {
        return Err(ModelError::Tensor {
            name: name.to_string(),
            reason: format!("{} values, expected {width}", weight.len()),
        });
    }
    Ok(RmsNorm::new(weight, eps, 0.0))
}

/// Layer `i`, as `names` and `spec` say.
pub(crate) fn decoder_layer(
    source: &dyn WeightSource,
    names: &TensorNames,
    i: usize,
    cfg: &ModelConfig,
    spec: LayerSpec,
) -> Result<DecoderLayer, ModelError> {
    let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
    let norm = |pattern: &str, width| rms_norm(source, &layer_name(pattern, i), width, eps);
    let optional_norm = |pattern: Option<&str>, width| pattern.map(|p| norm(p, width)).transpose();
    let (q_width, kv_width) = (
        cfg.num_heads * cfg.head_dim,
        cfg.num_kv_heads * cfg.head_dim,
    );
    let proj =
        |pattern: &str, out_dim, in_dim| linear(source, &layer_name(pattern, i), out_dim, in_dim);
    let attn = Attention {
        q: proj(names.q, q_width, h)?,
        k: proj(names.k, kv_width, h)?,
        v: proj(names.v, kv_width, h)?,
        o: proj(names.o, h, q_width)?,
        q_norm: optional_norm(names.q_norm, cfg.head_dim)?,
        k_norm: optional_norm(names.k_norm, cfg.head_dim)?,
        q_scale: spec.q_scale,
        params: AttentionParams {
            n_heads: cfg.num_heads,
            kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            scale: if spec.q_scale.is_some() {
                1.0
            } else {
                1.0 / (cfg.head_dim as f32).sqrt()
            },
            window: spec.window,
        },
    };
    let ffn = cfg.intermediate_size;
    let mlp = GatedMlp {
        gate: proj(names.gate, ffn, h)?,
        up: proj(names.up, ffn, h)?,
        down: proj(names.down, h, ffn)?,
        activation: spec.activation,
    };
    Ok(DecoderLayer {
        attn_norm: norm(names.attn_norm, h)?,
        attn,
        post_attn_norm: optional_norm(names.post_attn_norm, h)?,
        ffn_norm: norm(names.ffn_norm, h)?,
        mlp,
        post_ffn_norm: optional_norm(names.post_ffn_norm, h)?,
    })
}
