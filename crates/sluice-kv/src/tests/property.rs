//! Random operation sequences against a model engine that "writes" token ids into a shadow KV
//! cache. Reading the shadow back proves that every prefix hit serves the right KV, and that no
//! write ever lands in a block another sequence can see.

use std::collections::HashMap;

use proptest::prelude::*;

use super::s;
use crate::{AllocStatus, BlockId, BlockLease, BlockManager, KvConfig, KvError};

#[derive(Clone, Debug)]
enum Op {
    /// Admit a new request (if `can_allocate` allows) and cover its prompt.
    Start { seq: u64, prompt: Vec<u32> },
    /// One forward pass over up to `chunk` uncomputed tokens (chunked prefill or decode); if
    /// that reaches the end, `sampled` is appended.
    Step {
        seq: u64,
        chunk: usize,
        sampled: u32,
    },
    /// Finish or abort.
    Free { seq: u64 },
    /// Free, then restart with all tokens so far, as a recomputation.
    Preempt { seq: u64 },
    /// A speculative step of a sequence that has computed all but its newest token: K/V for
    /// `proposed` guessed tokens after it are written too, then all but the first `accepted`
    /// guesses are rejected and their blocks given back (`truncate`); the accepted ones and a
    /// corrected token join the sequence.
    Speculate {
        seq: u64,
        proposed: usize,
        accepted: usize,
    },
}

/// Prompts start with a cut of a shared system prompt, so prefixes collide often.
const SYSTEM_PROMPTS: [[u32; 8]; 2] = [[0, 1, 0, 1, 1, 0, 0, 1], [1, 1, 1, 1, 0, 0, 0, 0]];

fn prompt() -> impl Strategy<Value = Vec<u32>> {
    (0..3usize, 0..=8usize, prop::collection::vec(0..3u32, 1..6)).prop_map(|(system, cut, user)| {
        let system = SYSTEM_PROMPTS.get(system).map_or(&[][..], |p| &p[..cut]);
        system.iter().copied().chain(user).collect()
    })
}

fn op() -> impl Strategy<Value = Op> {
    let seq = 0..4u64;
    prop_oneof![
        3 => (seq.clone(), prompt()).prop_map(|(seq, prompt)| Op::Start { seq, prompt }),
        5 => (seq.clone(), 1..8usize, 0..3u32)
            .prop_map(|(seq, chunk, sampled)| Op::Step { seq, chunk, sampled }),
        1 => seq.clone().prop_map(|seq| Op::Free { seq }),
        2 => seq.clone().prop_map(|seq| Op::Preempt { seq }),
        3 => (seq, 1..10usize, 0..10usize)
            .prop_map(|(seq, proposed, accepted)| Op::Speculate { seq, proposed, accepted }),
    ]
}

fn config() -> impl Strategy<Value = KvConfig> {
    (1..=16usize, 1..=4usize, prop::bool::weighted(0.8)).prop_map(
        |(num_blocks, block_size, enable_prefix_caching)| KvConfig {
            num_blocks,
            block_size,
            enable_prefix_caching,
        },
    )
}

/// Token ids that speculative guesses write, apart from the prompts' 0..3.
const GUESS: u32 = 100;

struct Running {
    tokens: Vec<u32>,
    computed: usize,
    /// Holds the blocks; dropping the `Running` frees them.
    _lease: BlockLease,
}

struct Engine {
    kv: BlockManager,
    /// The token whose KV each physical slot holds; `None` for garbage.
    slots: Vec<Option<u32>>,
    running: HashMap<u64, Running>,
}

impl Engine {
    fn new(config: KvConfig) -> Self {
        Engine {
            kv: BlockManager::new(config).unwrap(),
            slots: vec![None; config.num_blocks * config.block_size],
            running: HashMap::new(),
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Start { seq, prompt } => self.start(seq, prompt),
            Op::Step {
                seq,
                chunk,
                sampled,
            } => self.step(seq, chunk, sampled),
            Op::Free { seq } => self.free(seq),
            Op::Preempt { seq } => {
                if let Some(running) = self.running.remove(&seq) {
                    let Running { tokens, _lease, .. } = running;
                    drop(_lease);
                    assert!(!self.kv.has_sequence(s(seq)), "the lease freed it");
                    self.start(seq, tokens);
                }
            }
            Op::Speculate {
                seq,
                proposed,
                accepted,
            } => self.speculate(seq, proposed, accepted.min(proposed)),
        }
    }

    fn start(&mut self, seq: u64, tokens: Vec<u32>) {
        if self.running.contains_key(&seq) {
            assert_eq!(
                self.kv.start_sequence(s(seq), &tokens).err(),
                Some(KvError::SequenceExists(s(seq)))
            );
            return;
        }
        let block_size = self.kv.block_size();
        let status = self.kv.can_allocate(s(seq), &tokens, tokens.len());
        let never_fits = tokens.len().div_ceil(block_size) > self.kv.num_blocks();
        assert_eq!(status == AllocStatus::Impossible, never_fits);

        let hits_before = self.kv.prefix_cache_hits();
        let (lease, computed) = self.kv.start_sequence(s(seq), &tokens).unwrap();
        assert!(computed < tokens.len());
        assert_eq!(computed % block_size, 0);
        assert_eq!(
            self.kv.prefix_cache_hits() - hits_before,
            (computed / block_size) as u64
        );
        for (position, &token) in tokens.iter().enumerate().take(computed) {
            let slot = self.kv.slot(s(seq), position).unwrap();
            assert_eq!(self.slots[slot], Some(token), "prefix hit serves wrong KV");
        }

        // `can_allocate` must predict exactly whether the prompt fits.
        if self.grow(seq, tokens.len()).is_ok() {
            assert_eq!(status, AllocStatus::Ok);
            let running = Running {
                tokens,
                computed,
                _lease: lease,
            };
            self.running.insert(seq, running);
        } else {
            assert_ne!(status, AllocStatus::Ok);
            drop(lease);
            assert!(!self.kv.has_sequence(s(seq)));
        }
    }

    fn step(&mut self, seq: u64, chunk: usize, sampled: u32) {
        let Some(running) = self.running.get(&seq) else {
            assert_eq!(
                self.kv.grow(s(seq), 1),
                Err(KvError::UnknownSequence(s(seq)))
            );
            return;
        };
        let (computed, tokens) = (running.computed, running.tokens.clone());
        let end = tokens.len().min(computed + chunk);
        if self.grow(seq, end).is_err() {
            return;
        }
        self.write(seq, computed, &tokens[computed..end]);
        self.kv.commit_tokens(s(seq), &tokens, end);
        let running = self.running.get_mut(&seq).unwrap();
        running.computed = end;
        if end == running.tokens.len() {
            running.tokens.push(sampled);
        }
    }

    fn speculate(&mut self, seq: u64, proposed: usize, accepted: usize) {
        let Some(running) = self.running.get(&seq) else {
            return;
        };
        let (computed, mut tokens) = (running.computed, running.tokens.clone());
        if computed + 1 != tokens.len() {
            return; // still in its prompt
        }
        let guesses: Vec<u32> = (0..proposed as u32).map(|i| GUESS + i).collect();
        let end = tokens.len() + proposed;
        if self.grow(seq, end).is_err() {
            return;
        }
        // The newest token and every guess are written in one pass.
        tokens.extend(&guesses);
        self.write(seq, computed, &tokens[computed..end]);
        // The first `accepted` guesses stand, and their K/V with them; the model's own token
        // follows them.
        let kept = computed + 1 + accepted;
        let table_before = self.kv.block_table(s(seq)).unwrap();
        let freed = self.kv.truncate(s(seq), kept).unwrap();
        let table_after = self.kv.block_table(s(seq)).unwrap();
        let block_size = self.kv.block_size();
        assert_eq!(table_after.len(), kept.div_ceil(block_size));
        assert_eq!(table_after[..], table_before[..table_after.len()]);
        assert_eq!(freed, table_before.len() - table_after.len());
        for block in &table_before[table_after.len()..] {
            let slots = block.index() * block_size..(block.index() + 1) * block_size;
            self.slots[slots].fill(None);
        }
        tokens.truncate(kept);
        self.kv.commit_tokens(s(seq), &tokens, kept);
        tokens.push(GUESS + 50);
        let running = self.running.get_mut(&seq).unwrap();
        running.computed = kept;
        running.tokens = tokens;
        // Committed tokens are final.
        let committed = kept / block_size * block_size;
        if self.kv.prefix_caching() && committed > 0 {
            assert!(matches!(
                self.kv.truncate(s(seq), committed - 1),
                Err(KvError::TruncateCommitted { .. })
            ));
        }
    }

    /// "Computes" `tokens` at positions `first..`: each slot records its token. A write only
    /// ever lands in a block private to the sequence.
    fn write(&mut self, seq: u64, first: usize, tokens: &[u32]) {
        let block_size = self.kv.block_size();
        for (position, &token) in (first..).zip(tokens) {
            let slot = self.kv.slot(s(seq), position).unwrap();
            let block = BlockId((slot / block_size) as u32);
            let state = self.kv.state();
            assert_eq!(state.pool.ref_count(block), 1, "write into a shared block");
            assert!(!state.cache.is_cached(block), "write into a cached block");
            self.slots[slot] = Some(token);
        }
    }

    /// `grow`, checked to be all-or-nothing; fresh blocks hold garbage until written.
    fn grow(&mut self, seq: u64, total_tokens: usize) -> Result<(), KvError> {
        let before = self.kv.block_table(s(seq)).unwrap();
        let free_before = self.kv.num_free_blocks();
        let result = self.kv.grow(s(seq), total_tokens);
        let after = self.kv.block_table(s(seq)).unwrap();
        let block_size = self.kv.block_size();
        match result {
            Ok(()) => {
                assert_eq!(after[..before.len()], before[..]);
                assert_eq!(
                    after.len(),
                    before.len().max(total_tokens.div_ceil(block_size))
                );
                for block in &after[before.len()..] {
                    let slots = block.index() * block_size..(block.index() + 1) * block_size;
                    self.slots[slots].fill(None);
                }
            }
            Err(_) => {
                assert_eq!(after, before);
                assert_eq!(self.kv.num_free_blocks(), free_before);
            }
        }
        result
    }

    fn free(&mut self, seq: u64) {
        self.running.remove(&seq);
        assert!(!self.kv.has_sequence(s(seq)));
    }

    fn check(&self) {
        self.kv.check_invariants().unwrap();
        assert_eq!(self.kv.num_sequences(), self.running.len());
        let held = self.kv.num_blocks() - self.kv.num_free_blocks();
        assert_eq!(self.kv.usage(), held as f64 / self.kv.num_blocks() as f64);
        // Every cached block really holds the tokens it is recorded to hold.
        let block_size = self.kv.block_size();
        for i in 0..self.kv.num_blocks() {
            if let Some(tokens) = self.kv.state().cache.cached_tokens(BlockId(i as u32)) {
                let slots = &self.slots[i * block_size..(i + 1) * block_size];
                let expected: Vec<Option<u32>> = tokens.iter().copied().map(Some).collect();
                assert_eq!(slots, expected, "block {i} does not hold its cached tokens");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_schedules_keep_invariants_and_leak_nothing(
        config in config(),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let mut engine = Engine::new(config);
        for op in ops {
            engine.apply(op);
            engine.check();
        }
        let seqs: Vec<u64> = engine.running.keys().copied().collect();
        for seq in seqs {
            engine.free(seq);
        }
        engine.check();
        prop_assert_eq!(engine.kv.num_free_blocks(), engine.kv.num_blocks());
        prop_assert_eq!(engine.kv.usage(), 0.0);
        prop_assert_eq!(engine.kv.num_sequences(), 0);
    }
}
