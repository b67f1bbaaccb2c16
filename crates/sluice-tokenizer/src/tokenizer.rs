//! The tokenizer: llama.cpp's `llama_tokenize` and `token_to_piece` behaviour over a GGUF
//! vocabulary. The steps every vocabulary shares (special-token splitting, BOS/EOS, token
//! kinds, pieces) live here; the text between special tokens goes to the vocabulary's own
//! algorithm, [`Bpe`] or [`Spm`].

use std::fmt;
use std::sync::Arc;

use crate::bpe::Bpe;
use crate::chat::{ChatMessage, ChatTemplate};
use crate::hf::{HfModel, HfTokenizerSpec};
use crate::partition::{partition, Fragment};
use crate::pieces::{Pieces, Spelling};
use crate::special::{SpecialTokens, TokenKind};
use crate::spm::{self, Spm};
use crate::{TokenizerError, TokenizerSpec};

/// A GGUF vocabulary ready to encode prompts and decode outputs. Cheap to clone (shared).
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

struct Inner {
    /// Encodes the text between special tokens.
    model: Model,
    /// Token texts by id (empty texts replaced, as llama.cpp does).
    tokens: Vec<String>,
    kinds: Vec<TokenKind>,
    pieces: Pieces,
    /// Ids that can be cut out of a prompt, longest text first.
    specials: Vec<u32>,
    eog: Vec<u32>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<ChatTemplate>,
}

/// What encodes the text between special tokens: llama.cpp's `LLAMA_VOCAB_TYPE_BPE` or
/// `LLAMA_VOCAB_TYPE_SPM` for a GGUF vocabulary, or a Hugging Face `tokenizer.json`.
// Held once per vocabulary, inside the `Arc`: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Model {
    Bpe(Bpe),
    Spm(Spm),
    Hf(HfModel),
}

/// What [`Tokenizer::assemble`] builds a tokenizer from, whichever format described it.
struct Parts {
    model: Model,
    /// Token texts by id (no empty ones; their number fits u32).
    tokens: Vec<String>,
    /// llama.cpp's token types (GGUF's `tokenizer.ggml.token_type` numbering), or empty.
    token_types: Vec<i32>,
    spelling: Spelling,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
    /// End-of-generation ids besides those the texts and `eos_id` give.
    extra_eog: Vec<u32>,
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes, or says why it cannot.
    pub fn from_spec(spec: &TokenizerSpec) -> Result<Self, TokenizerError> {
        // SentencePiece vocabularies get llama.cpp's default BOS/EOS ids, BPE ones none.
        let (spelling, default_bos, default_eos) = match spec.model.as_str() {
            "gpt2" => (Spelling::ByteLevel, None, None),
            "llama" => (
                Spelling::SentencePiece,
                Some(spm::DEFAULT_BOS),
                Some(spm::DEFAULT_EOS),
            ),
            other => {
                return Err(TokenizerError::Unsupported(format!(
                    "tokenizer model '{other}' (tokenizer.ggml.model); only byte-level BPE \
                     ('gpt2') and SentencePiece ('llama') are implemented"
                )))
            }
        };
        let n_tokens = spec.tokens.len();
        if u32::try_from(n_tokens).is_err() {
            return Err(TokenizerError::InvalidSpec(format!(
                "{n_tokens} tokens do not fit u32 ids"
            )));
        }
        // llama.cpp renames empty entries so every text maps back to one id.
        let tokens: Vec<String> = spec
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if t.is_empty() {
                    format!("[EMPTY_{i}]")
                } else {
                    t.clone()
                }
            })
            .collect();
        // Out-of-range ids give way to the default, or are dropped, as llama.cpp does with a
        // warning.
        let in_range = |id: Option<u32>| id.filter(|&id| (id as usize) < n_tokens);
        let bos_id = in_range(spec.bos_id).or(in_range(default_bos));
        let eos_id = in_range(spec.eos_id).or(in_range(default_eos));
        if spec.add_bos && bos_id.is_none() {
            return Err(TokenizerError::InvalidSpec(
                "add_bos_token is set but bos_token_id is missing or out of range".into(),
            ));
        }
        if spec.add_eos && eos_id.is_none() {
            return Err(TokenizerError::InvalidSpec(
                "add_eos_token is set but eos_token_id is missing or out of range".into(),
            ));
        }

        let model = match spelling {
            Spelling::ByteLevel => Model::Bpe(Bpe::new(&spec.pre, &tokens, &spec.merges)?),
            Spelling::SentencePiece => {
                Model::Spm(Spm::new(&tokens, &spec.scores, spec.add_space_prefix)?)
            }
        };
        Self::assemble(Parts {
            model,
            tokens,
            token_types: spec.token_types.clone(),
            spelling,
            bos_id,
            eos_id,
            add_bos: spec.add_bos,
            add_eos: spec.add_eos,
            chat_template: spec.chat_template.clone(),
            extra_eog: Vec::new(),
        })
    }

    /// Builds the tokenizer a Hugging Face folder describes (`tokenizer.json` run by the
    /// `tokenizers` crate), or says why it cannot.
    pub fn from_hf(spec: &HfTokenizerSpec) -> Result<Self, TokenizerError> {
        let hf = HfModel::new(spec)?;
        let parts = Parts {
            tokens: hf.tokens.clone(),
            token_types: hf.token_types.clone(),
            spelling: hf.spelling,
            bos_id: hf.bos_id,
            eos_id: hf.eos_id,
            add_bos: hf.add_bos,
            add_eos: spec.add_eos,
            chat_template: spec.chat_template.clone(),
            extra_eog: spec.eos_ids.clone(),
            model: Model::Hf(hf),
        };
        if parts.add_bos && parts.bos_id.is_none() {
            return Err(TokenizerError::InvalidSpec(
                "add_bos_token is set but the BOS token is not in the vocabulary".into(),
            ));
        }
        Self::assemble(parts)
    }

    /// The parts every format shares: token kinds and end-of-generation ids as llama.cpp
    /// derives them, the tokens' pieces, and the chat template.
    fn assemble(parts: Parts) -> Result<Self, TokenizerError> {
        let Parts {
            model,
            tokens,
            token_types,
            spelling,
            bos_id,
            eos_id,
            add_bos,
            add_eos,
            chat_template,
            extra_eog,
        } = parts;
        let SpecialTokens { kinds, mut eog } = SpecialTokens::new(&tokens, &token_types, eos_id)?;
        eog.extend(
            extra_eog
                .into_iter()
                .filter(|&id| (id as usize) < tokens.len()),
        );
        eog.sort_unstable();
        eog.dedup();

        let mut specials: Vec<u32> = (0u32..)
            .zip(&kinds)
            .filter(|(_, kind)| kind.is_special())
            .map(|(id, _)| id)
            .collect();
        specials.sort_by_key(|&id| std::cmp::Reverse(tokens[id as usize].len()));

        let pieces = Pieces::new(&tokens, &kinds, spelling);
        // llama.cpp hands templates the tokens' rendered text (`common_token_to_piece`).
        let text_of = |id: Option<u32>| {
            id.map_or(String::new(), |id| {
                String::from_utf8_lossy(pieces.get(id)).into_owned()
            })
        };
        let chat_template = chat_template
            .as_deref()
            .map(|source| ChatTemplate::new(source, &text_of(bos_id), &text_of(eos_id)))
            .transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                model,
                tokens,
                kinds,
                pieces,
                specials,
                eog,
                bos_id,
                eos_id,
                add_bos,
                add_eos,
                chat_template,
            }),
        })
    }

    /// Tokenizes like llama.cpp's `llama_tokenize(add_special = true, parse_special)`: BOS
    /// first iff `add_bos` (EOS last iff `add_eos`). User-defined token texts always become
    /// their ids; with `parse_special`, control (and unknown) token texts do too, otherwise
    /// they are encoded as plain text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let inner = &*self.inner;
        let specials = inner
            .specials
            .iter()
            .filter(|&&id| parse_special || inner.kind(id).always_parsed())
            .map(|&id| (id, inner.tokens[id as usize].as_str()));

        let mut ids = Vec::new();
        if inner.add_bos {
            ids.extend(inner.bos_id);
        }
        // SentencePiece's space prefix goes before the first text and after each special
        // token, whether or not a BOS was added (llama.cpp's `is_prev_special`).
        let mut after_special = true;
        for fragment in partition(text, specials) {
            match fragment {
                Fragment::Token(id) => {
                    ids.push(id);
                    after_special = true;
                }
                Fragment::Text(range) => {
                    let piece = text.get(range).unwrap_or("");
                    match &inner.model {
                        Model::Bpe(bpe) => bpe.encode(piece, &mut ids)?,
                        Model::Spm(spm) => spm.encode(piece, after_special, &mut ids)?,
                        Model::Hf(hf) => hf.encode(piece, &mut ids)?,
                    }
                    after_special = false;
                }
            }
        }
        if inner.add_eos {
            ids.extend(inner.eos_id);
        }
        Ok(ids)
    }

    /// The text of `ids`. With `skip_special`, control and unknown tokens (BOS, EOS, chat
    /// markers) are left out, as llama.cpp's `token_to_piece(special = false)` does;
    /// user-defined tokens are always rendered. Ids outside the vocabulary render as nothing.
    /// Bytes that are not valid UTF-8 (e.g. a character cut short at the end) become U+FFFD.
    ///
    /// This is the concatenation of the tokens' pieces, as llama-server streams them. It does
    /// not drop the leading space that `add_space_prefix` put there, as `llama_detokenize`
    /// does: decoded ids are usually a continuation, where that space belongs to the text.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.piece(id, skip_special));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Number of tokens in the vocabulary (the model's logits may be padded past it).
    pub fn vocab_size(&self) -> usize {
        self.inner.tokens.len()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.inner.bos_id
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.inner.eos_id
    }

    /// End-of-generation ids, sorted, as llama.cpp computes them: `eos_id` plus every token
    /// whose text marks an end of turn (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`,
    /// `<end_of_turn>`, `</s>`, ...) and the FIM pad/repo/file-separator markers.
    pub fn eog_ids(&self) -> &[u32] {
        &self.inner.eog
    }

    /// Control, user-defined and unknown tokens: the ones a prompt can name by text.
    pub fn is_special(&self, id: u32) -> bool {
        self.inner.kind(id).is_special()
    }

    /// The raw bytes a token stands for (byte-level BPE or SentencePiece spelling undone;
    /// special tokens give their text, unused tokens nothing). May be part of a UTF-8
    /// character.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        self.inner.pieces.get(id).to_vec()
    }

    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.inner.chat_template.as_ref()
    }

    /// Renders a conversation with the model's chat template into prompt text ready for
    /// `encode(prompt, true)`, as llama.cpp's server does: templates that write `bos_token`
    /// themselves would otherwise get a second BOS from `add_bos`, so a leading BOS text is
    /// removed when `add_bos` is set (and a trailing EOS text when `add_eos` is).
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        let template = self.chat_template().ok_or(TokenizerError::NoChatTemplate)?;
        let mut prompt = template.render(messages, tools, add_generation_prompt)?;
        let bos = template.bos_token();
        if self.inner.add_bos && !bos.is_empty() && prompt.starts_with(bos) {
            prompt.drain(..bos.len());
        }
        let eos = template.eos_token();
        if self.inner.add_eos && !eos.is_empty() && prompt.ends_with(eos) {
            prompt.truncate(prompt.len() - eos.len());
        }
        Ok(prompt)
    }

    /// The bytes `id` contributes to decoded text.
    pub(crate) fn piece(&self, id: u32, skip_special: bool) -> &[u8] {
        if skip_special && self.inner.kind(id).hidden_when_skipping() {
            return &[];
        }
        self.inner.pieces.get(id)
    }
}

impl Inner {
    /// Ids outside the vocabulary count as unused: no text, nothing special.
    fn kind(&self, id: u32) -> TokenKind {
        self.kinds
            .get(id as usize)
            .copied()
            .unwrap_or(TokenKind::Unused)
    }
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Tokenizer")
            .field("vocab_size", &inner.tokens.len())
            .field("special_tokens", &inner.specials.len())
            .field("bos_id", &inner.bos_id)
            .field("eos_id", &inner.eos_id)
            .field("add_bos", &inner.add_bos)
            .field("add_eos", &inner.add_eos)
            .field("eog_ids", &inner.eog)
            .field("chat_template", &inner.chat_template.is_some())
            .finish()
    }
}
