//! The number type of the KV cache's values, as the `--kv-cache-dtype` flag names it.

use half::f16;
use sluice_kernels::attention::slot_stride;
use std::fmt;
use std::str::FromStr;

/// The number type of the cache's values (`--kv-cache-dtype`).
///
/// f32 is llama.cpp's most exact setting, which the committed greedy references use. f16
/// halves the cache (twice the tokens in the same memory, half the bytes attention reads) and
/// rounds as llama.cpp's f16 cache does without flash attention (its own references).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvDtype {
    #[default]
    F32,
    F16,
}

impl KvDtype {
    /// Bytes of one cache slot: `kv_heads * head_dim` values, padded (`slot_stride`).
    pub(crate) fn slot_bytes(self, kv_heads: usize, head_dim: usize) -> usize {
        let value_bytes = match self {
            KvDtype::F32 => std::mem::size_of::<f32>(),
            KvDtype::F16 => std::mem::size_of::<f16>(),
        };
        self.slot_stride(kv_heads, head_dim) * value_bytes
    }

    /// Values of one cache slot, padding included.
    pub(crate) fn slot_stride(self, kv_heads: usize, head_dim: usize) -> usize {
        match self {
            KvDtype::F32 => slot_stride::<f32>(kv_heads, head_dim),
            KvDtype::F16 => slot_stride::<f16>(kv_heads, head_dim),
        }
    }
}

impl FromStr for KvDtype {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(KvDtype::F32),
            "f16" => Ok(KvDtype::F16),
            _ => Err(format!(
                "unknown KV cache dtype {s:?} (expected f32 or f16)"
            )),
        }
    }
}

impl fmt::Display for KvDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KvDtype::F32 => "f32",
            KvDtype::F16 => "f16",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_parse_and_print_as_the_flag_spells_them() {
        for dtype in [KvDtype::F32, KvDtype::F16] {
            assert_eq!(dtype.to_string().parse::<KvDtype>(), Ok(dtype));
        }
        assert!("bf16"
            .parse::<KvDtype>()
            .unwrap_err()
            .contains("f32 or f16"));
    }
}
