//! The engine proper: owns the model, the KV cache and the scheduler, and advances every
//! sequence by one step at a time. Only the engine thread touches it (see `handle.rs`).

use crate::batch::{build_batch, LogitRow};
use crate::grammar::{Grammar, Grammars, TokenMask};
use crate::sampler::{log_softmax_at, top_logprobs};
use crate::sequence::{EngineEvent, Progress, Sequence};
use crate::speculate::{Acceptance, ProposalRequest, Proposer, Speculator};
use crate::{EngineConfig, Schedule, Scheduler};
use sluice_core::{EngineStats, GenerationError, GenerationRequest, ModelInfo, SeqId};
use sluice_kv::{BlockManager, KvConfig, KvError};
use sluice_models::{CausalLm, KvMemory, LoadedModel};
use sluice_tokenizer::Tokenizer;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Cache(#[from] KvError),
    #[error("cannot start the engine's threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

pub struct Engine {
    model: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    /// What runs, as `/info` and the logs report it.
    info: ModelInfo,
    kv: Box<dyn KvMemory>,
    blocks: BlockManager,
    scheduler: Scheduler,
    seqs: HashMap<SeqId, Sequence>,
    stats: EngineStats,
    pool: rayon::ThreadPool,
    /// Speculative decoding, when `--speculate` asks for it.
    speculator: Option<Speculator>,
    /// Compiles requests' output constraints (shared with the handle, which compiles them
    /// on the submitting thread).
    grammars: Arc<Grammars>,
}

impl Engine {
    /// The engine around `loaded` (`model_id` is what the user named it), with a cache of
    /// `num_blocks` blocks, speculating with `proposer` when `cfg` asks for speculation; see
    /// [`Engine::load`].
    pub(crate) fn new(
        loaded: LoadedModel,
        model_id: &str,
        num_blocks: usize,
        cfg: &EngineConfig,
        proposer: Proposer,
    ) -> Result<Self, EngineError> {
        let kv_cfg = KvConfig {
            num_blocks,
            block_size: cfg.block_size,
            enable_prefix_caching: cfg.enable_prefix_caching,
        };
        let blocks = BlockManager::new(kv_cfg)?;
        let LoadedModel {
            model,
            tokenizer,
            generation,
        } = loaded;
        let kv = model.new_kv_memory(model.kv_layout(num_blocks, cfg.block_size, cfg.kv_dtype));
        let mc = model.config();
        let speculator =
            (cfg.speculation.max_tokens > 0).then(|| Speculator::new(cfg.speculation, proposer));
        let info = ModelInfo {
            model_id: model_id.to_string(),
            architecture: mc.architecture.clone(),
            quantization: model.weight_type(),
            device: model.device().to_string(),
            dtype: model.compute_dtype().to_string(),
            kv_cache_dtype: cfg.kv_dtype.to_string(),
            context_length: mc.context_length,
            kv_capacity_tokens: blocks.capacity_tokens(),
            sampling_defaults: generation,
            speculate: cfg.speculation.max_tokens,
            speculation_method: speculator.as_ref().map(|s| s.stats().method.clone()),
        };
        Ok(Engine {
            model,
            grammars: Arc::new(Grammars::new(tokenizer.clone())),
            tokenizer,
            info,
            kv,
            blocks,
            scheduler: Scheduler::new(cfg.max_batch_tokens, cfg.max_running),
            seqs: HashMap::new(),
            stats: EngineStats::default(),
            pool: rayon::ThreadPoolBuilder::new().build()?,
            speculator,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model, where it runs and the cache's capacity.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The compiler for requests' output constraints.
    pub fn grammars(&self) -> Arc<Grammars> {
        self.grammars.clone()
    }

    pub fn has_work(&self) -> bool {
        !self.scheduler.is_idle()
    }

    /// Queues a request; problems that make it impossible (its constraint does not compile,
    /// among them) are reported on `events` at once.
    pub fn submit(&mut self, req: GenerationRequest, events: UnboundedSender<EngineEvent>) {
        let grammar = match req.constraint.as_ref().map(|c| self.grammars.compile(c)) {
            Some(Err(e)) => {
                let _ = events.send(Err(e));
                return;
            }
            Some(Ok(grammar)) => Some(grammar),
            None => None,
        };
        self.admit(req, grammar, events);
    }

    /// Queues a request whose constraint, if any, is already compiled into `grammar`.
    pub(crate) fn admit(
        &mut self,
        req: GenerationRequest,
        grammar: Option<Grammar>,
        events: UnboundedSender<EngineEvent>,
    ) {
        let acceptance = self
            .speculator
            .as_ref()
            .map_or(Acceptance::new(0.0), Speculator::initial_acceptance);
        let vocab_size = self.model.config().vocab_size;
        let biased = req.sampling.logit_bias.iter().map(|&(token, _)| token);
        let outside = req
            .prompt_ids
            .iter()
            .copied()
            .chain(biased)
            .find(|&t| t as usize >= vocab_size);
        let seq = Sequence::new(req, grammar, acceptance, events);
        let context_length = self.model.config().context_length;
        let error = if seq.prompt_len == 0 {
            Some(GenerationError::EmptyPrompt)
        } else if let Some(token) = outside {
            Some(GenerationError::TokenOutsideVocabulary { token, vocab_size })
        } else if seq.max_context() > context_length {
            Some(GenerationError::BeyondContext {
                needed: seq.max_context(),
                context_length,
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
                self.scheduler.enqueue(seq.id);
                self.seqs.insert(seq.id, seq);
            }
        }
    }

    /// Forgets a sequence: finished, failed or its client gone. Its blocks go with it.
    fn release(&mut self, id: SeqId) {
        self.scheduler.remove(id);
        self.seqs.remove(&id);
        if let Some(speculator) = &mut self.speculator {
            speculator.forget(id);
        }
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
            speculation: self.speculator.as_ref().map(|s| s.stats().clone()),
            ..self.stats.clone()
        }
    }

    /// One engine step: schedule, build the batch, run the model, sample, commit, emit.
    /// Returns whether any work was done.
    pub fn step(&mut self) -> bool {
        self.drop_disconnected();
        // The step's time includes proposing (a draft model's steps).
        let started = Instant::now();
        self.propose();
        let proposed = started.elapsed();
        let plan = self.scheduler.schedule(&mut self.seqs, &mut self.blocks);
        self.reject(&plan);
        if plan.items.is_empty() {
            return false;
        }
        let batch = build_batch(&plan, &self.seqs, &self.blocks);
        let mut accepted = 0;
        let (model, kv, pool) = (&self.model, self.kv.as_mut(), &self.pool);
        let forward_started = Instant::now();
        // Constrained sequences' masks are computed on their own thread while the model runs.
        let (forward, mut masks) = std::thread::scope(|scope| {
            let masks = constrained_rows(&batch.rows, &self.seqs)
                .then(|| scope.spawn(|| grammar_masks(&batch.rows, &mut self.seqs)));
            let forward = pool.install(|| model.forward(&batch.forward, kv));
            let masks = masks.map_or_else(HashMap::new, |m| {
                m.join().unwrap_or_else(|_| {
                    tracing::error!("computing token masks panicked");
                    HashMap::new()
                })
            });
            (forward, masks)
        });
        let computed = forward_started.elapsed();
        match forward {
            Ok(logits) => {
                self.commit(&plan);
                accepted = self.sample_and_emit(&batch.rows, &logits, &mut masks);
            }
            Err(e) => {
                let reason = e.to_string();
                self.fail_all(&plan, GenerationError::StepFailed { reason })
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        if let Some(speculator) = &mut self.speculator {
            speculator.record_step(batch.forward.len(), computed.as_secs_f64());
        }
        tracing::debug!(
            prefill_tokens = batch.prefill_tokens,
            decode_tokens = batch.decode_tokens,
            proposed_tokens = batch.proposed_tokens,
            accepted_tokens = accepted,
            waiting = self.scheduler.num_waiting(),
            propose_ms = proposed.as_secs_f64() * 1e3,
            forward_ms = computed.as_secs_f64() * 1e3,
            step_ms = seconds * 1e3,
            "step"
        );
        // Accepted proposals are generated tokens too: decode speed counts them.
        self.record_step(
            batch.prefill_tokens,
            batch.decode_tokens + accepted,
            seconds,
        );
        true
    }

    fn drop_disconnected(&mut self) {
        let gone: Vec<SeqId> = self
            .seqs
            .values()
            .filter(|s| s.is_disconnected())
            .map(|s| s.id)
            .collect();
        for id in gone {
            self.release(id);
        }
    }

    fn reject(&mut self, plan: &Schedule) {
        for &id in &plan.rejected {
            if let Some(seq) = self.seqs.get(&id) {
                let capacity = self.blocks.capacity_tokens();
                seq.fail(GenerationError::TooLargeForCache {
                    needed: seq.max_context(),
                    capacity,
                });
            }
            self.release(id);
        }
        self.stats.preemptions += plan.preempted.len() as u64;
    }

    /// Proposes the tokens each decoding sequence checks this step (see `speculate`); the
    /// scheduler counts them against the step's budget.
    fn propose(&mut self) {
        let Some(speculator) = &mut self.speculator else {
            return;
        };
        let requests: Vec<ProposalRequest> = self
            .seqs
            .values()
            .filter(|s| s.is_decoding())
            .map(|s| ProposalRequest {
                seq: s.id,
                tokens: &s.tokens,
                prompt_len: s.prompt_len,
                room: s.room_after_next(),
                acceptance: s.acceptance,
            })
            .collect();
        let decodes = requests.len();
        let proposals = self.pool.install(|| speculator.propose(&requests, decodes));
        let ids: Vec<SeqId> = requests.iter().map(|r| r.seq).collect();
        for seq in self.seqs.values_mut() {
            seq.draft.clear();
        }
        for (id, mut draft) in ids.into_iter().zip(proposals) {
            if let Some(seq) = self.seqs.get_mut(&id) {
                // A constrained sequence checks only proposals its grammar allows.
                if let Some(grammar) = &mut seq.grammar {
                    draft.truncate(grammar.allowed_prefix(&draft));
                }
                seq.draft = draft;
            }
        }
    }

    /// The scheduled tokens now have K/V in the cache; full blocks join the prefix cache.
    /// Proposals are not in the cache until they are accepted (`choose_and_emit`).
    fn commit(&mut self, plan: &Schedule) {
        for &(id, n) in &plan.items {
            if let Some(seq) = self.seqs.get_mut(&id) {
                seq.computed = (seq.computed + n).min(seq.tokens.len());
                self.blocks.commit_tokens(id, &seq.tokens, seq.computed);
            }
        }
    }

    /// Chooses every sequence's next tokens from its rows and emits them; returns how many
    /// proposals were accepted.
    fn sample_and_emit(
        &mut self,
        rows: &[LogitRow],
        logits: &[f32],
        masks: &mut HashMap<SeqId, Result<Vec<TokenMask>, String>>,
    ) -> usize {
        let vocab = self.model.config().vocab_size;
        let mut accepted = 0;
        let mut i = 0;
        while i < rows.len() {
            match rows[i] {
                LogitRow::Prompt { seq: id, target } => {
                    if let Some(seq) = self.seqs.get_mut(&id) {
                        let row = &logits[i * vocab..(i + 1) * vocab];
                        seq.record_prompt_logprob(log_softmax_at(row, target));
                    }
                    i += 1;
                }
                LogitRow::Sample(id) => {
                    let n = rows[i..]
                        .iter()
                        .take_while(|&&r| r == LogitRow::Sample(id))
                        .count();
                    let rows = &logits[i * vocab..(i + n) * vocab];
                    accepted += match masks.remove(&id) {
                        Some(Err(reason)) => {
                            self.fail(id, GenerationError::StepFailed { reason });
                            0
                        }
                        Some(Ok(masks)) => self.choose_and_emit(id, rows, &masks),
                        None => self.choose_and_emit(id, rows, &[]),
                    };
                    i += n;
                }
            }
        }
        accepted
    }

    /// Chooses sequence `id`'s next tokens from its `logits` rows (one per proposal checked,
    /// and one more), in order: a proposal the choice takes is kept and the next row checks the
    /// next one; the first choice that differs ends the chain, and the last row chooses
    /// freely; a constrained sequence chooses row `i` among what `masks[i]` allows. The
    /// accepted proposals' K/V join the cache; the rejected ones' blocks go back.
    /// Returns how many proposals were accepted.
    fn choose_and_emit(&mut self, id: SeqId, logits: &[f32], masks: &[TokenMask]) -> usize {
        let vocab = self.model.config().vocab_size;
        let Some(seq) = self.seqs.get_mut(&id) else {
            return 0;
        };
        let draft = std::mem::take(&mut seq.draft);
        let checked = logits.len() / vocab - 1;
        let mut accepted = 0;
        let mut done = false;
        for (i, row) in logits.chunks_exact(vocab).enumerate() {
            let proposal = draft.get(i).copied().filter(|_| i < checked);
            let choice = seq.sampler.next(row, proposal, masks.get(i));
            if let Some(grammar) = &mut seq.grammar {
                if let Err(reason) = grammar.accept(choice.token) {
                    seq.fail(GenerationError::StepFailed { reason });
                    done = true;
                    break;
                }
            }
            let top = top_logprobs(row, seq.logprobs.top_n);
            let progress = seq.push_token(choice.token, choice.logprob, top, &self.tokenizer);
            let kept = proposal == Some(choice.token);
            accepted += usize::from(kept);
            if progress != Progress::Continue {
                done = true;
                break;
            }
            if !kept {
                break;
            }
        }
        if checked > 0 {
            if let Some(speculator) = &mut self.speculator {
                speculator.record_check(checked, accepted);
            }
            seq.acceptance.record(checked, accepted);
        }
        if done {
            self.release(id);
            return accepted;
        }
        seq.computed += accepted;
        if checked > 0 {
            // Blocks past the accepted tokens held only rejected proposals.
            if let Err(e) = self.blocks.truncate(id, seq.computed) {
                tracing::error!(%e, "giving back rejected proposals' blocks");
            }
            self.blocks.commit_tokens(id, &seq.tokens, seq.computed);
        }
        accepted
    }

    /// Ends one request with an error.
    fn fail(&mut self, id: SeqId, error: GenerationError) {
        if let Some(seq) = self.seqs.get(&id) {
            seq.fail(error);
        }
        self.release(id);
    }

    fn fail_all(&mut self, plan: &Schedule, error: GenerationError) {
        for &(id, _) in &plan.items {
            if let Some(seq) = self.seqs.get(&id) {
                seq.fail(error.clone());
            }
            self.release(id);
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
        for (id, seq) in std::mem::take(&mut self.seqs) {
            seq.fail(GenerationError::EngineStopped);
            self.scheduler.remove(id);
        }
    }
}

/// Whether any row of the step chooses a token for a constrained sequence.
fn constrained_rows(rows: &[LogitRow], seqs: &HashMap<SeqId, Sequence>) -> bool {
    rows.iter().any(|row| match row {
        LogitRow::Sample(id) => seqs.get(id).is_some_and(|s| s.grammar.is_some()),
        LogitRow::Prompt { .. } => false,
    })
}

/// The token masks for every constrained sequence's rows of the step, in row order.
fn grammar_masks(
    rows: &[LogitRow],
    seqs: &mut HashMap<SeqId, Sequence>,
) -> HashMap<SeqId, Result<Vec<TokenMask>, String>> {
    let mut counts: HashMap<SeqId, usize> = HashMap::new();
    for row in rows {
        if let LogitRow::Sample(id) = row {
            *counts.entry(*id).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter_map(|(id, rows)| {
            let seq = seqs.get_mut(&id)?;
            let grammar = seq.grammar.as_mut()?;
            Some((id, grammar.masks(&seq.draft, rows)))
        })
        .collect()
}
