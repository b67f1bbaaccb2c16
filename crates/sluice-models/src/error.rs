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
    #[error("unsupported model architecture `{0}` (supported: llama)")]
    UnsupportedArchitecture(String),
    #[error("GGUF metadata: {0}")]
    Metadata(String),
    #[error("tensor `{name}`: {reason}")]
    Tensor { name: String, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] sluice_tokenizer::TokenizerError),
    #[error("invalid batch: {0}")]
    Batch(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
