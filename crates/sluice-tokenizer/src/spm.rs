//! SentencePiece (`tokenizer.ggml.model = "llama"`, as Gemma uses): llama.cpp's
//! `llm_tokenizer_spm_session`, step for step.
//!
//! A GGUF SentencePiece vocabulary has no merge list. Each token carries a score instead, and
//! llama.cpp segments text greedily with them: the text starts as one symbol per UTF-8
//! character; the adjacent pair whose concatenation is the highest-scoring vocabulary entry is
//! merged (ties: the leftmost pair), again and again, until no adjacent pair spells an entry.
//! A leftover symbol that is no entry (a character the vocabulary lacks) is spelled with byte
//! tokens `<0xAB>`. Spaces are written as U+2581 `▁` in the vocabulary, so the text is escaped
//! the same way before merging. Reproducing these rules exactly, rather than running a
//! general SentencePiece implementation, is what keeps the ids equal to llama.cpp's.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::TokenizerError;

/// How SentencePiece vocabularies write a space.
pub(crate) const ESCAPED_SPACE: char = '\u{2581}';

/// The ids llama.cpp assumes for a SentencePiece vocabulary whose GGUF lacks
/// `tokenizer.ggml.bos_token_id` / `eos_token_id` (LLaMA's `<s>` and `</s>`).
pub(crate) const DEFAULT_BOS: u32 = 1;
pub(crate) const DEFAULT_EOS: u32 = 2;

/// A SentencePiece vocabulary ready to segment text.
pub(crate) struct Spm {
    /// Token text to id. For a text listed twice, the later id, as llama.cpp's map keeps.
    ids: HashMap<String, u32>,
    /// `tokenizer.ggml.scores` by id (all 0 when the GGUF has none, as in llama.cpp).
    scores: Vec<f32>,
    /// The `<0xAB>` token of each byte, where the vocabulary has one.
    byte_ids: [Option<u32>; 256],
    /// `tokenizer.ggml.add_space_prefix`: a space goes before text that starts the prompt or
    /// follows a special token.
    add_space_prefix: bool,
}

impl Spm {
    /// `tokens` are the vocabulary's texts by id (empty ones already renamed; their number
    /// fits u32); `scores` is `tokenizer.ggml.scores`, or empty.
    pub(crate) fn new(
        tokens: &[String],
        scores: &[f32],
        add_space_prefix: bool,
    ) -> Result<Self, TokenizerError> {
        let scores = if scores.is_empty() {
            vec![0.0; tokens.len()]
        } else if scores.len() < tokens.len() {
            // llama.cpp refuses such a file.
            return Err(TokenizerError::InvalidSpec(format!(
                "{} token scores for {} tokens",
                scores.len(),
                tokens.len()
            )));
        } else {
            scores[..tokens.len()].to_vec()
        };
        let ids: HashMap<String, u32> = tokens.iter().cloned().zip(0u32..).collect();
        // llama.cpp's `byte_to_token` would also try the byte itself as a token text. That
        // only matters for a symbol with no token of its own, and such a symbol is a whole
        // character: an ASCII one was just looked up under the same text, and the single
        // bytes of a longer one are not text at all. So the `<0xAB>` spelling is the only
        // one that can be found.
        let byte_ids = std::array::from_fn(|byte| ids.get(&format!("<0x{byte:02X}>")).copied());
        Ok(Self {
            ids,
            scores,
            byte_ids,
            add_space_prefix,
        })
    }

    /// Appends the ids of `text`, a stretch of prompt with no special tokens in it.
    /// `after_special` says whether it starts the prompt or follows a special token, where
    /// `add_space_prefix` puts a space. Fails only when a character needs a byte token the
    /// vocabulary lacks (llama.cpp throws there too).
    pub(crate) fn encode(
        &self,
        text: &str,
        after_special: bool,
        ids: &mut Vec<u32>,
    ) -> Result<(), TokenizerError> {
        let mut escaped = String::with_capacity(text.len() + 3);
        if self.add_space_prefix && after_special {
            escaped.push(ESCAPED_SPACE);
        }
        escaped.extend(
            text.chars()
                .map(|c| if c == ' ' { ESCAPED_SPACE } else { c }),
        );
        for piece in self.segment(&escaped) {
            self.resegment(piece, ids)?;
        }
        Ok(())
    }

    /// The id of a vocabulary text, if there is one.
    fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// Merges `text` by score into the pieces llama.cpp's session ends with, in order.
    fn segment<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut symbols: Vec<Symbol> = text
            .char_indices()
            .map(|(start, c)| Symbol {
                start,
                len: c.len_utf8(),
                prev: None,
                next: None,
            })
            .collect();
        let n = symbols.len();
        for (i, symbol) in symbols.iter_mut().enumerate() {
            symbol.prev = i.checked_sub(1);
            symbol.next = (i + 1 < n).then_some(i + 1);
        }

        let mut queue = BinaryHeap::new();
        for right in 1..n {
            self.push_bigram(text, &symbols, Some(right - 1), Some(right), &mut queue);
        }
        while let Some(bigram) = queue.pop() {
            let (left, right) = (&symbols[bigram.left], &symbols[bigram.right]);
            // A symbol merged since the pair was queued makes the pair stale.
            if left.len == 0 || right.len == 0 || left.len + right.len != bigram.len {
                continue;
            }
            let after = right.next;
            symbols[bigram.left].len = bigram.len;
            symbols[bigram.left].next = after;
            symbols[bigram.right].len = 0;
            if let Some(after) = after {
                symbols[after].prev = Some(bigram.left);
            }
            let before = symbols[bigram.left].prev;
            self.push_bigram(text, &symbols, before, Some(bigram.left), &mut queue);
            self.push_bigram(text, &symbols, Some(bigram.left), after, &mut queue);
        }

        // Symbol 0 is never merged away: merges fold the right symbol into the left one.
        let mut pieces = Vec::new();
        let mut at = (n > 0).then_some(0);
        while let Some(i) = at {
            let symbol = &symbols[i];
            pieces.push(&text[symbol.start..symbol.start + symbol.len]);
            at = symbol.next;
        }
        pieces
    }

    /// Queues the merge of two adjacent symbols if their concatenation is a vocabulary entry,
    /// ranked by that entry's score.
    fn push_bigram(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: Option<usize>,
        right: Option<usize>,
        queue: &mut BinaryHeap<Bigram>,
    ) {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        let Some(id) = self.id(&text[start..start + len]) else {
            return;
        };
        queue.push(Bigram {
            left,
            right,
            score: self.scores[id as usize],
            len,
        });
    }

    /// llama.cpp's `resegment`: a piece that is a vocabulary entry becomes its id, any other
    /// piece its bytes' `<0xAB>` tokens.
    ///
    /// llama.cpp first looks the piece up in `rev_merge`, to split it back into the two
    /// symbols it was merged from. That never finds anything: only pairs whose concatenation
    /// is an entry are ever merged or recorded, so every merged piece is an entry, and a piece
    /// that is not an entry is a single unmerged character, which no pair spells. So the
    /// lookup is left out; the ids are the same.
    fn resegment(&self, piece: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        if let Some(id) = self.id(piece) {
            ids.push(id);
            return Ok(());
        }
        for byte in piece.bytes() {
            let id = self.byte_ids[usize::from(byte)].ok_or_else(|| {
                TokenizerError::Encode(format!(
                    "{piece:?} is not in the vocabulary, which has no byte token <0x{byte:02X}> to spell it"
                ))
            })?;
            ids.push(id);
        }
        Ok(())
    }
}

/// A stretch of the text being merged, in a linked list: `text[start..start + len]`, with
/// `len == 0` once merged into its left neighbour.
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A queued merge of two adjacent symbols (llama.cpp's `llm_bigram_spm`). `len` is the
/// merged length at queueing time, which tells a stale pair from a live one.
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    len: usize,
}

/// The order `BinaryHeap` pops in: highest score first, then the leftmost pair, as
/// llama.cpp's comparator. Scores compare with `<` as there (so `-0.0 == 0.0`), not
/// `total_cmp`. At most one queued pair per left symbol is live at any time, so this order
/// decides every merge, and equal elements never need telling apart.
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of the given `(text, score)` entries after the 256 byte tokens.
    fn spm(entries: &[(&str, f32)], add_space_prefix: bool) -> Spm {
        let mut tokens: Vec<String> = (0..=u8::MAX).map(|b| format!("<0x{b:02X}>")).collect();
        let mut scores = vec![0.0; 256];
        for &(text, score) in entries {
            tokens.push(text.into());
            scores.push(score);
        }
        Spm::new(&tokens, &scores, add_space_prefix).unwrap()
    }

    const ABC: [(&str, f32); 3] = [("a", -1.0), ("b", -1.0), ("c", -1.0)];

    #[test]
    fn the_best_scoring_pair_merges_first() {
        let ab_first = spm(&[ABC[0], ABC[1], ABC[2], ("ab", -2.0), ("bc", -3.0)], false);
        assert_eq!(ab_first.segment("abc"), ["ab", "c"]);
        let bc_first = spm(&[ABC[0], ABC[1], ABC[2], ("ab", -3.0), ("bc", -2.0)], false);
        assert_eq!(bc_first.segment("abc"), ["a", "bc"]);
        // A tie goes to the leftmost pair.
        let tie = spm(&[ABC[0], ABC[1], ABC[2], ("ab", -2.0), ("bc", -2.0)], false);
        assert_eq!(tie.segment("abc"), ["ab", "c"]);
        assert_eq!(tie.segment("bcab"), ["bc", "ab"]);
    }

    #[test]
    fn merges_continue_through_merged_symbols_but_never_across_gaps() {
        // "abc" is reachable only through "bc" (there is no "ab"), and scores below both.
        let vocab = spm(
            &[ABC[0], ABC[1], ABC[2], ("bc", -2.0), ("abc", -9.0)],
            false,
        );
        assert_eq!(vocab.segment("abc"), ["abc"]);
        assert_eq!(vocab.segment("abcabc"), ["abc", "abc"]);
        // No entry is ever formed from pieces that are not themselves merged step by step.
        let gap = spm(&[ABC[0], ABC[1], ABC[2], ("abc", 0.0)], false);
        assert_eq!(gap.segment("abc"), ["a", "b", "c"]);
    }

    #[test]
    fn a_zero_score_ties_with_minus_zero() {
        // With total_cmp, -0.0 < 0.0 would let "bc" win; llama.cpp sees a tie and goes left.
        let vocab = spm(&[ABC[0], ABC[1], ABC[2], ("ab", -0.0), ("bc", 0.0)], false);
        assert_eq!(vocab.segment("abc"), ["ab", "c"]);
    }

    #[test]
    fn spaces_are_escaped_and_prefixed_after_specials_only_on_request() {
        let entries = [
            ("▁", -1.0),
            ("h", -1.0),
            ("i", -1.0),
            ("hi", -2.0),
            ("▁hi", -3.0),
        ];
        let hi = 256 + 3;
        let space_hi = 256 + 4;
        let plain = spm(&entries, false);
        let mut ids = Vec::new();
        plain.encode("hi hi", true, &mut ids).unwrap();
        assert_eq!(ids, [hi, space_hi]);

        let prefixed = spm(&entries, true);
        let mut ids = Vec::new();
        prefixed.encode("hi", true, &mut ids).unwrap();
        prefixed.encode("hi", false, &mut ids).unwrap();
        assert_eq!(ids, [space_hi, hi]);
    }

    #[test]
    fn characters_without_a_token_fall_back_to_bytes() {
        let vocab = spm(&ABC, false);
        let mut ids = Vec::new();
        vocab.encode("aé", false, &mut ids).unwrap();
        assert_eq!(ids, [256, 0xC3, 0xA9]);

        // Without byte tokens llama.cpp throws; this is an error, not a dropped character.
        let tokens: Vec<String> = ["a", "<0x41>"].map(String::from).to_vec();
        let no_bytes = Spm::new(&tokens, &[], false).unwrap();
        let mut ids = Vec::new();
        no_bytes.encode("A", false, &mut ids).unwrap();
        assert_eq!(ids, [1]);
        assert!(matches!(
            no_bytes.encode("aé", false, &mut ids),
            Err(TokenizerError::Encode(_))
        ));
    }

    #[test]
    fn scores_must_cover_every_token() {
        let tokens: Vec<String> = ["a", "b"].map(String::from).to_vec();
        assert!(matches!(
            Spm::new(&tokens, &[0.0], false),
            Err(TokenizerError::InvalidSpec(_))
        ));
        assert!(Spm::new(&tokens, &[], false).is_ok());
    }
}
