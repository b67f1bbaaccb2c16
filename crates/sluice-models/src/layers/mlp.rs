use super::Linear;
use crate::ModelError;
use sluice_kernels::activation;

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
pub struct GatedMlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

impl GatedMlp {
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let [gate, up] = Linear::forward_shared(x, [&self.gate, &self.up])?;
        let mut hidden = vec![0f32; gate.len()];
        activation::silu_mul(&gate, &up, self.down.in_dim(), &mut hidden);
        self.down.forward(&hidden)
    }
}
