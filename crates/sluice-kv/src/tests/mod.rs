use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use crate::{BlockLease, BlockManager, KvConfig, KvError, SeqId};

mod property;
mod scenarios;
mod truncate;

pub(crate) fn s(seq: u64) -> SeqId {
    SeqId(seq)
}

/// A manager and the leases of the sequences a test keeps, as the engine keeps them.
pub(crate) struct Held {
    kv: BlockManager,
    leases: HashMap<SeqId, BlockLease>,
}

impl Held {
    pub(crate) fn new(config: KvConfig) -> Self {
        Held {
            kv: BlockManager::new(config).unwrap(),
            leases: HashMap::new(),
        }
    }

    /// `start_sequence`, keeping the lease; returns the cached tokens.
    pub(crate) fn start(&mut self, seq: u64, tokens: &[u32]) -> Result<usize, KvError> {
        let (lease, cached) = self.kv.start_sequence(s(seq), tokens)?;
        self.leases.insert(s(seq), lease);
        Ok(cached)
    }

    /// Drops the sequence's lease, if it has one.
    pub(crate) fn free(&mut self, seq: u64) {
        self.leases.remove(&s(seq));
    }
}

impl Deref for Held {
    type Target = BlockManager;

    fn deref(&self) -> &BlockManager {
        &self.kv
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut BlockManager {
        &mut self.kv
    }
}
