//! The tokenizer description a GGUF file carries, as plain data.

use crate::pretokenize::PreTokenization;

/// What a GGUF file's `tokenizer.ggml.*` metadata says.
///
/// The models crate fills this from the file; this crate knows nothing of GGUF itself.
/// `Default` gives an empty spec, handy as a base for struct-update syntax.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenizerSpec {
    /// `tokenizer.ggml.model`: `"gpt2"` (byte-level BPE) or `"llama"` (SentencePiece, as
    /// Gemma uses). Anything else is refused with
    /// [`TokenizerError::Unsupported`](crate::TokenizerError::Unsupported).
    pub model: String,
    /// `tokenizer.ggml.pre`, e.g. `"smollm"`, `"llama3"`, `"qwen2"`; `""` or `"default"`
    /// when the key is missing. Only BPE reads it (llama.cpp ignores it for SentencePiece).
    pub pre: String,
    /// `tokenizer.ggml.tokens`: token texts, indexed by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte); empty when the key is missing, which makes every token normal.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"left right"` strings, highest priority first (BPE only).
    pub merges: Vec<String>,
    /// `tokenizer.ggml.scores`, by id: what SentencePiece merges by, highest first. Empty
    /// when the key is missing, which makes every score 0, as in llama.cpp.
    pub scores: Vec<f32>,
    /// `tokenizer.ggml.bos_token_id`. When missing, SentencePiece vocabularies use id 1, as
    /// llama.cpp does.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`. When missing, SentencePiece vocabularies use id 2.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`; when the key is missing use
    /// [`TokenizerSpec::default_add_bos`], which is what llama.cpp assumes.
    pub add_bos: bool,
    /// `tokenizer.ggml.add_eos_token` (false when missing).
    pub add_eos: bool,
    /// `tokenizer.ggml.add_space_prefix`: SentencePiece puts a space before text that starts
    /// the prompt or follows a special token. When the key is missing use
    /// [`TokenizerSpec::default_add_space_prefix`]. BPE ignores it.
    pub add_space_prefix: bool,
    /// `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

impl TokenizerSpec {
    /// llama.cpp's `add_bos` for a file without `tokenizer.ggml.add_bos_token`: on for
    /// SentencePiece and for the Llama 3 pre-tokenizer family, off otherwise.
    pub fn default_add_bos(model: &str, pre: &str) -> bool {
        match model {
            "llama" => true,
            _ => PreTokenization::for_pre(pre).is_ok_and(|p| p.add_bos_default),
        }
    }

    /// llama.cpp's `add_space_prefix` for a file without `tokenizer.ggml.add_space_prefix`:
    /// on for SentencePiece (LLaMA's tokenizer did that), off otherwise.
    pub fn default_add_space_prefix(model: &str) -> bool {
        model == "llama"
    }
}
