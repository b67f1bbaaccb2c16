//! The contract between the HTTP layer and the engine: requests, events, errors, ids, `Backend`.
//! May import std, serde and tokio's channels; never another sluice crate.
//!
//! Wire types are parsed into these once, at the edge; everything here is already valid and
//! carries no optional value that has a default ("parse, don't validate").

mod backend;
mod constraint;
mod event;
mod ids;
mod params;
mod request;
mod stats;

pub use backend::{Backend, ChatTurn, EventStream, ModelInfo, PromptError};
pub use constraint::Constraint;
pub use event::{FinishReason, GenerationError, TokenEvent};
pub use ids::{BlockId, RequestId, SeqId};
pub use params::{SamplingDefaults, SamplingParams, StopCriteria};
pub use request::{GenerationRequest, LogprobOptions};
pub use stats::{EngineStats, SpeculationStats};
