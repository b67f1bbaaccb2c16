//! End-to-end tests through the public API, on a tiny hand-built SentencePiece vocabulary laid
//! out like Gemma's: control tokens, a user-defined `\n`, byte tokens, then scored pieces.

use crate::tests::{assert_decode_round_trips, assert_incremental_round_trip};
use crate::{IncrementalDecoder, Tokenizer, TokenizerError, TokenizerSpec};

const UNK: u32 = 0;
const BOS: u32 = 1;
const EOS: u32 = 2;
const START_OF_TURN: u32 = 3;
const END_OF_TURN: u32 = 4;
const NEWLINE: u32 = 5;
const UNUSED: u32 = 6;
/// `<0x00>`; byte `b` is `BYTE_0 + b`.
const BYTE_0: u32 = 7;

/// Normal pieces and their scores. The merges they allow: `hello` is built as
/// `l+l`, `h+e`, `ll+o`, `he+llo` (scores decide that order), `▁world` as `▁+w`, `o+r`,
/// `l+d`, `▁w+or`, `▁wor+ld`.
const PIECES: &[(&str, f32)] = &[
    ("▁", -1.0),
    ("h", -2.0),
    ("e", -2.0),
    ("l", -2.0),
    ("o", -2.0),
    ("w", -2.0),
    ("r", -2.0),
    ("d", -2.0),
    ("u", -2.0),
    ("s", -2.0),
    ("中", -2.0),
    ("ll", -3.0),
    ("he", -4.0),
    ("llo", -5.0),
    ("hello", -6.0),
    ("▁hello", -7.0),
    ("▁w", -4.0),
    ("or", -4.0),
    ("ld", -4.0),
    ("▁wor", -5.0),
    ("▁world", -6.0),
];

/// The vocabulary, Gemma's way: `add_space_prefix` off, BOS added.
fn spec() -> TokenizerSpec {
    let mut tokens: Vec<String> = Vec::new();
    let mut token_types = Vec::new();
    for (text, token_type) in [
        ("<unk>", 2),
        ("<s>", 3),
        ("</s>", 3),
        ("<start_of_turn>", 3),
        ("<end_of_turn>", 3),
        ("\n", 4),
        ("<unused0>", 5),
    ] {
        tokens.push(text.into());
        token_types.push(token_type);
    }
    for byte in 0..=u8::MAX {
        tokens.push(format!("<0x{byte:02X}>"));
        token_types.push(6);
    }
    let mut scores = vec![0.0; tokens.len()];
    for &(text, score) in PIECES {
        tokens.push(text.into());
        token_types.push(1);
        scores.push(score);
    }
    TokenizerSpec {
        model: "llama".into(),
        pre: "default".into(),
        tokens,
        token_types,
        scores,
        bos_id: Some(BOS),
        eos_id: Some(EOS),
        unk_id: Some(UNK),
        add_bos: true,
        add_space_prefix: false,
        ..TokenizerSpec::default()
    }
}

fn tokenizer(spec: &TokenizerSpec) -> Tokenizer {
    Tokenizer::from_spec(spec).unwrap()
}

fn without_bos() -> TokenizerSpec {
    TokenizerSpec {
        add_bos: false,
        ..spec()
    }
}

fn with_space_prefix() -> TokenizerSpec {
    TokenizerSpec {
        add_space_prefix: true,
        ..without_bos()
    }
}

fn id(text: &str) -> u32 {
    let position = spec().tokens.iter().position(|t| t == text);
    position.and_then(|p| u32::try_from(p).ok()).unwrap()
}

fn bytes(text: &str) -> Vec<u32> {
    text.bytes().map(|b| BYTE_0 + u32::from(b)).collect()
}

#[test]
fn pieces_merge_by_score_with_spaces_escaped() {
    let tokenizer = tokenizer(&spec());
    assert_eq!(
        tokenizer.encode("hello world", true).unwrap(),
        [BOS, id("hello"), id("▁world")]
    );
    // Every space is a `▁` of its own unless a piece absorbs it; none is dropped.
    assert_eq!(
        tokenizer.encode(" hello  world ", true).unwrap(),
        [BOS, id("▁hello"), id("▁"), id("▁world"), id("▁")]
    );
    // "lo" is no piece: "hello" can only come from "he" + "llo", in score order.
    assert_eq!(
        tokenizer.encode("hellohe", true).unwrap(),
        [BOS, id("hello"), id("he")]
    );
    assert_eq!(tokenizer.encode("", true).unwrap(), [BOS]);
}

#[test]
fn a_lower_score_changes_the_segmentation() {
    // With "he" above "ll", "hell" still ends as "he" + "ll"; with "el" best, it is taken
    // first and blocks both.
    let mut spec = without_bos();
    spec.tokens.push("el".into());
    spec.token_types.push(1);
    spec.scores.push(-1.5);
    let el = u32::try_from(spec.tokens.len() - 1).unwrap();
    let tokenizer = self::tokenizer(&spec);
    assert_eq!(
        tokenizer.encode("hell", false).unwrap(),
        [id("h"), el, id("l")]
    );
    spec.scores[el as usize] = -9.0;
    let tokenizer = self::tokenizer(&spec);
    assert_eq!(
        tokenizer.encode("hell", false).unwrap(),
        [id("he"), id("ll")]
    );
}

#[test]
fn missing_characters_fall_back_to_byte_tokens() {
    let tokenizer = tokenizer(&without_bos());
    assert_eq!(tokenizer.encode("中", false).unwrap(), [id("中")]);
    let mut expected = bytes("é");
    expected.push(id("▁"));
    expected.extend(bytes("😀"));
    assert_eq!(tokenizer.encode("é 😀", false).unwrap(), expected);
    assert_eq!(expected.len(), 2 + 1 + 4);
}

#[test]
fn special_tokens_split_the_text_and_only_user_defined_ones_always() {
    let tokenizer = tokenizer(&without_bos());
    let text = "<start_of_turn>us\nhello<end_of_turn>";
    assert_eq!(
        tokenizer.encode(text, true).unwrap(),
        [
            START_OF_TURN,
            id("u"),
            id("s"),
            NEWLINE,
            id("hello"),
            END_OF_TURN
        ]
    );
    // Not parsed: the markers are spelled out ('<' with a byte token, as it is no piece),
    // but the user-defined "\n" is still its own token.
    let plain = tokenizer.encode(text, false).unwrap();
    assert!(!plain.contains(&START_OF_TURN) && !plain.contains(&END_OF_TURN));
    assert!(
        plain.starts_with(&[BYTE_0 + u32::from(b'<'), id("s")]),
        "{plain:?}"
    );
    assert!(plain.contains(&NEWLINE), "{plain:?}");
    assert_eq!(tokenizer.decode(&plain, true), text);
}

#[test]
fn the_space_prefix_goes_at_the_start_and_after_special_tokens() {
    let gemma_like = tokenizer(&without_bos());
    assert_eq!(
        gemma_like.encode("<start_of_turn>hello", true).unwrap(),
        [START_OF_TURN, id("hello")]
    );

    let prefixed = tokenizer(&with_space_prefix());
    assert_eq!(
        prefixed.encode("hello world", true).unwrap(),
        [id("▁hello"), id("▁world")]
    );
    assert_eq!(
        prefixed
            .encode("<start_of_turn>hello\nhello", true)
            .unwrap(),
        [START_OF_TURN, id("▁hello"), NEWLINE, id("▁hello")]
    );
    // Even after an added BOS, the first text gets it (llama.cpp's `is_prev_special`).
    let with_bos = tokenizer(&TokenizerSpec {
        add_bos: true,
        ..with_space_prefix()
    });
    assert_eq!(with_bos.encode("hello", true).unwrap(), [BOS, id("▁hello")]);
    // Decoding keeps that space: the pieces are joined as they are.
    assert_eq!(with_bos.decode(&[BOS, id("▁hello")], true), " hello");
}

#[test]
fn bos_eos_eog_and_llama_cpp_default_ids() {
    let tokenizer = tokenizer(&TokenizerSpec {
        add_eos: true,
        ..spec()
    });
    assert_eq!(
        tokenizer.encode("hello", false).unwrap(),
        [BOS, id("hello"), EOS]
    );
    // "</s>" by eos_token_id, "<end_of_turn>" by its text.
    assert_eq!(tokenizer.eog_ids(), [EOS, END_OF_TURN]);

    // Without the keys, SentencePiece falls back to LLaMA's <s> = 1 and </s> = 2.
    let defaults = self::tokenizer(&TokenizerSpec {
        bos_id: None,
        eos_id: None,
        ..spec()
    });
    assert_eq!(defaults.bos_id(), Some(1));
    assert_eq!(defaults.eos_id(), Some(2));
    assert_eq!(defaults.encode("", false).unwrap(), [1]);
    assert!(TokenizerSpec::default_add_space_prefix("llama"));
    assert!(!TokenizerSpec::default_add_space_prefix("gpt2"));
}

#[test]
fn decode_renders_pieces_like_token_to_piece() {
    let tokenizer = tokenizer(&spec());
    let ids = [
        BOS,
        id("hello"),
        id("▁world"),
        NEWLINE,
        0xE4 + BYTE_0,
        0xB8 + BYTE_0,
        0xAD + BYTE_0,
        UNUSED,
        UNK,
        END_OF_TURN,
    ];
    assert_eq!(
        tokenizer.decode(&ids, false),
        "<s>hello world\n中<unk><end_of_turn>"
    );
    assert_eq!(tokenizer.decode(&ids, true), "hello world\n中");
    assert_eq!(tokenizer.token_bytes(id("▁world")), b" world");
    assert_eq!(tokenizer.token_bytes(BYTE_0 + 0xE4), [0xE4]);
    assert_eq!(tokenizer.token_bytes(START_OF_TURN), b"<start_of_turn>");
    assert!(tokenizer.is_special(NEWLINE) && tokenizer.is_special(START_OF_TURN));
    assert!(!tokenizer.is_special(id("▁")) && !tokenizer.is_special(UNUSED));
    // A `▁` typed in the text is indistinguishable from an escaped space, as in llama.cpp.
    let ids = tokenizer.encode("h▁e", false).unwrap();
    assert_eq!(tokenizer.decode(&ids, true), "h e");
}

#[test]
fn decode_of_encode_round_trips() {
    assert_decode_round_trips(&tokenizer(&without_bos()), "sentencepiece");
}

#[test]
fn incremental_decoding_waits_for_the_last_byte_token_of_a_character() {
    let tokenizer = tokenizer(&without_bos());
    let ids = tokenizer.encode("é😀中", false).unwrap();
    assert_eq!(ids.len(), 2 + 4 + 1);
    let mut decoder = IncrementalDecoder::new(true);
    let deltas: Vec<String> = ids.iter().map(|&id| decoder.push(&tokenizer, id)).collect();
    assert_eq!(deltas, ["", "é", "", "", "", "😀", "中"]);
    // A skipped control token between the bytes of a character changes nothing.
    assert_eq!(decoder.push(&tokenizer, BYTE_0 + 0xC3), "");
    assert_eq!(decoder.push(&tokenizer, END_OF_TURN), "");
    assert_eq!(decoder.push(&tokenizer, BYTE_0 + 0xA9), "é");
    assert_eq!(decoder.finish(), "");

    assert_incremental_round_trip(&tokenizer);
}

#[test]
fn pre_is_ignored_but_bad_scores_and_missing_bytes_are_errors() {
    // llama.cpp uses no pre-tokenizer for SentencePiece, whatever the file says.
    let odd_pre = TokenizerSpec {
        pre: "no-such-pre".into(),
        ..without_bos()
    };
    assert_eq!(
        tokenizer(&odd_pre).encode("hello", false).unwrap(),
        [id("hello")]
    );

    let mut short_scores = spec();
    short_scores.scores.truncate(10);
    assert!(matches!(
        Tokenizer::from_spec(&short_scores),
        Err(TokenizerError::InvalidSpec(_))
    ));

    let mut no_bytes = without_bos();
    no_bytes.tokens[(BYTE_0 + 0xC3) as usize] = "<no byte>".into();
    let tokenizer = self::tokenizer(&no_bytes);
    assert!(matches!(
        tokenizer.encode("é", false),
        Err(TokenizerError::Encode(_))
    ));
    assert_eq!(tokenizer.encode("中", false).unwrap(), [id("中")]);
}
