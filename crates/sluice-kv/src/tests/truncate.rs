//! `truncate`: speculative tokens that were rejected give their blocks back, and never enter
//! the prefix cache.

use super::{s, Held};
use crate::{KvConfig, KvError};

fn manager(num_blocks: usize, block_size: usize) -> Held {
    Held::new(KvConfig {
        num_blocks,
        block_size,
        enable_prefix_caching: true,
    })
}

#[test]
fn truncate_frees_whole_blocks_past_the_new_length_first_in_line() {
    let mut kv = manager(8, 4);
    let tokens: Vec<u32> = (0..6).collect();
    kv.start(1, &tokens).unwrap();
    kv.grow(s(1), 6).unwrap();
    kv.commit_tokens(s(1), &tokens, 6);
    // Six guesses after the 6 tokens: positions 6..12, three blocks in all.
    kv.grow(s(1), 12).unwrap();
    let table = kv.block_table(s(1)).unwrap();
    assert_eq!(table.len(), 3);
    // One guess accepted: 7 tokens stand, in two blocks.
    assert_eq!(kv.truncate(s(1), 7), Ok(1));
    assert_eq!(kv.block_table(s(1)).unwrap(), &table[..2]);
    assert_eq!(kv.num_free_blocks(), 6);
    kv.check_invariants().unwrap();
    // The freed block was never cached: it is the next one handed out.
    kv.start(2, &[9]).unwrap();
    kv.grow(s(2), 1).unwrap();
    assert_eq!(kv.block_table(s(2)).unwrap(), [table[2]]);
    // Cutting to the length it has, or longer, frees nothing.
    assert_eq!(kv.truncate(s(1), 7), Ok(0));
    assert_eq!(kv.truncate(s(1), 100), Ok(0));
    kv.check_invariants().unwrap();
}

#[test]
fn rejected_tokens_in_a_full_block_are_not_served_from_the_cache() {
    let mut kv = manager(8, 4);
    // Three tokens computed, then four guesses that fill the second block: only the first
    // guess is accepted, so the second block never holds what it was written with.
    let mut tokens = vec![1, 2, 3, 4, 5];
    kv.start(1, &tokens).unwrap();
    kv.grow(s(1), 9).unwrap();
    kv.truncate(s(1), 6).unwrap();
    tokens.push(6);
    kv.commit_tokens(s(1), &tokens, 6);
    kv.free(1);
    // Only the first block was committed, so a prompt equal to the written guesses finds
    // only it.
    assert_eq!(kv.start(2, &[1, 2, 3, 4, 5, 6, 70, 71, 72]), Ok(4));
    kv.check_invariants().unwrap();
}

#[test]
fn committed_tokens_cannot_be_taken_back() {
    let mut kv = manager(8, 4);
    let tokens: Vec<u32> = (0..9).collect();
    kv.start(1, &tokens).unwrap();
    kv.grow(s(1), 9).unwrap();
    kv.commit_tokens(s(1), &tokens, 9);
    assert_eq!(
        kv.truncate(s(1), 7),
        Err(KvError::TruncateCommitted {
            seq: s(1),
            len: 7,
            committed: 8
        })
    );
    assert_eq!(kv.truncate(s(1), 8), Ok(1));
    assert_eq!(kv.truncate(s(2), 0), Err(KvError::UnknownSequence(s(2))));
    kv.check_invariants().unwrap();
}
