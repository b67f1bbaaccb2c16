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
    pub speculation: Speculation,
    /// The model that proposes tokens (`--draft-model`, a path or alias); prompt lookup when
    /// `None`. Needs `speculation.max_tokens > 0`.
    pub draft_model: Option<String>,
}

/// Speculative decoding's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Speculation {
    /// The most tokens proposed per sequence and step (`--speculate N`; 0: off).
    pub max_tokens: usize,
    /// Whether fewer tokens are proposed where they would not pay (the default), or always
    /// as many as found (for measuring what the back-off saves, and for tests whose
    /// proposals must not depend on timing).
    pub back_off: bool,
}

impl Default for Speculation {
    fn default() -> Self {
        Speculation {
            max_tokens: 0,
            back_off: true,
        }
    }
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
            speculation: Speculation::default(),
            draft_model: None,
        }
    }
}
