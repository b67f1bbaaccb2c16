use crate::load::CacheSize;
use sluice_models::load::LoadOptions;
use sluice_models::KvDtype;

/// Engine limits, resolved by the CLI from flags.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Tokens per KV block.
    pub block_size: usize,
    /// How many tokens the cache holds over all sequences.
    pub cache: CacheSize,
    /// Token budget of one step: decodes (one token each) plus prefill chunks.
    pub max_batch_tokens: usize,
    /// Sequences running at once (each holds blocks); the rest wait.
    pub max_running: usize,
    pub enable_prefix_caching: bool,
    /// The number type of the cache's K and V values.
    pub kv_dtype: KvDtype,
    /// How the model's weights are held (`--dtype`, `--quantize`).
    pub load: LoadOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            block_size: 16,
            cache: CacheSize::Tokens(16 * 2048),
            max_batch_tokens: 512,
            max_running: 256,
            enable_prefix_caching: true,
            kv_dtype: KvDtype::F32,
            load: LoadOptions::default(),
        }
    }
}
