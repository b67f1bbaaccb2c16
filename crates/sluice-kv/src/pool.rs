//! The block pool: reference counts and the free list.
//!
//! A block is *held* while at least one block table contains it (refcount > 0) and *free*
//! otherwise. Free blocks may still hold a cached prefix; the free list orders them so that
//! allocation takes, in turn:
//! 1. blocks that hold nothing worth keeping (never cached, or their cache entry was dropped),
//!    kept at the front;
//! 2. cached blocks, least recently freed first (LRU eviction), kept behind them.
//!
//! The pool does not know what a block caches; the manager tells it on release, and forgets a
//! block's cache entry when the pool hands the block out again.

use crate::free_list::FreeList;
use crate::BlockId;

#[derive(Clone, Debug)]
pub(crate) struct BlockPool {
    ref_counts: Vec<u32>,
    free: FreeList,
}

impl BlockPool {
    /// All blocks free, handed out in id order.
    pub(crate) fn new(num_blocks: usize) -> Self {
        let mut free = FreeList::new(num_blocks);
        (0..num_blocks).for_each(|i| free.push_back(i));
        BlockPool {
            ref_counts: vec![0; num_blocks],
            free,
        }
    }

    pub(crate) fn num_free(&self) -> usize {
        self.free.len()
    }

    pub(crate) fn ref_count(&self, block: BlockId) -> u32 {
        self.ref_counts[block.index()]
    }

    /// Takes the front free block with refcount 1. The caller must drop any cache entry it
    /// held: its slots are about to be overwritten.
    pub(crate) fn allocate(&mut self) -> Option<BlockId> {
        let i = self.free.pop_front()?;
        self.ref_counts[i] = 1;
        // `i < num_blocks`, which config validation bounds by `u32::MAX`.
        Some(BlockId(i as u32))
    }

    /// One more table holds `block` (a prefix-cache hit); a free block leaves the free list.
    pub(crate) fn acquire(&mut self, block: BlockId) {
        let i = block.index();
        if self.ref_counts[i] == 0 {
            self.free.remove(i);
        }
        self.ref_counts[i] += 1;
    }

    /// One table fewer holds `block`. At refcount 0 it becomes free: at the back (evicted last)
    /// if it holds a cached prefix worth keeping, else at the front (reused first).
    pub(crate) fn release(&mut self, block: BlockId, cached: bool) {
        let i = block.index();
        debug_assert!(self.ref_counts[i] > 0, "releasing free block {i}");
        if self.ref_counts[i] == 0 {
            return;
        }
        self.ref_counts[i] -= 1;
        if self.ref_counts[i] == 0 {
            if cached {
                self.free.push_back(i);
            } else {
                self.free.push_front(i);
            }
        }
    }

    /// `block`'s cache entry was dropped: if it is free, move it to the front, since its
    /// contents no longer deserve protection from eviction.
    pub(crate) fn demote(&mut self, block: BlockId) {
        if self.free.remove(block.index()) {
            self.free.push_front(block.index());
        }
    }

    /// Free blocks in allocation order.
    pub(crate) fn free_blocks(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.free.iter().map(|i| BlockId(i as u32))
    }

    pub(crate) fn check_links(&self) -> Result<(), String> {
        self.free.check_links()
    }
}
