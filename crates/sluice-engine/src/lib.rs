//! The engine: continuous batching over a paged KV cache. One thread owns the model, the
//! cache and the scheduler ([`EngineHandle`]); each step runs the phases
//! schedule → build batch → forward → commit → sample → emit.

mod backend;
mod batch;
mod config;
mod engine;
mod handle;
pub mod load;
pub mod sampler;
mod scheduler;
mod sequence;
pub mod stop;

pub use backend::LocalBackend;
pub use config::EngineConfig;
pub use engine::{Engine, EngineError};
pub use handle::EngineHandle;
pub use load::{fetch, CacheSize, KvDtype, LoadError};
pub use scheduler::{Schedulable, Schedule, Scheduler};
pub use sequence::{EngineEvent, Sequence, SequenceState};
pub use sluice_core::EngineStats;
