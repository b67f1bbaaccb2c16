//! The decoder-only transformer that every architecture here is: embedding, a stack of
//! [`DecoderLayer`]s, a final norm and the output projection. An architecture's file only
//! reads its weights and settings from GGUF and fills this in.

use crate::layers::{DecoderLayer, Linear, RmsNorm, StepBuffers, StepContext};
use crate::{
    llama_cpp_batching, CausalLm, ForwardBatch, GgufFile, KvStore, ModelConfig, ModelError,
};
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

/// A projection's weights by GGUF name.
pub(crate) fn linear(gguf: &mut GgufFile, name: &str) -> Result<Linear, ModelError> {
    Linear::new(name, gguf.tensor(name)?)
}

/// An RMS norm's weights by GGUF name (stored as llama.cpp multiplies them).
pub(crate) fn rms_norm(gguf: &mut GgufFile, name: &str, eps: f32) -> Result<RmsNorm, ModelError> {
    Ok(RmsNorm::new(gguf.f32_vec(name)?, eps, 0.0))
}

/// The output projection: `output.weight`, or `None` where it is tied to the embedding
/// (shared, not loaded twice).
pub(crate) fn lm_head(gguf: &mut GgufFile) -> Result<Option<Linear>, ModelError> {
    if gguf.has_tensor("output.weight") {
        Ok(Some(linear(gguf, "output.weight")?))
    } else {
        Ok(None)
    }
}

impl Transformer {
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
        for (i, layer) in self.layers.iter().enumerate() {
            let rope = &self.ropes[self.layer_rope[i]];
            // llama.cpp keeps only the output rows after the last layer's attention, and
            // multiplies each alone there (a decode step has one, a prompt its last).
            let mlp_rows_alone = i + 1 == self.layers.len();
            layer.forward(&mut x, i, rope, &step, kv, &mut buffers, mlp_rows_alone)?;
        }
        drop(buffers);
        if batch.logit_rows.is_empty() {
            // A step of prompt chunks that all continue next step: only the cache was wanted.
            return Ok(Vec::new());
        }
        let d = self.cfg.hidden_size;
        let last: Vec<f32> = batch
            .logit_rows
            .iter()
            .flat_map(|&r| x[r * d..(r + 1) * d].iter().copied())
            .collect();
        let lm_head = self.lm_head.as_ref().unwrap_or(&self.embed);
        lm_head.forward(&self.norm.forward(&last))
    }
}
