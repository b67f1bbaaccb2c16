use crate::load::{Settings, WeightSource};
use crate::weights::TensorNames;
use crate::ModelError;

/// Hyper-parameters of a decoder-only transformer, resolved from its source's settings once.
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
}

impl ModelConfig {
    /// The settings every architecture here shares, read as llama.cpp reads them for
    /// Llama-like models. Without a vocabulary size setting the vocabulary is the embedding's
    /// rows.
    pub(crate) fn read(source: &dyn WeightSource, names: &TensorNames) -> Result<Self, ModelError> {
        let s = Settings::new(source);
        let hidden_size = s.usize("embedding_length")?;
        let num_heads = s.usize("attention.head_count")?;
        let num_kv_heads = s.usize_or("attention.head_count_kv", num_heads)?;
        if num_heads == 0 || num_kv_heads == 0 || !num_heads.is_multiple_of(num_kv_heads) {
            return Err(ModelError::Metadata(format!(
                "bad head counts {num_heads}/{num_kv_heads}"
            )));
        }
        let head_dim = s.usize_or("attention.key_length", hidden_size / num_heads)?;
        let vocab_size = match s.has("vocab_size")? {
            true => s.usize("vocab_size")?,
            false => source.tensor(names.embed)?.shape[0],
        };
        Ok(ModelConfig {
            architecture: source.architecture()?,
            hidden_size,
            num_layers: s.usize("block_count")?,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size: s.usize("feed_forward_length")?,
            vocab_size,
            rms_norm_eps: s.f32("attention.layer_norm_rms_epsilon")?,
            rope_theta: s.f32_or("rope.freq_base", 10_000.0)?,
            rope_dim: s.usize_or("rope.dimension_count", head_dim)?,
            context_length: s.usize("context_length")?,
        })
    }
}
