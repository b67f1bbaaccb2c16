//! Random operation sequences against a model engine that "writes" token ids into a shadow KV
//! cache. Reading the shadow back proves that every prefix hit serves the right KV, and that no
//! write ever lands in a block another sequence can see.

use std::collections::HashMap;

use proptest::prelude::*;

use crate::{AllocStatus, BlockId, BlockManager, KvConfig, KvError};

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
        2 => seq.prop_map(|seq| Op::Preempt { seq }),
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

#[derive(Clone, Debug)]
struct Running {
    tokens: Vec<u32>,
    computed: usize,
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
                if let Some(running) = self.running.get(&seq).cloned() {
                    self.free(seq);
                    self.start(seq, running.tokens);
                }
            }
        }
    }

    fn start(&mut self, seq: u64, tokens: Vec<u32>) {
        if self.running.contains_key(&seq) {
            assert_eq!(
                self.kv.start_sequence(seq, &tokens),
                Err(KvError::SequenceExists(seq))
            );
            return;
        }
        let block_size = self.kv.block_size();
        let status = self.kv.can_allocate(seq, &tokens, tokens.len());
        let never_fits = tokens.len().div_ceil(block_size) > self.kv.num_blocks();
        assert_eq!(status == AllocStatus::Impossible, never_fits);

        let hits_before = self.kv.prefix_cache_hits();
        let computed = self.kv.start_sequence(seq, &tokens).unwrap();
        assert!(computed < tokens.len());
        assert_eq!(computed % block_size, 0);
        assert_eq!(
            self.kv.prefix_cache_hits() - hits_before,
            (computed / block_size) as u64
        );
        for (position, &token) in tokens.iter().enumerate().take(computed) {
            let slot = self.kv.slot(seq, position).unwrap();
            assert_eq!(self.slots[slot], Some(token), "prefix hit serves wrong KV");
        }

        // `can_allocate` must predict exactly whether the prompt fits.
        if self.grow(seq, tokens.len()).is_ok() {
            assert_eq!(status, AllocStatus::Ok);
            self.running.insert(seq, Running { tokens, computed });
        } else {
            assert_ne!(status, AllocStatus::Ok);
            self.kv.free_sequence(seq);
        }
    }

    fn step(&mut self, seq: u64, chunk: usize, sampled: u32) {
        let Some(running) = self.running.get(&seq).cloned() else {
            assert_eq!(self.kv.grow(seq, 1), Err(KvError::UnknownSequence(seq)));
            return;
        };
        let end = running.tokens.len().min(running.computed + chunk);
        if self.grow(seq, end).is_err() {
            return;
        }
        let block_size = self.kv.block_size();
        for position in running.computed..end {
            let slot = self.kv.slot(seq, position).unwrap();
            let block = BlockId((slot / block_size) as u32);
            assert_eq!(
                self.kv.pool.ref_count(block),
                1,
                "write into a shared block"
            );
            assert!(!self.kv.cache.is_cached(block), "write into a cached block");
            self.slots[slot] = Some(running.tokens[position]);
        }
        self.kv.commit_tokens(seq, &running.tokens, end);
        let running = self.running.get_mut(&seq).unwrap();
        running.computed = end;
        if end == running.tokens.len() {
            running.tokens.push(sampled);
        }
    }

    /// `grow`, checked to be all-or-nothing; fresh blocks hold garbage until written.
    fn grow(&mut self, seq: u64, total_tokens: usize) -> Result<(), KvError> {
        let before = self.kv.block_table(seq).unwrap().to_vec();
        let free_before = self.kv.num_free_blocks();
        let result = self.kv.grow(seq, total_tokens);
        let after = self.kv.block_table(seq).unwrap().to_vec();
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
        self.kv.free_sequence(seq);
        self.running.remove(&seq);
        assert!(!self.kv.has_sequence(seq));
    }

    fn check(&self) {
        self.kv.check_invariants().unwrap();
        assert_eq!(self.kv.num_sequences(), self.running.len());
        let held = self.kv.num_blocks() - self.kv.num_free_blocks();
        assert_eq!(self.kv.usage(), held as f64 / self.kv.num_blocks() as f64);
        // Every cached block really holds the tokens it is recorded to hold.
        let block_size = self.kv.block_size();
        for i in 0..self.kv.num_blocks() {
            if let Some(tokens) = self.kv.cache.cached_tokens(BlockId(i as u32)) {
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
