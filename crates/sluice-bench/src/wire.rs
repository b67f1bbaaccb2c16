//! Lenient readers of what servers send back: TGI's and OpenAI's responses and stream events.
//!
//! Only what the metrics need is read (is there a token, how long is the text, the counts the
//! server reports, errors); every field is optional and unknown fields are ignored, so TGI,
//! vLLM, Aphrodite, llama-server and sluice all parse. Text is measured, never copied: parsing
//! an event allocates nothing.

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// What one payload (a stream event or a whole response body) says.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Payload {
    /// Output tokens this payload delivers as seen on the wire: 1 for a TGI token event or an
    /// OpenAI chunk with text, 0 for role-only, usage-only or final-summary chunks.
    pub token_events: u32,
    /// Bytes of generated text in this payload.
    pub text_bytes: usize,
    /// Generated-token count reported by the server (TGI `details`, OpenAI `usage`).
    pub output_tokens: Option<u64>,
    /// Prompt-token count reported by the server (OpenAI `usage`).
    pub prompt_tokens: Option<u64>,
    /// The response is complete (TGI's final event with `generated_text`; non-streamed bodies).
    pub done: bool,
    /// An error the server reported inside a 200 response or stream.
    pub error: Option<String>,
}

/// Reads a TGI `/generate_stream` event or a `/generate` body.
pub fn parse_tgi(payload: &[u8], streamed: bool) -> serde_json::Result<Payload> {
    let ev: TgiBody = serde_json::from_slice(payload)?;
    let has_token = ev.token.is_some();
    Ok(Payload {
        token_events: u32::from(has_token),
        text_bytes: if streamed {
            ev.token.map_or(0, |t| t.text.0)
        } else {
            ev.generated_text.0
        },
        output_tokens: ev.details.and_then(|d| d.generated_tokens),
        prompt_tokens: None,
        done: !streamed || ev.generated_text.1,
        error: ev.error.map(|e| e.0),
    })
}

/// Reads an OpenAI `/v1/completions` or `/v1/chat/completions` chunk or body.
pub fn parse_openai(payload: &[u8], streamed: bool) -> serde_json::Result<Payload> {
    let body: OpenAiBody = serde_json::from_slice(payload)?;
    let usage = body.usage.unwrap_or_default();
    let error = body.error.map(|e| e.0).or_else(|| {
        body.object_is_error
            .then(|| body.message.0.clone().unwrap_or_else(|| "error".into()))
    });
    Ok(Payload {
        token_events: u32::from(body.choices.text_bytes > 0),
        text_bytes: body.choices.text_bytes,
        output_tokens: usage.completion_tokens,
        prompt_tokens: usage.prompt_tokens,
        done: !streamed,
        error,
    })
}

#[derive(Deserialize)]
struct TgiBody {
    token: Option<TgiToken>,
    #[serde(default)]
    generated_text: PresentText,
    details: Option<TgiDetails>,
    error: Option<ErrorText>,
}

#[derive(Deserialize)]
struct TgiToken {
    #[serde(default)]
    text: TextLen,
}

#[derive(Deserialize)]
struct TgiDetails {
    generated_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OpenAiBody {
    #[serde(default)]
    choices: Choices,
    usage: Option<Usage>,
    error: Option<ErrorText>,
    /// vLLM's older flat error shape: `{"object": "error", "message": ...}`.
    #[serde(default, rename = "object", deserialize_with = "is_error_str")]
    object_is_error: bool,
    #[serde(default)]
    message: OptText,
}

#[derive(Deserialize, Default)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// Total text bytes over `choices[]`: `text` (completions), `delta` (chat chunks) or
/// `message` (chat bodies), counting reasoning text as output too.
#[derive(Default)]
struct Choices {
    text_bytes: usize,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    text: TextLen,
    delta: Option<Message>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: TextLen,
    #[serde(default)]
    reasoning_content: TextLen,
    #[serde(default)]
    reasoning: TextLen,
}

impl Message {
    fn text_bytes(&self) -> usize {
        self.content.0 + self.reasoning_content.0 + self.reasoning.0
    }
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Choices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_unit<E>(self) -> Result<Choices, E> {
                Ok(Choices::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
                let mut text_bytes = 0;
                while let Some(c) = seq.next_element::<Choice>()? {
                    text_bytes += c.text.0
                        + c.delta.map_or(0, |m| m.text_bytes())
                        + c.message.map_or(0, |m| m.text_bytes());
                }
                Ok(Choices { text_bytes })
            }
        }
        d.deserialize_any(V)
    }
}

/// Length in bytes of a string field; 0 for null.
#[derive(Default, Clone, Copy)]
struct TextLen(usize);

/// Length of a string field and whether it was a string at all (TGI's final event is the one
/// whose `generated_text` is not null).
#[derive(Default)]
struct PresentText(usize, bool);

/// A string field kept as text (error messages only: rare, so the copy does not matter).
#[derive(Default)]
struct OptText(Option<String>);

/// An error as TGI (`"error": "msg"`) or OpenAI (`"error": {"message": "msg", ...}`) sends it.
struct ErrorText(String);

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(s.len()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de> Deserialize<'de> for TextLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(TextLen(d.deserialize_any(StrVisitor)?.unwrap_or(0)))
    }
}

impl<'de> Deserialize<'de> for PresentText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let len = d.deserialize_any(StrVisitor)?;
        Ok(PresentText(len.unwrap_or(0), len.is_some()))
    }
}

impl<'de> Deserialize<'de> for OptText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(OptText(Option::<String>::deserialize(d)?))
    }
}

fn is_error_str<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E>(self, s: &str) -> Result<bool, E> {
            Ok(s == "error")
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

impl<'de> Deserialize<'de> for ErrorText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ErrorText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an error string or object")
            }
            fn visit_str<E>(self, s: &str) -> Result<ErrorText, E> {
                Ok(ErrorText(s.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorText, A::Error> {
                let mut message = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "message" {
                        message = map.next_value::<Option<String>>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ErrorText(message.unwrap_or_else(|| "error".into())))
            }
        }
        d.deserialize_any(V)
    }
}

/// Turns a deserialisation failure into a one-line reason for the request's error record.
pub fn bad_payload(e: &serde_json::Error, payload: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(payload).chars().take(120).collect();
    format!("unreadable response ({e}): {shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgi_stream_events() {
        let tok = br#"{"index":1,"token":{"id":42,"text":" hi","logprob":-0.1,"special":false},"generated_text":null,"details":null}"#;
        let p = parse_tgi(tok, true).unwrap();
        assert_eq!((p.token_events, p.text_bytes, p.done), (1, 3, false));
        let last = br#"{"token":{"id":2,"text":"","special":true},"generated_text":"a b","details":{"finish_reason":"length","generated_tokens":7,"seed":null}}"#;
        let p = parse_tgi(last, true).unwrap();
        assert_eq!(
            (p.token_events, p.output_tokens, p.done),
            (1, Some(7), true)
        );
        let err = br#"{"error":"Request failed during generation","error_type":"generation"}"#;
        assert_eq!(
            parse_tgi(err, true).unwrap().error.as_deref(),
            Some("Request failed during generation")
        );
    }

    #[test]
    fn tgi_body() {
        let body = br#"{"generated_text":"hello there","details":{"generated_tokens":3}}"#;
        let p = parse_tgi(body, false).unwrap();
        assert_eq!((p.text_bytes, p.output_tokens, p.done), (11, Some(3), true));
    }

    #[test]
    fn openai_chunks() {
        let role = br#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        assert_eq!(parse_openai(role, true).unwrap().token_events, 0);
        let text = br#"{"object":"text_completion","choices":[{"index":0,"text":" caf\u00e9","logprobs":null,"finish_reason":null}]}"#;
        let p = parse_openai(text, true).unwrap();
        assert_eq!((p.token_events, p.text_bytes), (1, 6));
        let usage = br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}"#;
        let p = parse_openai(usage, true).unwrap();
        assert_eq!(
            (p.prompt_tokens, p.output_tokens, p.token_events),
            (Some(5), Some(9), 0)
        );
        let chat = br#"{"choices":[{"delta":{"content":"ok"}}],"usage":null}"#;
        assert_eq!(parse_openai(chat, true).unwrap().token_events, 1);
    }

    #[test]
    fn openai_errors_in_both_shapes() {
        let nested = br#"{"error":{"message":"boom","type":"server_error","code":500}}"#;
        assert_eq!(
            parse_openai(nested, true).unwrap().error.as_deref(),
            Some("boom")
        );
        let flat = br#"{"object":"error","message":"too long","type":"BadRequestError"}"#;
        assert_eq!(
            parse_openai(flat, true).unwrap().error.as_deref(),
            Some("too long")
        );
    }

    #[test]
    fn openai_body() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"four"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let p = parse_openai(body, false).unwrap();
        assert_eq!((p.text_bytes, p.output_tokens, p.done), (4, Some(2), true));
    }
}
