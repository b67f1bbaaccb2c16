//! Hand-written scenarios for each behaviour the engine relies on.

use super::{s, Held};
use crate::{AllocStatus, BlockId, BlockManager, KvConfig, KvError};

fn manager(num_blocks: usize, block_size: usize) -> Held {
    Held::new(KvConfig {
        num_blocks,
        block_size,
        enable_prefix_caching: true,
    })
}

fn ids(kv: &Held, seq: u64) -> Vec<u32> {
    kv.block_table(s(seq))
        .unwrap()
        .iter()
        .map(|b| b.0)
        .collect()
}

/// A finished prefill: start, cover the prompt, write it all and commit it.
fn prefill(kv: &mut Held, seq: u64, tokens: &[u32]) -> usize {
    let computed = kv.start(seq, tokens).unwrap();
    kv.grow(s(seq), tokens.len()).unwrap();
    kv.commit_tokens(s(seq), tokens, tokens.len());
    kv.check_invariants().unwrap();
    computed
}

#[test]
fn config_rejects_empty_pool_or_block_without_panicking() {
    let bad_pool = KvConfig {
        num_blocks: 0,
        ..KvConfig::new(4)
    };
    let bad_block = KvConfig {
        block_size: 0,
        ..KvConfig::new(4)
    };
    assert!(matches!(
        BlockManager::new(bad_pool),
        Err(KvError::InvalidConfig(_))
    ));
    assert!(matches!(
        BlockManager::new(bad_block),
        Err(KvError::InvalidConfig(_))
    ));

    let kv = BlockManager::new(KvConfig::new(4)).unwrap();
    assert_eq!(kv.block_size(), 16);
    assert_eq!(kv.capacity_tokens(), 64);
    assert_eq!(kv.num_free_blocks(), 4);
    assert_eq!(kv.usage(), 0.0);
}

#[test]
fn slot_maps_positions_through_a_non_contiguous_table() {
    let mut kv = manager(8, 4);
    kv.start(1, &[7; 5]).unwrap();
    kv.grow(s(1), 5).unwrap();
    kv.start(2, &[8; 9]).unwrap();
    kv.grow(s(2), 9).unwrap();
    assert_eq!(ids(&kv, 1), [0, 1]);
    assert_eq!(ids(&kv, 2), [2, 3, 4]);
    kv.free(1);

    kv.start(3, &[9; 9]).unwrap();
    kv.grow(s(3), 9).unwrap();
    assert_eq!(ids(&kv, 3), [0, 1, 5], "freed blocks are reused first");
    assert_eq!(kv.slot(s(3), 0), Some(0));
    assert_eq!(kv.slot(s(3), 5), Some(4 + 1));
    assert_eq!(kv.slot(s(3), 8), Some(5 * 4));
    assert_eq!(kv.slot(s(3), 11), Some(5 * 4 + 3));
    assert_eq!(kv.slot(s(3), 12), None, "past the table");
    assert_eq!(kv.slot(s(2), 6), Some(3 * 4 + 2));
    assert_eq!(kv.slot(s(1), 0), None, "freed sequence");
    kv.check_invariants().unwrap();
}

#[test]
fn grow_allocates_exactly_when_crossing_a_block_boundary() {
    let mut kv = manager(4, 4);
    kv.start(1, &[1]).unwrap();
    assert!(kv.block_table(s(1)).unwrap().is_empty());
    kv.grow(s(1), 4).unwrap();
    assert_eq!(kv.block_table(s(1)).unwrap().len(), 1);
    kv.grow(s(1), 4).unwrap();
    assert_eq!(
        kv.block_table(s(1)).unwrap().len(),
        1,
        "growing to the same length is a no-op"
    );
    kv.grow(s(1), 5).unwrap();
    assert_eq!(kv.block_table(s(1)).unwrap().len(), 2);
    assert_eq!(kv.num_free_blocks(), 2);
    kv.grow(s(1), 2).unwrap();
    assert_eq!(kv.block_table(s(1)).unwrap().len(), 2, "grow never shrinks");
    assert_eq!(kv.usage(), 0.5);
    kv.check_invariants().unwrap();
}

#[test]
fn failed_grow_changes_nothing() {
    let mut kv = manager(4, 4);
    kv.start(1, &[1; 8]).unwrap();
    kv.grow(s(1), 8).unwrap();
    kv.start(2, &[2; 4]).unwrap();
    kv.grow(s(2), 4).unwrap();
    let table = ids(&kv, 2);

    assert_eq!(
        kv.grow(s(2), 12),
        Err(KvError::OutOfBlocks { needed: 2, free: 1 })
    );
    assert_eq!(ids(&kv, 2), table);
    assert_eq!(kv.num_free_blocks(), 1);
    assert_eq!(kv.grow(s(9), 4), Err(KvError::UnknownSequence(s(9))));
    kv.check_invariants().unwrap();

    kv.grow(s(2), 8).unwrap();
    assert_eq!(kv.num_free_blocks(), 0);
}

#[test]
fn alloc_status_distinguishes_ok_later_and_impossible() {
    let mut kv = manager(4, 4);
    assert_eq!(kv.can_allocate(s(1), &[0; 16], 16), AllocStatus::Ok);
    assert_eq!(kv.can_allocate(s(1), &[0; 17], 17), AllocStatus::Impossible);

    kv.start(1, &[0; 12]).unwrap();
    kv.grow(s(1), 12).unwrap();
    assert_eq!(kv.can_allocate(s(2), &[5; 4], 4), AllocStatus::Ok);
    assert_eq!(kv.can_allocate(s(2), &[5; 8], 8), AllocStatus::Later);
    assert_eq!(kv.can_allocate(s(2), &[5; 4], 17), AllocStatus::Impossible);
    // An existing sequence only needs the blocks past its table; its `tokens` are ignored.
    assert_eq!(kv.can_allocate(s(1), &[], 16), AllocStatus::Ok);
    assert_eq!(kv.can_allocate(s(1), &[], 12), AllocStatus::Ok);
    assert_eq!(kv.can_allocate(s(1), &[], 20), AllocStatus::Impossible);
    kv.start(2, &[5; 4]).unwrap();
    kv.grow(s(2), 4).unwrap();
    assert_eq!(kv.can_allocate(s(1), &[], 16), AllocStatus::Later);
}

#[test]
fn can_allocate_counts_prefix_hits_as_not_needing_blocks() {
    let mut kv = manager(4, 2);
    let prompt = [1, 2, 3, 4, 5];
    prefill(&mut kv, 1, &prompt);
    assert_eq!(kv.num_free_blocks(), 1);
    // Three blocks, two of them shared with sequence 1: one new block, and one is free.
    assert_eq!(kv.can_allocate(s(2), &prompt, 5), AllocStatus::Ok);
    assert_eq!(
        kv.can_allocate(s(2), &[9, 9, 9, 9, 9], 5),
        AllocStatus::Later
    );

    assert_eq!(kv.start(2, &prompt), Ok(4));
    assert_eq!(kv.grow(s(2), 5), Ok(()));
    kv.check_invariants().unwrap();
}

#[test]
fn can_allocate_charges_hits_on_free_cached_blocks_to_the_free_pool() {
    let mut kv = manager(4, 2);
    let prompt = [1, 2, 3, 4, 5];
    prefill(&mut kv, 1, &prompt);
    kv.free(1);
    kv.start(2, &[7]).unwrap();
    kv.grow(s(2), 1).unwrap();
    assert_eq!(kv.num_free_blocks(), 3, "two of them cached");

    // Four blocks: two cached hits (both free, so they leave the free list) and two new.
    let long = [1, 2, 3, 4, 5, 6, 7];
    assert_eq!(kv.can_allocate(s(3), &long, 7), AllocStatus::Later);
    assert_eq!(kv.start(3, &long), Ok(4));
    assert_eq!(
        kv.grow(s(3), 7),
        Err(KvError::OutOfBlocks { needed: 2, free: 1 })
    );
    kv.free(3);
    assert_eq!(kv.can_allocate(s(3), &long, 6), AllocStatus::Ok);
    kv.check_invariants().unwrap();
}

#[test]
fn prefix_hit_reuses_full_blocks_but_never_the_whole_prompt() {
    let mut kv = manager(8, 4);
    let prompt: Vec<u32> = (0..10).collect();
    assert_eq!(prefill(&mut kv, 1, &prompt), 0);
    assert_eq!(kv.prefix_cache_hits(), 0);

    assert_eq!(kv.start(2, &prompt), Ok(8));
    assert_eq!(
        kv.block_table(s(2)).unwrap(),
        &kv.block_table(s(1)).unwrap()[..2]
    );
    assert_eq!(kv.prefix_cache_hits(), 2);

    // Exactly two full blocks: the second holds the last token, which must be recomputed.
    assert_eq!(kv.start(3, &prompt[..8]), Ok(4));
    assert_eq!(kv.prefix_cache_hits(), 3);

    let mut diverging = prompt.clone();
    diverging[6] = 99;
    assert_eq!(
        kv.start(4, &diverging),
        Ok(4),
        "only the first block matches"
    );

    // The third block of sequence 1 was never full, so it was never cached.
    let mut longer = prompt.clone();
    longer.extend([10, 11, 12]);
    assert_eq!(kv.start(5, &longer), Ok(8));
    kv.check_invariants().unwrap();
}

#[test]
fn freed_sequence_is_restarted_from_the_cache() {
    let mut kv = manager(8, 4);
    let mut tokens: Vec<u32> = (0..9).collect();
    prefill(&mut kv, 1, &tokens);
    // Decode two tokens.
    for next in [9, 10] {
        tokens.push(next);
        kv.grow(s(1), tokens.len()).unwrap();
        kv.commit_tokens(s(1), &tokens, tokens.len());
    }
    let table = ids(&kv, 1);

    // Preemption: free, then recompute prompt + generated tokens.
    kv.free(1);
    assert_eq!(kv.num_free_blocks(), 8);
    assert_eq!(kv.usage(), 0.0);
    assert_eq!(kv.start(1, &tokens), Ok(8));
    assert_eq!(ids(&kv, 1), table[..2]);
    assert_eq!(
        kv.num_free_blocks(),
        6,
        "revived blocks leave the free list"
    );
    kv.grow(s(1), tokens.len()).unwrap();
    kv.check_invariants().unwrap();
}

#[test]
fn allocation_evicts_the_least_recently_freed_cached_block() {
    let mut kv = manager(4, 2);
    prefill(&mut kv, 1, &[1, 1, 1]);
    let a = kv.block_table(s(1)).unwrap()[0];
    kv.free(1);
    prefill(&mut kv, 2, &[2, 2, 2]);
    let b = kv.block_table(s(2)).unwrap()[0];
    kv.free(2);
    assert_eq!(kv.num_free_blocks(), 4);

    // Three blocks: the two uncached free blocks first, then the older cached one.
    kv.start(3, &[3; 5]).unwrap();
    kv.grow(s(3), 5).unwrap();
    let table = kv.block_table(s(3)).unwrap();
    assert_eq!(table[2], a, "LRU cached block evicted last");
    assert!(!table.contains(&b));

    assert_eq!(kv.start(4, &[1, 1, 1]), Ok(0), "evicted prefix misses");
    assert_eq!(kv.start(5, &[2, 2, 2]), Ok(2), "younger prefix survives");
    assert_eq!(kv.block_table(s(5)).unwrap(), [b]);
    kv.check_invariants().unwrap();
}

#[test]
fn shared_prefix_gets_same_full_blocks_and_private_last_blocks() {
    let mut kv = manager(8, 4);
    let first: Vec<u32> = (0..10).collect();
    let mut second = first[..8].to_vec();
    second.extend([50, 51, 52]);
    prefill(&mut kv, 1, &first);
    assert_eq!(prefill(&mut kv, 2, &second), 8);

    let (t1, t2) = (ids(&kv, 1), ids(&kv, 2));
    assert_eq!(t1[..2], t2[..2]);
    assert_ne!(t1[2], t2[2]);
    // Shared blocks count once as held.
    assert_eq!(kv.num_free_blocks(), 8 - 4);

    // Both append: each writes into its own blocks only.
    kv.grow(s(1), 13).unwrap();
    kv.grow(s(2), 13).unwrap();
    let (t1, t2) = (ids(&kv, 1), ids(&kv, 2));
    assert!(t1[2..].iter().all(|b| !t2.contains(b)));
    assert_ne!(kv.slot(s(1), 12), kv.slot(s(2), 12));
    assert_eq!(kv.slot(s(1), 5), kv.slot(s(2), 5));

    // The shared blocks survive the first owner finishing.
    kv.free(1);
    assert_eq!(ids(&kv, 2)[..2], t1[..2]);
    assert_eq!(kv.num_free_blocks(), 8 - 4);
    kv.check_invariants().unwrap();
}

#[test]
fn identical_prompts_computed_side_by_side_keep_one_canonical_copy() {
    let mut kv = manager(8, 2);
    let prompt = [4, 4, 5, 5, 6];
    kv.start(1, &prompt).unwrap();
    kv.start(2, &prompt).unwrap();
    kv.grow(s(1), 5).unwrap();
    kv.grow(s(2), 5).unwrap();
    kv.commit_tokens(s(1), &prompt, 5);
    kv.commit_tokens(s(2), &prompt, 5);
    kv.check_invariants().unwrap();

    assert_eq!(kv.start(3, &prompt), Ok(4));
    assert_eq!(
        kv.block_table(s(3)).unwrap(),
        &kv.block_table(s(1)).unwrap()[..2]
    );
    // Sequence 2's copies stay private and uncached: freeing it puts them first in line.
    kv.free(2);
    kv.start(4, &[9]).unwrap();
    kv.grow(s(4), 2).unwrap();
    assert!(kv.block_table(s(4)).unwrap()[0] != kv.block_table(s(1)).unwrap()[0]);
    kv.check_invariants().unwrap();
}

#[test]
fn caller_mistakes_return_errors_or_none() {
    let mut kv = manager(4, 2);
    kv.start(1, &[1, 2, 3]).unwrap();
    assert_eq!(kv.start(1, &[1]), Err(KvError::SequenceExists(s(1))));
    assert_eq!(kv.start(2, &[]), Err(KvError::EmptyPrompt(s(2))));
    assert!(!kv.has_sequence(s(2)));
    assert_eq!(kv.block_table(s(2)), None);
    assert_eq!(kv.slot(s(2), 0), None);
    kv.free(2);
    kv.commit_tokens(s(2), &[1, 2], 2);

    // Committing past the tokens or past the table is clamped.
    kv.grow(s(1), 3).unwrap();
    kv.commit_tokens(s(1), &[1, 2, 3], 100);
    kv.check_invariants().unwrap();
    assert_eq!(kv.start(3, &[1, 2, 3, 4, 5]), Ok(2), "only 3 tokens known");
    kv.commit_tokens(s(1), &[1, 2, 3, 4, 5, 6, 7], 7);
    kv.check_invariants().unwrap();
    assert_eq!(
        kv.start(4, &[1, 2, 3, 4, 5, 6, 7]),
        Ok(4),
        "table holds 2 blocks"
    );
    assert_eq!(kv.num_sequences(), 3);
}

#[test]
fn disabled_prefix_caching_never_shares() {
    let mut kv = Held::new(KvConfig {
        num_blocks: 8,
        block_size: 2,
        enable_prefix_caching: false,
    });
    let prompt = [1, 2, 3, 4, 5];
    prefill(&mut kv, 1, &prompt);
    assert_eq!(kv.can_allocate(s(2), &prompt, 5), AllocStatus::Ok);
    assert_eq!(prefill(&mut kv, 2, &prompt), 0);
    kv.free(1);
    assert_eq!(kv.start(1, &prompt), Ok(0));
    assert_eq!(kv.prefix_cache_hits(), 0);
    let t2 = ids(&kv, 2);
    assert!(t2
        .iter()
        .all(|&b| !kv.block_table(s(1)).unwrap().contains(&BlockId(b))));
}

#[test]
fn stale_cached_block_is_replaced_and_reused_first() {
    let mut kv = manager(8, 2);
    // Sequence 2 computes its own copy of block [1, 1] (not cached: sequence 1's is canonical)
    // and caches [3, 3] chained from sequence 1's copy.
    kv.start(1, &[1, 1, 2, 2, 9]).unwrap();
    kv.start(2, &[1, 1, 3, 3, 9]).unwrap();
    kv.grow(s(1), 5).unwrap();
    kv.grow(s(2), 5).unwrap();
    kv.commit_tokens(s(1), &[1, 1, 2, 2, 9], 5);
    kv.commit_tokens(s(2), &[1, 1, 3, 3, 9], 5);
    let stale = kv.block_table(s(2)).unwrap()[1];

    // Sequence 1's blocks, the parent of `stale` among them, are evicted.
    kv.free(1);
    kv.start(3, &[7]).unwrap();
    kv.grow(s(3), 10).unwrap();
    kv.free(3);
    kv.free(2);
    assert_eq!(kv.start(4, &[1, 1, 3, 3, 5]), Ok(0), "parent gone: no hit");

    // Recomputing the prefix replaces the unreachable entry; its block is reused first.
    kv.grow(s(4), 5).unwrap();
    kv.commit_tokens(s(4), &[1, 1, 3, 3, 5], 5);
    kv.check_invariants().unwrap();
    assert_eq!(kv.start(5, &[1, 1, 3, 3, 6]), Ok(4));
    assert_eq!(
        kv.block_table(s(5)).unwrap(),
        &kv.block_table(s(4)).unwrap()[..2]
    );
    kv.start(6, &[8]).unwrap();
    kv.grow(s(6), 1).unwrap();
    assert_eq!(kv.block_table(s(6)).unwrap(), [stale]);
    kv.check_invariants().unwrap();
}
