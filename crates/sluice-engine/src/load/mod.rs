//! How an engine comes to be: a model named by path or alias (fetched into the cache on first
//! use), loaded by `sluice-models`, with a KV cache sized from the model and the config. The
//! binary loads through here and never imports the model crate.

pub mod fetch;

use crate::speculate::{DraftError, DraftModel, Proposer};
use crate::{Engine, EngineConfig, EngineError};
use sluice_models::{load, LoadedModel, ModelError};
use sluice_tokenizer::Tokenizer;
use std::path::PathBuf;
use std::time::Instant;

pub use sluice_models::load::{LoadOptions, Quantization, WeightDtype};
pub use sluice_models::KvDtype;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    // `error`, not `source`: the message already includes it, and a chain of sources would
    // print it twice.
    #[error("loading {}: {error}", path.display())]
    Model { path: PathBuf, error: ModelError },
    #[error("the KV cache would hold no tokens (one takes {bytes_per_token} bytes); raise --max-batch-total-tokens or --kv-cache-memory")]
    EmptyCache { bytes_per_token: usize },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("--draft-model needs --speculate N with N > 0: how many tokens the draft proposes")]
    DraftWithoutSpeculation,
    #[error(transparent)]
    DraftModel(#[from] DraftError),
    /// Anything that kept the draft model from loading, named as the draft's.
    #[error("draft model {path}: {error}")]
    Draft { path: String, error: Box<LoadError> },
}

/// How large the KV cache is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSize {
    /// This many tokens over all sequences (`--max-batch-total-tokens`), rounded up to whole
    /// blocks.
    Tokens(usize),
    /// As many tokens as fit in this many MiB (`--kv-cache-memory`).
    MiB(usize),
}

impl Engine {
    /// The engine for the model `model_id` names (a path, or an alias fetched into the cache
    /// on first use), with `cfg`'s cache and limits.
    pub fn load(model_id: &str, cfg: &EngineConfig) -> Result<Engine, LoadError> {
        if cfg.draft_model.is_some() && cfg.speculation.max_tokens == 0 {
            return Err(LoadError::DraftWithoutSpeculation);
        }
        let path = fetch::resolve_model(model_id)?;
        let started = Instant::now();
        if let Some(quantize) = cfg.load.quantize {
            tracing::info!(model = %path.display(), "quantizing the weights to {quantize} at load");
        }
        let loaded = load::load(&path, cfg.load).map_err(|error| LoadError::Model {
            path: path.clone(),
            error,
        })?;
        let load_seconds = started.elapsed().as_secs_f64();
        let bytes_per_token = loaded.model.kv_layout(1, 1, cfg.kv_dtype).bytes_per_token();
        let tokens = match cfg.cache {
            CacheSize::Tokens(tokens) => tokens,
            CacheSize::MiB(mib) => mib * (1 << 20) / bytes_per_token,
        };
        let num_blocks = tokens.div_ceil(cfg.block_size.max(1));
        if num_blocks == 0 {
            return Err(LoadError::EmptyCache { bytes_per_token });
        }
        let proposer = match &cfg.draft_model {
            Some(draft_id) => {
                let draft = load_draft(draft_id, &loaded, num_blocks, cfg).map_err(|error| {
                    LoadError::Draft {
                        path: draft_id.clone(),
                        error: Box::new(error),
                    }
                })?;
                Proposer::Draft(Box::new(draft))
            }
            None => Proposer::NGram,
        };
        let engine = Engine::new(loaded, model_id, num_blocks, cfg, proposer)?;
        let info = engine.info();
        tracing::info!(
            model = %path.display(),
            architecture = %info.architecture,
            weights = %info.quantization,
            device = %info.device,
            dtype = %info.dtype,
            kv_cache_dtype = %info.kv_cache_dtype,
            kv_capacity_tokens = info.kv_capacity_tokens,
            load_seconds = format!("{load_seconds:.2}"),
            resident_mib = resident_mib().map_or("unknown".into(), |m| m.to_string()),
            "model loaded"
        );
        Ok(engine)
    }
}

/// The draft model `draft_id` names, for `target`, with a cache of as many blocks as the
/// target's. Its weights are held as its file stores them (`--dtype` and `--quantize` are the
/// target's).
fn load_draft(
    draft_id: &str,
    target: &LoadedModel,
    num_blocks: usize,
    cfg: &EngineConfig,
) -> Result<DraftModel, LoadError> {
    let path = fetch::resolve_model(draft_id)?;
    let draft = load::load(&path, Default::default()).map_err(|error| LoadError::Model {
        path: path.clone(),
        error,
    })?;
    tracing::info!(
        draft = %path.display(),
        weights = %draft.model.weight_type(),
        "draft model loaded"
    );
    Ok(DraftModel::new(
        draft.model,
        &draft.tokenizer,
        &target.tokenizer,
        target.model.config().vocab_size,
        num_blocks,
        cfg.block_size,
        cfg.kv_dtype,
    )?)
}

/// The process's resident memory in MiB (Linux's `/proc/self/statm`), for the load's log line.
fn resident_mib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1 << 20))
}

/// Only the tokenizer of the model `model_id` names, without its weights.
pub fn tokenizer(model_id: &str) -> Result<Tokenizer, LoadError> {
    let path = fetch::resolve_model(model_id)?;
    load::tokenizer(&path).map_err(|error| LoadError::Model { path, error })
}
