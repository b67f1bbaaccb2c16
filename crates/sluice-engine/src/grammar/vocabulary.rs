//! The model's vocabulary as llguidance sees it: every token's bytes in a trie, control tokens
//! marked so that no text can spell them, and the end-of-generation tokens as its EOS set.

use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use sluice_tokenizer::Tokenizer;
use std::sync::Arc;

/// llguidance's tokenizer environment for `tokenizer`.
///
/// Text llguidance tokenizes itself (forced strings, which sluice does not use) is split
/// greedily by the trie rather than by the model's tokenizer; the masks, which are what sluice
/// uses, depend only on the token bytes.
pub fn token_env(tokenizer: &Tokenizer) -> TokEnv {
    let words: Vec<Vec<u8>> = (0..tokenizer.vocab_size() as u32)
        .map(|id| {
            let bytes = tokenizer.token_bytes(id);
            if tokenizer.is_special(id) {
                // llguidance's spelling of a control token: text never starts with 0xFF.
                [&[TokTrie::SPECIAL_TOKEN_MARKER][..], &bytes].concat()
            } else {
                bytes
            }
        })
        .collect();
    let eog = tokenizer.eog_ids();
    let eos = tokenizer.eos_id().or(eog.first().copied()).unwrap_or(0);
    let info = TokRxInfo::new(words.len() as u32, eos);
    let trie = TokTrie::from(&info, &words).with_eos_tokens(if eog.is_empty() {
        std::slice::from_ref(&eos)
    } else {
        eog
    });
    Arc::new(ApproximateTokEnv::new(trie))
}
