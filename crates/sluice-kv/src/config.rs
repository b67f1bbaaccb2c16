use crate::KvError;

/// Shape of the KV cache and whether full blocks are shared between sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvConfig {
    pub num_blocks: usize,
    /// Token slots per block.
    pub block_size: usize,
    /// Reuse computed full blocks across sequences with the same token prefix.
    pub enable_prefix_caching: bool,
}

impl KvConfig {
    /// The usual block size (vLLM's default): small enough to waste little of the last,
    /// partial block, large enough to keep block tables short.
    pub const DEFAULT_BLOCK_SIZE: usize = 16;

    /// `num_blocks` blocks of [`Self::DEFAULT_BLOCK_SIZE`] slots, prefix caching on.
    pub fn new(num_blocks: usize) -> Self {
        KvConfig {
            num_blocks,
            block_size: Self::DEFAULT_BLOCK_SIZE,
            enable_prefix_caching: true,
        }
    }

    /// Rejects shapes the manager cannot represent: empty pools or blocks, block ids past
    /// `u32`, and slot indices past `usize`.
    pub(crate) fn validate(&self) -> Result<(), KvError> {
        if self.num_blocks == 0 {
            return Err(KvError::InvalidConfig("num_blocks must be at least 1"));
        }
        if self.block_size == 0 {
            return Err(KvError::InvalidConfig("block_size must be at least 1"));
        }
        if u32::try_from(self.num_blocks).is_err() {
            return Err(KvError::InvalidConfig(
                "num_blocks must fit in a u32 block id",
            ));
        }
        if self.num_blocks.checked_mul(self.block_size).is_none() {
            return Err(KvError::InvalidConfig(
                "num_blocks * block_size overflows a slot index",
            ));
        }
        Ok(())
    }
}
