/// Counters and gauges of the engine, read through [`Backend::stats`](crate::Backend::stats).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineStats {
    pub running: usize,
    pub waiting: usize,
    pub kv_blocks_total: usize,
    pub kv_blocks_free: usize,
    pub kv_capacity_tokens: usize,
    /// Sequences holding KV blocks (running ones; zero once everything finished: a leak check).
    pub kv_sequences: usize,
    pub preemptions: u64,
    pub prefix_cache_hit_blocks: u64,
    pub steps: u64,
    /// Prompt (and recomputed) tokens run through the model.
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    /// Wall time of steps that contained prefill rows, and of pure decode steps.
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    /// Speculative decoding's counts, when it is on.
    pub speculation: Option<SpeculationStats>,
}

/// What speculative decoding proposed and what the model accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeculationStats {
    /// Where proposals come from (`ngram`, `draft`).
    pub method: String,
    pub proposed_tokens: u64,
    pub accepted_tokens: u64,
    /// Checked chains of proposals by how many of their tokens were accepted (the index).
    pub accepted_lengths: Vec<u64>,
}

impl EngineStats {
    pub fn kv_usage(&self) -> f64 {
        if self.kv_blocks_total == 0 {
            0.0
        } else {
            1.0 - self.kv_blocks_free as f64 / self.kv_blocks_total as f64
        }
    }
}
