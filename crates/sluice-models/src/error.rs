use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a GGUF file ({reason})")]
    NotGguf { path: PathBuf, reason: String },
    #[error("unsupported model architecture `{0}` (supported: {supported})", supported = crate::arch::ARCHITECTURES.join(", "))]
    UnsupportedArchitecture(String),
    #[error("model settings: {0}")]
    Metadata(String),
    #[error("tensor `{name}`: {reason}")]
    Tensor { name: String, reason: String },
    /// A Hugging Face folder that lacks a file or holds a broken one; the message names it.
    #[error("{0}")]
    Checkpoint(String),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] sluice_tokenizer::TokenizerError),
    #[error("invalid batch: {0}")]
    Batch(String),
    #[error("{0}")]
    Candle(String),
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        ModelError::Candle(candle_message(&e))
    }
}

/// candle's message without the backtrace it attaches when `RUST_BACKTRACE` is set: users get
/// one line that says what is wrong, not a stack dump.
pub(crate) fn candle_message(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => candle_message(inner),
        other => other.to_string(),
    }
}
