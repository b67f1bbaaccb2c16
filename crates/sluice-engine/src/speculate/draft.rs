//! A draft model's proposals (`--draft-model`, llama-server's `--model-draft`, vLLM's draft
//! model): a smaller model with the same vocabulary runs ahead of the target, greedily, a
//! token at a time, over its own K/V cache.
//!
//! The draft keeps, per sequence, the tokens its cache holds. Before proposing it cuts that
//! back to what the sequence still agrees with (rejected proposals go, their blocks freed),
//! computes the rest in one batch (the prompt the first time, then the step's accepted tokens
//! and the new one), and then runs one batched step per further proposal. Its proposals only
//! decide what the target checks, never what it outputs, so the draft's arithmetic need not
//! match anything: any draft keeps the target's output exact.

use super::ProposalRequest;
use crate::sampler::argmax;
use sluice_core::SeqId;
use sluice_kv::{BlockLease, BlockManager, KvConfig, KvError};
use sluice_models::{BatchSeq, CausalLm, ForwardBatch, KvMemory, ModelError};
use sluice_tokenizer::Tokenizer;
use std::collections::HashMap;
use std::time::Instant;

/// Why a model cannot draft for another.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("the draft model's vocabulary differs from the model's: {0}; a draft must share the model's tokenizer")]
    Vocabulary(String),
    #[error("the draft model's cache: {0}")]
    Cache(#[from] KvError),
}

/// A draft model and its cache.
pub struct DraftModel {
    model: Box<dyn CausalLm>,
    kv: Box<dyn KvMemory>,
    blocks: BlockManager,
    /// Per sequence: the tokens whose K/V the draft's cache holds, and the lease on its blocks.
    held: HashMap<SeqId, Held>,
    /// The target's vocabulary: a proposal must be one of its tokens.
    target_vocab: usize,
}

struct Held {
    tokens: Vec<u32>,
    _lease: BlockLease,
}

/// What each sequence in one batched draft step computes.
struct Rows {
    seq: SeqId,
    /// The tokens after the held ones; the last row's logits give the next proposal.
    tokens: Vec<u32>,
    prompt_len: usize,
    /// The draft held none of the sequence: its rows are the whole prompt and more.
    fresh: bool,
}

/// One step's proposals, in request order, and the seconds the draft spent proposing them
/// (new sequences' prompts left out: see [`DraftModel::propose`]).
pub struct Drafted {
    pub proposals: Vec<Vec<u32>>,
    pub seconds: f64,
}

impl DraftModel {
    /// `model` drafting for a target whose tokenizer is `target`, with a cache of `num_blocks`
    /// blocks of `block_size` tokens.
    pub fn new(
        model: Box<dyn CausalLm>,
        tokenizer: &Tokenizer,
        target: &Tokenizer,
        target_vocab: usize,
        num_blocks: usize,
        block_size: usize,
        kv_dtype: sluice_models::KvDtype,
    ) -> Result<Self, DraftError> {
        same_vocabulary(tokenizer, target).map_err(DraftError::Vocabulary)?;
        let blocks = BlockManager::new(KvConfig {
            num_blocks,
            block_size,
            // The draft's blocks hold unverified tokens; nothing of them is shared.
            enable_prefix_caching: false,
        })?;
        let kv = model.new_kv_memory(model.kv_layout(num_blocks, block_size, kv_dtype));
        Ok(DraftModel {
            model,
            kv,
            blocks,
            held: HashMap::new(),
            target_vocab,
        })
    }

    /// Up to `want[i]` tokens to follow each request's tokens, in request order. A sequence
    /// the draft's cache or context cannot hold gets none this step. A sequence new to the
    /// draft has its prompt computed first, in a step of its own that is paid once per request
    /// (like the model's own prefill) and left out of [`Drafted::seconds`], which prices the
    /// proposals themselves.
    pub fn propose(&mut self, requests: &[ProposalRequest], want: &[usize]) -> Drafted {
        let mut proposals = vec![Vec::new(); requests.len()];
        let none = |requests: &[ProposalRequest]| Drafted {
            proposals: vec![Vec::new(); requests.len()],
            seconds: 0.0,
        };
        let context = self.model.config().context_length;
        // First step: each sequence's tokens the draft has not computed.
        let mut active: Vec<(usize, Rows)> = Vec::new();
        for (i, (req, &n)) in requests.iter().zip(want).enumerate() {
            if n == 0 || req.tokens.len() + n > context {
                continue;
            }
            match self.catch_up(req, n) {
                Ok(rows) => active.push((i, rows)),
                Err(e) => {
                    tracing::debug!(%e, seq = %req.seq, "the draft skips a sequence");
                    self.forget(req.seq);
                }
            }
        }
        let prompts: Vec<Rows> = active
            .iter_mut()
            .filter(|(_, rows)| rows.fresh && rows.tokens.len() > 1)
            .map(|(_, rows)| {
                let last = rows.tokens.pop().expect("more than one");
                rows.fresh = false;
                Rows {
                    seq: rows.seq,
                    tokens: std::mem::replace(&mut rows.tokens, vec![last]),
                    prompt_len: rows.prompt_len,
                    fresh: true,
                }
            })
            .collect();
        if !prompts.is_empty() {
            if let Err(e) = self.step(&prompts.iter().collect::<Vec<_>>()) {
                tracing::warn!(%e, "the draft model's step failed; no proposals this step");
                for rows in &prompts {
                    self.forget(rows.seq);
                }
                return none(requests);
            }
        }
        let started = Instant::now();
        for round in 0.. {
            active.retain(|(i, _)| proposals[*i].len() < want[*i]);
            if active.is_empty() {
                break;
            }
            if round > 0 {
                // Every later step computes the previous proposal.
                for (i, rows) in &mut active {
                    rows.tokens = vec![*proposals[*i].last().expect("one per round")];
                }
                let grown: Vec<bool> = active.iter().map(|(_, r)| self.grow(r).is_ok()).collect();
                let mut keep = grown.into_iter();
                active.retain(|_| keep.next().unwrap_or(false));
            }
            let next = match self.step(&active.iter().map(|(_, r)| r).collect::<Vec<_>>()) {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(%e, "the draft model's step failed; no proposals this step");
                    for (_, rows) in &active {
                        self.forget(rows.seq);
                    }
                    return none(requests);
                }
            };
            let mut chosen = next.into_iter();
            active.retain(|(i, _)| match chosen.next() {
                Some(token) if (token as usize) < self.target_vocab => {
                    proposals[*i].push(token);
                    true
                }
                _ => false,
            });
        }
        Drafted {
            proposals,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// The sequence is gone: its draft blocks are freed.
    pub fn forget(&mut self, seq: SeqId) {
        self.held.remove(&seq);
    }

    /// Cuts the draft's copy of `req`'s sequence back to what still agrees with its tokens,
    /// makes room for them and `n` proposals, and returns the rows still to compute (at least
    /// the newest token, whose logits give the first proposal).
    fn catch_up(&mut self, req: &ProposalRequest, n: usize) -> Result<Rows, KvError> {
        let tokens = req.tokens;
        if !self.held.contains_key(&req.seq) {
            let lease = self.blocks.start_sequence_uncached(req.seq, tokens)?;
            self.held.insert(
                req.seq,
                Held {
                    tokens: Vec::new(),
                    _lease: lease,
                },
            );
        }
        let held = self.held.get_mut(&req.seq).expect("inserted above");
        let agree = held
            .tokens
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count()
            .min(tokens.len() - 1);
        held.tokens.truncate(agree);
        self.blocks.truncate(req.seq, agree)?;
        // Room for the tokens and all but the last proposal, which is never computed.
        self.blocks.grow(req.seq, tokens.len() + n - 1)?;
        Ok(Rows {
            seq: req.seq,
            tokens: tokens[agree..].to_vec(),
            prompt_len: req.prompt_len,
            fresh: agree == 0,
        })
    }

    /// Room in the draft's cache for `rows` after what it holds.
    fn grow(&mut self, rows: &Rows) -> Result<(), KvError> {
        let held = self.held[&rows.seq].tokens.len();
        self.blocks.grow(rows.seq, held + rows.tokens.len())
    }

    /// One forward pass over every sequence's `rows`; each sequence's greedy next token.
    fn step(&mut self, all: &[&Rows]) -> Result<Vec<u32>, ModelError> {
        let mut batch = ForwardBatch::default();
        for rows in all {
            let held = &self.held[&rows.seq].tokens;
            let first_row = batch.tokens.len();
            for (k, &token) in rows.tokens.iter().enumerate() {
                let position = held.len() + k;
                batch.tokens.push(token);
                batch.positions.push(position);
                // `catch_up` and `grow` made room for every row.
                batch
                    .slots
                    .push(self.blocks.slot(rows.seq, position).unwrap_or(usize::MAX));
            }
            batch.logit_rows.push(batch.tokens.len() - 1);
            let context_len = held.len() + rows.tokens.len();
            batch.seqs.push(BatchSeq {
                first_row,
                rows: rows.tokens.len(),
                context_len,
                prompt_len: rows.prompt_len.min(context_len),
                block_table: self.blocks.block_table(rows.seq).unwrap_or_default(),
            });
        }
        let logits = self.model.forward(&batch, self.kv.as_mut())?;
        for rows in all {
            if let Some(held) = self.held.get_mut(&rows.seq) {
                held.tokens.extend_from_slice(&rows.tokens);
            }
        }
        let vocab = self.model.config().vocab_size;
        Ok(logits.chunks_exact(vocab).map(argmax).collect())
    }
}

/// Whether two tokenizers have the same tokens under the same ids; what differs if not.
fn same_vocabulary(draft: &Tokenizer, target: &Tokenizer) -> Result<(), String> {
    if draft.vocab_size() != target.vocab_size() {
        return Err(format!(
            "it has {} tokens, the model {}",
            draft.vocab_size(),
            target.vocab_size()
        ));
    }
    let differs =
        (0..target.vocab_size() as u32).find(|&id| draft.token_bytes(id) != target.token_bytes(id));
    match differs {
        Some(id) => Err(format!(
            "token {id} is {:?} in the draft and {:?} in the model",
            String::from_utf8_lossy(&draft.token_bytes(id)),
            String::from_utf8_lossy(&target.token_bytes(id))
        )),
        None => Ok(()),
    }
}
