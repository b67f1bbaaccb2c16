//! The intermediates of a step's layers, kept from step to step: a step allocates (and zeroes)
//! a buffer only when it is larger than every step before it.

use super::linear::QuantizedInput;

/// One layer's intermediates; the layers of a step use the same set in turn.
#[derive(Default)]
pub struct StepBuffers {
    /// The normalised residual stream: the input of attention and of the MLP.
    pub(super) normed: Vec<f32>,
    /// A projection input quantized, once for all the projections that share it.
    pub(super) quantized: QuantizedInput,
    pub(super) q: Vec<f32>,
    pub(super) k: Vec<f32>,
    pub(super) v: Vec<f32>,
    pub(super) gate: Vec<f32>,
    pub(super) up: Vec<f32>,
    /// Attention's output before its projection, or the MLP's gated activations.
    pub(super) mixed: Vec<f32>,
    /// The block's output (attention's or the MLP's), to add to the residual stream.
    pub(super) out: Vec<f32>,
}
