//! Gated feed-forward activations: `out = act(gate) * up`.

use crate::cpu::for_each_row;
use crate::ggml::{self, LANES};
use half::f16;
use std::sync::OnceLock;

/// SwiGLU (Llama), as llama.cpp's `ggml_vec_swiglu_f32` on each row of `width` values:
/// `silu(g) * u` with `silu(g) = g / (1 + exp(0 - g))`, where `exp` is ggml's vectorised one
/// over whole groups of 8 and libm's for a row's last `width % 8` values.
pub fn silu_mul(gate: &[f32], up: &[f32], width: usize, out: &mut [f32]) {
    let vectorised = width / LANES * LANES;
    for_each_row(out, width, |r, o| {
        let (g, u) = (&gate[r * width..][..width], &up[r * width..][..width]);
        for ((o, g), u) in o[..vectorised]
            .chunks_exact_mut(LANES)
            .zip(g.chunks_exact(LANES))
            .zip(u.chunks_exact(LANES))
        {
            let mut exp: [f32; LANES] = std::array::from_fn(|i| 0.0 - g[i]);
            ggml::exp_group(&mut exp, 0.0);
            for i in 0..LANES {
                o[i] = g[i] / (1.0 + exp[i]) * u[i];
            }
        }
        for i in vectorised..width {
            o[i] = g[i] / (1.0 + (-g[i]).exp()) * u[i];
        }
    });
}

/// GeGLU (Gemma), as llama.cpp's `ggml_vec_geglu_f32` on each row of `width` values:
/// `gelu(g) * u`, where `gelu` is 0 at or below -10, the identity at or above 10, and in
/// between ggml's table lookup: `g` rounded to f16, its tanh-approximated GELU stored as f16.
pub fn gelu_mul(gate: &[f32], up: &[f32], width: usize, out: &mut [f32]) {
    let table = gelu_table();
    for_each_row(out, width, |r, o| {
        let (g, u) = (&gate[r * width..][..width], &up[r * width..][..width]);
        for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
            *o = if g <= -10.0 {
                0.0
            } else if g >= 10.0 {
                g * u
            } else {
                f16::from_bits(table[f16::from_f32(g).to_bits() as usize]).to_f32() * u
            };
        }
    });
}

/// ggml's `ggml_table_gelu_f16`: for every f16 `x`, `f16(gelu(x))` with
/// `gelu(x) = 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))` in f32, libm's `tanhf`, and the
/// one fused multiply-add that GCC makes of `1 + 0.044715·x·x` when llama.cpp is built for a
/// CPU with FMA, and ggml's one NaN (tests/data/kernel_refs.json holds the table's hash).
fn gelu_table() -> &'static [u16] {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        const COEF_A: f32 = 0.044715;
        // ggml's `SQRT_2_OVER_PI` (0.79788456080286535587989211986876f) as an f32.
        const SQRT_2_OVER_PI: f32 = f32::from_bits(0x3F4C_422A);
        (0..=u16::MAX)
            .map(|h| {
                let x = f16::from_bits(h).to_f32();
                let inner = (COEF_A * x).mul_add(x, 1.0);
                let gelu = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh());
                let bits = f16::from_f32(gelu).to_bits();
                // ggml's f16 conversion makes every NaN the quiet one, keeping only the sign.
                if gelu.is_nan() {
                    bits & 0x8000 | 0x7E00
                } else {
                    bits
                }
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FNV-1a hash of [`gelu_table`]'s bytes, for the test against ggml's.
    pub(crate) fn gelu_table_hash() -> u64 {
        gelu_table()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            })
    }

    #[test]
    fn gelu_table_equals_ggml() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/kernel_refs.json"
        );
        let refs: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let want = refs["gelu_table_fnv1a64"].as_str().unwrap();
        assert_eq!(format!("{:016x}", gelu_table_hash()), want);
    }

    #[test]
    fn gelu_mul_follows_ggml_cases() {
        let gate = [-12.0, -10.0, 0.0, 1.0, -0.5, 9.99, 10.0, 25.0];
        let up = [3.0, 3.0, 2.0, 2.0, 4.0, 1.0, 0.5, -1.0];
        let mut out = [f32::NAN; 8];
        gelu_mul(&gate, &up, 4, &mut out);
        assert_eq!(&out[..3], &[0.0, 0.0, 0.0]);
        // gelu(1) = 0.8412, to f16 precision.
        assert!((out[3] - 2.0 * 0.8412).abs() < 2e-3, "{}", out[3]);
        assert!(out[4] < 0.0 && out[4] > -4.0 * 0.16, "{}", out[4]);
        assert!((out[5] - 9.99).abs() < 1e-2, "{}", out[5]);
        assert_eq!(&out[6..], &[5.0, -25.0]);
    }

    #[test]
    fn silu_matches_definition() {
        let gate = [0.0, 1.0, -2.0, 0.5, 3.0, -0.25, 7.0, -9.0, 1.0, -2.0];
        let up = [5.0, 2.0, 1.0, 1.0, -1.0, 2.0, 0.5, 1.0, 2.0, 1.0];
        let mut out = [0.0; 10];
        silu_mul(&gate, &up, 10, &mut out);
        for ((&o, &g), &u) in out.iter().zip(&gate).zip(&up) {
            let want = g / (1.0 + (-g as f64).exp() as f32) * u;
            assert!(
                (o - want).abs() < 1e-6 * (1.0 + want.abs()),
                "{g}: {o} vs {want}"
            );
        }
        assert_eq!(out[0], 0.0);
    }
}
