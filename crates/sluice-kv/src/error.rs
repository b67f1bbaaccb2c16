use sluice_core::SeqId;

/// A request the block manager refused. Every caller mistake lands here instead of a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("invalid KV cache config: {0}")]
    InvalidConfig(&'static str),
    #[error("unknown sequence {0}")]
    UnknownSequence(SeqId),
    #[error("sequence {0} already exists")]
    SequenceExists(SeqId),
    /// A sequence needs at least one token to compute, or it produces no logits.
    #[error("sequence {0} has no tokens")]
    EmptyPrompt(SeqId),
    /// Nothing was allocated: growing is all-or-nothing.
    #[error("out of KV cache blocks: need {needed}, {free} free")]
    OutOfBlocks { needed: usize, free: usize },
    /// Committed tokens are final (their blocks may be shared through the prefix cache):
    /// only tokens past them can be taken back.
    #[error("sequence {seq} cannot be cut to {len} tokens: its first {committed} are committed")]
    TruncateCommitted {
        seq: SeqId,
        len: usize,
        committed: usize,
    },
}
