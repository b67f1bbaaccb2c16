//! `sluice serve`: the engine behind the TGI- and OpenAI-compatible HTTP API, with TGI's
//! launcher flags.

use crate::engine_args::EngineArgs;
use anyhow::{bail, Context};
use clap::Args;
use sluice_engine::LocalBackend;
use sluice_server::{ApiKey, Limits, ServerConfig};
use std::sync::Arc;
use std::time::Duration;

/// `--generation-config`: vLLM's values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationConfig {
    Auto,
    #[value(alias = "none")]
    Vllm,
}

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Address to listen on. (Not `HOSTNAME`, which shells set to the machine's name.)
    #[arg(long, env = "SLUICE_HOSTNAME", default_value = "0.0.0.0")]
    pub hostname: String,
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Most prompt tokens per request (after `truncate`). Default: --max-total-tokens - 1.
    #[arg(long, env = "MAX_INPUT_TOKENS", alias = "max-input-length")]
    pub max_input_tokens: Option<usize>,
    /// Most prompt plus generated tokens per request. Default: the smallest of the model's
    /// context length, 4096 and the KV-cache capacity.
    #[arg(long, env = "MAX_TOTAL_TOKENS")]
    pub max_total_tokens: Option<usize>,
    /// Requests in flight at once; more get 429 "Model is overloaded" at once.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 128)]
    pub max_concurrent_requests: usize,
    /// Most `best_of` (TGI) and `n` (OpenAI) a request may ask for.
    #[arg(long, env = "MAX_BEST_OF", default_value_t = 2)]
    pub max_best_of: usize,
    /// Most stop sequences per request.
    #[arg(long, env = "MAX_STOP_SEQUENCES", default_value_t = 4)]
    pub max_stop_sequences: usize,
    /// Most alternatives per token (`top_n_tokens`, OpenAI `logprobs` / `top_logprobs`).
    #[arg(long, env = "MAX_TOP_N_TOKENS", default_value_t = 5)]
    pub max_top_n_tokens: usize,
    /// Largest request body in bytes; bigger ones get 413.
    #[arg(long, env = "PAYLOAD_LIMIT", default_value_t = 2_000_000)]
    pub payload_limit: usize,
    /// Run this many engine processes, each with its share of --threads and its own loopback
    /// port, behind a router (`sluice route`, least-outstanding) on --hostname:--port.
    #[arg(long, env = "SLUICE_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// Where sampling settings a request leaves unset come from: `auto`, the model's own
    /// (a checkpoint's generation_config.json: temperature, top_p, top_k,
    /// repetition_penalty), as vLLM does; or `vllm` (also `none`), the API's own defaults
    /// only. TGI routes take the model's settings only for requests that sample.
    #[arg(long, env = "GENERATION_CONFIG", default_value = "auto")]
    pub generation_config: GenerationConfig,
    /// Require `Authorization: Bearer KEY` on every route but /health and /metrics (TGI's and
    /// vLLM's flag); with --replicas, the router in front requires it too.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// TGI's: sluice runs one engine per process, so 1 (the default) is the only value; for
    /// more engines use --replicas.
    #[arg(long, env = "NUM_SHARD", default_value_t = 1)]
    pub num_shard: usize,
    /// TGI's: `false` is accepted with a warning; `true` is refused (use --replicas).
    #[arg(long, env = "SHARDED")]
    pub sharded: Option<bool>,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
}

/// One engine behind the HTTP API on --hostname:--port (`main` hands `--replicas` above 1 to
/// `replicas.rs`).
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let engine = args.engine.build_engine()?;
    let info = engine.info().clone();
    let limits = limits(&args, info.context_length, info.kv_capacity_tokens)?;
    let config = ServerConfig {
        limits,
        max_batch_prefill_tokens: args.engine.max_batch_prefill_tokens,
        max_batch_total_tokens: info.kv_capacity_tokens,
        sampling_defaults: match args.generation_config {
            GenerationConfig::Auto => info.sampling_defaults,
            GenerationConfig::Vllm => Default::default(),
        },
        api_key: args.api_key.as_deref().and_then(ApiKey::new),
    };
    let backend = Arc::new(LocalBackend::spawn(engine).context("starting the engine thread")?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let address = format!("{}:{}", args.hostname, args.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tracing::info!(
            model = %info.model_id,
            weights = %info.quantization,
            device = %info.device,
            kv_cache_tokens = info.kv_capacity_tokens,
            max_total_tokens = config.limits.max_total_tokens,
            address = %listener.local_addr()?,
            "serving"
        );
        let app = sluice_server::router(backend, config);
        let grace = Duration::from_secs(args.shutdown_grace_seconds);
        sluice_server::serve(listener, app, sluice_server::shutdown_signal(), grace)
            .await
            .context("serving")
    })
}

fn limits(args: &ServeArgs, context_length: usize, kv_tokens: usize) -> anyhow::Result<Limits> {
    let max_total = args
        .max_total_tokens
        .unwrap_or_else(|| context_length.min(4096).min(kv_tokens));
    let max_input = args.max_input_tokens.unwrap_or(max_total.saturating_sub(1));
    if max_total > kv_tokens {
        bail!("--max-total-tokens {max_total} exceeds the KV cache ({kv_tokens} tokens); raise --kv-cache-memory or --max-batch-total-tokens");
    }
    if max_total > context_length {
        bail!("--max-total-tokens {max_total} exceeds the model's context length {context_length}");
    }
    if max_input == 0 || max_input >= max_total {
        bail!("--max-input-tokens ({max_input}) must be positive and less than --max-total-tokens ({max_total})");
    }
    for (name, value) in [
        ("--max-concurrent-requests", args.max_concurrent_requests),
        ("--max-best-of", args.max_best_of),
        ("--payload-limit", args.payload_limit),
    ] {
        if value == 0 {
            bail!("{name} must be positive");
        }
    }
    Ok(Limits {
        max_concurrent_requests: args.max_concurrent_requests,
        max_best_of: args.max_best_of,
        max_stop_sequences: args.max_stop_sequences,
        max_top_n_tokens: args.max_top_n_tokens,
        max_input_tokens: max_input,
        max_total_tokens: max_total,
        max_body_bytes: args.payload_limit,
    })
}
