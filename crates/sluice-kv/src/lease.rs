//! A sequence's hold on its blocks, given back when dropped.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use sluice_core::SeqId;

use crate::manager::{lock, State};

/// Proof that a sequence holds blocks in a [`BlockManager`](crate::BlockManager): dropping it
/// frees them (cached full blocks stay in the prefix cache, evictable). A lease that outlives
/// its manager frees nothing, as there is nothing left to free.
#[must_use = "dropping the lease frees the sequence's blocks at once"]
pub struct BlockLease {
    seq: SeqId,
    state: Weak<Mutex<State>>,
}

impl BlockLease {
    pub(crate) fn new(seq: SeqId, state: &Arc<Mutex<State>>) -> Self {
        BlockLease {
            seq,
            state: Arc::downgrade(state),
        }
    }

    /// The sequence whose blocks this holds.
    pub fn seq(&self) -> SeqId {
        self.seq
    }
}

impl Drop for BlockLease {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            lock(&state).free_sequence(self.seq);
        }
    }
}

impl fmt::Debug for BlockLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlockLease").field(&self.seq).finish()
    }
}
