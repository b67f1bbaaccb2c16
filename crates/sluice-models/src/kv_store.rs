use sluice_kernels::attention::{slot_stride, KvLayerView};

/// The K/V memory of the paged cache: per layer, `num_slots` token slots of
/// `kv_heads * head_dim` f32 values each for K and for V (f32 like llama.cpp's most exact
/// setting, which the committed references use; an f16 cache is a later memory option), a
/// [`slot_stride`] apart. Which slot belongs to which sequence is `sluice-kv`'s business; this
/// type only stores.
pub struct KvStore {
    layers: Vec<(Vec<f32>, Vec<f32>)>,
    block_size: usize,
    num_blocks: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl KvStore {
    pub fn new(
        num_layers: usize,
        num_blocks: usize,
        block_size: usize,
        kv_heads: usize,
        head_dim: usize,
    ) -> Self {
        let len = num_blocks * block_size * slot_stride(kv_heads, head_dim);
        let layers = (0..num_layers)
            .map(|_| (vec![0f32; len], vec![0f32; len]))
            .collect();
        KvStore {
            layers,
            block_size,
            num_blocks,
            kv_heads,
            head_dim,
        }
    }

    /// Bytes of cache memory one token takes over all layers.
    pub fn bytes_per_token(num_layers: usize, kv_heads: usize, head_dim: usize) -> usize {
        2 * num_layers * slot_stride(kv_heads, head_dim) * std::mem::size_of::<f32>()
    }

    pub fn num_slots(&self) -> usize {
        self.num_blocks * self.block_size
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Writes the K and V rows (`[rows, kv_heads * head_dim]`) of a layer into their slots.
    pub fn write(&mut self, layer: usize, slots: &[usize], k: &[f32], v: &[f32]) {
        let width = self.kv_heads * self.head_dim;
        let stride = slot_stride(self.kv_heads, self.head_dim);
        let (kc, vc) = &mut self.layers[layer];
        for (i, &slot) in slots.iter().enumerate() {
            let dst = slot * stride..slot * stride + width;
            for (d, s) in kc[dst.clone()]
                .iter_mut()
                .zip(&k[i * width..(i + 1) * width])
            {
                *d = *s;
            }
            for (d, s) in vc[dst].iter_mut().zip(&v[i * width..(i + 1) * width]) {
                *d = *s;
            }
        }
    }

    pub fn layer(&self, layer: usize) -> KvLayerView<'_> {
        let (k, v) = &self.layers[layer];
        KvLayerView {
            k,
            v,
            block_size: self.block_size,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            slot_stride: slot_stride(self.kv_heads, self.head_dim),
        }
    }
}
