use super::{Attention, GatedMlp, RmsNorm, StepContext};
use crate::{KvStore, ModelError};
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
    /// Updates the residual stream `x` (`[rows, hidden]`) in place.
    pub fn forward(
        &self,
        x: &mut [f32],
        layer: usize,
        rope: &RopeTable,
        step: &StepContext<'_>,
        kv: &mut KvStore,
    ) -> Result<(), ModelError> {
        let mut h = self
            .attn
            .forward(&self.attn_norm.forward(x), layer, rope, step, kv)?;
        if let Some(norm) = &self.post_attn_norm {
            h = norm.forward(&h);
        }
        x.iter_mut().zip(&h).for_each(|(a, b)| *a += b);
        let mut h = self.mlp.forward(&self.ffn_norm.forward(x))?;
        if let Some(norm) = &self.post_ffn_norm {
            h = norm.forward(&h);
        }
        x.iter_mut().zip(&h).for_each(|(a, b)| *a += b);
        Ok(())
    }
}
