//! The engine proper: owns the model, the KV cache and the scheduler, and advances every
//! sequence by one step at a time. Only the engine thread touches it (see `handle.rs`).

use crate::batch::{build_batch, LogitRow};
use crate::sampler::{log_softmax_at, top_logprobs};
use crate::sequence::{EngineEvent, Progress, Sequence};
use crate::{EngineConfig, Schedule, Scheduler};
use sluice_core::{EngineStats, GenerationError, GenerationRequest, RequestId};
use sluice_kv::{BlockManager, KvConfig};
use sluice_models::{CausalLm, KvStore, LoadedModel, ModelConfig};
use sluice_tokenizer::Tokenizer;
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid engine configuration: {0}")]
    Config(String),
}

pub struct Engine {
    model: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    model_config: ModelConfig,
    kv_store: KvStore,
    blocks: BlockManager,
    scheduler: Scheduler,
    seqs: HashMap<u64, Sequence>,
    stats: EngineStats,
    pool: rayon::ThreadPool,
}

impl Engine {
    pub fn new(loaded: LoadedModel, cfg: &EngineConfig) -> Result<Self, EngineError> {
        let kv_cfg = KvConfig {
            num_blocks: cfg.num_blocks,
            block_size: cfg.block_size,
            enable_prefix_caching: cfg.enable_prefix_caching,
        };
        let blocks = BlockManager::new(kv_cfg).map_err(|e| EngineError::Config(e.to_string()))?;
        let mc = &loaded.config;
        let kv_store = KvStore::new(
            mc.num_layers,
            cfg.num_blocks,
            cfg.block_size,
            mc.num_kv_heads,
            mc.head_dim,
            cfg.kv_dtype,
        );
        Ok(Engine {
            model: loaded.model,
            tokenizer: loaded.tokenizer,
            model_config: loaded.config,
            kv_store,
            blocks,
            scheduler: Scheduler::new(cfg.max_batch_tokens, cfg.max_running),
            seqs: HashMap::new(),
            stats: EngineStats::default(),
            pool: rayon::ThreadPoolBuilder::new()
                .build()
                .map_err(|e| EngineError::Config(e.to_string()))?,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn model_config(&self) -> &ModelConfig {
        &self.model_config
    }

    /// Tokens the KV cache holds over all sequences.
    pub fn kv_capacity_tokens(&self) -> usize {
        self.blocks.capacity_tokens()
    }

    pub fn has_work(&self) -> bool {
        !self.scheduler.is_idle()
    }

    /// Queues a request; problems that make it impossible are reported on `events` at once.
    pub fn submit(&mut self, req: GenerationRequest, events: UnboundedSender<EngineEvent>) {
        let seq = Sequence::new(req, events);
        let context = self.model_config.context_length;
        let error = if seq.prompt_len == 0 {
            Some(GenerationError::Model("the prompt is empty".into()))
        } else if seq
            .tokens
            .iter()
            .any(|&t| t as usize >= self.model_config.vocab_size)
        {
            Some(GenerationError::Model(
                "prompt token id outside the vocabulary".into(),
            ))
        } else if seq.max_context() > context {
            Some(GenerationError::TooLargeForCache {
                needed: seq.max_context(),
                capacity: context,
            })
        } else if seq.max_context() > self.blocks.capacity_tokens() {
            Some(GenerationError::TooLargeForCache {
                needed: seq.max_context(),
                capacity: self.blocks.capacity_tokens(),
            })
        } else {
            None
        };
        match error {
            Some(e) => seq.fail(e),
            None => {
                let key = seq.id.0;
                self.scheduler.enqueue(key);
                self.seqs.insert(key, seq);
            }
        }
    }

    /// Drops a request and frees its blocks (client gone or asked to stop).
    pub fn abort(&mut self, id: RequestId) {
        self.release(id.0);
    }

    fn release(&mut self, key: u64) {
        self.scheduler.remove(key);
        self.blocks.free_sequence(key);
        self.seqs.remove(&key);
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            running: self.scheduler.num_running(),
            waiting: self.scheduler.num_waiting(),
            kv_blocks_total: self.blocks.num_blocks(),
            kv_blocks_free: self.blocks.num_free_blocks(),
            kv_capacity_tokens: self.blocks.capacity_tokens(),
            kv_sequences: self.blocks.num_sequences(),
            prefix_cache_hit_blocks: self.blocks.prefix_cache_hits(),
            ..self.stats.clone()
        }
    }

    /// One engine step: schedule, build the batch, run the model, sample, commit, emit.
    /// Returns whether any work was done.
    pub fn step(&mut self) -> bool {
        self.drop_disconnected();
        let plan = self.scheduler.schedule(&mut self.seqs, &mut self.blocks);
        self.reject(&plan);
        if plan.items.is_empty() {
            return false;
        }
        let started = Instant::now();
        let batch = build_batch(&plan, &self.seqs, &self.blocks);
        let (model, kv_store) = (&self.model, &mut self.kv_store);
        let forward = self
            .pool
            .install(|| model.forward(&batch.forward, kv_store));
        let computed = started.elapsed();
        match forward {
            Ok(logits) => {
                self.commit(&plan);
                self.sample_and_emit(&batch.rows, &logits);
            }
            Err(e) => self.fail_all(&plan, GenerationError::Model(e.to_string())),
        }
        let seconds = started.elapsed().as_secs_f64();
        tracing::debug!(
            prefill_tokens = batch.prefill_tokens,
            decode_tokens = batch.decode_tokens,
            waiting = self.scheduler.num_waiting(),
            forward_ms = computed.as_secs_f64() * 1e3,
            step_ms = seconds * 1e3,
            "step"
        );
        self.record_step(batch.prefill_tokens, batch.decode_tokens, seconds);
        true
    }

    fn drop_disconnected(&mut self) {
        let gone: Vec<u64> = self
            .seqs
            .iter()
            .filter(|(_, s)| s.is_disconnected())
            .map(|(&k, _)| k)
            .collect();
        for key in gone {
            self.release(key);
        }
    }

    fn reject(&mut self, plan: &Schedule) {
        for &key in &plan.rejected {
            if let Some(seq) = self.seqs.get(&key) {
                let capacity = self.blocks.capacity_tokens();
                seq.fail(GenerationError::TooLargeForCache {
                    needed: seq.max_context(),
                    capacity,
                });
            }
            self.release(key);
        }
        self.stats.preemptions += plan.preempted.len() as u64;
    }

    /// The scheduled tokens now have K/V in the cache; full blocks join the prefix cache.
    fn commit(&mut self, plan: &Schedule) {
        for &(key, n) in &plan.items {
            if let Some(seq) = self.seqs.get_mut(&key) {
                seq.computed += n;
                self.blocks.commit_tokens(key, &seq.tokens, seq.computed);
            }
        }
    }

    fn sample_and_emit(&mut self, rows: &[LogitRow], logits: &[f32]) {
        let vocab = self.model_config.vocab_size;
        for (row, logits) in rows.iter().zip(logits.chunks_exact(vocab)) {
            match *row {
                LogitRow::Prompt { key, target } => {
                    if let Some(seq) = self.seqs.get_mut(&key) {
                        seq.record_prompt_logprob(log_softmax_at(logits, target));
                    }
                }
                LogitRow::Sample(key) => {
                    let Some(seq) = self.seqs.get_mut(&key) else {
                        continue;
                    };
                    let choice = seq.sampler.sample(logits);
                    let top = top_logprobs(logits, seq.logprobs.top_n);
                    match seq.push_token(choice.token, choice.logprob, top, &self.tokenizer) {
                        Progress::Continue => {}
                        Progress::Finished(_) | Progress::Disconnected => self.release(key),
                    }
                }
            }
        }
    }

    fn fail_all(&mut self, plan: &Schedule, error: GenerationError) {
        for &(key, _) in &plan.items {
            if let Some(seq) = self.seqs.get(&key) {
                seq.fail(error.clone());
            }
            self.release(key);
        }
    }

    fn record_step(&mut self, prefill_tokens: usize, decode_tokens: usize, seconds: f64) {
        self.stats.steps += 1;
        self.stats.prefill_tokens += prefill_tokens as u64;
        self.stats.decode_tokens += decode_tokens as u64;
        if prefill_tokens > 0 {
            self.stats.prefill_seconds += seconds;
        } else {
            self.stats.decode_seconds += seconds;
        }
    }

    /// Fails every request still queued or running (the engine is going away).
    pub fn shutdown(&mut self) {
        let keys: Vec<u64> = self.seqs.keys().copied().collect();
        for key in keys {
            if let Some(seq) = self.seqs.get(&key) {
                seq.fail(GenerationError::EngineStopped);
            }
            self.release(key);
        }
    }
}
