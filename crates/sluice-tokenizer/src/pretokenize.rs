//! Pre-tokenization: how text is cut into pieces before BPE merges run inside each piece.
//!
//! The pieces decide which merges can ever apply, so they must match llama.cpp's exactly or
//! token ids drift from what the model was trained on. The tables below mirror
//! `llm_tokenizer_bpe`'s constructor in llama.cpp's `src/llama-vocab.cpp` (the `regex_exprs`
//! per `LLAMA_VOCAB_PRE_TYPE_*`) and the `tokenizer.ggml.pre` names that select each type.

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;

use crate::TokenizerError;

/// GPT-2's pattern. llama.cpp lists it without the final `|\s+`, but never runs it as a regex:
/// it recognises the string and runs `unicode_regex_split_custom_gpt2`, which does implement
/// the `\s+` fallback. (A regex without it would leave the same lone whitespace unmatched, and
/// llama.cpp keeps unmatched text as a piece of its own, so both readings cut alike.)
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's pattern in llama.cpp's adapted spelling (explicit case classes instead of `(?i:)`).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen 2's pattern: Llama 3's with single digits.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// BLOOM-family pattern: runs of anything but whitespace and a few punctuation marks.
const BLOOM: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const DIGIT: &str = r"\p{N}";
const DIGITS: &str = r"\p{N}+";
const THREE_DIGITS: &str = r"[0-9][0-9][0-9]";
const PUNCTUATION: &str = r"[\p{P}\$\+<=>\^~\|]+";
/// Falcon's variant also counts the backtick as punctuation.
const FALCON_PUNCTUATION: &str = r"[\p{P}\$\+<=>\^~\|`]+";

/// How llama.cpp pre-tokenizes one family of `tokenizer.ggml.pre` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PreTokenization {
    /// Applied in sequence; each regex cuts every piece left by the previous ones into its
    /// matches and the text between them (both kept, as llama.cpp's `unicode_regex_split`).
    regexes: &'static [&'static str],
    /// llama.cpp's `ignore_merges`: a piece that is itself a vocabulary entry becomes that token
    /// without running merges (which could otherwise reach a different segmentation).
    pub ignore_merges: bool,
    /// What llama.cpp assumes for `tokenizer.ggml.add_bos_token` when the GGUF lacks the key.
    pub add_bos_default: bool,
}

impl PreTokenization {
    const fn plain(regexes: &'static [&'static str]) -> Self {
        Self {
            regexes,
            ignore_merges: false,
            add_bos_default: false,
        }
    }

    /// The family `tokenizer.ggml.pre` names; llama.cpp refuses names it does not know, and so
    /// does this crate, rather than guess a pattern and silently produce other ids.
    pub(crate) fn for_pre(pre: &str) -> Result<Self, TokenizerError> {
        Ok(match pre {
            // llama.cpp warns that a missing `pre` degrades quality and uses the default.
            "" | "default" => Self::plain(&[PUNCTUATION, GPT2, DIGITS, THREE_DIGITS]),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" => Self {
                regexes: &[LLAMA3],
                ignore_merges: true,
                add_bos_default: true,
            },
            "dbrx" | "smaug-bpe" => Self::plain(&[LLAMA3]),
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2"
            | "hunyuan" => Self::plain(&[QWEN2]),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" | "mellum2" => Self::plain(&[DIGIT, GPT2]),
            // "gpt2" is not a name llama.cpp knows, but an obvious spelling of "gpt-2".
            "gpt-2" | "gpt2" | "phi-2" | "gigachat" | "a.x-4.0" | "mellum" | "mpt" | "olmo"
            | "jais" | "exaone4" | "trillion" | "granite-docling" => Self::plain(&[GPT2]),
            "falcon" => Self::plain(&[FALCON_PUNCTUATION, GPT2, THREE_DIGITS]),
            "poro-chat" | "bloom" | "gpt3-finnish" => Self::plain(&[BLOOM]),
            "viking" => Self::plain(&[BLOOM, DIGIT]),
            other => {
                return Err(TokenizerError::Unsupported(format!(
                    "pre-tokenizer '{other}' (tokenizer.ggml.pre)"
                )))
            }
        })
    }

    /// The `tokenizers` pipeline: one isolating `Split` per regex, then the GPT-2 byte-to-char
    /// mapping with its own regex off (the splits above already did that job).
    pub(crate) fn build(&self) -> Result<PreTokenizerWrapper, TokenizerError> {
        let mut steps = Vec::with_capacity(self.regexes.len() + 1);
        for regex in self.regexes {
            let split = Split::new(
                SplitPattern::Regex((*regex).to_owned()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| {
                TokenizerError::Unsupported(format!("pre-tokenizer regex {regex:?}: {e}"))
            })?;
            steps.push(split.into());
        }
        steps.push(ByteLevel::new(false, false, false).into());
        Ok(Sequence::new(steps).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    /// The pieces `pre` cuts `text` into, mapped back from byte-level chars to plain text.
    fn pieces(pre: &str, text: &str) -> Vec<String> {
        let pre_tokenizer = PreTokenization::for_pre(pre).unwrap().build().unwrap();
        let mut pretokenized = PreTokenizedString::from(text);
        pre_tokenizer.pre_tokenize(&mut pretokenized).unwrap();
        pretokenized
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(_, (start, end), _)| text[start..end].to_owned())
            .collect()
    }

    const SAMPLE: &str = "Hello world 123\n\n  foo's 4567!!";

    #[test]
    fn smollm_isolates_each_digit_then_applies_gpt2() {
        assert_eq!(
            pieces("smollm", SAMPLE),
            [
                "Hello", " world", " ", "1", "2", "3", "\n\n ", " foo", "'s", " ", "4", "5", "6",
                "7", "!!"
            ]
        );
    }

    #[test]
    fn gpt2_keeps_digit_runs_and_leading_spaces() {
        assert_eq!(
            pieces("gpt-2", SAMPLE),
            ["Hello", " world", " 123", "\n\n ", " foo", "'s", " 4567", "!!"]
        );
    }

    #[test]
    fn lone_tab_before_a_word_is_its_own_piece() {
        // The case where llama.cpp's regex (without `|\s+`) matches nothing: the tab stays a
        // piece of its own either way.
        assert_eq!(
            pieces("gpt-2", "a\tb  \tc"),
            ["a", "\t", "b", "  ", "\t", "c"]
        );
    }

    #[test]
    fn llama3_groups_digits_by_three_and_newlines_apart() {
        assert_eq!(
            pieces("llama3", SAMPLE),
            ["Hello", " world", " ", "123", "\n\n", " ", " foo", "'s", " ", "456", "7", "!!"]
        );
    }

    #[test]
    fn qwen2_single_digits() {
        assert_eq!(
            pieces("qwen2", "ab 12\r\nx"),
            ["ab", " ", "1", "2", "\r\n", "x"]
        );
    }

    #[test]
    fn default_splits_punctuation_runs_first() {
        assert_eq!(
            pieces("default", "a+b=1234"),
            ["a", "+", "b", "=", "123", "4"]
        );
    }

    #[test]
    fn falcon_counts_the_backtick_as_punctuation() {
        let text = "&}`World  `";
        assert_eq!(pieces("falcon", text), ["&}`", "World", "  ", "`"]);
        assert_eq!(pieces("default", text), ["&}", "`", "World", " ", " `"]);
    }

    #[test]
    fn every_listed_name_builds_and_unknown_names_are_refused() {
        for pre in [
            "",
            "default",
            "llama3",
            "llama-bpe",
            "dbrx",
            "qwen2",
            "stablelm2",
            "smollm",
            "starcoder",
            "gpt-2",
            "gpt2",
            "olmo",
            "falcon",
            "bloom",
            "viking",
        ] {
            let config = PreTokenization::for_pre(pre).unwrap();
            assert!(config.build().is_ok(), "{pre}");
        }
        assert!(PreTokenization::for_pre("llama3").unwrap().ignore_merges);
        assert!(!PreTokenization::for_pre("smollm").unwrap().add_bos_default);
        match PreTokenization::for_pre("no-such-pre") {
            Err(TokenizerError::Unsupported(msg)) => assert!(msg.contains("no-such-pre")),
            other => panic!("{other:?}"),
        }
    }
}
