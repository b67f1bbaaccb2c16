//! Tokenizers (llama.cpp parity), chat templates and streaming detokenization.
//! May import `tokenizers` and minijinja; never another sluice crate.
//!
//! The goal is llama.cpp parity: the same prompt must give the same token ids as
//! `llama_tokenize`, or the model sees a prompt it was never tested on. So the pre-tokenizer
//! regexes, special-token splitting, token kinds and end-of-generation set all follow
//! llama.cpp's `src/llama-vocab.cpp`. Byte-level BPE merging itself is delegated to the
//! `tokenizers` crate; SentencePiece's score-driven merging is llama.cpp's own algorithm, so
//! it is reproduced here. The crate knows nothing of GGUF files: callers fill a
//! [`TokenizerSpec`] from the metadata. A Hugging Face folder's `tokenizer.json` is run by the
//! `tokenizers` crate itself ([`HfTokenizerSpec`]), under the same special-token splitting,
//! token kinds and end-of-generation rules.

mod bpe;
mod chat;
mod error;
mod hf;
mod incremental;
mod partition;
mod pieces;
mod pretokenize;
mod spec;
mod special;
mod spm;
mod tokenizer;

#[cfg(test)]
mod spm_tests;
#[cfg(test)]
mod tests;

pub use chat::{ChatMessage, ChatTemplate};
pub use error::TokenizerError;
pub use hf::HfTokenizerSpec;
pub use incremental::IncrementalDecoder;
pub use spec::TokenizerSpec;
pub use tokenizer::Tokenizer;
