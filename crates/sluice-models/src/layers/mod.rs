//! The math shared by every architecture; a model file only names weights and wires these.

mod attention;
mod buffers;
mod decoder;
mod linear;
mod mlp;
mod norm;
mod step;

pub use attention::Attention;
pub use buffers::StepBuffers;
pub use decoder::DecoderLayer;
pub use linear::Linear;
pub use mlp::{GateActivation, GatedMlp};
pub use norm::RmsNorm;
pub use step::StepContext;
