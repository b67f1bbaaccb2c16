//! How a model's weights are to be held once loaded: `--dtype` and `--quantize`.

use candle_core::quantized::GgmlDType;
use std::fmt;
use std::str::FromStr;

/// The number type float weights are held in (`--dtype`). The CPU computes in f32 whatever
/// the weights are held in: each weight is widened exactly as it is multiplied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightDtype {
    F32,
    F16,
    Bf16,
}

impl WeightDtype {
    pub(crate) fn ggml(self) -> GgmlDType {
        match self {
            WeightDtype::F32 => GgmlDType::F32,
            WeightDtype::F16 => GgmlDType::F16,
            WeightDtype::Bf16 => GgmlDType::BF16,
        }
    }
}

impl FromStr for WeightDtype {
    type Err = String;

    /// TGI's and vLLM's spellings, and llama.cpp's.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "float32" | "f32" | "fp32" => Ok(WeightDtype::F32),
            "float16" | "f16" | "fp16" | "half" => Ok(WeightDtype::F16),
            "bfloat16" | "bf16" => Ok(WeightDtype::Bf16),
            _ => Err(format!(
                "unknown dtype {s:?} (expected float32, float16 or bfloat16)"
            )),
        }
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightDtype::F32 => "float32",
            WeightDtype::F16 => "float16",
            WeightDtype::Bf16 => "bfloat16",
        })
    }
}

/// A format float weights are quantized to at load (`--quantize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantization {
    /// Symmetric per-output-channel int8, weight-only (TGI's `eetq`).
    Int8,
    /// One of llama.cpp's block formats, so that a checkpoint runs on the same kernels as a
    /// GGUF file of that type.
    Block(BlockFormat),
}

/// llama.cpp's block formats `--quantize` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockFormat {
    Q8_0,
    Q4_0,
    Q4_1,
    Q4K,
}

impl BlockFormat {
    pub(crate) fn ggml(self) -> GgmlDType {
        match self {
            BlockFormat::Q8_0 => GgmlDType::Q8_0,
            BlockFormat::Q4_0 => GgmlDType::Q4_0,
            BlockFormat::Q4_1 => GgmlDType::Q4_1,
            BlockFormat::Q4K => GgmlDType::Q4K,
        }
    }
}

impl FromStr for Quantization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "eetq" | "int8" => Ok(Quantization::Int8),
            "q8_0" => Ok(Quantization::Block(BlockFormat::Q8_0)),
            "q4_0" => Ok(Quantization::Block(BlockFormat::Q4_0)),
            "q4_1" => Ok(Quantization::Block(BlockFormat::Q4_1)),
            "q4_k" | "q4_k_m" => Ok(Quantization::Block(BlockFormat::Q4K)),
            _ => Err(format!(
                "unknown quantization {s:?} (expected eetq, int8, q8_0, q4_0, q4_1 or q4_k)"
            )),
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantization::Int8 => "int8",
            Quantization::Block(BlockFormat::Q8_0) => "q8_0",
            Quantization::Block(BlockFormat::Q4_0) => "q4_0",
            Quantization::Block(BlockFormat::Q4_1) => "q4_1",
            Quantization::Block(BlockFormat::Q4K) => "q4_k",
        })
    }
}

/// How the weights are held once loaded. The default holds them as stored: a GGUF's blocks
/// as they are, a checkpoint's floats memory-mapped in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The type float weights are converted to (norms stay f32).
    pub dtype: Option<WeightDtype>,
    /// The format float projection weights are quantized to. Naming the format a GGUF file
    /// already holds is accepted; any other is refused for quantized weights.
    pub quantize: Option<Quantization>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_spellings_parse_and_print_back() {
        for s in ["float32", "float16", "bfloat16"] {
            assert_eq!(s.parse::<WeightDtype>().unwrap().to_string(), s);
        }
        assert_eq!("BF16".parse::<WeightDtype>(), Ok(WeightDtype::Bf16));
        assert!("int4"
            .parse::<WeightDtype>()
            .unwrap_err()
            .contains("float32"));
        assert_eq!("eetq".parse::<Quantization>(), Ok(Quantization::Int8));
        for s in ["int8", "q8_0", "q4_0", "q4_1", "q4_k"] {
            assert_eq!(s.parse::<Quantization>().unwrap().to_string(), s);
        }
        assert!("awq".parse::<Quantization>().unwrap_err().contains("eetq"));
    }
}
