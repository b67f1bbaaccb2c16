//! A Hugging Face folder's tokenizer: `tokenizer.json` run by the `tokenizers` crate, with the
//! BOS/EOS rules of `tokenizer_config.json`. Special tokens are split out of a prompt as for a
//! GGUF vocabulary (`partition`), so the text between them goes through `tokenizers` with
//! special-token matching off and without its post-processor: BOS and EOS are added by the
//! caller's rule, as `transformers` does with `add_special_tokens`.

use crate::pieces::Spelling;
use crate::TokenizerError;
use serde_json::Value;

/// What a Hugging Face folder says about its tokenizer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HfTokenizerSpec {
    /// `tokenizer.json`'s text.
    pub json: String,
    /// `bos_token` and `eos_token` (their texts), from `tokenizer_config.json`.
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    /// `add_bos_token`; when the config does not say, whether `tokenizer.json`'s
    /// post-processor puts the BOS token first (as `transformers` then does).
    pub add_bos: Option<bool>,
    pub add_eos: bool,
    pub chat_template: Option<String>,
    /// End-of-generation ids besides `eos_token` (`generation_config.json`'s `eos_token_id`).
    pub eos_ids: Vec<u32>,
}

/// The `tokenizers` pipeline and what the common tokenizer needs to know of it.
pub(crate) struct HfModel {
    tokenizer: tokenizers::Tokenizer,
    pub tokens: Vec<String>,
    /// llama.cpp's numbering: 1 normal, 3 control (special added tokens), 4 user-defined
    /// (other added tokens), 6 byte (`<0xAB>` byte-fallback tokens).
    pub token_types: Vec<i32>,
    pub spelling: Spelling,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub add_bos: bool,
}

impl HfModel {
    pub(crate) fn new(spec: &HfTokenizerSpec) -> Result<Self, TokenizerError> {
        let invalid = |what: String| TokenizerError::InvalidSpec(format!("tokenizer.json: {what}"));
        let json: Value =
            serde_json::from_str(&spec.json).map_err(|e| invalid(format!("not JSON ({e})")))?;
        let mut tokenizer: tokenizers::Tokenizer =
            spec.json.parse().map_err(|e| invalid(format!("{e}")))?;
        // Special tokens were cut out of the text beforehand; any left are text.
        tokenizer.set_encode_special_tokens(true);
        let added = tokenizer.get_added_tokens_decoder();
        let size = added
            .keys()
            .map(|&id| id as usize + 1)
            .chain([tokenizer.get_vocab_size(false)])
            .max()
            .unwrap_or(0);
        if u32::try_from(size).is_err() {
            return Err(invalid(format!("{size} tokens do not fit u32 ids")));
        }
        let byte_fallback = json["model"]["byte_fallback"].as_bool().unwrap_or(false);
        let (mut tokens, mut token_types) = (Vec::with_capacity(size), Vec::with_capacity(size));
        for id in 0..size as u32 {
            let text = tokenizer
                .id_to_token(id)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| format!("[EMPTY_{id}]"));
            let token_type = match added.get(&id) {
                Some(token) if token.special => 3,
                Some(_) => 4,
                None if byte_fallback && is_byte_token(&text) => 6,
                None => 1,
            };
            tokens.push(text);
            token_types.push(token_type);
        }
        let id_of = |text: &Option<String>| text.as_deref().and_then(|t| tokenizer.token_to_id(t));
        let (bos_id, eos_id) = (id_of(&spec.bos_token), id_of(&spec.eos_token));
        let add_bos = spec
            .add_bos
            .unwrap_or_else(|| first_added_by_post_processor(&json) == spec.bos_token);
        Ok(HfModel {
            spelling: spelling(&json["decoder"]),
            tokenizer,
            tokens,
            token_types,
            bos_id,
            eos_id,
            add_bos,
        })
    }

    /// Appends the ids of `text`, a stretch of prompt with no special tokens in it.
    pub(crate) fn encode(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        ids.extend_from_slice(encoding.get_ids());
        Ok(())
    }
}

/// `<0xAB>`, a byte-fallback token.
fn is_byte_token(text: &str) -> bool {
    text.len() == 6 && text.starts_with("<0x") && text.ends_with('>')
}

/// Byte-level vocabularies decode with `ByteLevel`; the others (SentencePiece-style, with
/// `▁` for spaces and byte fallback) with `Replace`/`ByteFallback`/`Metaspace` steps.
fn spelling(decoder: &Value) -> Spelling {
    let is_byte_level = |d: &Value| d["type"] == "ByteLevel";
    let byte_level = is_byte_level(decoder)
        || decoder["decoders"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(is_byte_level));
    if byte_level {
        Spelling::ByteLevel
    } else {
        Spelling::SentencePiece
    }
}

/// The special token `tokenizer.json`'s post-processor puts before a single sequence, if any.
fn first_added_by_post_processor(json: &Value) -> Option<String> {
    let processors: Vec<&Value> = match json["post_processor"]["type"].as_str() {
        Some("Sequence") => json["post_processor"]["processors"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default(),
        Some(_) => vec![&json["post_processor"]],
        None => Vec::new(),
    };
    processors
        .into_iter()
        .find(|p| p["type"] == "TemplateProcessing")
        .and_then(|p| p["single"].as_array()?.first()?["SpecialToken"]["id"].as_str())
        .map(str::to_owned)
}
