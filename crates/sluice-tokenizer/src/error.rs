/// Everything this crate can refuse. Bad metadata or a bad template lands here, never in a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenizerError {
    /// A tokenizer model (`tokenizer.ggml.model`) or pre-tokenizer (`tokenizer.ggml.pre`)
    /// this crate does not implement yet.
    #[error("unsupported tokenizer: {0}")]
    Unsupported(String),
    /// The metadata contradicts itself (ids out of range, merges naming unknown tokens, ...).
    #[error("invalid tokenizer metadata: {0}")]
    InvalidSpec(String),
    /// The chat template failed to compile or to render; the message is minijinja's, and
    /// includes the text of a template's `raise_exception(...)`.
    #[error("chat template error: {0}")]
    Template(String),
    /// A chat request for a model whose GGUF carries no `tokenizer.chat_template`.
    #[error("the model has no chat template")]
    NoChatTemplate,
    /// The underlying `tokenizers` library failed to encode a text.
    #[error("encoding failed: {0}")]
    Encode(String),
}
