//! Model math and loading: weight sources, shared layers, architectures, the K/V memory.
//! May import candle, kernels, tokenizer and core (ids); never the engine, server or fetching.
//!
//! The forward pass runs a flattened batch of prefill chunks and decodes with attention over
//! the paged K/V memory; the weights load from sources (`load/`, one file per format) by the
//! names each architecture (`arch/`) states. Weights are candle's types or
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
