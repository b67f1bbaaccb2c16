//! The decoder-only transformer that every architecture here is: embedding, a stack of
//! [`DecoderLayer`]s, a final norm and the output projection, on the CPU. An architecture's
//! file states its tensor names and settings and fills this in.

use crate::kv::{KvLayout, KvMemory, KvStore};
use crate::layers::{DecoderLayer, Linear, RmsNorm, StepBuffers, StepContext};
use crate::model::{ComputeDtype, Device};
use crate::weights::{Role, TensorNames, Weights};
use crate::{CausalLm, ForwardBatch, ModelConfig, ModelError};
use sluice_kernels::rope::RopeTable;
use std::sync::{Mutex, PoisonError};

pub struct Transformer {
    cfg: ModelConfig,
    /// The token embedding table, also the output projection when `lm_head` is `None` (tied).
    embed: Linear,
    /// What the embeddings are multiplied by (Gemma's `√hidden`), if anything.
    embed_scale: Option<f32>,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
    /// The rotary tables, and which one each layer uses (Gemma 3's sliding-window layers
    /// rotate with another base than its global ones).
    ropes: Vec<RopeTable>,
    layer_rope: Vec<usize>,
    /// The layers' intermediates, reused by every step. Steps of one model run one at a time
    /// (an engine runs one step at a time anyway); the buffers keep the largest step's size.
    buffers: Mutex<StepBuffers>,
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
    /// The model around `layers`: the embedding, the output norm and projection (the output
    /// tensor, or the embedding where the source has none: tied), all checked against `cfg`.
    pub(crate) fn new(
        weights: &Weights<'_>,
        names: &TensorNames,
        cfg: ModelConfig,
        layers: Vec<DecoderLayer>,
        ends: Ends,
    ) -> Result<Self, ModelError> {
        if layers.is_empty() {
            return Err(ModelError::Metadata("the model has no layers".into()));
        }
        let (vocab, h) = (cfg.vocab_size, cfg.hidden_size);
        // Small models tie the output projection to the embedding (shared, not loaded twice).
        let lm_head = if weights.source.has_tensor(names.output) {
            Some(weights.linear(names.output, vocab, h, Role::Output)?)
        } else {
            None
        };
        Ok(Transformer {
            embed: weights.linear(names.embed, vocab, h, Role::Output)?,
            embed_scale: ends.embed_scale,
            lm_head,
            norm: weights.rms_norm(names.output_norm, h, cfg.rms_norm_eps)?,
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

    /// Refuses what the kernels would index out of bounds: a scheduler bug becomes an error.
    fn check(&self, batch: &ForwardBatch, kv: &dyn KvMemory) -> Result<(), ModelError> {
        let layout = kv.layout();
        if layout.num_layers != self.layers.len() {
            return Err(ModelError::Batch(format!(
                "the K/V memory has {} layers, the model {}",
                layout.num_layers,
                self.layers.len()
            )));
        }
        batch
            .validate(layout.num_slots(), layout.block_size)
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
        Ok(())
    }
}

impl CausalLm for Transformer {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn device(&self) -> Device {
        Device::Cpu
    }

    fn compute_dtype(&self) -> ComputeDtype {
        ComputeDtype::F32
    }

    fn weight_type(&self) -> String {
        self.layers[0].attn.q.held_type().to_string()
    }

    fn new_kv_memory(&self, layout: KvLayout) -> Box<dyn KvMemory> {
        Box::new(KvStore::new(layout))
    }

    fn forward(&self, batch: &ForwardBatch, kv: &mut dyn KvMemory) -> Result<Vec<f32>, ModelError> {
        self.check(batch, kv)?;
        let mut x = self.embed.rows(&batch.tokens)?;
        if let Some(scale) = self.embed_scale {
            x.iter_mut().for_each(|v| *v *= scale);
        }
        let tables = batch.kernel_block_tables();
        let step = StepContext::new(batch, &tables);
        // Scratch only: a step that panicked left nothing in it that the next one reads.
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        let (last_layer, body) = self
            .layers
            .split_last()
            .expect("checked in Transformer::new");
        for (i, layer) in body.iter().enumerate() {
            let rope = &self.ropes[self.layer_rope[i]];
            layer.forward_attention(&mut x, i, rope, &step, kv, &mut buffers)?;
            layer.forward_mlp(&mut x, &step.contexts, &mut buffers)?;
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
        last_layer.forward_mlp(&mut last, &[], &mut buffers)?;
        drop(buffers);
        let lm_head = self.lm_head.as_ref().unwrap_or(&self.embed);
        lm_head.forward(&self.norm.forward(&last))
    }
}
