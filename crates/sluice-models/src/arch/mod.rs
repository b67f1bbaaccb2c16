//! The architectures sluice runs: each file states its tensor names, reads its settings and
//! wires the shared layers ([`crate::transformer`]); none knows which format its weights came in.

mod gemma3;
mod llama;
mod qwen2;

use crate::load::{LoadOptions, WeightSource};
use crate::weights::Weights;
use crate::{CausalLm, ModelError};

/// The architectures by the name a source gives.
pub(crate) const ARCHITECTURES: [&str; 3] = ["llama", "qwen2", "gemma3"];

/// The model of the architecture `source` names, from its weights held as `options` say.
pub(crate) fn build(
    source: &dyn WeightSource,
    options: LoadOptions,
) -> Result<Box<dyn CausalLm>, ModelError> {
    let weights = Weights { source, options };
    Ok(match source.architecture()?.as_str() {
        "llama" => Box::new(llama::build(&weights)?),
        "qwen2" => Box::new(qwen2::build(&weights)?),
        "gemma3" => Box::new(gemma3::build(&weights)?),
        other => return Err(ModelError::UnsupportedArchitecture(other.to_string())),
    })
}
