//! `cargo bench -p sluice-kernels --bench attention`: attention over the paged KV cache on
//! SmolLM2-135M's and Gemma 3 270M's head shapes, for one layer. Decode: 32 sequences, one
//! generated row each, over contexts of 128 to 1,024 positions; prefill: one prompt chunk of 512
//! rows from position 0. The sequences' blocks are scattered over the pool, as a busy server's
//! are. Prints milliseconds per call (median of 7 timed batches) and, for decode, the K and V
//! bytes read per second, for an f32 and an f16 cache. Threads: rayon's global pool
//! (`RAYON_NUM_THREADS` to change).

use half::f16;
use sluice_kernels::attention::{
    paged_attention, slot_stride, AttentionParams, KvElement, KvLayerView, SeqSlice,
};
use sluice_kernels::test_data::{median_seconds_per_call, uniform};

const BLOCK: usize = 16;

/// (name, query heads, K/V heads, head size).
const MODELS: [(&str, usize, usize, usize); 2] = [("SmolLM2", 9, 3, 64), ("Gemma 3", 4, 1, 256)];

fn main() {
    println!("threads: {}", rayon::current_num_threads());
    println!("| model | cache | step | context | ms per call | K+V GB/s |");
    println!("|---|---|---|---:|---:|---:|");
    for (name, n_heads, kv_heads, head_dim) in MODELS {
        let params = AttentionParams {
            n_heads,
            kv_heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            window: None,
        };
        rows::<f32>(name, "f32", &params);
        rows::<f16>(name, "f16", &params);
    }
}

/// The table's rows for one model and cache type.
fn rows<E: KvElement>(name: &str, cache: &str, params: &AttentionParams) {
    for context in [128, 384, 1024] {
        let (ms, gbs) = decode::<E>(params, 32, context);
        println!("| {name} | {cache} | decode, 32 sequences | {context} | {ms:.2} | {gbs:.1} |");
    }
    let ms = prefill::<E>(params, 512);
    println!("| {name} | {cache} | prefill, 512 rows | 512 | {ms:.2} | |");
}

/// One layer's cache with room for `seqs` sequences of `context` positions, each given blocks
/// spread over the whole pool (every 7th block, wrapping), and random K and V.
struct Cache<E> {
    k: Vec<E>,
    v: Vec<E>,
    stride: usize,
    tables: Vec<Vec<u32>>,
}

impl<E: KvElement> Cache<E> {
    fn new(params: &AttentionParams, seqs: usize, context: usize) -> Self {
        let per_seq = context.div_ceil(BLOCK);
        let blocks = seqs * per_seq;
        let stride = slot_stride::<E>(params.kv_heads, params.head_dim);
        let values = blocks * BLOCK * stride;
        // 7 divides none of these pool sizes, so the blocks are a permutation of the pool.
        let tables = (0..seqs)
            .map(|s| {
                (0..per_seq)
                    .map(|b| (((s * per_seq + b) * 7) % blocks) as u32)
                    .collect()
            })
            .collect();
        let random = |seed| uniform(seed, values).into_iter().map(E::from_f32).collect();
        Cache {
            k: random(1),
            v: random(2),
            stride,
            tables,
        }
    }

    fn view(&self, params: &AttentionParams) -> KvLayerView<'_, E> {
        KvLayerView {
            k: &self.k,
            v: &self.v,
            block_size: BLOCK,
            kv_heads: params.kv_heads,
            head_dim: params.head_dim,
            slot_stride: self.stride,
        }
    }
}

/// Milliseconds per call for one generated row of each of `seqs` sequences at `context`
/// positions, and the K and V bytes those rows attend to, per second.
fn decode<E: KvElement>(params: &AttentionParams, seqs: usize, context: usize) -> (f64, f64) {
    let cache = Cache::<E>::new(params, seqs, context);
    let slices: Vec<SeqSlice<'_>> = cache
        .tables
        .iter()
        .enumerate()
        .map(|(s, table)| SeqSlice {
            first_row: s,
            rows: 1,
            context_len: context,
            prompt_len: context - 1,
            block_table: table,
        })
        .collect();
    let width = params.n_heads * params.head_dim;
    let q = uniform(3, seqs * width);
    let mut out = vec![0f32; q.len()];
    let view = cache.view(params);
    let seconds = median_seconds_per_call(|| paged_attention(&q, &view, &slices, params, &mut out));
    let bytes = 2 * seqs * context * params.kv_heads * params.head_dim * size_of::<E>();
    (seconds * 1e3, bytes as f64 / seconds / 1e9)
}

/// Milliseconds per call for a prompt's first `rows` positions in one chunk.
fn prefill<E: KvElement>(params: &AttentionParams, rows: usize) -> f64 {
    let cache = Cache::<E>::new(params, 1, rows);
    let slices = [SeqSlice {
        first_row: 0,
        rows,
        context_len: rows,
        prompt_len: rows,
        block_table: &cache.tables[0],
    }];
    let q = uniform(3, rows * params.n_heads * params.head_dim);
    let mut out = vec![0f32; q.len()];
    let view = cache.view(params);
    median_seconds_per_call(|| paged_attention(&q, &view, &slices, params, &mut out)) * 1e3
}
