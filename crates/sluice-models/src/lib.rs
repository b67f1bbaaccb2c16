//! Model architectures: GGUF loading, the shared layers, and the forward pass over a flattened
//! batch of prefill chunks and decodes with attention over the paged KV store.
//!
//! Weights and the loader are candle's (`QTensor`, `QMatMul`); activations are plain row-major
//! `f32` buffers handed to `sluice-kernels` between matmuls.

mod batch;
mod config;
mod error;
pub mod fetch;
mod gemma3;
mod gguf;
mod kv_dtype;
mod kv_store;
mod layers;
mod llama;
mod llama_cpp_batching;
mod model;
pub mod testing;
mod transformer;

pub use batch::{BatchSeq, ForwardBatch};
pub use config::ModelConfig;
pub use error::ModelError;
pub use gguf::GgufFile;
pub use kv_dtype::KvDtype;
pub use kv_store::KvStore;
pub use model::{load_gguf, CausalLm, LoadedModel};
