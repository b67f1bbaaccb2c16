//! The bytes each token stands for, computed once per vocabulary.
//!
//! Byte-level BPE stores every byte as a printable stand-in character (GPT-2's
//! `bytes_to_unicode`), so a vocabulary entry like `Ġhello` means the bytes ` hello`;
//! SentencePiece stores plain text with spaces written as `▁`, so `▁hello` means ` hello` too.
//! Decoding undoes the vocabulary's spelling; tokens that are not normal text (control,
//! user-defined, byte tokens) follow llama.cpp's `token_to_piece` rules instead.

use crate::special::TokenKind;
use crate::spm::ESCAPED_SPACE;

/// How a vocabulary spells the text of its normal tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// Byte-level BPE: one printable stand-in character per byte.
    ByteLevel,
    /// SentencePiece: UTF-8 text with `▁` for a space.
    SentencePiece,
}

impl Spelling {
    /// The bytes a normal token's text stands for.
    fn decode(self, text: &str) -> Vec<u8> {
        match self {
            Self::ByteLevel => byte_level_decode(text),
            Self::SentencePiece => text.replace(ESCAPED_SPACE, " ").into_bytes(),
        }
    }
}

/// Whether GPT-2 lets `byte` stand for itself: printable ASCII and printable Latin-1.
const fn is_self_mapped(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The bytes GPT-2 shifts, in order: the n-th one is written as U+0100 + n.
const SHIFTED: [u8; 68] = {
    let mut table = [0u8; 68];
    let mut n = 0;
    let mut byte = 0u8;
    loop {
        if !is_self_mapped(byte) {
            table[n] = byte;
            n += 1;
        }
        if byte == u8::MAX {
            break;
        }
        byte += 1;
    }
    table
};

/// The byte a byte-level stand-in character means, if it is one.
fn char_to_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    match u8::try_from(code) {
        Ok(byte) => is_self_mapped(byte).then_some(byte),
        Err(_) => {
            let index = usize::try_from(code.checked_sub(0x100)?).ok()?;
            SHIFTED.get(index).copied()
        }
    }
}

/// The stand-in character GPT-2 writes for `byte` (the inverse of [`char_to_byte`]).
#[cfg(test)]
pub(crate) fn byte_to_char(byte: u8) -> char {
    if is_self_mapped(byte) {
        return char::from(byte);
    }
    let index = SHIFTED.iter().position(|&b| b == byte).unwrap_or(0);
    char::from_u32(0x100 + index as u32).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The bytes of byte-level text. A character outside the alphabet (seen in vocabularies that
/// store some entries as raw text) keeps its own UTF-8 bytes; llama.cpp would print an
/// `[UNK_BYTE_…]` marker there, which no model output should contain.
fn byte_level_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte(c) {
            Some(byte) => out.push(byte),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// A `<0xAB>` byte token's byte.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// What one token renders as, by llama.cpp's `token_to_piece` (with `special = true`).
fn piece(text: &str, kind: TokenKind, spelling: Spelling) -> Vec<u8> {
    match kind {
        TokenKind::Normal => spelling.decode(text),
        // Stored as plain text by the GGUF converters, in either kind of vocabulary (a
        // SentencePiece user-defined `▁` stays `▁`, as in llama.cpp).
        TokenKind::Control | TokenKind::Unknown | TokenKind::UserDefined => text.into(),
        TokenKind::Byte => match parse_byte_token(text) {
            Some(byte) => vec![byte],
            None => spelling.decode(text),
        },
        // llama.cpp renders these as nothing.
        TokenKind::Unused | TokenKind::Undefined => Vec::new(),
    }
}

/// Every token's bytes in one buffer: `bytes[ends[id - 1]..ends[id]]`.
#[derive(Clone, Debug)]
pub(crate) struct Pieces {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Pieces {
    pub(crate) fn new(tokens: &[String], kinds: &[TokenKind], spelling: Spelling) -> Self {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(tokens.len());
        for (text, &kind) in tokens.iter().zip(kinds) {
            bytes.extend_from_slice(&piece(text, kind, spelling));
            ends.push(bytes.len());
        }
        Self { bytes, ends }
    }

    /// The bytes of token `id`; empty for an id outside the vocabulary.
    pub(crate) fn get(&self, id: u32) -> &[u8] {
        let Ok(id) = usize::try_from(id) else {
            return &[];
        };
        let Some(&end) = self.ends.get(id) else {
            return &[];
        };
        let start = match id.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        self.bytes.get(start..end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_round_trips_every_byte() {
        let mut seen = std::collections::HashSet::new();
        for byte in 0..=u8::MAX {
            let c = byte_to_char(byte);
            assert!(seen.insert(c), "two bytes share {c:?}");
            assert_eq!(char_to_byte(c), Some(byte));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(char_to_byte('中'), None);
    }

    #[test]
    fn pieces_follow_token_kinds() {
        let tokens = ["Ġhi", "<|im_end|>", "<0x0A>", "<unused>", "ä¸Ń"].map(String::from);
        let kinds = [
            TokenKind::Normal,
            TokenKind::Control,
            TokenKind::Byte,
            TokenKind::Unused,
            TokenKind::Normal,
        ];
        let pieces = Pieces::new(&tokens, &kinds, Spelling::ByteLevel);
        assert_eq!(pieces.get(0), b" hi");
        assert_eq!(pieces.get(1), b"<|im_end|>");
        assert_eq!(pieces.get(2), b"\n");
        assert_eq!(pieces.get(3), b"");
        assert_eq!(pieces.get(4), "中".as_bytes());
        assert_eq!(pieces.get(5), b"");
        assert_eq!(pieces.get(u32::MAX), b"");
    }

    #[test]
    fn sentencepiece_pieces_unescape_spaces_in_normal_tokens_only() {
        let tokens = [
            "▁hi▁there",
            "<start_of_turn>",
            "<0xE4>",
            "▁▁",
            "<unused0>",
            "Ġ",
        ];
        let kinds = [
            TokenKind::Normal,
            TokenKind::Control,
            TokenKind::Byte,
            TokenKind::UserDefined,
            TokenKind::Unused,
            TokenKind::Normal,
        ];
        let tokens = tokens.map(String::from);
        let pieces = Pieces::new(&tokens, &kinds, Spelling::SentencePiece);
        assert_eq!(pieces.get(0), b" hi there");
        assert_eq!(pieces.get(1), b"<start_of_turn>");
        assert_eq!(pieces.get(2), [0xE4]);
        assert_eq!(pieces.get(3), "▁▁".as_bytes());
        assert_eq!(pieces.get(4), b"");
        // No byte-level stand-ins here: 'Ġ' is just 'Ġ'.
        assert_eq!(pieces.get(5), "Ġ".as_bytes());
    }
}
