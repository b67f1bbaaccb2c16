//! The architectures sluice runs: each file states its tensor names, reads its settings and
//! wires the shared layers ([`crate::transformer`]); none knows which format its weights came in.

mod gemma3;
mod llama;

use crate::load::WeightSource;
use crate::{CausalLm, ModelError};

/// The architectures by the name a source gives.
pub(crate) const ARCHITECTURES: [&str; 2] = ["llama", "gemma3"];

/// The model of the architecture `source` names, from its weights.
pub(crate) fn build(source: &dyn WeightSource) -> Result<Box<dyn CausalLm>, ModelError> {
    Ok(match source.architecture()?.as_str() {
        "llama" => Box::new(llama::build(source)?),
        "gemma3" => Box::new(gemma3::build(source)?),
        other => return Err(ModelError::UnsupportedArchitecture(other.to_string())),
    })
}
