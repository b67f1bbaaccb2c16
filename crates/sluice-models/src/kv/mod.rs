//! The K/V memory a model step writes and attends over, behind [`KvMemory`]: the host store
//! ([`KvStore`]) today; a device's memory would be another implementation, made by its model
//! ([`crate::CausalLm::new_kv_memory`]). Which slot belongs to which sequence is `sluice-kv`'s
//! business; this memory only stores, and runs attention over what it stores.

mod dtype;
mod store;

pub use dtype::KvDtype;
pub use store::KvStore;

use sluice_kernels::attention::{AttentionParams, SeqSlice};

/// The shape of a model's K/V memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvLayout {
    pub num_layers: usize,
    pub num_blocks: usize,
    /// Token slots per block.
    pub block_size: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub dtype: KvDtype,
}

impl KvLayout {
    pub fn num_slots(&self) -> usize {
        self.num_blocks * self.block_size
    }

    /// Bytes of memory one token takes over all layers, K and V.
    pub fn bytes_per_token(&self) -> usize {
        2 * self.num_layers * self.dtype.slot_bytes(self.kv_heads, self.head_dim)
    }
}

/// Per layer, K and V for every slot of the paged cache.
pub trait KvMemory: Send {
    fn layout(&self) -> KvLayout;

    /// Writes the K and V rows (`[rows, kv_heads * head_dim]`) of a layer into their slots.
    fn write(&mut self, layer: usize, slots: &[usize], k: &[f32], v: &[f32]);

    /// Attention of `q` (`[rows, n_heads * head_dim]`) over each sequence's cached context in
    /// one layer, into `out` (the same shape as `q`).
    fn attention(
        &self,
        layer: usize,
        q: &[f32],
        seqs: &[SeqSlice<'_>],
        params: &AttentionParams,
        out: &mut [f32],
    );
}
