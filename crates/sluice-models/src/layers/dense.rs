//! Weights held unpacked for `sluice_kernels::dense`: a checkpoint's floats (memory-mapped in
//! place, or converted to the requested type) or int8 rows with their scales.

use crate::load::{Mapped, WeightDtype};
use candle_core::quantized::GgmlDType;
use half::{bf16, f16};
use sluice_kernels::dense::{self, DenseMatrix};
use sluice_kernels::element::Element;
use sluice_kernels::ggml::RowContext;

/// A matrix's values as the dense kernels read them.
pub(super) enum DenseWeights {
    F32(Held<f32>),
    F16(Held<f16>),
    Bf16(Held<bf16>),
    I8 { values: Vec<i8>, scales: Vec<f32> },
}

/// Values of `E`: in a mapped file, read in place, or owned.
pub(super) enum Held<E> {
    Mapped(Mapped),
    Owned(Vec<E>),
}

/// Plain number types whose every bit pattern is a value, so bytes can be read as them.
pub(super) trait Pod: Element + Default {
    fn from_le_bytes(bytes: &[u8]) -> Self;
}

impl Pod for f32 {
    fn from_le_bytes(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl Pod for f16 {
    fn from_le_bytes(b: &[u8]) -> Self {
        f16::from_le_bytes([b[0], b[1]])
    }
}

impl Pod for bf16 {
    fn from_le_bytes(b: &[u8]) -> Self {
        bf16::from_le_bytes([b[0], b[1]])
    }
}

/// `bytes` as values of `E`, if they are aligned for it (a mapped file's tensors usually are).
fn as_values<E: Pod>(bytes: &[u8]) -> Option<&[E]> {
    // SAFETY: `E` is a plain number type (`Pod`): every bit pattern is a valid value, and
    // `align_to` hands out only the aligned middle, whose bytes it checks are in bounds.
    let (head, values, tail) = unsafe { bytes.align_to::<E>() };
    (head.is_empty() && tail.is_empty()).then_some(values)
}

impl<E: Pod> Held<E> {
    /// Little-endian values in place where aligned, else copied.
    pub(super) fn from_mapped(data: Mapped) -> Self {
        if cfg!(target_endian = "little") && as_values::<E>(data.bytes()).is_some() {
            return Held::Mapped(data);
        }
        let size = std::mem::size_of::<E>();
        Held::Owned(
            data.bytes()
                .chunks_exact(size)
                .map(E::from_le_bytes)
                .collect(),
        )
    }

    pub(super) fn values(&self) -> &[E] {
        match self {
            Held::Mapped(data) => as_values(data.bytes()).expect("checked in from_mapped"),
            Held::Owned(values) => values,
        }
    }
}

/// Float weights (f32, f16 or bf16 bytes, little-endian) widened to f32; `None` for other
/// types.
pub(crate) fn widen_floats(dtype: GgmlDType, bytes: &[u8]) -> Option<Vec<f32>> {
    fn widen<E: Pod>(bytes: &[u8]) -> Vec<f32> {
        let size = std::mem::size_of::<E>();
        bytes
            .chunks_exact(size)
            .map(|b| E::from_le_bytes(b).to_f32())
            .collect()
    }
    match dtype {
        GgmlDType::F32 => Some(widen::<f32>(bytes)),
        GgmlDType::F16 => Some(widen::<f16>(bytes)),
        GgmlDType::BF16 => Some(widen::<bf16>(bytes)),
        _ => None,
    }
}

impl DenseWeights {
    /// A float tensor's values as stored, read in place where they are aligned; `None` for a
    /// type that is not a float.
    pub(super) fn as_stored(dtype: GgmlDType, data: Mapped) -> Option<Self> {
        Some(match dtype {
            GgmlDType::F32 => DenseWeights::F32(Held::from_mapped(data)),
            GgmlDType::F16 => DenseWeights::F16(Held::from_mapped(data)),
            GgmlDType::BF16 => DenseWeights::Bf16(Held::from_mapped(data)),
            _ => return None,
        })
    }

    /// f32 values held as `dtype` (rounded to nearest even).
    pub(super) fn from_f32(values: Vec<f32>, dtype: WeightDtype) -> Self {
        match dtype {
            WeightDtype::F32 => DenseWeights::F32(Held::Owned(values)),
            WeightDtype::F16 => {
                DenseWeights::F16(Held::Owned(values.into_iter().map(f16::from_f32).collect()))
            }
            WeightDtype::Bf16 => DenseWeights::Bf16(Held::Owned(
                values.into_iter().map(bf16::from_f32).collect(),
            )),
        }
    }

    /// f32 values quantized to int8 rows of `cols`.
    pub(super) fn int8(values: &[f32], cols: usize) -> Self {
        let (values, scales) = dense::quantize_rows_i8(values, cols);
        DenseWeights::I8 { values, scales }
    }

    /// `out = x Wᵀ` for `W` of `shape` (`[rows, cols]`), each row of `x` summed as llama.cpp
    /// sums it where `contexts` says (empty: every row alone).
    pub(super) fn matmul(
        &self,
        shape: (usize, usize),
        x: &[f32],
        contexts: &[RowContext],
        out: &mut [f32],
    ) {
        fn matrix<E>(values: &[E], (rows, cols): (usize, usize)) -> DenseMatrix<'_, E> {
            DenseMatrix {
                values,
                rows,
                cols,
                scales: None,
            }
        }
        match self {
            DenseWeights::F32(h) => dense::matmul(matrix(h.values(), shape), x, contexts, out),
            DenseWeights::F16(h) => dense::matmul(matrix(h.values(), shape), x, contexts, out),
            DenseWeights::Bf16(h) => dense::matmul(matrix(h.values(), shape), x, contexts, out),
            DenseWeights::I8 { values, scales } => {
                let w = DenseMatrix {
                    scales: Some(scales),
                    ..matrix(values, shape)
                };
                dense::matmul(w, x, contexts, out)
            }
        }
    }

    /// Row `id` widened to f32 into `out` (an embedding lookup).
    pub(super) fn row(&self, id: usize, out: &mut [f32]) {
        fn widen<E: Element>(values: &[E], id: usize, scale: f32, out: &mut [f32]) {
            let cols = out.len();
            for (o, v) in out.iter_mut().zip(&values[id * cols..(id + 1) * cols]) {
                *o = v.to_f32() * scale;
            }
        }
        match self {
            DenseWeights::F32(h) => widen(h.values(), id, 1.0, out),
            DenseWeights::F16(h) => widen(h.values(), id, 1.0, out),
            DenseWeights::Bf16(h) => widen(h.values(), id, 1.0, out),
            DenseWeights::I8 { values, scales } => widen(values, id, scales[id], out),
        }
    }
}
