//! The prefix cache: an index from token prefixes to the full blocks that hold their KV.
//!
//! Block `i` of a sequence is keyed by `hash(key of block i-1, token ids of block i)`, a hash
//! chain, so the key depends on every token of blocks `0..=i`: the KV of a token depends on all
//! tokens before it, and two prompts may only share block `i` if they agree up to its end.
//!
//! A 64-bit key can collide, and a collision must never hand out wrong KV, so a key only
//! *locates* an entry; a lookup then verifies it exactly. Each entry stores its block's token ids
//! and the serial number of its parent's entry, serials being unique per registration. Walking
//! the chain from block 0, every step checks the tokens and that the parent is the entry verified
//! one step earlier, so by induction a hit matches the whole requested prefix token for token.
//! An entry whose parent was evicted can no longer be verified: it is unreachable and is
//! replaced when that prefix is registered again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::BlockId;

/// The verified last block of a cached chain: what the next block of the chain hangs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainLink {
    key: u64,
    serial: u64,
}

#[derive(Clone, Debug)]
struct Entry {
    key: u64,
    /// Serial of the parent block's entry; `None` for the first block of a sequence.
    parent: Option<u64>,
    serial: u64,
    tokens: Box<[u32]>,
}

impl Entry {
    fn link(&self) -> ChainLink {
        ChainLink {
            key: self.key,
            serial: self.serial,
        }
    }
}

/// The longest verified cached prefix of some tokens.
#[derive(Debug, Default)]
pub(crate) struct Lookup {
    pub(crate) blocks: Vec<BlockId>,
    pub(crate) tail: Option<ChainLink>,
}

/// What registering a block did.
pub(crate) struct Registration {
    /// The entry that now represents this prefix (the registered block's, or an existing
    /// entry with the same contents); the next block of the sequence chains from it.
    pub(crate) link: ChainLink,
    /// A block whose stale or colliding entry was dropped to make room.
    pub(crate) displaced: Option<BlockId>,
}

#[derive(Clone, Debug)]
pub(crate) struct PrefixCache {
    block_size: usize,
    by_key: HashMap<u64, BlockId>,
    /// The entry held by each block, indexed by block.
    entries: Vec<Option<Entry>>,
    next_serial: u64,
}

impl PrefixCache {
    pub(crate) fn new(num_blocks: usize, block_size: usize) -> Self {
        PrefixCache {
            block_size,
            by_key: HashMap::new(),
            entries: vec![None; num_blocks],
            next_serial: 0,
        }
    }

    /// `std`'s `DefaultHasher::new()` is deterministic within a build, which is all an
    /// in-process cache needs; verification makes its quality a performance matter only.
    fn chain_key(parent: Option<ChainLink>, tokens: &[u32]) -> u64 {
        let mut hasher = DefaultHasher::new();
        parent.map(|link| link.key).hash(&mut hasher);
        tokens.hash(&mut hasher);
        hasher.finish()
    }

    /// The entry of `block`, if it holds exactly `tokens` chained from `parent`.
    fn verified(
        &self,
        block: BlockId,
        parent: Option<ChainLink>,
        tokens: &[u32],
    ) -> Option<&Entry> {
        let entry = self.entries[block.index()].as_ref()?;
        (entry.parent == parent.map(|link| link.serial) && *entry.tokens == *tokens)
            .then_some(entry)
    }

    /// The cached blocks holding the longest prefix of `tokens`, at most `max_blocks` full blocks.
    pub(crate) fn lookup(&self, tokens: &[u32], max_blocks: usize) -> Lookup {
        let mut found = Lookup::default();
        for chunk in tokens.chunks_exact(self.block_size).take(max_blocks) {
            let key = Self::chain_key(found.tail, chunk);
            let Some(&block) = self.by_key.get(&key) else {
                break;
            };
            let Some(entry) = self.verified(block, found.tail, chunk) else {
                break;
            };
            found.tail = Some(entry.link());
            found.blocks.push(block);
        }
        found
    }

    /// Records that `block` holds the KV of `tokens` (one full block) chained from `parent`.
    /// If a verified entry for this prefix already exists elsewhere, that one stays canonical
    /// and `block` remains uncached.
    pub(crate) fn register(
        &mut self,
        parent: Option<ChainLink>,
        tokens: &[u32],
        block: BlockId,
    ) -> Registration {
        debug_assert_eq!(tokens.len(), self.block_size);
        debug_assert!(!self.is_cached(block), "block {block:?} is cached twice");
        let key = Self::chain_key(parent, tokens);
        let mut displaced = None;
        if let Some(&existing) = self.by_key.get(&key) {
            if let Some(entry) = self.verified(existing, parent, tokens) {
                return Registration {
                    link: entry.link(),
                    displaced: None,
                };
            }
            self.forget(existing);
            displaced = Some(existing);
        }
        let entry = Entry {
            key,
            parent: parent.map(|link| link.serial),
            serial: self.next_serial,
            tokens: tokens.into(),
        };
        self.next_serial += 1;
        let link = entry.link();
        self.entries[block.index()] = Some(entry);
        self.by_key.insert(key, block);
        Registration { link, displaced }
    }

    /// Drops `block`'s entry (its slots are about to be reused); false if it had none.
    pub(crate) fn forget(&mut self, block: BlockId) -> bool {
        let Some(entry) = self.entries[block.index()].take() else {
            return false;
        };
        if self.by_key.get(&entry.key) == Some(&block) {
            self.by_key.remove(&entry.key);
        }
        true
    }

    pub(crate) fn is_cached(&self, block: BlockId) -> bool {
        self.entries[block.index()].is_some()
    }

    /// The token ids `block` is recorded to hold, if cached.
    #[cfg(test)]
    pub(crate) fn cached_tokens(&self, block: BlockId) -> Option<&[u32]> {
        self.entries[block.index()]
            .as_ref()
            .map(|entry| &*entry.tokens)
    }

    /// Index and entries agree: every key maps to the block whose entry has that key, and
    /// every entry is indexed.
    pub(crate) fn check_index(&self) -> Result<(), String> {
        for (&key, &block) in &self.by_key {
            match &self.entries[block.index()] {
                Some(entry) if entry.key == key => {}
                _ => {
                    return Err(format!(
                        "key {key:#x} points at {block:?}, which does not hold it"
                    ))
                }
            }
        }
        let cached = self.entries.iter().flatten().count();
        if cached != self.by_key.len() {
            return Err(format!(
                "{cached} cached blocks but {} indexed keys",
                self.by_key.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u32; 2] = [1, 2];
    const B: [u32; 2] = [3, 4];

    fn blocks(cache: &PrefixCache, tokens: &[u32]) -> Vec<u32> {
        cache
            .lookup(tokens, usize::MAX)
            .blocks
            .iter()
            .map(|b| b.0)
            .collect()
    }

    #[test]
    fn lookup_follows_the_chain_and_stops_at_the_limit() {
        let mut cache = PrefixCache::new(4, 2);
        let a = cache.register(None, &A, BlockId(0)).link;
        cache.register(Some(a), &B, BlockId(1));
        assert_eq!(blocks(&cache, &[1, 2, 3, 4, 5]), [0, 1]);
        assert_eq!(cache.lookup(&[1, 2, 3, 4], 1).blocks, [BlockId(0)]);
        assert_eq!(
            blocks(&cache, &[3, 4, 1, 2]),
            [] as [u32; 0],
            "B alone is not a prefix"
        );
    }

    #[test]
    fn a_child_of_an_evicted_parent_is_unreachable_and_then_replaced() {
        let mut cache = PrefixCache::new(4, 2);
        let a = cache.register(None, &A, BlockId(0)).link;
        cache.register(Some(a), &B, BlockId(1));
        cache.forget(BlockId(0));
        assert_eq!(blocks(&cache, &[1, 2, 3, 4]), [] as [u32; 0]);

        // Same prefix, recomputed elsewhere: same keys, but the old child's parent is gone.
        let a2 = cache.register(None, &A, BlockId(2)).link;
        assert_eq!(blocks(&cache, &[1, 2, 3, 4]), [2]);
        let b2 = cache.register(Some(a2), &B, BlockId(3));
        assert_eq!(b2.displaced, Some(BlockId(1)));
        assert!(!cache.is_cached(BlockId(1)));
        assert_eq!(blocks(&cache, &[1, 2, 3, 4]), [2, 3]);
        cache.check_index().unwrap();
    }

    #[test]
    fn a_verified_duplicate_keeps_the_existing_entry() {
        let mut cache = PrefixCache::new(4, 2);
        let first = cache.register(None, &A, BlockId(0));
        let again = cache.register(None, &A, BlockId(1));
        assert_eq!(again.link, first.link);
        assert_eq!(again.displaced, None);
        assert!(!cache.is_cached(BlockId(1)));
        cache.check_index().unwrap();
    }

    #[test]
    fn a_hash_collision_never_returns_other_tokens() {
        let mut cache = PrefixCache::new(4, 2);
        cache.register(None, &A, BlockId(0));
        // Pretend B's key collides with A's: the index sends the lookup to A's block.
        let colliding = PrefixCache::chain_key(None, &B);
        cache.by_key.insert(colliding, BlockId(0));
        assert_eq!(blocks(&cache, &B), [] as [u32; 0]);
        assert_eq!(blocks(&cache, &A), [0]);
    }
}
