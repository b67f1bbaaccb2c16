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
