//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): llama.cpp's `llm_tokenizer_bpe`, with
//! the pre-tokenizer regexes and merges run by the `tokenizers` crate.

use tokenizers::models::bpe::{Vocab, BPE};

use crate::pretokenize::PreTokenization;
use crate::TokenizerError;

/// Stands in for a character the vocabulary lacks (some vocabularies miss a few byte
/// symbols). llama.cpp keeps such a character in the word while merging, so no merge
/// spans it, and then drops it because it has no token. `tokenizers` would drop it before
/// merging and let its neighbours merge, so it is mapped to this placeholder instead, which
/// no merge names, and the placeholder is removed from the output.
const MISSING_SYMBOL: &str = "\u{FFFF}missing";

/// Splits a `"left right"` merge at the first space after the first byte, like llama.cpp
/// (so a left side may itself start with a space byte).
fn parse_merge(index: usize, merge: &str) -> Result<(String, String), TokenizerError> {
    // Bytes, not chars: index 1 may fall inside the first character, as in `"Ġ t"`.
    let space = merge
        .bytes()
        .skip(1)
        .position(|b| b == b' ')
        .map(|at| at + 1);
    match space {
        Some(at) => Ok((merge[..at].to_owned(), merge[at + 1..].to_owned())),
        None => Err(TokenizerError::InvalidSpec(format!(
            "merge {index} ({merge:?}) is not two space-separated tokens"
        ))),
    }
}

/// Pre-tokenizer + BPE over one vocabulary, with no added tokens: special tokens are cut out
/// of the text beforehand.
pub(crate) struct Bpe {
    tokenizer: tokenizers::Tokenizer,
    /// The id `tokenizer` gives a character the vocabulary lacks; see [`MISSING_SYMBOL`].
    missing: u32,
}

impl Bpe {
    /// `tokens` are the vocabulary's texts by id (empty ones already renamed; their number
    /// fits u32), `pre` is `tokenizer.ggml.pre` and `merges` is `tokenizer.ggml.merges`.
    pub(crate) fn new(
        pre: &str,
        tokens: &[String],
        merges: &[String],
    ) -> Result<Self, TokenizerError> {
        let pre = PreTokenization::for_pre(pre)?;
        let merges = merges
            .iter()
            .enumerate()
            .map(|(i, m)| parse_merge(i, m))
            .collect::<Result<Vec<_>, _>>()?;
        let mut vocab: Vocab = tokens
            .iter()
            .zip(0u32..)
            .map(|(t, id)| (t.clone(), id))
            .collect();
        // The caller checked that ids fit u32. The entry's text holds a character outside the
        // byte-level alphabet, so no BPE word can ever be that token.
        let missing = *vocab
            .entry(MISSING_SYMBOL.to_owned())
            .or_insert(tokens.len() as u32);
        let model = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .unk_token(MISSING_SYMBOL.to_owned())
            .ignore_merges(pre.ignore_merges)
            .build()
            .map_err(|e| TokenizerError::InvalidSpec(e.to_string()))?;
        let mut tokenizer = tokenizers::Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(pre.build()?));
        Ok(Self { tokenizer, missing })
    }

    /// Appends the ids of `text`, a stretch of prompt with no special tokens in it.
    pub(crate) fn encode(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        let encoded = encoding.get_ids().iter();
        ids.extend(encoded.filter(|&&id| id != self.missing));
        Ok(())
    }
}
