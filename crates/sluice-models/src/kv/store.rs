use super::{KvDtype, KvLayout, KvMemory};
use half::f16;
use sluice_kernels::attention::{
    paged_attention, slot_stride, AttentionParams, KvElement, KvLayerView, SeqSlice,
};

/// Per layer, the K and the V values of every slot.
enum Layers {
    F32(Vec<(Vec<f32>, Vec<f32>)>),
    F16(Vec<(Vec<f16>, Vec<f16>)>),
}

/// The K/V memory of the paged cache in host memory: per layer, `num_slots` token slots of
/// `kv_heads * head_dim` values each for K and for V, of type [`KvDtype`], a [`slot_stride`]
/// apart.
pub struct KvStore {
    layers: Layers,
    layout: KvLayout,
}

impl KvStore {
    pub fn new(layout: KvLayout) -> Self {
        let len = layout.num_slots() * layout.dtype.slot_stride(layout.kv_heads, layout.head_dim);
        let layers = match layout.dtype {
            KvDtype::F32 => Layers::F32(zeroed(layout.num_layers, len)),
            KvDtype::F16 => Layers::F16(zeroed(layout.num_layers, len)),
        };
        KvStore { layers, layout }
    }

    fn view<'a, E>(&self, (k, v): &'a (Vec<E>, Vec<E>)) -> KvLayerView<'a, E> {
        let KvLayout {
            block_size,
            kv_heads,
            head_dim,
            ..
        } = self.layout;
        KvLayerView {
            k,
            v,
            block_size,
            kv_heads,
            head_dim,
            slot_stride: slot_stride::<E>(kv_heads, head_dim),
        }
    }
}

impl KvMemory for KvStore {
    fn layout(&self) -> KvLayout {
        self.layout
    }

    /// Rounded to the cache's type.
    fn write(&mut self, layer: usize, slots: &[usize], k: &[f32], v: &[f32]) {
        let shape = (self.layout.kv_heads, self.layout.head_dim);
        match &mut self.layers {
            Layers::F32(layers) => write_rows(&mut layers[layer], shape, slots, k, v),
            Layers::F16(layers) => write_rows(&mut layers[layer], shape, slots, k, v),
        }
    }

    /// [`paged_attention`] over one layer of the cache.
    fn attention(
        &self,
        layer: usize,
        q: &[f32],
        seqs: &[SeqSlice<'_>],
        params: &AttentionParams,
        out: &mut [f32],
    ) {
        match &self.layers {
            Layers::F32(layers) => {
                paged_attention(q, &self.view(&layers[layer]), seqs, params, out)
            }
            Layers::F16(layers) => {
                paged_attention(q, &self.view(&layers[layer]), seqs, params, out)
            }
        }
    }
}

fn zeroed<E: KvElement>(num_layers: usize, len: usize) -> Vec<(Vec<E>, Vec<E>)> {
    (0..num_layers)
        .map(|_| (E::zeros(len), E::zeros(len)))
        .collect()
}

/// Rows `i` of `k` and `v` (`kv_heads * head_dim` values each) into slot `slots[i]` of one
/// layer.
fn write_rows<E: KvElement>(
    (kc, vc): &mut (Vec<E>, Vec<E>),
    (kv_heads, head_dim): (usize, usize),
    slots: &[usize],
    k: &[f32],
    v: &[f32],
) {
    let (width, stride) = (kv_heads * head_dim, slot_stride::<E>(kv_heads, head_dim));
    for (i, &slot) in slots.iter().enumerate() {
        let dst = slot * stride..slot * stride + width;
        for (cache, rows) in [(&mut *kc, k), (&mut *vc, v)] {
            for (d, &s) in cache[dst.clone()]
                .iter_mut()
                .zip(&rows[i * width..][..width])
            {
                *d = E::from_f32(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(num_layers: usize, num_blocks: usize, block_size: usize, dtype: KvDtype) -> KvLayout {
        KvLayout {
            num_layers,
            num_blocks,
            block_size,
            kv_heads: 3,
            head_dim: 64,
            dtype,
        }
    }

    /// A token of SmolLM2 (30 layers, 3 K/V heads of 64): 30 · 2 · 208 f32 values, or
    /// 30 · 2 · 224 f16 values (each slot padded to an odd number of cache lines).
    #[test]
    fn an_f16_token_takes_about_half_the_bytes() {
        assert_eq!(
            layout(30, 1, 16, KvDtype::F32).bytes_per_token(),
            30 * 2 * 208 * 4
        );
        assert_eq!(
            layout(30, 1, 16, KvDtype::F16).bytes_per_token(),
            30 * 2 * 224 * 2
        );
    }

    /// Values are stored rounded to nearest even: attention over one position returns its V
    /// row, so what was stored can be read back.
    #[test]
    fn f16_writes_round_to_nearest_even() {
        let (kv_heads, head_dim) = (1, 8);
        let mut store = KvStore::new(KvLayout {
            kv_heads,
            head_dim,
            ..layout(1, 2, 2, KvDtype::F16)
        });
        let v: Vec<f32> = (0..8).map(|i| 1.0 + i as f32 * 2f32.powi(-12)).collect();
        store.write(0, &[3], &[0.5; 8], &v);
        let table = [1u32];
        let seqs = [SeqSlice {
            first_row: 0,
            rows: 1,
            context_len: 2,
            prompt_len: 2,
            block_table: &table,
        }];
        // Position 0 (slot 2) holds zeros; a very large scale puts all weight on position 1.
        let params = AttentionParams {
            n_heads: 1,
            kv_heads,
            head_dim,
            scale: 1e4,
            window: None,
        };
        let mut out = [0f32; 8];
        store.attention(0, &[1.0; 8], &seqs, &params, &mut out);
        let want: Vec<f32> = v.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
        assert_eq!(out.to_vec(), want);
        // 1 + 2^-12 and 1 + 2^-11 are below and at the midpoint to 1 + 2^-10: both round to 1.
        assert_eq!(&want[..4], &[1.0, 1.0, 1.0, 1.0 + 2f32.powi(-10)][..]);
    }
}
