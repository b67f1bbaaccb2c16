use super::{Linear, RmsNorm, StepBuffers, StepContext};
use crate::kv::KvMemory;
use crate::ModelError;
use sluice_kernels::attention::AttentionParams;
use sluice_kernels::rope::RopeTable;

/// Multi-head self-attention with grouped K/V heads, rotary positions and the paged cache.
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// Per-head norms of q and k (Gemma 3), applied before the rotation.
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    /// What q is multiplied by after its rotation (Gemma 3, as llama.cpp does it; the scores
    /// are then scaled by `params.scale` = 1).
    pub q_scale: Option<f32>,
    pub params: AttentionParams,
}

impl Attention {
    /// From `buffers.normed` (the normalised hidden state, `[rows, hidden]`) into
    /// `buffers.out`: writes this layer's K/V for the batch's rows into the cache, then attends
    /// over each row's context.
    pub fn forward(
        &self,
        layer: usize,
        rope: &RopeTable,
        step: &StepContext<'_>,
        kv: &mut dyn KvMemory,
        buffers: &mut StepBuffers,
    ) -> Result<(), ModelError> {
        let hd = self.params.head_dim;
        let StepBuffers {
            normed,
            quantized,
            q,
            k,
            v,
            mixed,
            out,
            ..
        } = buffers;
        let rows = &step.contexts;
        Linear::forward_shared(
            normed,
            rows,
            [&self.q, &self.k, &self.v],
            quantized,
            [q, k, v],
        )?;
        if let Some(norm) = &self.q_norm {
            norm.forward_in_place(q);
        }
        if let Some(norm) = &self.k_norm {
            norm.forward_in_place(k);
        }
        let (q_width, k_width) = (self.params.n_heads * hd, self.params.kv_heads * hd);
        rope.apply_rows(q, q_width, hd, &step.batch.positions);
        rope.apply_rows(k, k_width, hd, &step.batch.positions);
        if let Some(scale) = self.q_scale {
            q.iter_mut().for_each(|v| *v *= scale);
        }
        kv.write(layer, &step.batch.slots, k, v);
        // Every element is written.
        mixed.resize(q.len(), 0.0);
        kv.attention(layer, q, &step.seqs, &self.params, mixed);
        self.o.forward_into(mixed, rows, quantized, out)
    }
}
