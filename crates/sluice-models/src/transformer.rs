//! The decoder-only transformer that every architecture here is: embedding, a stack of
//! [`DecoderLayer`]s, a final norm and the output projection. An architecture's file only
//! reads its weights and settings from GGUF and fills this in.

use crate::layers::{
    Attention, DecoderLayer, GateActivation, GatedMlp, Linear, RmsNorm, StepBuffers, StepContext,
};
use crate::{
    llama_cpp_batching, CausalLm, ForwardBatch, GgufFile, KvStore, ModelConfig, ModelError,
};
use sluice_kernels::attention::AttentionParams;
use sluice_kernels::rope::RopeTable;
use std::sync::{Mutex, PoisonError};

pub struct Transformer {
    pub(crate) cfg: ModelConfig,
    /// The token embedding table, also the output projection when `lm_head` is `None` (tied).
    pub(crate) embed: Linear,
    /// What the embeddings are multiplied by (Gemma's `√hidden`), if anything.
    pub(crate) embed_scale: Option<f32>,
    pub(crate) layers: Vec<DecoderLayer>,
    pub(crate) norm: RmsNorm,
    pub(crate) lm_head: Option<Linear>,
    /// The rotary tables, and which one each layer uses (Gemma 3's sliding-window layers
    /// rotate with another base than its global ones).
    pub(crate) ropes: Vec<RopeTable>,
    pub(crate) layer_rope: Vec<usize>,
    /// The layers' intermediates, reused by every step. Steps of one model run one at a time
    /// (an engine runs one step at a time anyway); the buffers keep the largest step's size.
    pub(crate) buffers: Mutex<StepBuffers>,
}

/// A projection's weights by GGUF name, checked to be `[out_dim, in_dim]`: a file whose shapes
/// disagree with its settings is refused at load, not found out in the middle of a step.
pub(crate) fn linear(
    gguf: &mut GgufFile,
    name: &str,
    out_dim: usize,
    in_dim: usize,
) -> Result<Linear, ModelError> {
    let linear = Linear::new(name, gguf.tensor(name)?)?;
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

/// An RMS norm's weights by GGUF name (stored as llama.cpp multiplies them), checked to be
/// `width` long.
pub(crate) fn rms_norm(
    gguf: &mut GgufFile,
    name: &str,
    width: usize,
    eps: f32,
) -> Result<RmsNorm, ModelError> {
    let weight = gguf.f32_vec(name)?;
    if weight.len() != width {
        return Err(ModelError::Tensor {
            name: name.to_string(),
            reason: format!("{} values, expected {width}", weight.len()),
        });
    }
    Ok(RmsNorm::new(weight, eps, 0.0))
}

/// How an architecture's attention differs from Llama's.
pub(crate) struct AttentionSpec {
    /// Per-head RMS norms of q and k (`attn_q_norm`, `attn_k_norm`).
    pub qk_norms: bool,
    /// What q is multiplied by after its rotation (then the scores are not scaled), or `None`
    /// to scale the scores by `1/√head_dim`.
    pub q_scale: Option<f32>,
    /// The sliding window, for the layers that have one.
    pub window: Option<usize>,
}

/// Layer `blk.{i}`'s attention.
pub(crate) fn attention(
    gguf: &mut GgufFile,
    i: usize,
    cfg: &ModelConfig,
    spec: AttentionSpec,
) -> Result<Attention, ModelError> {
    let p = format!("blk.{i}");
    let (q_width, kv_width) = (
        cfg.num_heads * cfg.head_dim,
        cfg.num_kv_heads * cfg.head_dim,
    );
    let head_norm = |g: &mut GgufFile, name: &str| {
        rms_norm(
            g,
            &format!("{p}.{name}.weight"),
            cfg.head_dim,
            cfg.rms_norm_eps,
        )
    };
    let (q_norm, k_norm) = if spec.qk_norms {
        (
            Some(head_norm(gguf, "attn_q_norm")?),
            Some(head_norm(gguf, "attn_k_norm")?),
        )
    } else {
        (None, None)
    };
    let h = cfg.hidden_size;
    Ok(Attention {
        q: linear(gguf, &format!("{p}.attn_q.weight"), q_width, h)?,
        k: linear(gguf, &format!("{p}.attn_k.weight"), kv_width, h)?,
        v: linear(gguf, &format!("{p}.attn_v.weight"), kv_width, h)?,
        o: linear(gguf, &format!("{p}.attn_output.weight"), h, q_width)?,
        q_norm,
        k_norm,
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
    })
}

/// Layer `blk.{i}`'s gated feed-forward.
pub(crate) fn gated_mlp(
    gguf: &mut GgufFile,
    i: usize,
    cfg: &ModelConfig,
    activation: GateActivation,
) -> Result<GatedMlp, ModelError> {
    let (h, ffn) = (cfg.hidden_size, cfg.intermediate_size);
    Ok(GatedMlp {
        gate: linear(gguf, &format!("blk.{i}.ffn_gate.weight"), ffn, h)?,
        up: linear(gguf, &format!("blk.{i}.ffn_up.weight"), ffn, h)?,
        down: linear(gguf, &format!("blk.{i}.ffn_down.weight"), h, ffn)?,
        activation,
    })
}

/// How an architecture's ends differ from Llama's.
pub(crate) struct Ends {
    /// What the embeddings are multiplied by, if anything.
    pub embed_scale: Option<f32>,
    /// The rotary tables, and which one each layer uses.
    pub ropes: Vec<RopeTable>,
    pub layer_rope: Vec<usize>,
}

impl Transformer {
    /// The model around `layers`: the embedding, the output norm and projection (`output`, or
    /// the embedding where tied), all checked against `cfg`.
    pub(crate) fn new(
        gguf: &mut GgufFile,
        cfg: ModelConfig,
        layers: Vec<DecoderLayer>,
        ends: Ends,
    ) -> Result<Self, ModelError> {
        if layers.is_empty() {
            return Err(ModelError::Metadata("the model has no layers".into()));
        }
        let (vocab, h) = (cfg.vocab_size, cfg.hidden_size);
        // Small models tie the output projection to the embedding (shared, not loaded twice).
        let lm_head = if gguf.has_tensor("output.weight") {
            Some(linear(gguf, "output.weight", vocab, h)?)
        } else {
            None
        };
        Ok(Transformer {
            embed: linear(gguf, "token_embd.weight", vocab, h)?,
            embed_scale: ends.embed_scale,
            lm_head,
            norm: rms_norm(gguf, "output_norm.weight", h, cfg.rms_norm_eps)?,
            layers,
            ropes: ends.ropes,
            layer_rope: ends.layer_rope,
            cfg,
            buffers: Default::default(),
        })
    }

    fn max_positions(&self) -> usize {
        self.ropes
            .iter()
            .map(RopeTable::max_positions)
            .min()
            .unwrap_or(0)
    }
}

impl CausalLm for Transformer {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn forward(&self, batch: &ForwardBatch, kv: &mut KvStore) -> Result<Vec<f32>, ModelError> {
        batch
            .validate(kv.num_slots(), kv.block_size())
            .map_err(ModelError::Batch)?;
        if batch.positions.iter().any(|&p| p >= self.max_positions()) {
            return Err(ModelError::Batch(format!(
                "position beyond the context length {}",
                self.cfg.context_length
            )));
        }
        if batch
            .tokens
            .iter()
            .any(|&t| t as usize >= self.cfg.vocab_size)
        {
            return Err(ModelError::Batch("token id outside the vocabulary".into()));
        }
        let mut x = self.embed.rows(&batch.tokens)?;
        if let Some(scale) = self.embed_scale {
            x.iter_mut().for_each(|v| *v *= scale);
        }
        let step = StepContext::new(batch);
        // Scratch only: a step that panicked left nothing in it that the next one reads.
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        llama_cpp_batching::row_contexts(batch, &mut buffers.quantized.contexts);
        let (last_layer, body) = self
            .layers
            .split_last()
            .expect("checked in Transformer::new");
        for (i, layer) in body.iter().enumerate() {
            let rope = &self.ropes[self.layer_rope[i]];
            layer.forward_attention(&mut x, i, rope, &step, kv, &mut buffers)?;
            layer.forward_mlp(&mut x, &mut buffers)?;
        }
        let i = body.len();
        let rope = &self.ropes[self.layer_rope[i]];
        last_layer.forward_attention(&mut x, i, rope, &step, kv, &mut buffers)?;
        if batch.logit_rows.is_empty() {
            // A step of prompt chunks that all continue next step: only the cache was wanted.
            return Ok(Vec::new());
        }
        // As llama.cpp, only the rows whose logits are wanted go on through the last MLP: one
        // per sequence, each multiplied as a row alone (so no llama.cpp batch context).
        let d = self.cfg.hidden_size;
        let mut last: Vec<f32> = batch
            .logit_rows
            .iter()
            .flat_map(|&r| x[r * d..(r + 1) * d].iter().copied())
            .collect();
        buffers.quantized.contexts.clear();
        last_layer.forward_mlp(&mut last, &mut buffers)?;
        drop(buffers);
        let lm_head = self.lm_head.as_ref().unwrap_or(&self.embed);
        lm_head.forward(&self.norm.forward(&last))
    }
}
