//! Weights behind a source: one file per format, each answering [`WeightSource`] in one
//! vocabulary, so that an architecture file never knows which format its weights came in.
//!
//! The vocabulary is llama.cpp's, the one every converter already targets: tensor names such
//! as `blk.0.attn_q.weight` (`[out, in]`, row-major) and setting keys such as
//! `attention.head_count` (GGUF's keys without their architecture prefix). GGUF speaks it
//! natively; another format maps its own names onto it in its own file.

mod gguf;
mod hf;
mod mapped;
mod options;
mod settings;

pub use gguf::GgufSource;
pub use hf::HfFolder;
pub use mapped::Mapped;
pub use options::{BlockFormat, LoadOptions, Quantization, WeightDtype};
pub use settings::Settings;

use crate::{arch, CausalLm, ModelError};
use candle_core::quantized::GgmlDType;
use sluice_core::SamplingDefaults;
use sluice_tokenizer::Tokenizer;
use std::path::Path;

/// One tensor as its source stores it: its storage type, its shape (`[out, in]` for a
/// matrix) and its bytes, memory-mapped: nothing is read until a layer packs them, and a
/// layer that uses them as stored keeps them mapped rather than copied.
pub struct TensorView {
    pub dtype: GgmlDType,
    pub shape: Vec<usize>,
    pub data: Mapped,
}

/// A setting's value, as a source stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// Where a model's weights, settings and tokenizer come from.
pub trait WeightSource {
    /// The architecture, as [`arch`] names it (`llama`, `gemma3`).
    fn architecture(&self) -> Result<String, ModelError>;

    /// A setting by its key in llama.cpp's vocabulary (`attention.head_count`), if present.
    fn setting(&self, key: &str) -> Result<Option<Setting>, ModelError>;

    /// How the source names a setting in its own format, for messages.
    fn setting_name(&self, key: &str) -> String;

    fn has_tensor(&self, name: &str) -> bool;

    /// A tensor by its name in llama.cpp's vocabulary (`blk.0.attn_q.weight`).
    fn tensor(&self, name: &str) -> Result<TensorView, ModelError>;

    /// The tokenizer that came with the weights.
    fn tokenizer(&self) -> Result<Tokenizer, ModelError>;

    /// The sampling settings the model's authors recommend, where the format carries them.
    fn generation_defaults(&self) -> Result<SamplingDefaults, ModelError> {
        Ok(SamplingDefaults::default())
    }
}

/// A model with the tokenizer and the sampling defaults that came with it.
pub struct LoadedModel {
    pub model: Box<dyn CausalLm>,
    pub tokenizer: Tokenizer,
    pub generation: SamplingDefaults,
}

/// Opens the weights at `path` in whatever format they are: a directory is a Hugging Face
/// folder, a file a GGUF file.
pub fn open(path: &Path) -> Result<Box<dyn WeightSource>, ModelError> {
    if path.is_dir() {
        return Ok(Box::new(HfFolder::open(path)?));
    }
    Ok(Box::new(GgufSource::open(path)?))
}

/// Loads the model at `path`: the architecture its source names, its weights held as `options`
/// say, and its tokenizer.
pub fn load(path: &Path, options: LoadOptions) -> Result<LoadedModel, ModelError> {
    let source = open(path)?;
    let model = arch::build(source.as_ref(), options)?;
    Ok(LoadedModel {
        model,
        tokenizer: source.tokenizer()?,
        generation: source.generation_defaults()?,
    })
}

/// Only the tokenizer of the model at `path`, without its weights.
pub fn tokenizer(path: &Path) -> Result<Tokenizer, ModelError> {
    open(path)?.tokenizer()
}
