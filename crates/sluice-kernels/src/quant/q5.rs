//! Q5_0 weights, stored as Q8_0. A Q5_0 value `q - 16` (`q` 5 bits) fits an i8, and llama.cpp's
//! AVX2 `ggml_vec_dot_q5_0_q8_0` is `ggml_vec_dot_q8_0_q8_0` once the bits are unpacked (the
//! same signed pair sums, the same fused multiply-add per block), so the Q8_0 kernels give
//! Q5_0's results exactly. This costs 34 bytes per block instead of 22 (a decode step reads
//! those weights 1.5 times as long); in return no third 32-value kernel family.

use super::{WeightFormat, BLOCK};

/// Bytes of one Q5_0 block: f16 scale, 32 high bits, 16 bytes of low nibbles.
pub const Q5_0_BLOCK_BYTES: usize = 22;

/// GGUF Q5_0 blocks as GGUF Q8_0 blocks with the same values.
pub fn q5_0_as_q8_0(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if !bytes.len().is_multiple_of(Q5_0_BLOCK_BYTES) {
        return Err(format!(
            "{} bytes is not a whole number of Q5_0 blocks",
            bytes.len()
        ));
    }
    let mut out =
        Vec::with_capacity(bytes.len() / Q5_0_BLOCK_BYTES * WeightFormat::Q8_0.block_bytes());
    for block in bytes.chunks_exact(Q5_0_BLOCK_BYTES) {
        let high = u32::from_le_bytes(block[2..6].try_into().unwrap());
        let low = &block[6..];
        out.extend_from_slice(&block[..2]);
        out.extend((0..BLOCK).map(|j| {
            let nibble = if j < BLOCK / 2 {
                low[j] & 0x0F
            } else {
                low[j - BLOCK / 2] >> 4
            };
            let q = nibble | (((high >> j) & 1) as u8) << 4;
            (q as i8 - 16) as u8
        }));
    }
    Ok(out)
}
