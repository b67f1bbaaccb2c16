//! Flags shared by every command that runs the engine, and the engine they build.

use clap::Args;
use sluice_engine::{
    fetch, CacheSize, Engine, EngineConfig, KvDtype, LoadOptions, Quantization, Speculation,
    WeightDtype,
};

/// How `--speculate` decides how many tokens to propose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SpeculateBackoff {
    /// Fewer where they would not pay, from the steps' own cost and the acceptance rate.
    Measured,
    /// Always as many as found.
    Off,
}

#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// Model to run: a path to a .gguf file or a known alias (`sluice fetch --list`), fetched
    /// into the cache on first use.
    #[arg(long, env = "MODEL_ID", default_value = fetch::DEFAULT_MODEL)]
    pub model_id: String,
    /// The type float weights are held in: float32, float16 or bfloat16 (default: as the
    /// checkpoint stores them; a GGUF's quantized blocks stay as they are). The CPU computes
    /// in float32 whatever the weights are held in, widening each weight as it multiplies it.
    #[arg(long, env = "DTYPE")]
    pub dtype: Option<WeightDtype>,
    /// Quantize float weights once at load: eetq (or int8: symmetric per-output-channel int8,
    /// weight-only), or llama.cpp's q8_0, q4_0, q4_1 or q4_k, which run on the same kernels as
    /// GGUF files of those types. A GGUF's quantized weights are kept: naming their own type is
    /// accepted, another is refused.
    #[arg(long, env = "QUANTIZE")]
    pub quantize: Option<Quantization>,
    /// CPU threads for the model (default: all cores).
    #[arg(long, env = "SLUICE_THREADS")]
    pub threads: Option<usize>,
    /// Token budget of one engine step (decodes plus prefill chunks); long prompts are
    /// prefilled in chunks of at most this many tokens.
    #[arg(long, env = "MAX_BATCH_PREFILL_TOKENS", default_value_t = 512)]
    pub max_batch_prefill_tokens: usize,
    /// Tokens the KV cache holds over all running requests. Default: what --kv-cache-memory allows.
    #[arg(long, env = "MAX_BATCH_TOTAL_TOKENS")]
    pub max_batch_total_tokens: Option<usize>,
    /// Memory for the KV cache in MiB, used when --max-batch-total-tokens is not given.
    #[arg(long, env = "KV_CACHE_MEMORY", default_value_t = 1024)]
    pub kv_cache_memory: usize,
    /// Number type of the KV cache: f32 (llama.cpp's most exact setting), or f16 for twice the
    /// tokens in the same memory, rounded as llama.cpp's f16 cache rounds (flash attention off).
    #[arg(long, env = "KV_CACHE_DTYPE", default_value_t = KvDtype::F32)]
    pub kv_cache_dtype: KvDtype,
    /// Tokens per KV-cache block.
    #[arg(long, env = "BLOCK_SIZE", default_value_t = 16)]
    pub block_size: usize,
    /// Requests running at once in the engine; more wait in its queue.
    #[arg(long, env = "MAX_RUNNING_REQUESTS", default_value_t = 128)]
    pub max_running_requests: usize,
    /// Speculative decoding: propose up to N next tokens per sequence and step by prompt
    /// lookup (n-grams of its own prompt and output, as TGI does without Medusa heads) or
    /// with --draft-model, and check them all in one step. Output is unchanged; fewer tokens are proposed where they
    /// would not pay, none when the batch is compute-bound (docs/speculation.md). 0: off.
    #[arg(long, env = "SPECULATE", default_value_t = 0)]
    pub speculate: usize,
    /// Whether --speculate proposes fewer tokens where they would not pay (`measured`: from
    /// the steps' own cost and the proposals' acceptance), or always as many as it finds
    /// (`off`, to measure what backing off saves).
    #[arg(long, env = "SPECULATE_BACKOFF", value_enum, default_value_t = SpeculateBackoff::Measured)]
    pub speculate_backoff: SpeculateBackoff,
    /// A smaller model with the same vocabulary (a path or alias) that proposes the
    /// --speculate tokens instead of prompt lookup (llama-server's --model-draft). Its cache
    /// holds as many tokens as the model's.
    #[arg(long, env = "DRAFT_MODEL")]
    pub draft_model: Option<String>,
}

impl EngineArgs {
    /// Threads must be set before candle or rayon start their pools, so this runs first.
    pub fn apply_threads(&self) {
        if let Some(n) = self.threads.filter(|&n| n > 0) {
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        }
    }

    pub fn build_engine(&self) -> anyhow::Result<Engine> {
        anyhow::ensure!(self.block_size > 0, "--block-size must be positive");
        anyhow::ensure!(
            self.max_batch_prefill_tokens > 0,
            "--max-batch-prefill-tokens must be positive"
        );
        self.apply_threads();
        let cfg = EngineConfig {
            block_size: self.block_size,
            cache: match self.max_batch_total_tokens {
                Some(tokens) => CacheSize::Tokens(tokens),
                None => CacheSize::MiB(self.kv_cache_memory),
            },
            max_batch_tokens: self.max_batch_prefill_tokens,
            max_running: self.max_running_requests.max(1),
            enable_prefix_caching: true,
            kv_dtype: self.kv_cache_dtype,
            load: LoadOptions {
                dtype: self.dtype,
                quantize: self.quantize,
            },
            speculation: Speculation {
                max_tokens: self.speculate,
                back_off: self.speculate_backoff == SpeculateBackoff::Measured,
            },
            draft_model: self.draft_model.clone(),
        };
        Ok(Engine::load(&self.model_id, &cfg)?)
    }
}
