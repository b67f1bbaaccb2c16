//! The settings of a sweep against one server: the same fields are command-line flags of
//! `sluice bench` and keys of an experiment file's `[bench]` table, and are saved with results.

use crate::api::ApiKind;
use crate::dataset::RandomLengths;
use crate::load::Load;
use crate::summary::Slo;
use anyhow::{bail, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const NUM_PROMPTS: usize = 100;
const MAX_NEW_TOKENS: u32 = 128;
const CONCURRENCY: [u32; 3] = [1, 8, 32];
const WARMUP: usize = 1;
const TIMEOUT_S: f64 = 300.0;
const RANDOM_INPUT_LEN: u32 = 256;
const RANDOM_OUTPUT_LEN: u32 = 128;

#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepSettings {
    /// Prompt set: `builtin` (instructions shipped with sluice), `random` (synthetic, see
    /// --random-*), or a path to a ShareGPT `.json` or a `.jsonl` of {"prompt", "max_new_tokens"?}.
    #[arg(long, env = "SLUICE_BENCH_DATASET", default_value = "builtin")]
    pub dataset: String,

    /// Requests per level (the set is cycled if the dataset is smaller).
    #[arg(long, env = "SLUICE_BENCH_NUM_PROMPTS", default_value_t = NUM_PROMPTS)]
    pub num_prompts: usize,

    /// Output tokens per request for prompts whose dataset gives no length.
    #[arg(long, env = "SLUICE_BENCH_MAX_NEW_TOKENS", default_value_t = MAX_NEW_TOKENS)]
    pub max_new_tokens: u32,

    /// Concurrency levels to sweep: each runs the whole set with that many requests in flight.
    #[arg(long, env = "SLUICE_BENCH_CONCURRENCY", value_delimiter = ',', default_values_t = CONCURRENCY)]
    pub concurrency: Vec<u32>,

    /// Request rates (req/s) to sweep with Poisson arrivals, instead of --concurrency.
    #[arg(long, env = "SLUICE_BENCH_REQUEST_RATE", value_delimiter = ',')]
    pub request_rate: Vec<f64>,

    /// Requests sent before the sweep and not measured.
    #[arg(long, env = "SLUICE_BENCH_WARMUP", default_value_t = WARMUP)]
    pub warmup: usize,

    /// Stream responses (the default; needed for TTFT, TPOT and ITL).
    #[arg(
        long,
        env = "SLUICE_BENCH_STREAM",
        overrides_with = "no_stream",
        default_value_t = true
    )]
    pub stream: bool,

    /// Wait for whole responses instead of streaming.
    #[arg(long, overrides_with = "stream")]
    #[serde(skip)]
    pub no_stream: bool,

    /// Seed of the random dataset and of Poisson arrivals.
    #[arg(long, env = "SLUICE_BENCH_SEED", default_value_t = 0)]
    pub seed: u64,

    /// Generate every requested token, ignoring end-of-sequence (OpenAI APIs of vLLM,
    /// Aphrodite, llama-server and sluice; TGI has no such parameter).
    #[arg(long, env = "SLUICE_BENCH_IGNORE_EOS")]
    pub ignore_eos: bool,

    /// Per-request timeout in seconds, for the whole response.
    #[arg(long, env = "SLUICE_BENCH_TIMEOUT", default_value_t = TIMEOUT_S)]
    pub timeout: f64,

    /// Goodput SLO: time to first token at most this many milliseconds.
    #[arg(long, env = "SLUICE_BENCH_SLO_TTFT")]
    pub slo_ttft: Option<f64>,

    /// Goodput SLO: time per output token at most this many milliseconds.
    #[arg(long, env = "SLUICE_BENCH_SLO_TPOT")]
    pub slo_tpot: Option<f64>,

    /// Random dataset: mean prompt length in tokens.
    #[arg(long, env = "SLUICE_BENCH_RANDOM_INPUT_LEN", default_value_t = RANDOM_INPUT_LEN)]
    pub random_input_len: u32,

    /// Random dataset: mean output length in tokens.
    #[arg(long, env = "SLUICE_BENCH_RANDOM_OUTPUT_LEN", default_value_t = RANDOM_OUTPUT_LEN)]
    pub random_output_len: u32,

    /// Random dataset: lengths are uniform in [len * (1 - r), len * (1 + r)].
    #[arg(long, env = "SLUICE_BENCH_RANDOM_RANGE_RATIO", default_value_t = 0.0)]
    pub random_range_ratio: f64,

    /// Model name for OpenAI requests; by default the first of the server's /v1/models.
    #[arg(long, env = "SLUICE_BENCH_MODEL")]
    pub model: Option<String>,

    /// A JSON object merged into every request (TGI: into `parameters`), e.g. structured
    /// output: '{"response_format": {"type": "json_object"}}'.
    #[arg(long, env = "SLUICE_BENCH_EXTRA_BODY")]
    pub extra_body: Option<String>,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            dataset: "builtin".into(),
            num_prompts: NUM_PROMPTS,
            max_new_tokens: MAX_NEW_TOKENS,
            concurrency: CONCURRENCY.to_vec(),
            request_rate: Vec::new(),
            warmup: WARMUP,
            stream: true,
            no_stream: false,
            seed: 0,
            ignore_eos: false,
            timeout: TIMEOUT_S,
            slo_ttft: None,
            slo_tpot: None,
            random_input_len: RANDOM_INPUT_LEN,
            random_output_len: RANDOM_OUTPUT_LEN,
            random_range_ratio: 0.0,
            model: None,
            extra_body: None,
        }
    }
}

impl SweepSettings {
    pub fn streaming(&self) -> bool {
        self.stream && !self.no_stream
    }

    /// The levels of the sweep, in the order given.
    pub fn loads(&self) -> Vec<Load> {
        if self.request_rate.is_empty() {
            self.concurrency
                .iter()
                .map(|&c| Load::Concurrency(c))
                .collect()
        } else {
            self.request_rate
                .iter()
                .map(|&r| Load::RequestRate(r))
                .collect()
        }
    }

    pub fn slo(&self) -> Slo {
        Slo {
            ttft_ms: self.slo_ttft,
            tpot_ms: self.slo_tpot,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    pub fn random_lengths(&self) -> RandomLengths {
        RandomLengths {
            input_len: self.random_input_len,
            output_len: self.random_output_len,
            range_ratio: self.random_range_ratio,
            seed: self.seed,
        }
    }

    /// Rejects settings that cannot run, before any request is sent.
    pub fn validate(&self, api: ApiKind) -> Result<()> {
        if self.ignore_eos && !api.supports_ignore_eos() {
            bail!("--ignore-eos is not supported by the TGI API (TGI has no such parameter); use --api openai or openai-chat");
        }
        if self.loads().is_empty() {
            bail!("no load levels: give --concurrency or --request-rate");
        }
        if self.concurrency.contains(&0) {
            bail!("--concurrency levels must be at least 1");
        }
        if self
            .request_rate
            .iter()
            .any(|r| !(r.is_finite() && *r > 0.0))
        {
            bail!("--request-rate values must be positive numbers");
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bail!("--timeout must be a positive number of seconds");
        }
        if self.max_new_tokens == 0 {
            bail!("--max-new-tokens must be at least 1");
        }
        self.extra_body()?;
        Ok(())
    }

    /// `--extra-body`, parsed.
    pub fn extra_body(&self) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        let Some(text) = &self.extra_body else {
            return Ok(None);
        };
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(fields)) => Ok(Some(fields)),
            Ok(_) => bail!("--extra-body must be a JSON object"),
            Err(e) => bail!("--extra-body is not JSON: {e}"),
        }
    }
}
