use crate::load::TensorView;
use crate::ModelError;
use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use sluice_kernels::quant::kquant::{
    self, RowContext, SuperBlockFormat, SuperBlockMatrix, SuperBlockRows,
};
use sluice_kernels::quant::{self, PackedMatrix, QuantizedRows, WeightFormat};
use std::sync::Arc;

/// `y = x W^T` with `W` kept in its stored (usually quantized) type. The 32-value block
/// formats (Q4_0, Q4_1, Q8_0, and Q5_0 stored as Q8_0) are repacked for `sluice-kernels`, and
/// the K-quants Q4_K and Q6_K kept as they are for its super-block kernels (both with
/// llama.cpp's arithmetic, batch-invariant); anything else goes through candle's `QMatMul`.
pub struct Linear {
    weight: Weight,
    in_dim: usize,
    out_dim: usize,
    /// How the source stored the weights (before any repacking).
    stored: GgmlDType,
}

enum Weight {
    Packed(PackedMatrix),
    SuperBlocks(SuperBlockMatrix),
    Candle {
        matmul: QMatMul,
        tensor: Arc<QTensor>,
    },
}

impl Linear {
    /// The matrix `weight` (`[out_dim, in_dim]`); `name` is the tensor's, for errors.
    pub fn new(name: &str, weight: TensorView<'_>) -> Result<Self, ModelError> {
        let tensor_error = |reason| ModelError::Tensor {
            name: name.to_string(),
            reason,
        };
        let &[out_dim, in_dim] = weight.shape.as_slice() else {
            return Err(tensor_error(format!(
                "shape {:?}, expected a matrix",
                weight.shape
            )));
        };
        let stored = weight.dtype;
        let blocks = in_dim % quant::BLOCK == 0;
        let super_blocks = in_dim % kquant::SUPER_BLOCK == 0;
        let packed = |format, bytes: &[u8]| {
            PackedMatrix::pack(format, bytes, out_dim, in_dim).map_err(tensor_error)
        };
        let kept = |format| {
            SuperBlockMatrix::new(format, weight.data, out_dim, in_dim).map_err(tensor_error)
        };
        let block_format = match stored {
            GgmlDType::Q4_1 => Some(WeightFormat::Q4_1),
            GgmlDType::Q4_0 => Some(WeightFormat::Q4_0),
            GgmlDType::Q8_0 => Some(WeightFormat::Q8_0),
            _ => None,
        };
        let weight = match (stored, block_format) {
            (_, Some(format)) if blocks => Weight::Packed(packed(format, weight.data)?),
            (GgmlDType::Q5_0, _) if blocks => {
                let as_q8_0 = quant::q5_0_as_q8_0(weight.data).map_err(tensor_error)?;
                Weight::Packed(packed(WeightFormat::Q8_0, &as_q8_0)?)
            }
            (GgmlDType::Q4K, _) if super_blocks => {
                Weight::SuperBlocks(kept(SuperBlockFormat::Q4K)?)
            }
            (GgmlDType::Q6K, _) if super_blocks => {
                Weight::SuperBlocks(kept(SuperBlockFormat::Q6K)?)
            }
            _ => {
                let tensor = qtensor_from_ggml(stored, weight.data, weight.shape, &Device::Cpu)?;
                let tensor = Arc::new(tensor);
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
            stored,
        })
    }

    /// The storage type of the weights as llama.cpp names it (`q4_1`, `f16`).
    pub fn stored_type(&self) -> String {
        format!("{:?}", self.stored).to_lowercase()
    }

    /// `x` is `[rows, in_dim]`, each row multiplied alone; returns `[rows, out_dim]`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let mut out = Vec::new();
        self.forward_into(x, &[], &mut QuantizedInput::default(), &mut out)?;
        Ok(out)
    }

    /// [`Linear::forward_shared`] of one projection.
    pub fn forward_into(
        &self,
        x: &[f32],
        contexts: &[RowContext],
        quantized: &mut QuantizedInput,
        out: &mut Vec<f32>,
    ) -> Result<(), ModelError> {
        Self::forward_shared(x, contexts, [self], quantized, [out])
    }

    /// Several projections of the same input `x` (`[rows, in_dim]`: q/k/v, gate/up, or one),
    /// into `outs` (`[rows, out_dim]` each, their allocations reused). The activations are
    /// quantized once for all of them, into `quantized`. `contexts` says, per row, where
    /// llama.cpp would have multiplied it (`crate::llama_cpp_batching`), which the K-quant
    /// products round by; empty for every row alone.
    pub fn forward_shared<const N: usize>(
        x: &[f32],
        contexts: &[RowContext],
        linears: [&Linear; N],
        quantized: &mut QuantizedInput,
        outs: [&mut Vec<f32>; N],
    ) -> Result<(), ModelError> {
        let (mut as_blocks, mut as_super_blocks) = (false, false);
        for (linear, out) in linears.into_iter().zip(outs) {
            let rows = x.len() / linear.in_dim;
            // The products overwrite every element: resizing zeroes only what the buffer grows
            // by.
            match &linear.weight {
                Weight::Packed(w) => {
                    if !std::mem::replace(&mut as_blocks, true) {
                        quant::quantize_rows(x, linear.in_dim, &mut quantized.blocks);
                    }
                    out.resize(rows * linear.out_dim, 0.0);
                    quant::matmul(w, &quantized.blocks, out);
                }
                Weight::SuperBlocks(w) => {
                    if !std::mem::replace(&mut as_super_blocks, true) {
                        let out = &mut quantized.super_blocks;
                        kquant::quantize_rows_k(x, linear.in_dim, contexts, out);
                    }
                    out.resize(rows * linear.out_dim, 0.0);
                    kquant::matmul_k(w, &quantized.super_blocks, out);
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

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Rows `ids` of `W` (`[ids.len(), in_dim]`): the lookup of an embedding table, which
    /// small models share with their output projection.
    pub fn rows(&self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        match &self.weight {
            Weight::Packed(w) => Ok(self.lookup(ids, |id, row| w.dequantize_row(id, row))),
            Weight::SuperBlocks(w) => Ok(self.lookup(ids, |id, row| w.dequantize_row(id, row))),
            Weight::Candle { tensor, .. } => {
                let ids = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
                Ok(tensor.embedding(&ids)?.flatten_all()?.to_vec1::<f32>()?)
            }
        }
    }
}

impl Linear {
    /// `dequantize(id, row)` for each of `ids`, into consecutive rows.
    fn lookup(&self, ids: &[u32], dequantize: impl Fn(usize, &mut [f32])) -> Vec<f32> {
        let mut out = vec![0f32; ids.len() * self.in_dim];
        for (&id, row) in ids.iter().zip(out.chunks_exact_mut(self.in_dim)) {
            dequantize(id as usize, row);
        }
        out
    }
}

/// A projection input quantized for the weights that read it: to Q8_0/Q8_1 blocks for the
/// 32-value formats, to Q8_K for the K-quants; each once for all the projections that share
/// the input, and only if one of them needs it.
#[derive(Default)]
pub struct QuantizedInput {
    blocks: QuantizedRows,
    super_blocks: SuperBlockRows,
}
