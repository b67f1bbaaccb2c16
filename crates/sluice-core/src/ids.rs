use std::fmt;

/// Identifies one generation request for its whole life in the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req-{}", self.0)
    }
}

/// One sequence of tokens in the engine and its KV cache. A request runs as one sequence today
/// ([`SeqId::of`]); the type is its own so that the cache and the scheduler never mistake a
/// request for a sequence, or a block for either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqId(pub u64);

impl SeqId {
    /// The sequence a request runs as.
    pub fn of(request: RequestId) -> Self {
        SeqId(request.0)
    }
}

impl fmt::Display for SeqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq-{}", self.0)
    }
}

/// A physical KV-cache block: block `b` holds slots `b * block_size .. (b + 1) * block_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

impl BlockId {
    /// The block's index in the pool, for indexing per-block arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
