use crate::ModelError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use sluice_kernels::quant::{self, PackedMatrix, QuantizedRows, WeightFormat};
use std::sync::Arc;

/// `y = x W^T` with `W` kept in its stored (usually quantized) type. The 32-value block
/// formats are repacked for `sluice-kernels` (llama.cpp's arithmetic, batch-invariant);
/// anything else goes through candle's `QMatMul`.
pub struct Linear {
    weight: Weight,
    in_dim: usize,
    out_dim: usize,
}

enum Weight {
    Packed(PackedMatrix),
    Candle {
        matmul: QMatMul,
        tensor: Arc<QTensor>,
    },
}

impl Linear {
    /// `name` is the tensor's, for errors.
    pub fn new(name: &str, weight: QTensor) -> Result<Self, ModelError> {
        let (out_dim, in_dim) = weight.shape().dims2()?;
        let format = match weight.dtype() {
            GgmlDType::Q4_1 => Some(WeightFormat::Q4_1),
            GgmlDType::Q4_0 => Some(WeightFormat::Q4_0),
            GgmlDType::Q8_0 => Some(WeightFormat::Q8_0),
            _ => None,
        };
        let weight = match format {
            Some(format) if in_dim % quant::BLOCK == 0 => Weight::Packed(
                PackedMatrix::pack(format, &weight.data()?, out_dim, in_dim).map_err(|reason| {
                    ModelError::Tensor {
                        name: name.to_string(),
                        reason,
                    }
                })?,
            ),
            _ => {
                let tensor = Arc::new(weight);
                Weight::Candle {
                    matmul: QMatMul::from_arc(tensor.clone())?,
                    tensor,
                }
            }
        };
        Ok(Linear {
            weight,
            in_dim,
            out_dim,
        })
    }

    /// `x` is `[rows, in_dim]`; returns `[rows, out_dim]`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let mut out = Vec::new();
        self.forward_into(x, &mut QuantizedRows::default(), &mut out)?;
        Ok(out)
    }

    /// [`Linear::forward`] into `out`, its allocation reused (and `quantized`'s).
    pub fn forward_into(
        &self,
        x: &[f32],
        quantized: &mut QuantizedRows,
        out: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        Self::forward_shared(x, [self], quantized, [out])
    }

    /// Several projections of the same input `x` (`[rows, in_dim]`: q/k/v, gate/up, or one),
    /// into `outs` (`[rows, out_dim]` each, their allocations reused). The activations are
    /// quantized once for all of them, into `quantized`.
    pub fn forward_shared<const N: usize>(
        x: &[f32],
        linears: [&Linear; N],
        quantized: &mut QuantizedRows,
        outs: [&mut Vec<f32>; N],
    ) -> Result<(), ModelError> {
        let mut quantized_x = false;
        for (linear, out) in linears.into_iter().zip(outs) {
            let rows = x.len() / linear.in_dim;
            match &linear.weight {
                Weight::Packed(w) => {
                    if !quantized_x {
                        quant::quantize_rows(x, linear.in_dim, quantized);
                        quantized_x = true;
                    }
                    // The product overwrites every element: resizing zeroes only what the
                    // buffer grows by.
                    out.resize(rows * linear.out_dim, 0.0);
                    quant::matmul(w, quantized, out);
                }
                Weight::Candle { matmul, .. } => {
                    let x = Tensor::from_slice(x, (rows, linear.in_dim), &Device::Cpu)?;
                    *out = matmul.forward(&x)?.flatten_all()?.to_vec1::<f32>()?;
                }
            }
        }
        Ok(())
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Rows `ids` of `W` (`[ids.len(), in_dim]`): the lookup of an embedding table, which
    /// small models share with their output projection.
    pub fn rows(&self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        match &self.weight {
            Weight::Packed(w) => {
                let mut out = vec![0f32; ids.len() * self.in_dim];
                for (&id, row) in ids.iter().zip(out.chunks_exact_mut(self.in_dim)) {
                    w.dequantize_row(id as usize, row);
                }
                Ok(out)
            }
            Weight::Candle { tensor, .. } => {
                let ids = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
                Ok(tensor.embedding(&ids)?.flatten_all()?.to_vec1::<f32>()?)
            }
        }
    }
}
