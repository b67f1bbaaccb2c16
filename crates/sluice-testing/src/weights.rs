//! A tiny model's weights in llama.cpp's names and layout, drawn once for both writers.

use crate::{TinyArch, TinyLlama};
use candle_core::quantized::GgmlDType;

/// One tensor: llama.cpp's name, its shape (`[rows, cols]`, or `[len]` for a vector), its
/// values, and the type a GGUF file stores it as.
pub(crate) struct TinyTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub gguf_type: GgmlDType,
}

/// How a tensor is drawn: stored type, then `offset + scale * uniform(-1, 1)`.
type Init = (GgmlDType, f32, f32);

/// Every tensor of the model, in a fixed order (so the same seed draws the same values).
pub(crate) fn tensors(cfg: &TinyLlama, vocab: usize) -> Vec<TinyTensor> {
    let head_dim = cfg.head_dim();
    // Norm weights near 1, matmul weights scaled by 1/sqrt(fan-in) so activations stay O(1).
    let (h, kvw, ffn) = (cfg.hidden, cfg.kv_heads * head_dim, cfg.ffn);
    let (w, w_ffn) = (1.0 / (h as f32).sqrt(), 1.0 / (ffn as f32).sqrt());
    let norm = (GgmlDType::F32, 0.2, 1.0);
    let mut specs: Vec<(String, Vec<usize>, Init)> = vec![
        (
            "token_embd.weight".into(),
            vec![vocab, h],
            (GgmlDType::Q8_0, 1.0, 0.0),
        ),
        ("output_norm.weight".into(), vec![h], norm),
    ];
    // Gemma 3 files mix types (as its Q4_K_M file does); Llama's are all Q4_1.
    let (qkv_gate_up, attn_out, down) = match cfg.arch {
        TinyArch::Gemma3 => (GgmlDType::Q5_0, GgmlDType::Q4K, GgmlDType::Q6K),
        _ => (GgmlDType::Q4_1, GgmlDType::Q4_1, GgmlDType::Q4_1),
    };
    let qw = cfg.heads * head_dim;
    for i in 0..cfg.layers {
        let p = format!("blk.{i}");
        specs.extend([
            (format!("{p}.attn_norm.weight"), vec![h], norm),
            (format!("{p}.ffn_norm.weight"), vec![h], norm),
            (
                format!("{p}.attn_q.weight"),
                vec![qw, h],
                (qkv_gate_up, 2.0 * w, 0.0),
            ),
            (
                format!("{p}.attn_k.weight"),
                vec![kvw, h],
                (qkv_gate_up, 2.0 * w, 0.0),
            ),
            (
                format!("{p}.attn_v.weight"),
                vec![kvw, h],
                (qkv_gate_up, w, 0.0),
            ),
            (
                format!("{p}.attn_output.weight"),
                vec![h, qw],
                (attn_out, w, 0.0),
            ),
            (
                format!("{p}.ffn_gate.weight"),
                vec![ffn, h],
                (qkv_gate_up, w, 0.0),
            ),
            (
                format!("{p}.ffn_up.weight"),
                vec![ffn, h],
                (qkv_gate_up, w, 0.0),
            ),
            (
                format!("{p}.ffn_down.weight"),
                vec![h, ffn],
                (down, w_ffn, 0.0),
            ),
        ]);
        match cfg.arch {
            TinyArch::Gemma3 => specs.extend([
                (format!("{p}.attn_q_norm.weight"), vec![head_dim], norm),
                (format!("{p}.attn_k_norm.weight"), vec![head_dim], norm),
                (format!("{p}.post_attention_norm.weight"), vec![h], norm),
                (format!("{p}.post_ffw_norm.weight"), vec![h], norm),
            ]),
            TinyArch::Qwen2 => {
                let bias = (GgmlDType::F32, 0.5, 0.0);
                specs.extend([
                    (format!("{p}.attn_q.bias"), vec![qw], bias),
                    (format!("{p}.attn_k.bias"), vec![kvw], bias),
                    (format!("{p}.attn_v.bias"), vec![kvw], bias),
                ]);
            }
            TinyArch::Llama => {}
        }
    }
    if let Some(noise) = cfg.output_noise {
        specs.push((
            "output.weight".into(),
            vec![vocab, h],
            (GgmlDType::Q8_0, noise, 0.0),
        ));
    }
    let mut rng = cfg.seed;
    let mut tensors: Vec<TinyTensor> = specs
        .into_iter()
        .map(|(name, shape, (dtype, scale, offset))| {
            let values = (0..shape.iter().product::<usize>())
                .map(|_| offset + scale * next_uniform(&mut rng))
                .collect();
            let gguf_type = match cfg.matrices {
                Some(matrices) if shape.len() == 2 => matrices,
                _ => dtype,
            };
            TinyTensor {
                name,
                shape,
                values,
                gguf_type,
            }
        })
        .collect();
    if cfg.output_noise.is_some() {
        // Noise drawn above, on top of the embedding it would otherwise be tied to.
        let (embedding, output) = (&tensors[0], tensors.len() - 1);
        let embedding = embedding.values.clone();
        for (o, e) in tensors[output].values.iter_mut().zip(embedding) {
            *o += e;
        }
    }
    tensors
}

/// Uniform in [-1, 1) from a 64-bit LCG: tests need repeatable variety, not quality.
fn next_uniform(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}
