//! Gated feed-forward activations: `out = act(gate) * up`.

/// SwiGLU (Llama): `silu(g) * u`.
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + (-g).exp()) * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silu_matches_definition() {
        let mut out = [0.0; 3];
        silu_mul(&[0.0, 1.0, -2.0], &[5.0, 2.0, 1.0], &mut out);
        assert_eq!(out[0], 0.0);
        assert!((out[1] - 2.0 * 0.731_058_6).abs() < 1e-6);
        assert!((out[2] - -2.0 * 0.119_202_92).abs() < 1e-6);
    }
}
