//! llama.cpp's tensor names in a Hugging Face checkpoint, and what its converter does to the
//! tensors that GGUF stores differently, so that the architecture files read the same values
//! from either format.

use super::config::HfArch;

/// What a tensor needs on its way from the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rewrite {
    None,
    /// q or k rows reordered from the halves rotation `transformers` uses to the interleaved
    /// one llama.cpp's Llama uses (`convert_hf_to_gguf.py`'s `permute`), `heads` heads of them.
    InterleaveRows {
        heads: usize,
    },
    /// Gemma's norm weights: `transformers` multiplies by `1 + w`, llama.cpp's converter
    /// stores `1 + w`.
    AddOne,
}

/// The checkpoint's name for llama.cpp's `name`, and how to rewrite it; `None` for a tensor the
/// architecture's checkpoints do not have.
pub(super) fn checkpoint_name(
    arch: HfArch,
    name: &str,
    heads: (usize, usize),
) -> Option<(String, Rewrite)> {
    let rewrite_norm = |n: &str| match arch {
        HfArch::Gemma3 if n.ends_with("norm.weight") => Rewrite::AddOne,
        _ => Rewrite::None,
    };
    let whole = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output.weight" => Some("lm_head.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        _ => None,
    };
    if let Some(hf) = whole {
        return Some((hf.to_string(), rewrite_norm(name)));
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let hf_part = match (arch, part) {
        (_, "attn_norm.weight") => "input_layernorm.weight",
        (_, "attn_q.weight") => "self_attn.q_proj.weight",
        (_, "attn_k.weight") => "self_attn.k_proj.weight",
        (_, "attn_v.weight") => "self_attn.v_proj.weight",
        (_, "attn_output.weight") => "self_attn.o_proj.weight",
        (HfArch::Qwen2, "attn_q.bias") => "self_attn.q_proj.bias",
        (HfArch::Qwen2, "attn_k.bias") => "self_attn.k_proj.bias",
        (HfArch::Qwen2, "attn_v.bias") => "self_attn.v_proj.bias",
        (HfArch::Gemma3, "attn_q_norm.weight") => "self_attn.q_norm.weight",
        (HfArch::Gemma3, "attn_k_norm.weight") => "self_attn.k_norm.weight",
        // "post_attention_layernorm" is Llama's norm before the MLP, and Gemma's after
        // attention.
        (HfArch::Gemma3, "post_attention_norm.weight") => "post_attention_layernorm.weight",
        (HfArch::Gemma3, "ffn_norm.weight") => "pre_feedforward_layernorm.weight",
        (HfArch::Gemma3, "post_ffw_norm.weight") => "post_feedforward_layernorm.weight",
        (_, "ffn_norm.weight") => "post_attention_layernorm.weight",
        (_, "ffn_gate.weight") => "mlp.gate_proj.weight",
        (_, "ffn_up.weight") => "mlp.up_proj.weight",
        (_, "ffn_down.weight") => "mlp.down_proj.weight",
        _ => return None,
    };
    let (q_heads, kv_heads) = heads;
    let rewrite = match (arch, part) {
        (HfArch::Llama, "attn_q.weight") => Rewrite::InterleaveRows { heads: q_heads },
        (HfArch::Llama, "attn_k.weight") => Rewrite::InterleaveRows { heads: kv_heads },
        _ => rewrite_norm(part),
    };
    Some((format!("model.layers.{layer}.{hf_part}"), rewrite))
}

/// `rows` rows of `row_bytes` bytes each, in `heads` heads: within each head, row `j` of its
/// first half and row `j` of its second half become rows `2j` and `2j + 1`.
pub(super) fn interleave_rows(bytes: &[u8], heads: usize, row_bytes: usize) -> Option<Vec<u8>> {
    let rows = bytes.len() / row_bytes.max(1);
    if heads == 0 || !rows.is_multiple_of(2 * heads) || rows * row_bytes != bytes.len() {
        return None;
    }
    let head_rows = rows / heads;
    let half = head_rows / 2;
    let mut out = Vec::with_capacity(bytes.len());
    for h in 0..heads {
        for j in 0..half {
            for from_half in 0..2 {
                let row = h * head_rows + from_half * half + j;
                out.extend_from_slice(&bytes[row * row_bytes..(row + 1) * row_bytes]);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_names_and_rewrites() {
        let name = |n| checkpoint_name(HfArch::Llama, n, (9, 3));
        assert_eq!(
            name("blk.4.attn_q.weight"),
            Some((
                "model.layers.4.self_attn.q_proj.weight".into(),
                Rewrite::InterleaveRows { heads: 9 }
            ))
        );
        assert_eq!(
            name("blk.0.attn_k.weight").unwrap().1,
            Rewrite::InterleaveRows { heads: 3 }
        );
        assert_eq!(
            name("blk.2.ffn_norm.weight").unwrap().0,
            "model.layers.2.post_attention_layernorm.weight"
        );
        assert_eq!(name("blk.0.attn_q.bias"), None);
        assert_eq!(name("output.weight").unwrap().0, "lm_head.weight");
    }

    #[test]
    fn gemma_norms_take_their_one_and_keep_their_own_names() {
        let name = |n| checkpoint_name(HfArch::Gemma3, n, (4, 1)).unwrap();
        assert_eq!(
            name("blk.1.ffn_norm.weight"),
            (
                "model.layers.1.pre_feedforward_layernorm.weight".into(),
                Rewrite::AddOne
            )
        );
        assert_eq!(
            name("blk.1.post_attention_norm.weight").0,
            "model.layers.1.post_attention_layernorm.weight"
        );
        assert_eq!(name("output_norm.weight").1, Rewrite::AddOne);
        assert_eq!(name("blk.0.attn_q.weight").1, Rewrite::None);
    }

    /// The inverse of what a GGUF reader undoes: head rows `[a0 a1 a2 b0 b1 b2]` (two halves)
    /// become `[a0 b0 a1 b1 a2 b2]`.
    #[test]
    fn rows_interleave_per_head() {
        let rows: Vec<u8> = vec![0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32];
        assert_eq!(
            interleave_rows(&rows, 2, 1).unwrap(),
            [0, 10, 1, 11, 2, 12, 20, 30, 21, 31, 22, 32]
        );
        assert_eq!(
            interleave_rows(&rows, 5, 1),
            None,
            "12 rows are not 5 heads"
        );
    }
}
