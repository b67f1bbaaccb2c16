use super::dense::{widen_floats, DenseWeights};
use crate::load::{TensorView, WeightDtype};
use crate::ModelError;
use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use sluice_kernels::quant::kquant::{
    self, RowContext, SuperBlockFormat, SuperBlockMatrix, SuperBlockRows,
};
use sluice_kernels::quant::{self, PackedMatrix, QuantizedRows, WeightFormat};
use std::sync::Arc;

/// `y = x W^T (+ b)` with `W` held as loaded. The 32-value block formats (Q4_0, Q4_1, Q8_0,
/// and Q5_0 run as Q8_0) are repacked for `sluice-kernels`, and the K-quants Q4_K and Q6_K
/// kept as they are for its super-block kernels (both with llama.cpp's arithmetic,
/// batch-invariant); floats and int8 rows go to its dense kernels; anything else through
/// candle's `QMatMul`.
pub struct Linear {
    weight: Weight,
    bias: Option<Vec<f32>>,
    in_dim: usize,
    out_dim: usize,
    /// What the weights are held as, as llama.cpp names types (`q4_1`, `f16`), or `int8`.
    held: String,
}

enum Weight {
    Packed(PackedMatrix),
    SuperBlocks(SuperBlockMatrix),
    Dense(DenseWeights),
    Candle {
        matmul: QMatMul,
        tensor: Arc<QTensor>,
    },
}

/// What a matrix is held as once loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// As the source stores it: a GGUF's blocks as they are, floats memory-mapped in place.
    AsStored,
    /// Floats converted to this type (quantized weights stay as they are).
    Float(WeightDtype),
    /// Floats quantized to one of llama.cpp's block formats; quantized weights must already
    /// be in it.
    Block(GgmlDType),
    /// Floats quantized to int8 per row; quantized weights are refused.
    Int8,
}

/// Quantized weights of `dtype` (`bytes` as llama.cpp lays them out) for the kernels that
/// read them: repacked blocks, kept super-blocks, or candle's `QMatMul` for other types.
fn blocks(dtype: GgmlDType, bytes: &[u8], out_dim: usize, in_dim: usize) -> Result<Weight, String> {
    let packed = |format, bytes: &[u8]| PackedMatrix::pack(format, bytes, out_dim, in_dim);
    let kept = |format| SuperBlockMatrix::new(format, bytes, out_dim, in_dim);
    let (whole_blocks, whole_super_blocks) = (
        in_dim.is_multiple_of(quant::BLOCK),
        in_dim.is_multiple_of(kquant::SUPER_BLOCK),
    );
    let block_format = match dtype {
        GgmlDType::Q4_1 => Some(WeightFormat::Q4_1),
        GgmlDType::Q4_0 => Some(WeightFormat::Q4_0),
        GgmlDType::Q8_0 => Some(WeightFormat::Q8_0),
        _ => None,
    };
    Ok(match (dtype, block_format) {
        (_, Some(format)) if whole_blocks => Weight::Packed(packed(format, bytes)?),
        (GgmlDType::Q5_0, _) if whole_blocks => {
            Weight::Packed(packed(WeightFormat::Q8_0, &quant::q5_0_as_q8_0(bytes)?)?)
        }
        (GgmlDType::Q4K, _) if whole_super_blocks => {
            Weight::SuperBlocks(kept(SuperBlockFormat::Q4K)?)
        }
        (GgmlDType::Q6K, _) if whole_super_blocks => {
            Weight::SuperBlocks(kept(SuperBlockFormat::Q6K)?)
        }
        _ => {
            let candle = |e: candle_core::Error| crate::error::candle_message(&e);
            let tensor = qtensor_from_ggml(dtype, bytes, vec![out_dim, in_dim], &Device::Cpu)
                .map_err(candle)?;
            let tensor = Arc::new(tensor);
            Weight::Candle {
                matmul: QMatMul::from_arc(tensor.clone()).map_err(candle)?,
                tensor,
            }
        }
    })
}

fn is_float(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// A type's name as llama.cpp writes it (`q4_1`, `q4_k`, `bf16`).
fn type_name(dtype: GgmlDType) -> String {
    format!("{dtype:?}").to_lowercase()
}

impl Linear {
    /// The matrix `weight` (`[out_dim, in_dim]`) held as `hold` says; `name` is the tensor's,
    /// for errors.
    pub fn new(name: &str, weight: TensorView, hold: Hold) -> Result<Self, ModelError> {
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
        let bytes = weight.data.bytes();
        if !is_float(stored) {
            // Quantized weights are kept as they are; --quantize may name their own type.
            if matches!(hold, Hold::Int8) || matches!(hold, Hold::Block(t) if t != stored) {
                return Err(tensor_error(format!(
                    "stored as {}, and sluice quantizes only float weights at load",
                    type_name(stored)
                )));
            }
            let weight = blocks(stored, bytes, out_dim, in_dim).map_err(tensor_error)?;
            return Ok(Linear::held(weight, in_dim, out_dim, type_name(stored)));
        }
        let floats = || widen_floats(stored, bytes).expect("a float type");
        let as_stored = || {
            let dense = DenseWeights::as_stored(stored, weight.data.clone()).expect("a float type");
            Ok(Linear::held(
                Weight::Dense(dense),
                in_dim,
                out_dim,
                type_name(stored),
            ))
        };
        // A converted copy replaces the stored bytes, which need not stay resident.
        let converted = |held: Weight, held_as: String| {
            weight.data.release();
            Ok(Linear::held(held, in_dim, out_dim, held_as))
        };
        match hold {
            Hold::AsStored => as_stored(),
            Hold::Float(dtype) if dtype.ggml() == stored => as_stored(),
            Hold::Float(dtype) => converted(
                Weight::Dense(DenseWeights::from_f32(floats(), dtype)),
                type_name(dtype.ggml()),
            ),
            Hold::Block(target) => {
                let tensor = Tensor::from_vec(floats(), (out_dim, in_dim), &Device::Cpu)?;
                let quantized = QTensor::quantize(&tensor, target)?;
                let blocks =
                    blocks(target, &quantized.data()?, out_dim, in_dim).map_err(tensor_error)?;
                converted(blocks, type_name(target))
            }
            Hold::Int8 => converted(
                Weight::Dense(DenseWeights::int8(&floats(), in_dim)),
                "int8".into(),
            ),
        }
    }

    fn held(weight: Weight, in_dim: usize, out_dim: usize, held: String) -> Self {
        Linear {
            weight,
            bias: None,
            in_dim,
            out_dim,
            held,
        }
    }

    /// The same projection plus `bias` (`out_dim` values), added to every row.
    pub fn with_bias(self, name: &str, bias: Vec<f32>) -> Result<Self, ModelError> {
        if bias.len() != self.out_dim {
            return Err(ModelError::Tensor {
                name: name.to_string(),
                reason: format!("{} values, expected {}", bias.len(), self.out_dim),
            });
        }
        Ok(Linear {
            bias: Some(bias),
            ..self
        })
    }

    /// What the weights are held as (`q4_1`, `f16`, `int8`).
    pub fn held_type(&self) -> &str {
        &self.held
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
                Weight::Dense(w) => {
                    out.resize(rows * linear.out_dim, 0.0);
                    w.matmul((linear.out_dim, linear.in_dim), x, contexts, out);
                }
                Weight::Candle { matmul, .. } => {
                    let x = Tensor::from_slice(x, (rows, linear.in_dim), &Device::Cpu)?;
                    *out = matmul.forward(&x)?.flatten_all()?.to_vec1::<f32>()?;
                }
            }
            if let Some(bias) = &linear.bias {
                for row in out.chunks_exact_mut(linear.out_dim) {
                    row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
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
            Weight::Dense(w) => Ok(self.lookup(ids, |id, row| w.row(id, row))),
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
