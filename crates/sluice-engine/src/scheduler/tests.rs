//! The scheduler's decisions on plain sequences, without a model: a step is simulated by
//! counting the scheduled tokens as computed and appending a token where a sequence reaches
//! its end.

use super::*;
use proptest::prelude::*;
use sluice_kv::KvConfig;

/// A sequence as plain data.
#[derive(Debug)]
struct Plain {
    tokens: Vec<u32>,
    prompt_len: usize,
    max_new: usize,
    computed: usize,
    prompt_logprobs: bool,
    blocks: Option<BlockLease>,
}

impl Schedulable for Plain {
    fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    fn computed(&self) -> usize {
        self.computed
    }

    fn max_context(&self) -> usize {
        self.prompt_len + self.max_new
    }

    fn needs_prompt_logprobs(&self) -> bool {
        self.prompt_logprobs
    }

    fn run(&mut self, blocks: BlockLease, cached: usize) {
        self.computed = cached;
        self.blocks = Some(blocks);
    }

    fn preempt(&mut self) {
        self.computed = 0;
        self.blocks = None;
    }
}

/// A scheduler, a block manager and the sequences, stepped as the engine steps them.
struct World {
    scheduler: Scheduler,
    kv: BlockManager,
    seqs: HashMap<SeqId, Plain>,
    next_id: u64,
    /// Ids of the finished sequences, in finishing order.
    finished: Vec<SeqId>,
}

impl World {
    fn new(num_blocks: usize, block_size: usize, budget: usize, max_running: usize) -> Self {
        let kv = BlockManager::new(KvConfig {
            num_blocks,
            block_size,
            enable_prefix_caching: true,
        })
        .unwrap();
        World {
            scheduler: Scheduler::new(budget, max_running),
            kv,
            seqs: HashMap::new(),
            next_id: 1,
            finished: Vec::new(),
        }
    }

    /// Queues a request; ids count up in arrival order.
    fn arrive(&mut self, prompt: Vec<u32>, max_new: usize) -> SeqId {
        let id = SeqId(self.next_id);
        self.next_id += 1;
        let seq = Plain {
            prompt_len: prompt.len(),
            tokens: prompt,
            max_new,
            computed: 0,
            prompt_logprobs: false,
            blocks: None,
        };
        self.seqs.insert(id, seq);
        self.scheduler.enqueue(id);
        id
    }

    /// Plans a step and "runs" it; returns the plan.
    fn step(&mut self) -> Schedule {
        let plan = self.scheduler.schedule(&mut self.seqs, &mut self.kv);
        for &id in &plan.rejected {
            self.seqs.remove(&id);
        }
        for &(id, n) in &plan.items {
            let seq = self.seqs.get_mut(&id).unwrap();
            seq.computed += n;
            self.kv.commit_tokens(id, &seq.tokens, seq.computed);
            if seq.computed == seq.tokens.len() {
                seq.tokens.push(7);
                if seq.tokens.len() - seq.prompt_len == seq.max_new {
                    self.seqs.remove(&id);
                    self.scheduler.remove(id);
                    self.finished.push(id);
                }
            }
        }
        plan
    }
}

fn tokens(n: usize, first: u32) -> Vec<u32> {
    (0..n as u32).map(|i| first + i).collect()
}

#[test]
fn running_sequences_go_first_then_waiting_ones_in_arrival_order() {
    let mut w = World::new(64, 4, 100, 8);
    let a = w.arrive(tokens(5, 0), 10);
    let plan = w.step();
    assert_eq!(plan.items, [(a, 5)]);
    let b = w.arrive(tokens(3, 100), 10);
    let c = w.arrive(tokens(2, 200), 10);
    let plan = w.step();
    assert_eq!(plan.items, [(a, 1), (b, 3), (c, 2)], "a decodes first");
    assert_eq!(w.scheduler.num_running(), 3);
}

#[test]
fn a_long_prompt_is_prefilled_in_chunks_of_the_budget_left_by_decodes() {
    let mut w = World::new(64, 4, 8, 8);
    let a = w.arrive(tokens(2, 0), 20);
    w.step();
    let b = w.arrive(tokens(20, 100), 5);
    // The decode of `a` takes one token of the 8; `b` gets the other 7, three times, then 0
    // left: 7 + 7 + 6.
    let chunks: Vec<Vec<(SeqId, usize)>> = (0..3).map(|_| w.step().items).collect();
    assert_eq!(chunks[0], [(a, 1), (b, 7)]);
    assert_eq!(chunks[1], [(a, 1), (b, 7)]);
    assert_eq!(chunks[2], [(a, 1), (b, 6)]);
    assert!(chunks
        .iter()
        .all(|c| c.iter().map(|&(_, n)| n).sum::<usize>() <= 8));
    assert_eq!(w.step().items, [(a, 1), (b, 1)], "b decodes");
}

#[test]
fn admission_stops_at_the_running_limit() {
    let mut w = World::new(64, 4, 100, 2);
    let ids: Vec<SeqId> = (0..3).map(|i| w.arrive(tokens(3, 10 * i), 4)).collect();
    let plan = w.step();
    assert_eq!(plan.items, [(ids[0], 3), (ids[1], 3)]);
    assert_eq!(w.scheduler.num_waiting(), 1);
    // The third waits until one finishes (4 new tokens: after 4 steps).
    for _ in 0..3 {
        assert!(w.step().items.iter().all(|&(id, _)| id != ids[2]));
    }
    assert_eq!(w.finished, &ids[..2]);
    assert_eq!(w.step().items, [(ids[2], 3)]);
}

#[test]
fn out_of_blocks_preempts_the_newest_and_frees_its_blocks() {
    // 4 blocks of 2 tokens. Two prompts of 3 tokens hold 2 blocks each; when the older one
    // needs a third block, the newer one is preempted, its blocks given back.
    let mut w = World::new(4, 2, 100, 8);
    let a = w.arrive(tokens(3, 0), 5);
    let b = w.arrive(tokens(3, 10), 5);
    assert_eq!(w.step().items, [(a, 3), (b, 3)]);
    assert_eq!(w.kv.num_free_blocks(), 0);
    assert_eq!(w.step().items, [(a, 1), (b, 1)]);
    // Both have 5 tokens now, 4 computed; a's 5th needs a third block.
    let plan = w.step();
    assert_eq!(plan.preempted, [b]);
    assert_eq!(plan.items, [(a, 1)]);
    assert!(w.seqs[&b].blocks.is_none() && w.seqs[&b].computed == 0);
    assert!(!w.kv.has_sequence(b));
    // It waits at the front of the queue, ahead of a later arrival.
    let c = w.arrive(tokens(1, 20), 1);
    assert_eq!(w.scheduler.waiting, [b, c]);
    w.kv.check_invariants().unwrap();
}

#[test]
fn a_request_that_can_never_fit_is_rejected_and_the_rest_go_on() {
    let mut w = World::new(4, 2, 100, 8);
    let big = w.arrive(tokens(3, 0), 20);
    let small = w.arrive(tokens(2, 10), 2);
    let plan = w.step();
    assert_eq!(plan.rejected, [big]);
    assert_eq!(plan.items, [(small, 2)]);
}

#[test]
fn a_request_waits_a_step_for_a_long_prefix_being_computed() {
    let mut w = World::new(64, 4, 100, 8);
    let system = tokens(40, 0);
    let with = |tail: u32| system.iter().copied().chain([tail]).collect::<Vec<u32>>();
    let a = w.arrive(with(1000), 4);
    let b = w.arrive(with(2000), 4);
    // `b` shares 40 tokens (10 blocks) that `a` is computing: it waits for them.
    assert_eq!(w.step().items, [(a, 41)]);
    let plan = w.step();
    assert_eq!(
        plan.items,
        [(a, 1), (b, 1)],
        "b takes 40 tokens from the cache"
    );
    assert_eq!(w.kv.prefix_cache_hits(), 10);
}

#[test]
fn prompt_logprob_requests_compute_every_position() {
    let mut w = World::new(64, 4, 100, 8);
    let prompt = tokens(9, 0);
    let a = w.arrive(prompt.clone(), 2);
    w.step();
    let b = w.arrive(prompt, 2);
    w.seqs.get_mut(&b).unwrap().prompt_logprobs = true;
    let plan = w.step();
    assert_eq!(plan.items, [(a, 1), (b, 9)], "no cache hit for b");
}

/// A random workload: prompts from a small alphabet (so prefixes are shared and the cache is
/// hit) but never 32 tokens alike (so no request waits for a prefix, and arrival order is
/// the only admission order).
fn workload() -> impl Strategy<Value = Vec<(Vec<u32>, usize, usize)>> {
    prop::collection::vec(
        (prop::collection::vec(0..3u32, 1..20), 1..12usize, 0..3usize),
        1..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every step: the budget holds, no sequence is scheduled twice, every scheduled one holds
    /// the blocks it writes and no two write the same slot, the block manager's invariants
    /// hold, and every running sequence arrived before every waiting one (FCFS, preempted ones
    /// going back first). In the end every request finished or was rejected, and every block
    /// is free.
    #[test]
    fn random_workloads_keep_budget_ownership_and_order(
        num_blocks in 4..24usize,
        block_size in 1..5usize,
        budget in 1..24usize,
        max_running in 1..6usize,
        requests in workload(),
    ) {
        let mut w = World::new(num_blocks, block_size, budget, max_running);
        let mut arrivals = requests.into_iter();
        let mut rejected = 0;
        let total = arrivals.len();
        for _ in 0..20_000 {
            // Up to two arrivals a step, those given in the next element.
            if let Some((prompt, max_new, more)) = arrivals.next() {
                w.arrive(prompt, max_new);
                for (prompt, max_new, _) in arrivals.by_ref().take(more.min(1)) {
                    w.arrive(prompt, max_new);
                }
            }
            let plan = w.step();
            rejected += plan.rejected.len();
            prop_assert!(plan.tokens() <= budget, "{plan:?}");
            let mut written = std::collections::HashSet::new();
            for (i, &(id, n)) in plan.items.iter().enumerate() {
                prop_assert!(n >= 1);
                prop_assert!(plan.items[..i].iter().all(|&(other, _)| other != id));
                if let Some(seq) = w.seqs.get(&id) {
                    prop_assert!(seq.blocks.is_some());
                }
            }
            for &(id, n) in &plan.items {
                // Sequences that finished this step gave their blocks back already.
                if !w.kv.has_sequence(id) {
                    continue;
                }
                let end = w.seqs[&id].computed;
                for pos in end - n..end {
                    let slot = w.kv.slot(id, pos).unwrap();
                    prop_assert!(written.insert(slot), "slot {slot} written twice");
                }
            }
            w.kv.check_invariants().unwrap();
            let newest_running = w.scheduler.running.iter().max();
            let oldest_waiting = w.scheduler.waiting.iter().min();
            if let (Some(r), Some(q)) = (newest_running, oldest_waiting) {
                prop_assert!(r < q, "{:?} runs while {:?} waits", r, q);
            }
            if w.scheduler.is_idle() && arrivals.len() == 0 {
                break;
            }
        }
        prop_assert!(w.scheduler.is_idle());
        prop_assert_eq!(w.finished.len() + rejected, total);
        prop_assert_eq!(w.kv.num_free_blocks(), num_blocks);
        prop_assert_eq!(w.kv.num_sequences(), 0);
    }
}
