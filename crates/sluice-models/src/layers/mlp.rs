use super::{Linear, StepBuffers};
use crate::ModelError;
use sluice_kernels::activation;

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
pub struct GatedMlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

impl GatedMlp {
    /// From `buffers.normed` (`[rows, hidden]`) into `buffers.out`.
    pub fn forward(&self, buffers: &mut StepBuffers) -> Result<(), ModelError> {
        let StepBuffers {
            normed,
            quantized,
            gate,
            up,
            mixed,
            out,
            ..
        } = buffers;
        Linear::forward_shared(normed, [&self.gate, &self.up], quantized, [gate, up])?;
        mixed.resize(gate.len(), 0.0);
        activation::silu_mul(gate, up, self.down.in_dim(), mixed);
        self.down.forward_into(mixed, quantized, out)
    }
}
