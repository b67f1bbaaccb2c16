//! The shared layers, read from a source by the names an architecture states and held as the
//! load options say: each layer is checked against the config as it loads, so a file whose
//! shapes disagree with its settings is refused at load, not found out in the middle of a step.

use crate::layers::{
    widen_floats, Attention, DecoderLayer, GateActivation, GatedMlp, Hold, Linear, RmsNorm,
};
use crate::load::{LoadOptions, Quantization, Settings, WeightSource};
use crate::{ModelConfig, ModelError};
use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::GgmlDType;
use candle_core::Device;
use sluice_kernels::attention::AttentionParams;
use sluice_kernels::quant::kquant;
use sluice_kernels::rope::RopeScaling;

/// llama.cpp's per-pair rotary frequency factors (Llama 3.1's scaling).
pub(crate) const ROPE_FREQS: &str = "rope_freqs.weight";

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
    /// Biases of q, k and v (Qwen2).
    pub qkv_bias: Option<[&'static str; 3]>,
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

/// What a matrix is to the model, which decides how `--quantize` holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A layer's projection: quantized to the requested format.
    Projection,
    /// The token embedding or the output projection: as llama.cpp's quantizer holds it, Q6_K
    /// (Q8_0 where rows are not whole super-blocks); int8 weight-only quantization (EETQ)
    /// leaves it a float, as TGI does.
    Output,
}

/// A source's weights, held as the options say.
pub(crate) struct Weights<'a> {
    pub source: &'a dyn WeightSource,
    pub options: LoadOptions,
}

impl Weights<'_> {
    /// How a matrix of `in_dim` columns in `role` is held.
    fn hold(&self, role: Role, in_dim: usize) -> Hold {
        let float = self.options.dtype.map_or(Hold::AsStored, Hold::Float);
        match (self.options.quantize, role) {
            (None, _) | (Some(Quantization::Int8), Role::Output) => float,
            (Some(Quantization::Int8), Role::Projection) => Hold::Int8,
            (Some(Quantization::Block(format)), Role::Projection) => {
                Hold::Block(block_fallback(format.ggml(), in_dim))
            }
            (Some(Quantization::Block(_)), Role::Output) => {
                Hold::Block(block_fallback(GgmlDType::Q6K, in_dim))
            }
        }
    }

    /// A projection's weights, checked to be `[out_dim, in_dim]`.
    pub(crate) fn linear(
        &self,
        name: &str,
        out_dim: usize,
        in_dim: usize,
        role: Role,
    ) -> Result<Linear, ModelError> {
        let linear = Linear::new(name, self.source.tensor(name)?, self.hold(role, in_dim))?;
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

    /// A vector of weights (a norm's or a bias's) as `f32` values, checked to be `width` long.
    fn vector(&self, name: &str, width: usize) -> Result<Vec<f32>, ModelError> {
        let view = self.source.tensor(name)?;
        let values = match widen_floats(view.dtype, view.data.bytes()) {
            Some(values) => values,
            None => {
                let bytes = view.data.bytes();
                let tensor = qtensor_from_ggml(view.dtype, bytes, view.shape, &Device::Cpu)?;
                tensor
                    .dequantize(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?
            }
        };
        if values.len() != width {
            return Err(ModelError::Tensor {
                name: name.to_string(),
                reason: format!("{} values, expected {width}", values.len()),
            });
        }
        Ok(values)
    }

    /// The rotary scaling the settings ask for, as llama.cpp applies it: linear
    /// (`rope.scaling.type = linear`, its factor), and per-pair frequency factors where the
    /// source has `rope_freqs.weight` (Llama 3.1's scaling). Other kinds are refused.
    pub(crate) fn rope_scaling(&self, rot_dim: usize) -> Result<RopeScaling, ModelError> {
        let s = Settings::new(self.source);
        let kind = s.text_or("rope.scaling.type", "none")?;
        let freq_scale = match kind.as_str() {
            "none" | "llama3" => None,
            "linear" => Some(1.0 / s.f32("rope.scaling.factor")?),
            other => {
                return Err(ModelError::Metadata(format!(
                    "rotary scaling `{other}` is not supported yet (linear and llama3 are)"
                )))
            }
        };
        let freq_factors = match self.source.has_tensor(ROPE_FREQS) {
            true => Some(self.vector(ROPE_FREQS, rot_dim / 2)?),
            false if kind == "llama3" => {
                return Err(ModelError::Metadata(
                    "llama3 rotary scaling without its frequency factors".into(),
                ))
            }
            false => None,
        };
        Ok(RopeScaling {
            freq_scale,
            freq_factors,
        })
    }

    /// An RMS norm's weights (stored as llama.cpp multiplies them), checked to be `width` long.
    pub(crate) fn rms_norm(
        &self,
        name: &str,
        width: usize,
        eps: f32,
    ) -> Result<RmsNorm, ModelError> {
        Ok(RmsNorm::new(self.vector(name, width)?, eps, 0.0))
    }

    /// Layer `i`, as `names` and `spec` say.
    pub(crate) fn decoder_layer(
        &self,
        names: &TensorNames,
        i: usize,
        cfg: &ModelConfig,
        spec: LayerSpec,
    ) -> Result<DecoderLayer, ModelError> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        let norm = |pattern: &str, width| self.rms_norm(&layer_name(pattern, i), width, eps);
        let optional_norm =
            |pattern: Option<&str>, width| pattern.map(|p| norm(p, width)).transpose();
        let (q_width, kv_width) = (
            cfg.num_heads * cfg.head_dim,
            cfg.num_kv_heads * cfg.head_dim,
        );
        let proj = |pattern: &str, out_dim, in_dim| {
            self.linear(&layer_name(pattern, i), out_dim, in_dim, Role::Projection)
        };
        let (mut q, mut k, mut v) = (
            proj(names.q, q_width, h)?,
            proj(names.k, kv_width, h)?,
            proj(names.v, kv_width, h)?,
        );
        if let Some([qb, kb, vb]) = names.qkv_bias {
            let bias = |pattern: &str, width| {
                let name = layer_name(pattern, i);
                self.vector(&name, width).map(|values| (name, values))
            };
            let ((qn, qv), (kn, kv), (vn, vv)) =
                (bias(qb, q_width)?, bias(kb, kv_width)?, bias(vb, kv_width)?);
            (q, k, v) = (
                q.with_bias(&qn, qv)?,
                k.with_bias(&kn, kv)?,
                v.with_bias(&vn, vv)?,
            );
        }
        let attn = Attention {
            q,
            k,
            v,
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
}

/// `format`, or the type llama.cpp's quantizer falls back to when rows of `in_dim` are not
/// whole super-blocks (`llama_tensor_get_type`: Q4_K to Q5_0, Q6_K to Q8_0).
fn block_fallback(format: GgmlDType, in_dim: usize) -> GgmlDType {
    match format {
        GgmlDType::Q4K if !in_dim.is_multiple_of(kquant::SUPER_BLOCK) => GgmlDType::Q5_0,
        GgmlDType::Q6K if !in_dim.is_multiple_of(kquant::SUPER_BLOCK) => GgmlDType::Q8_0,
        other => other,
    }
}
