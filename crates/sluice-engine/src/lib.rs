//! The engine: sequences, scheduler, sampler, stop rules, the engine thread, and loading one.
//! May import core, kv, tokenizer and models; never the server, the protocol or candle.
//!
//! Continuous batching over a paged KV cache: one thread owns the model, the cache and the
//! scheduler ([`EngineHandle`]); each step runs the phases
//! schedule → build batch → forward → commit → sample → emit. [`Engine::load`] resolves a
//! model (fetching a known alias on first use) and sizes the cache for it.

mod backend;
mod batch;
mod config;
mod engine;
pub mod grammar;
mod handle;
pub mod load;
pub mod sampler;
mod scheduler;
mod sequence;
mod speculate;
pub mod stop;

pub use backend::LocalBackend;
pub use config::{EngineConfig, Speculation};
pub use engine::{Engine, EngineError};
pub use handle::EngineHandle;
pub use load::{fetch, CacheSize, KvDtype, LoadError, LoadOptions, Quantization, WeightDtype};
pub use scheduler::{Schedulable, Schedule, Scheduler};
pub use sequence::{EngineEvent, Sequence, SequenceState};
pub use sluice_core::EngineStats;
