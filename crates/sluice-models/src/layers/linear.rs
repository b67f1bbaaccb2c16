use crate::ModelError;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

/// `y = x W^T` with `W` kept in its stored (usually quantized) type.
pub struct Linear {
    weight: QMatMul,
    in_dim: usize,
}

impl Linear {
    pub fn new(weight: QTensor) -> Result<Self, ModelError> {
        let (_, in_dim) = weight.shape().dims2()?;
        Ok(Linear {
            weight: QMatMul::from_qtensor(weight)?,
            in_dim,
        })
    }

    /// `x` is `[rows, in_dim]`; returns `[rows, out_dim]`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let rows = x.len() / self.in_dim;
        let x = Tensor::from_slice(x, (rows, self.in_dim), &Device::Cpu)?;
        Ok(self.weight.forward(&x)?.flatten_all()?.to_vec1::<f32>()?)
    }
}
