use super::{Attention, GatedMlp, RmsNorm, StepBuffers, StepContext};
use crate::kv::KvMemory;
use crate::ModelError;
use sluice_kernels::quant::kquant::RowContext;
use sluice_kernels::rope::RopeTable;

/// A pre-norm transformer block; the optional post-norms are Gemma's "sandwich" norms.
pub struct DecoderLayer {
    pub attn_norm: RmsNorm,
    pub attn: Attention,
    pub post_attn_norm: Option<RmsNorm>,
    pub ffn_norm: RmsNorm,
    pub mlp: GatedMlp,
    pub post_ffn_norm: Option<RmsNorm>,
}

impl DecoderLayer {
    /// Attention's half of the block: writes this layer's K/V for every row into the cache and
    /// updates the residual stream `x` (`[rows, hidden]`) in place.
    pub fn forward_attention(
        &self,
        x: &mut [f32],
        layer: usize,
        rope: &RopeTable,
        step: &StepContext<'_>,
        kv: &mut dyn KvMemory,
        buffers: &mut StepBuffers,
    ) -> Result<(), ModelError> {
        self.attn_norm.forward_into(x, &mut buffers.normed);
        self.attn.forward(layer, rope, step, kv, buffers)?;
        add_output(x, self.post_attn_norm.as_ref(), &mut buffers.out);
        Ok(())
    }

    /// The MLP's half of the block, on the rows of `x` (which may be fewer than the step's),
    /// each multiplied where `contexts` says (empty: every row alone).
    pub fn forward_mlp(
        &self,
        x: &mut [f32],
        contexts: &[RowContext],
        buffers: &mut StepBuffers,
    ) -> Result<(), ModelError> {
        self.ffn_norm.forward_into(x, &mut buffers.normed);
        self.mlp.forward(contexts, buffers)?;
        add_output(x, self.post_ffn_norm.as_ref(), &mut buffers.out);
        Ok(())
    }
}

/// `x += norm(out)` (or `x += out` without a norm).
fn add_output(x: &mut [f32], norm: Option<&RmsNorm>, out: &mut [f32]) {
    if let Some(norm) = norm {
        norm.forward_in_place(out);
    }
    x.iter_mut().zip(out.iter()).for_each(|(a, b)| *a += b);
}
