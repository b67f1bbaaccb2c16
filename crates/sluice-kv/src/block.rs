/// A physical KV-cache block: block `b` holds slots `b * block_size .. (b + 1) * block_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

impl BlockId {
    /// The block's index in the pool, for indexing per-block arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Whether a sequence can get the blocks it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocStatus {
    /// Enough free (or evictable) blocks right now.
    Ok,
    /// Not now, but it would fit once other sequences release their blocks.
    Later,
    /// Needs more blocks than the whole pool has: waiting can never help.
    Impossible,
}
