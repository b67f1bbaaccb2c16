/// A request the block manager refused. Every caller mistake lands here instead of a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("invalid KV cache config: {0}")]
    InvalidConfig(&'static str),
    #[error("unknown sequence {0}")]
    UnknownSequence(u64),
    #[error("sequence {0} already exists")]
    SequenceExists(u64),
    /// A sequence needs at least one token to compute, or it produces no logits.
    #[error("sequence {0} has no tokens")]
    EmptyPrompt(u64),
    /// Nothing was allocated: growing is all-or-nothing.
    #[error("out of KV cache blocks: need {needed}, {free} free")]
    OutOfBlocks { needed: usize, free: usize },
}
