//! End-to-end tests through the public API, on a tiny hand-built byte-level vocabulary.

use crate::pieces::byte_to_char;
use crate::{ChatMessage, IncrementalDecoder, Tokenizer, TokenizerError, TokenizerSpec};

const ENDOFTEXT: u32 = 256;
const IM_START: u32 = 257;
const IM_END: u32 = 258;
const TOOL: u32 = 259;
const UNUSED: u32 = 260;

/// Merges of the tiny vocabulary, in priority order; each result is a token after the specials.
const MERGES: &[&str] = &[
    "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "1 2", "Ġ Ġ", "ä ¸",
    "ä¸ Ń",
];

const CHAT_TEMPLATE: &str = "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// All 256 byte symbols (id = byte), five special tokens, then one token per merge, plus
/// "Ġxyz", a vocabulary entry no merge produces.
fn spec(pre: &str) -> TokenizerSpec {
    let mut tokens: Vec<String> = (0..=u8::MAX).map(|b| byte_to_char(b).to_string()).collect();
    let mut token_types = vec![1; 256];
    for (text, token_type) in [
        ("<|endoftext|>", 3),
        ("<|im_start|>", 3),
        ("<|im_end|>", 3),
        ("<tool>", 4),
        ("<unused0>", 5),
    ] {
        tokens.push(text.into());
        token_types.push(token_type);
    }
    for merge in MERGES {
        tokens.push(merge.replace(' ', ""));
        token_types.push(1);
    }
    tokens.push("Ġxyz".into());
    token_types.push(1);
    TokenizerSpec {
        model: "gpt2".into(),
        pre: pre.into(),
        tokens,
        token_types,
        merges: MERGES.iter().map(|m| m.to_string()).collect(),
        bos_id: Some(IM_START),
        eos_id: Some(IM_END),
        unk_id: Some(ENDOFTEXT),
        pad_id: Some(IM_END),
        add_bos: false,
        add_eos: false,
        chat_template: Some(CHAT_TEMPLATE.into()),
        ..TokenizerSpec::default()
    }
}

fn tokenizer(pre: &str) -> Tokenizer {
    Tokenizer::from_spec(&spec(pre)).unwrap()
}

/// The id of a byte-level vocabulary entry written in plain text (" world" for "Ġworld").
fn id(text: &str) -> u32 {
    let symbols: String = text.bytes().map(byte_to_char).collect();
    let position = spec("smollm").tokens.iter().position(|t| *t == symbols);
    position.and_then(|p| u32::try_from(p).ok()).unwrap()
}

fn bytes(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

/// Texts every vocabulary must decode back to exactly (the SentencePiece tests use them too).
pub(crate) const ROUND_TRIP: &[&str] = &[
    "",
    "hello world",
    "Hello, World! hello  world   hello",
    "  leading and trailing  ",
    "tabs\tand\t\ttabs \t mixed",
    "new\nlines\n\n\nand\r\nwindows\r\n",
    "   ",
    "\n",
    "héllo wörld, ça va? Ñandú",
    "日本語のテキストと中文 中",
    "emoji 😀🎉👍🏽 and family 👨‍👩‍👧 flags 🇫🇷",
    "math ∑∫√∞ ≠ ≤",
    "numbers 1234567890 12 3.14 -7",
    "it's we're they'll I'd you've she'S",
    "<|im_start|>user\nhi<|im_end|>\n<tool>call</tool><unused0>",
    "\u{0}\u{1}\u{7f}\u{80}\u{a0}nbsp\u{2028}\u{3000}",
    "ĠĊ stand-in characters typed literally",
    "<|im_start|<|im_end|>|>",
];

#[test]
fn decode_of_encode_round_trips() {
    for pre in ["smollm", "gpt-2", "llama3", "qwen2", "default"] {
        assert_decode_round_trips(&tokenizer(pre), pre);
    }
}

/// Every [`ROUND_TRIP`] text, encoded with and without special tokens parsed, decodes back to
/// itself (`label` names the tokenizer in failures).
pub(crate) fn assert_decode_round_trips(tokenizer: &Tokenizer, label: &str) {
    for text in ROUND_TRIP {
        for parse_special in [false, true] {
            let ids = tokenizer.encode(text, parse_special).unwrap();
            assert_eq!(
                tokenizer.decode(&ids, false),
                *text,
                "{label}, parse_special {parse_special}, ids {ids:?}"
            );
        }
    }
}

#[test]
fn merges_apply_within_pre_tokenizer_pieces() {
    let smollm = tokenizer("smollm");
    assert_eq!(
        smollm.encode("hello world", false).unwrap(),
        [id("hello"), id(" world")]
    );
    // smollm cuts every digit apart before merging, so "1 2" never applies; gpt-2 does not.
    assert_eq!(smollm.encode("12", false).unwrap(), bytes("12"));
    assert_eq!(tokenizer("gpt-2").encode("12", false).unwrap(), [id("12")]);
    // "a  world": the first space is a piece of its own, so "Ġ Ġ" cannot merge across.
    assert_eq!(
        smollm.encode("a  world", false).unwrap(),
        [id("a"), id(" "), id(" world")]
    );
    assert_eq!(smollm.encode("   ", false).unwrap(), [id("  "), id(" ")]);
    assert_eq!(smollm.encode("中", false).unwrap(), [id("中")]);
    assert!(smollm.encode("", true).unwrap().is_empty());
}

#[test]
fn a_character_missing_from_the_vocabulary_is_dropped_after_merging() {
    // Without a symbol for 'x', "hxe" keeps 'x' between 'h' and 'e' while merging (so "h e"
    // cannot apply), then drops it, as llama.cpp does.
    let mut no_x = spec("smollm");
    no_x.tokens[usize::from(b'x')] = "<no x>".into();
    let tokenizer = Tokenizer::from_spec(&no_x).unwrap();
    assert_eq!(tokenizer.encode("hxe", false).unwrap(), bytes("he"));
    assert_eq!(
        tokenizer.encode("hxxe he", false).unwrap(),
        [104, 101, id(" "), id("he")]
    );
}

#[test]
fn llama3_takes_whole_vocabulary_words_without_merging() {
    // " xyz" is a vocabulary entry that no merge builds: llama.cpp's ignore_merges (llama3
    // family) finds it whole, everyone else spells it out.
    assert_eq!(
        tokenizer("llama3").encode(" xyz", false).unwrap(),
        [id(" xyz")]
    );
    assert_eq!(
        tokenizer("smollm").encode(" xyz", false).unwrap(),
        bytes(" xyz")
    );
}

#[test]
fn special_tokens_are_parsed_only_on_request() {
    let tokenizer = tokenizer("smollm");
    let text = "<|im_start|>user\nhello<|im_end|>";
    let parsed = tokenizer.encode(text, true).unwrap();
    let mut expected = vec![IM_START];
    expected.extend(bytes("user\n"));
    expected.extend([id("hello"), IM_END]);
    assert_eq!(parsed, expected);

    let plain = tokenizer.encode(text, false).unwrap();
    assert!(
        !plain.contains(&IM_START) && !plain.contains(&IM_END),
        "{plain:?}"
    );
    assert_eq!(tokenizer.decode(&plain, true), text);

    // User-defined tokens are split out either way, as llama.cpp does.
    for parse_special in [false, true] {
        let ids = tokenizer.encode("a<tool>b", parse_special).unwrap();
        assert_eq!(ids, [id("a"), TOOL, id("b")]);
    }
}

#[test]
fn bos_and_eos_follow_the_spec() {
    let mut with_bos = spec("smollm");
    with_bos.add_bos = true;
    let tokenizer = Tokenizer::from_spec(&with_bos).unwrap();
    assert_eq!(tokenizer.bos_id(), Some(IM_START));
    assert_eq!(
        tokenizer.encode("hello", false).unwrap(),
        [IM_START, id("hello")]
    );
    assert_eq!(tokenizer.encode("", false).unwrap(), [IM_START]);

    let without = self::tokenizer("smollm");
    assert_eq!(without.encode("hello", true).unwrap(), [id("hello")]);

    let mut with_eos = spec("smollm");
    with_eos.add_eos = true;
    let tokenizer = Tokenizer::from_spec(&with_eos).unwrap();
    assert_eq!(
        tokenizer.encode("hello", false).unwrap(),
        [id("hello"), IM_END]
    );

    let mut no_bos = spec("smollm");
    no_bos.add_bos = true;
    no_bos.bos_id = Some(100_000);
    assert!(matches!(
        Tokenizer::from_spec(&no_bos),
        Err(TokenizerError::InvalidSpec(_))
    ));
}

#[test]
fn eog_ids_are_eos_plus_end_of_turn_texts() {
    assert_eq!(tokenizer("smollm").eog_ids(), [ENDOFTEXT, IM_END]);
    let mut other_eos = spec("smollm");
    other_eos.eos_id = Some(id("hello"));
    let tokenizer = Tokenizer::from_spec(&other_eos).unwrap();
    assert_eq!(tokenizer.eog_ids(), [ENDOFTEXT, IM_END, id("hello")]);
}

#[test]
fn decode_skips_control_tokens_on_request() {
    let tokenizer = tokenizer("smollm");
    let ids = [IM_START, id("hello"), TOOL, UNUSED, IM_END, ENDOFTEXT];
    assert_eq!(
        tokenizer.decode(&ids, false),
        "<|im_start|>hello<tool><|im_end|><|endoftext|>"
    );
    assert_eq!(tokenizer.decode(&ids, true), "hello<tool>");
    assert_eq!(tokenizer.decode(&[u32::MAX, id("hello")], false), "hello");
    // A character cut short at the end is the only lossy case.
    assert_eq!(tokenizer.decode(&[0xC3], false), "\u{FFFD}");
}

#[test]
fn special_kinds_and_token_bytes() {
    let tokenizer = tokenizer("smollm");
    for special in [ENDOFTEXT, IM_START, IM_END, TOOL] {
        assert!(tokenizer.is_special(special), "{special}");
    }
    for plain in [UNUSED, 0, id("hello"), u32::MAX] {
        assert!(!tokenizer.is_special(plain), "{plain}");
    }
    assert_eq!(tokenizer.token_bytes(id(" world")), b" world");
    assert_eq!(tokenizer.token_bytes(0xC3), [0xC3]);
    assert_eq!(tokenizer.token_bytes(IM_END), b"<|im_end|>");
    assert_eq!(tokenizer.token_bytes(UNUSED), b"");
    assert_eq!(tokenizer.vocab_size(), 256 + 5 + MERGES.len() + 1);
}

#[test]
fn unsupported_and_invalid_specs_are_errors() {
    let mut wordpiece = spec("smollm");
    wordpiece.model = "bert".into();
    match Tokenizer::from_spec(&wordpiece) {
        Err(TokenizerError::Unsupported(msg)) => assert!(msg.contains("'bert'"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Tokenizer::from_spec(&spec("deepseek-coder")),
        Err(TokenizerError::Unsupported(_))
    ));

    let mut invalid: Vec<TokenizerSpec> = Vec::new();
    let mut unknown_merge = spec("smollm");
    unknown_merge.merges.push("x yz".into());
    invalid.push(unknown_merge);
    let mut malformed_merge = spec("smollm");
    malformed_merge.merges.push("xyz".into());
    invalid.push(malformed_merge);
    let mut short_types = spec("smollm");
    short_types.token_types.truncate(10);
    invalid.push(short_types);
    for spec in invalid {
        assert!(
            matches!(
                Tokenizer::from_spec(&spec),
                Err(TokenizerError::InvalidSpec(_))
            ),
            "{:?}",
            spec.merges.last()
        );
    }

    let mut bad_template = spec("smollm");
    bad_template.chat_template = Some("{% for %}".into());
    assert!(matches!(
        Tokenizer::from_spec(&bad_template),
        Err(TokenizerError::Template(_))
    ));
}

#[test]
fn default_add_bos_matches_llama_cpp() {
    assert!(!TokenizerSpec::default_add_bos("gpt2", "smollm"));
    assert!(!TokenizerSpec::default_add_bos("gpt2", "qwen2"));
    assert!(TokenizerSpec::default_add_bos("gpt2", "llama-bpe"));
    assert!(TokenizerSpec::default_add_bos("llama", "default"));
}

#[test]
fn incremental_deltas_never_split_characters() {
    assert_incremental_round_trip(&tokenizer("smollm"));
}

/// Every [`ROUND_TRIP`] text, encoded and decoded token by token: no delta holds a broken
/// character, and the deltas join to the text.
pub(crate) fn assert_incremental_round_trip(tokenizer: &Tokenizer) {
    for text in ROUND_TRIP {
        let ids = tokenizer.encode(text, true).unwrap();
        let mut decoder = IncrementalDecoder::new(false);
        let mut joined = String::new();
        for &id in &ids {
            let delta = decoder.push(tokenizer, id);
            assert!(!delta.contains('\u{FFFD}'), "{text:?}: {delta:?}");
            joined.push_str(&delta);
        }
        assert_eq!(decoder.finish(), "");
        assert_eq!(joined, *text);
    }
}

#[test]
fn a_character_spanning_tokens_waits_for_its_last_byte() {
    let tokenizer = tokenizer("smollm");
    // "é" has no merge: two byte tokens. "😀" is four.
    assert_eq!(tokenizer.encode("é", false).unwrap(), [0xC3, 0xA9]);
    let mut decoder = IncrementalDecoder::new(true);
    assert_eq!(decoder.push(&tokenizer, 0xC3), "");
    assert_eq!(decoder.push(&tokenizer, 0xA9), "é");
    let deltas: Vec<String> = tokenizer
        .encode("a😀", false)
        .unwrap()
        .into_iter()
        .map(|id| decoder.push(&tokenizer, id))
        .collect();
    assert_eq!(deltas, ["a", "", "", "", "😀"]);
    // Skipped control tokens contribute nothing, even between the bytes of a character.
    assert_eq!(decoder.push(&tokenizer, 0xC3), "");
    assert_eq!(decoder.push(&tokenizer, IM_END), "");
    assert_eq!(decoder.push(&tokenizer, 0xA9), "é");
}

#[test]
fn incremental_matches_decode_on_arbitrary_byte_streams() {
    let tokenizer = tokenizer("smollm");
    // Deterministic xorshift: sequences of raw byte tokens, many not valid UTF-8.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let len = next() % 12;
        let ids: Vec<u32> = (0..len)
            .map(|_| match next() % 4 {
                0 => 0x80 + (next() % 0x40) as u32,
                1 => 0xC0 + (next() % 0x38) as u32,
                2 => (next() % 0x80) as u32,
                _ => (next() % 270) as u32,
            })
            .collect();
        for skip_special in [false, true] {
            let mut decoder = IncrementalDecoder::new(skip_special);
            let mut joined: String = ids.iter().map(|&id| decoder.push(&tokenizer, id)).collect();
            joined.push_str(&decoder.finish());
            assert_eq!(joined, tokenizer.decode(&ids, skip_special), "{ids:x?}");
        }
    }
}

#[test]
fn chat_template_comes_with_the_spec_tokens() {
    let tokenizer = tokenizer("smollm");
    let template = tokenizer.chat_template().unwrap();
    let messages = [ChatMessage {
        role: "user".into(),
        content: "hello".into(),
    }];
    let prompt = template.render(&messages, None, true).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|><|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tokenizer.encode(&prompt, true).unwrap();
    assert_eq!(ids.iter().filter(|&&id| id == IM_START).count(), 3);

    let mut no_template = spec("smollm");
    no_template.chat_template = None;
    let tokenizer = Tokenizer::from_spec(&no_template).unwrap();
    assert!(tokenizer.chat_template().is_none());
    assert_eq!(
        tokenizer.apply_chat_template(&messages, None, true),
        Err(TokenizerError::NoChatTemplate)
    );
}

#[test]
fn applied_chat_template_leaves_bos_to_encode() {
    let messages = [ChatMessage {
        role: "user".into(),
        content: "hello".into(),
    }];
    // Without add_bos the template's own BOS text stays.
    let prompt = tokenizer("smollm")
        .apply_chat_template(&messages, None, false)
        .unwrap();
    assert_eq!(prompt, "<|im_start|><|im_start|>user\nhello<|im_end|>\n");

    let mut with_bos = spec("smollm");
    with_bos.add_bos = true;
    with_bos.bos_id = Some(ENDOFTEXT);
    let tokenizer = Tokenizer::from_spec(&with_bos).unwrap();
    assert_eq!(
        tokenizer.chat_template().unwrap().bos_token(),
        "<|endoftext|>"
    );
    let prompt = tokenizer
        .apply_chat_template(&messages, None, false)
        .unwrap();
    assert_eq!(prompt, "<|im_start|>user\nhello<|im_end|>\n");
    let ids = tokenizer.encode(&prompt, true).unwrap();
    assert_eq!(ids[..2], [ENDOFTEXT, IM_START]);
    assert_eq!(ids.iter().filter(|&&id| id == ENDOFTEXT).count(), 1);
}

#[test]
fn tokenizer_is_shareable_across_threads() {
    fn assert_shareable<T: Clone + Send + Sync>() {}
    assert_shareable::<Tokenizer>();
    let tokenizer = tokenizer("smollm");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let tokenizer = tokenizer.clone();
            std::thread::spawn(move || tokenizer.encode("hello world", false).unwrap())
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), [id("hello"), id(" world")]);
    }
}
