use crate::{gemma3, llama, ForwardBatch, GgufFile, KvStore, ModelConfig, ModelError};
use sluice_tokenizer::Tokenizer;
use std::path::Path;

/// A decoder-only language model: one step over a flattened batch (see [`ForwardBatch`]).
pub trait CausalLm: Send + Sync {
    fn config(&self) -> &ModelConfig;

    /// Runs the batch, writing every row's K/V into `kv`, and returns the logits of
    /// `batch.logit_rows`, `[logit_rows.len(), vocab_size]` row-major.
    fn forward(&self, batch: &ForwardBatch, kv: &mut KvStore) -> Result<Vec<f32>, ModelError>;
}

/// A model with the tokenizer that came in the same file.
pub struct LoadedModel {
    pub model: Box<dyn CausalLm>,
    pub tokenizer: Tokenizer,
    pub config: ModelConfig,
}

/// Loads a GGUF file, picking the architecture from `general.architecture`.
pub fn load_gguf(path: &Path) -> Result<LoadedModel, ModelError> {
    let mut gguf = GgufFile::open(path)?;
    let arch = gguf.architecture()?;
    let model: Box<dyn CausalLm> = match arch.as_str() {
        "llama" => Box::new(llama::load(&mut gguf)?),
        "gemma3" => Box::new(gemma3::load(&mut gguf)?),
        other => return Err(ModelError::UnsupportedArchitecture(other.to_string())),
    };
    let tokenizer = Tokenizer::from_spec(&gguf.tokenizer_spec()?)?;
    let config = model.config().clone();
    Ok(LoadedModel {
        model,
        tokenizer,
        config,
    })
}
