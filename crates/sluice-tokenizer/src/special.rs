//! Token kinds and end-of-generation tokens, as llama.cpp derives them.
//!
//! `tokenizer.ggml.token_type` says which tokens are control tokens, but GGUF files get it
//! wrong often enough that llama.cpp (`llama_vocab::impl::load`) also goes by token text: a
//! token that reads like an end-of-turn or fill-in-the-middle marker is forced to control, and
//! the end-of-generation set is built from texts as well as `eos_token_id`. Matching that keeps
//! generation stopping where llama.cpp stops and prompts splitting where llama.cpp splits.

use std::collections::BTreeSet;

use crate::TokenizerError;

/// llama.cpp's token attribute, one per token, from `tokenizer.ggml.token_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Byte-level BPE text (type 1, and every token when the GGUF has no types).
    Normal,
    /// Type 2.
    Unknown,
    /// Type 3: chat markers, BOS/EOS; only parsed out of text on request, hidden when skipping.
    Control,
    /// Type 4: always parsed out of text, always rendered, stored as plain text.
    UserDefined,
    /// Type 5: renders as nothing.
    Unused,
    /// Type 6: a `<0xAB>` byte token.
    Byte,
    /// Any other type: llama.cpp gives it no attribute, so it renders as nothing.
    Undefined,
}

impl TokenKind {
    fn from_gguf(token_type: i32) -> Self {
        match token_type {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Undefined,
        }
    }

    /// llama.cpp's `cache_special_tokens`: tokens whose text can be split out of a prompt.
    pub(crate) fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }

    /// Split out of a prompt even when special tokens are not being parsed.
    pub(crate) fn always_parsed(self) -> bool {
        self == Self::UserDefined
    }

    /// Rendered only when special tokens are not being skipped.
    pub(crate) fn hidden_when_skipping(self) -> bool {
        matches!(self, Self::Control | Self::Unknown)
    }
}

/// Texts llama.cpp puts in `special_eog_ids` wherever they occur in the vocabulary.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Fill-in-the-middle markers llama.cpp detects by text; the first token found in each group
/// is forced to control.
const FIM_CONTROL_GROUPS: &[&[&str]] = &[
    &[
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ],
    &[
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ],
    &[
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ],
];

/// FIM pad / repo / file-separator markers: forced to control and end generation too.
const FIM_EOG_GROUPS: &[&[&str]] = &[
    &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    &[
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
    ],
    &["<|file_sep|>"],
];

/// Token kinds with llama.cpp's text-based corrections applied, and the sorted
/// end-of-generation ids.
pub(crate) struct SpecialTokens {
    pub kinds: Vec<TokenKind>,
    pub eog: Vec<u32>,
}

impl SpecialTokens {
    pub(crate) fn new(
        tokens: &[String],
        token_types: &[i32],
        eos_id: Option<u32>,
    ) -> Result<Self, TokenizerError> {
        let mut kinds = if token_types.is_empty() {
            vec![TokenKind::Normal; tokens.len()]
        } else if token_types.len() < tokens.len() {
            return Err(TokenizerError::InvalidSpec(format!(
                "{} token types for {} tokens",
                token_types.len(),
                tokens.len()
            )));
        } else {
            token_types
                .iter()
                .take(tokens.len())
                .map(|&t| TokenKind::from_gguf(t))
                .collect()
        };

        let mut eog = BTreeSet::new();
        // llama.cpp takes the first match its hash map yields; the lowest id is the
        // deterministic choice, and vocabularies hold at most one match per group in practice.
        let first_with_text = |group: &[&str]| tokens.iter().position(|t| group.contains(&&**t));
        for group in FIM_CONTROL_GROUPS {
            if let Some(id) = first_with_text(group) {
                kinds[id] = TokenKind::Control;
            }
        }
        for group in FIM_EOG_GROUPS {
            if let Some(id) = first_with_text(group) {
                kinds[id] = TokenKind::Control;
                eog.insert(id);
            }
        }
        for (id, text) in tokens.iter().enumerate() {
            if EOG_TEXTS.contains(&text.as_str()) {
                kinds[id] = TokenKind::Control;
                eog.insert(id);
            }
        }

        let mut eog: Vec<u32> = eog
            .into_iter()
            .filter_map(|id| u32::try_from(id).ok())
            .collect();
        if let Some(eos) = eos_id {
            if !eog.contains(&eos) {
                eog.push(eos);
                eog.sort_unstable();
            }
        }
        Ok(Self { kinds, eog })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn eog_comes_from_texts_fim_markers_and_eos() {
        // SmolLM2's layout: <|endoftext|> and <|im_end|> by text, <reponame> as FIM repo.
        let tokens = strings(&[
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<reponame>",
            "a",
        ]);
        let special = SpecialTokens::new(&tokens, &[3, 3, 3, 3, 1], Some(2)).unwrap();
        assert_eq!(special.eog, [0, 2, 3]);

        let special = SpecialTokens::new(&tokens, &[], Some(4)).unwrap();
        assert_eq!(special.eog, [0, 2, 3, 4]);
    }

    #[test]
    fn end_of_turn_texts_are_forced_to_control() {
        let tokens = strings(&["<|im_end|>", "<fim_prefix>", "<fim-prefix>", "<|im_start|>"]);
        let special = SpecialTokens::new(&tokens, &[1, 1, 1, 4], None).unwrap();
        assert_eq!(
            special.kinds,
            [
                TokenKind::Control,
                TokenKind::Control,
                // Only the first FIM-prefix look-alike is taken, as in llama.cpp.
                TokenKind::Normal,
                TokenKind::UserDefined,
            ]
        );
        assert_eq!(special.eog, [0]);
    }

    #[test]
    fn too_few_token_types_is_an_error() {
        let tokens = strings(&["a", "b"]);
        assert!(matches!(
            SpecialTokens::new(&tokens, &[1], None),
            Err(TokenizerError::InvalidSpec(_))
        ));
    }
}
