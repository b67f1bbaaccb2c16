//! Gated feed-forward activations: `out = act(gate) * up`.

use crate::cpu::for_each_row;
use crate::ggml::{self, LANES};

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

#[cfg(test)]
mod tests {
    use super::*;

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
