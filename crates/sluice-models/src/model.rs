//! What a loaded model is to the engine: one forward contract, and the facts of where and how
//! it runs.

use crate::kv::{KvDtype, KvLayout, KvMemory};
use crate::{ForwardBatch, ModelConfig, ModelError};
use std::fmt;

/// Where a model's weights live and its steps run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
        })
    }
}

/// The number type a model computes its activations in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComputeDtype {
    F32,
}

impl fmt::Display for ComputeDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComputeDtype::F32 => "f32",
        })
    }
}

/// A decoder-only language model: one step over a flattened batch (see [`ForwardBatch`]).
pub trait CausalLm: Send + Sync {
    fn config(&self) -> &ModelConfig;

    fn device(&self) -> Device;

    fn compute_dtype(&self) -> ComputeDtype;

    /// The storage type of the layers' weights (that of the first attention query), as
    /// llama.cpp names it (`q4_1`, `f16`).
    fn weight_type(&self) -> String;

    /// The K/V memory layout this model needs for `num_blocks` blocks of `block_size` slots
    /// with values of type `dtype`.
    fn kv_layout(&self, num_blocks: usize, block_size: usize, dtype: KvDtype) -> KvLayout {
        let cfg = self.config();
        KvLayout {
            num_layers: cfg.num_layers,
            num_blocks,
            block_size,
            kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            dtype,
        }
    }

    /// K/V memory of `layout` on this model's device.
    fn new_kv_memory(&self, layout: KvLayout) -> Box<dyn KvMemory>;

    /// Runs the batch, writing every row's K/V into `kv`, and returns the logits of
    /// `batch.logit_rows`, `[logit_rows.len(), vocab_size]` row-major.
    fn forward(&self, batch: &ForwardBatch, kv: &mut dyn KvMemory) -> Result<Vec<f32>, ModelError>;
}
