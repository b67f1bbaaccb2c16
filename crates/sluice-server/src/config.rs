//! The limits the server enforces, resolved by the launcher from flags and the model.

use sluice_core::SamplingDefaults;
use sluice_protocol::auth::ApiKey;

/// Per-request and overall limits, as TGI's launcher names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight at once; beyond it the server answers 429 at once.
    pub max_concurrent_requests: usize,
    pub max_best_of: usize,
    pub max_stop_sequences: usize,
    pub max_top_n_tokens: usize,
    /// Prompt tokens a request may have (after `truncate`).
    pub max_input_tokens: usize,
    /// Prompt plus generated tokens of one request.
    pub max_total_tokens: usize,
    /// Request bodies above this many bytes get 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_requests: 128,
            max_best_of: 2,
            max_stop_sequences: 4,
            max_top_n_tokens: 5,
            max_input_tokens: 4095,
            max_total_tokens: 4096,
            max_body_bytes: 2 << 20,
        }
    }
}

/// Everything the server needs besides the backend.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub limits: Limits,
    /// Reported by `/info`: the engine's step budget and cache size in tokens.
    pub max_batch_prefill_tokens: usize,
    pub max_batch_total_tokens: usize,
    /// Sampling settings for requests that leave them unset: the model's
    /// (`--generation-config auto`), or none.
    pub sampling_defaults: SamplingDefaults,
    /// `--api-key`: the key every route but `/health` and `/metrics` requires.
    pub api_key: Option<ApiKey>,
}
