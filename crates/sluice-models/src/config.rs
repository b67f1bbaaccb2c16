use crate::{GgufFile, ModelError};

/// Hyper-parameters of a decoder-only transformer, resolved from GGUF metadata once.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub architecture: String,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f32,
    pub rope_dim: usize,
    pub context_length: usize,
    /// Storage type of the layers' weights (that of the first attention query), e.g. `q4_1`.
    pub weight_type: String,
}

impl ModelConfig {
    /// Reads `<arch>.*` keys the way llama.cpp does for Llama-like models.
    pub fn from_gguf(gguf: &GgufFile, arch: &str) -> Result<Self, ModelError> {
        let key = |k: &str| format!("{arch}.{k}");
        let hidden_size = gguf.usize(&key("embedding_length"))?;
        let num_heads = gguf.usize(&key("attention.head_count"))?;
        let num_kv_heads = if gguf.has(&key("attention.head_count_kv")) {
            gguf.usize(&key("attention.head_count_kv"))?
        } else {
            num_heads
        };
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(ModelError::Metadata(format!(
                "bad head counts {num_heads}/{num_kv_heads}"
            )));
        }
        let head_dim = if gguf.has(&key("attention.key_length")) {
            gguf.usize(&key("attention.key_length"))?
        } else {
            hidden_size / num_heads
        };
        let rope_dim = if gguf.has(&key("rope.dimension_count")) {
            gguf.usize(&key("rope.dimension_count"))?
        } else {
            head_dim
        };
        let vocab_size = if gguf.has(&key("vocab_size")) {
            gguf.usize(&key("vocab_size"))?
        } else {
            gguf.tokenizer_spec()?.tokens.len()
        };
        Ok(ModelConfig {
            architecture: arch.to_string(),
            hidden_size,
            num_layers: gguf.usize(&key("block_count"))?,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size: gguf.usize(&key("feed_forward_length"))?,
            vocab_size,
            rms_norm_eps: gguf.f32(&key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: if gguf.has(&key("rope.freq_base")) {
                gguf.f32(&key("rope.freq_base"))?
            } else {
                10_000.0
            },
            rope_dim,
            context_length: gguf.usize(&key("context_length"))?,
            weight_type: gguf
                .tensor_type("blk.0.attn_q.weight")
                .unwrap_or_else(|| "unknown".into()),
        })
    }
}
