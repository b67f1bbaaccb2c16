//! The math shared by every architecture; a model file only names weights and wires these.

mod attention;
mod buffers;
mod decoder;
mod dense;
mod linear;
mod mlp;
mod norm;
mod step;

pub use attention::Attention;
pub use buffers::StepBuffers;
pub use decoder::DecoderLayer;
pub(crate) use dense::widen_floats;
pub use linear::{Hold, Linear};
pub use mlp::{GateActivation, GatedMlp};
pub use norm::RmsNorm;
pub use step::StepContext;
