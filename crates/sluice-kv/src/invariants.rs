//! A full consistency check of the manager, for tests (here and in the engine).

use std::collections::HashSet;

use crate::manager::State;
use crate::BlockId;

impl State {
    /// Checks every bookkeeping invariant, in O(blocks + table entries):
    /// - each block's refcount equals the number of tables containing it, and no table holds a
    ///   block twice;
    /// - the free list holds exactly the blocks with refcount 0, each once, so free + held
    ///   equals the pool size;
    /// - free blocks without a cache entry come before cached ones (eviction order);
    /// - the blocks a sequence may still write (from its first unsealed block on) are private
    ///   to it and uncached;
    /// - the prefix-cache index agrees with its entries.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut holders = vec![0u32; self.num_blocks()];
        for (seq, sequence) in &self.sequences {
            let mut seen = HashSet::new();
            for &block in &sequence.table {
                if !seen.insert(block) {
                    return Err(format!("sequence {seq} holds {block:?} twice"));
                }
                holders[block.index()] += 1;
            }
            if sequence.sealed > sequence.table.len() {
                return Err(format!("sequence {seq} sealed past the end of its table"));
            }
            for &block in &sequence.table[sequence.sealed..] {
                if self.pool.ref_count(block) != 1 || self.cache.is_cached(block) {
                    return Err(format!(
                        "writable {block:?} of sequence {seq} is not private"
                    ));
                }
            }
        }
        for (i, &count) in holders.iter().enumerate() {
            let block = BlockId(i as u32);
            if self.pool.ref_count(block) != count {
                return Err(format!(
                    "{block:?} has refcount {} but {count} tables hold it",
                    self.pool.ref_count(block)
                ));
            }
        }
        self.pool.check_links()?;
        let mut free = HashSet::new();
        let mut cached_seen = false;
        for block in self.pool.free_blocks() {
            if !free.insert(block) {
                return Err(format!("{block:?} is on the free list twice"));
            }
            if self.pool.ref_count(block) != 0 {
                return Err(format!("held {block:?} is on the free list"));
            }
            let cached = self.cache.is_cached(block);
            if cached_seen && !cached {
                return Err(format!("uncached {block:?} is behind cached free blocks"));
            }
            cached_seen |= cached;
        }
        let held = holders.iter().filter(|&&count| count > 0).count();
        if free.len() != self.pool.num_free() || free.len() + held != self.num_blocks() {
            return Err(format!(
                "{} free + {held} held != {} blocks",
                free.len(),
                self.num_blocks()
            ));
        }
        self.cache.check_index()
    }
}
