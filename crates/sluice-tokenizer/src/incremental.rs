//! Streaming detokenization: text deltas that never split a UTF-8 character.
//!
//! One token can end in the middle of a character (byte-level BPE splits emoji and CJK across
//! tokens, SentencePiece spells characters it lacks with byte tokens), so decoding token by
//! token would emit U+FFFD halves. The decoder holds back the
//! bytes of an unfinished character until the token that completes it arrives.

use crate::Tokenizer;

/// Turns a stream of token ids into text deltas that never split a UTF-8 character.
///
/// The concatenation of every [`push`](Self::push) and the final [`finish`](Self::finish)
/// equals [`Tokenizer::decode`] of the whole id sequence.
#[derive(Clone, Debug, Default)]
pub struct IncrementalDecoder {
    skip_special: bool,
    /// Bytes of a character still waiting for its continuation bytes (at most 3).
    pending: Vec<u8>,
}

impl IncrementalDecoder {
    /// `skip_special` hides control and unknown tokens, as in [`Tokenizer::decode`].
    pub fn new(skip_special: bool) -> Self {
        Self {
            skip_special,
            pending: Vec::new(),
        }
    }

    /// Returns the text this token completes (possibly empty while a multi-byte character is
    /// incomplete). Bytes that can never become valid UTF-8 come out as U+FFFD right away.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> String {
        self.pending
            .extend_from_slice(tokenizer.piece(id, self.skip_special));
        let mut text = String::new();
        let mut consumed = 0;
        while let Some(rest) = self.pending.get(consumed..) {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    consumed = self.pending.len();
                    break;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    text.push_str(&String::from_utf8_lossy(&rest[..valid]));
                    consumed += valid;
                    match error.error_len() {
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            consumed += invalid;
                        }
                        // An unfinished character at the end: keep it for the next token.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        text
    }

    /// Whatever bytes are still pending at the end (lossy-decoded), leaving the decoder empty.
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}
