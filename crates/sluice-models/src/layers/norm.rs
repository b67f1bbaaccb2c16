use sluice_kernels::norm;

/// RMS norm weights with the architecture's conventions.
pub struct RmsNorm {
    weight: Vec<f32>,
    eps: f32,
    /// 1.0 where the stored weight is `w - 1` (Gemma), 0.0 otherwise.
    offset: f32,
}

impl RmsNorm {
    pub fn new(weight: Vec<f32>, eps: f32, offset: f32) -> Self {
        RmsNorm {
            weight,
            eps,
            offset,
        }
    }

    /// Normalises every row of `x`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        self.forward_into(x, &mut out);
        out
    }

    /// Normalises every row of `x` into `out` (its allocation reused).
    pub fn forward_into(&self, x: &[f32], out: &mut Vec<f32>) {
        out.resize(x.len(), 0.0);
        norm::rms_norm(x, &self.weight, self.eps, self.offset, out);
    }

    /// Normalises every `weight.len()`-wide chunk of `x` in place (per-head norms).
    pub fn forward_in_place(&self, x: &mut [f32]) {
        norm::rms_norm_in_place(x, &self.weight, self.eps, self.offset);
    }
}
