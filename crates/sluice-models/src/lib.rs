//! Model math and loading: the shared layers, the architectures wired from them, the forward
//! pass over a flattened batch of prefill chunks and decodes with attention over the paged K/V
//! memory, and the weight sources they load from (`load/`, one file per format).
//!
//! May import candle, `sluice-kernels`, `sluice-tokenizer` and `sluice-core` (ids); never the
//! engine, the server or anything that fetches or schedules. Weights are candle's types or
//! `sluice-kernels`' packed ones; activations are plain row-major `f32` buffers handed to the
//! kernels between matmuls.

mod arch;
mod batch;
mod config;
mod error;
pub mod kv;
mod layers;
mod llama_cpp_batching;
pub mod load;
mod model;
mod transformer;
mod weights;

pub use batch::{BatchSeq, ForwardBatch};
pub use config::ModelConfig;
pub use error::ModelError;
pub use kv::{KvDtype, KvLayout, KvMemory, KvStore};
pub use load::LoadedModel;
pub use model::{CausalLm, ComputeDtype, Device};
