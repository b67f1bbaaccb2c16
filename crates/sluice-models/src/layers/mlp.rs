use super::{Linear, StepBuffers};
use crate::ModelError;
use sluice_kernels::activation;
use sluice_kernels::quant::kquant::RowContext;

/// Gated feed-forward: `down(act(gate(x)) * up(x))`.
pub struct GatedMlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub activation: GateActivation,
}

/// The gate's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateActivation {
    /// SwiGLU (Llama).
    Silu,
    /// GeGLU with tanh-approximated GELU (Gemma).
    Gelu,
}

impl GatedMlp {
    /// From `buffers.normed` (`[rows, hidden]`) into `buffers.out`; `contexts` as
    /// [`Linear::forward_shared`] takes them.
    pub fn forward(
        &self,
        contexts: &[RowContext],
        buffers: &mut StepBuffers,
    ) -> Result<(), ModelError> {
        let StepBuffers {
            normed,
            quantized,
            gate,
            up,
            mixed,
            out,
            ..
        } = buffers;
        Linear::forward_shared(
            normed,
            contexts,
            [&self.gate, &self.up],
            quantized,
            [gate, up],
        )?;
        mixed.resize(gate.len(), 0.0);
        let gated = match self.activation {
            GateActivation::Silu => activation::silu_mul,
            GateActivation::Gelu => activation::gelu_mul,
        };
        gated(gate, up, self.down.in_dim(), mixed);
        self.down.forward_into(mixed, contexts, quantized, out)
    }
}
