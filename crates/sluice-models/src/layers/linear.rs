use crate::ModelError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use sluice_kernels::quant::{self, QuantMatrix, QuantizedRows, WeightFormat};
use std::sync::Arc;

/// `y = x W^T` with `W` kept in its stored (usually quantized) type. The 32-value block
/// formats go through `sluice-kernels` (llama.cpp's rounding, batch-invariant); anything else
/// through candle's `QMatMul`.
pub struct Linear {
    weight: Weight,
    in_dim: usize,
    out_dim: usize,
}

enum Weight {
    /// The GGUF bytes are borrowed from the tensor at each call: no copy at load, and a tied
    /// output projection shares the embedding's memory.
    Blocks {
        format: WeightFormat,
        tensor: Arc<QTensor>,
    },
    Candle(QMatMul),
}

impl Linear {
    pub fn new(weight: Arc<QTensor>) -> Result<Self, ModelError> {
        let (out_dim, in_dim) = weight.shape().dims2()?;
        let format = match weight.dtype() {
            GgmlDType::Q4_1 => Some(WeightFormat::Q4_1),
            GgmlDType::Q4_0 => Some(WeightFormat::Q4_0),
            GgmlDType::Q8_0 => Some(WeightFormat::Q8_0),
            _ => None,
        };
        let weight = match format {
            Some(format) if in_dim % quant::BLOCK == 0 => Weight::Blocks {
                format,
                tensor: weight,
            },
            _ => Weight::Candle(QMatMul::from_arc(weight)?),
        };
        Ok(Linear {
            weight,
            in_dim,
            out_dim,
        })
    }

    /// `x` is `[rows, in_dim]`; returns `[rows, out_dim]`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let rows = x.len() / self.in_dim;
        match &self.weight {
            Weight::Blocks { format, tensor } => {
                let bytes = tensor.data()?;
                let mut q = QuantizedRows::default();
                quant::quantize_rows(x, self.in_dim, &mut q);
                let mut out = vec![0f32; rows * self.out_dim];
                let w = QuantMatrix {
                    format: *format,
                    bytes: &bytes,
                    rows: self.out_dim,
                    cols: self.in_dim,
                };
                quant::matmul(&w, &q, &mut out);
                Ok(out)
            }
            Weight::Candle(w) => {
                let x = Tensor::from_slice(x, (rows, self.in_dim), &Device::Cpu)?;
                Ok(w.forward(&x)?.flatten_all()?.to_vec1::<f32>()?)
            }
        }
    }
}
