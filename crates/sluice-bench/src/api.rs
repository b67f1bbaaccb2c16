//! The protocols the bench speaks: which route to call and what body to send.

use crate::wire::{self, Payload};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Which API of the server is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ApiKind {
    /// TGI's `/generate` and `/generate_stream` (sluice, TGI).
    Tgi,
    /// OpenAI `/v1/completions` (sluice, vLLM, Aphrodite, llama-server, TGI).
    Openai,
    /// OpenAI `/v1/chat/completions`: the server applies the model's chat template.
    OpenaiChat,
}

/// What one request asks for, independent of the protocol.
pub struct RequestSpec<'a> {
    pub prompt: &'a str,
    pub max_new_tokens: u32,
    pub stream: bool,
    pub ignore_eos: bool,
    /// OpenAI's `model` field; omitted when unknown (most servers then use their only model).
    pub model: Option<&'a str>,
    /// Fields merged into the body (TGI: into `parameters`), `--extra-body`.
    pub extra: Option<&'a serde_json::Map<String, Value>>,
}

impl ApiKind {
    pub fn name(self) -> &'static str {
        match self {
            ApiKind::Tgi => "tgi",
            ApiKind::Openai => "openai",
            ApiKind::OpenaiChat => "openai-chat",
        }
    }

    pub fn path(self, stream: bool) -> &'static str {
        match (self, stream) {
            (ApiKind::Tgi, true) => "/generate_stream",
            (ApiKind::Tgi, false) => "/generate",
            (ApiKind::Openai, _) => "/v1/completions",
            (ApiKind::OpenaiChat, _) => "/v1/chat/completions",
        }
    }

    /// Where the server describes itself: TGI's `/info`, or the OpenAI model list.
    pub fn info_path(self) -> &'static str {
        match self {
            ApiKind::Tgi => "/info",
            ApiKind::Openai | ApiKind::OpenaiChat => "/v1/models",
        }
    }

    /// TGI has no way to ignore end-of-sequence tokens; vLLM, Aphrodite, llama-server and
    /// sluice accept `ignore_eos` as an extra field of the OpenAI requests.
    pub fn supports_ignore_eos(self) -> bool {
        self != ApiKind::Tgi
    }

    /// The JSON body of one request. Decoding is greedy so that every engine produces the same
    /// kind of output and runs are repeatable.
    pub fn body(self, r: &RequestSpec) -> Value {
        let mut body = self.base_body(r);
        let target = match self {
            ApiKind::Tgi => &mut body["parameters"],
            ApiKind::Openai | ApiKind::OpenaiChat => &mut body,
        };
        if let (Some(target), Some(extra)) = (target.as_object_mut(), r.extra) {
            target.extend(extra.clone());
        }
        body
    }

    fn base_body(self, r: &RequestSpec) -> Value {
        match self {
            ApiKind::Tgi => json!({
                "inputs": r.prompt,
                "parameters": {"max_new_tokens": r.max_new_tokens, "do_sample": false, "details": true},
            }),
            ApiKind::Openai | ApiKind::OpenaiChat => {
                let mut body = json!({
                    "max_tokens": r.max_new_tokens,
                    "temperature": 0.0,
                    "stream": r.stream,
                });
                if self == ApiKind::Openai {
                    body["prompt"] = json!(r.prompt);
                } else {
                    body["messages"] = json!([{"role": "user", "content": r.prompt}]);
                }
                if r.stream {
                    body["stream_options"] = json!({"include_usage": true});
                }
                if let Some(model) = r.model {
                    body["model"] = json!(model);
                }
                if r.ignore_eos {
                    body["ignore_eos"] = json!(true);
                }
                body
            }
        }
    }

    pub fn parse(self, payload: &[u8], streamed: bool) -> serde_json::Result<Payload> {
        match self {
            ApiKind::Tgi => wire::parse_tgi(payload, streamed),
            ApiKind::Openai | ApiKind::OpenaiChat => wire::parse_openai(payload, streamed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(stream: bool) -> RequestSpec<'static> {
        RequestSpec {
            prompt: "hi",
            max_new_tokens: 5,
            stream,
            ignore_eos: true,
            model: Some("m"),
            extra: None,
        }
    }

    #[test]
    fn bodies_per_api() {
        let tgi = ApiKind::Tgi.body(&spec(true));
        assert_eq!(tgi["inputs"], "hi");
        assert_eq!(tgi["parameters"]["max_new_tokens"], 5);
        assert!(tgi.get("ignore_eos").is_none());
        let chat = ApiKind::OpenaiChat.body(&spec(true));
        assert_eq!(chat["messages"][0]["content"], "hi");
        assert_eq!(chat["stream_options"]["include_usage"], true);
        assert_eq!(chat["ignore_eos"], true);
        let plain = ApiKind::Openai.body(&spec(false));
        assert_eq!(plain["prompt"], "hi");
        assert!(plain.get("stream_options").is_none());
        assert_eq!(plain["model"], "m");
    }

    #[test]
    fn extra_fields_join_the_body_where_each_api_takes_them() {
        let extra: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"grammar": {"type": "regex", "value": "a+"}})).unwrap();
        let with_extra = RequestSpec {
            extra: Some(&extra),
            ..spec(false)
        };
        let tgi = ApiKind::Tgi.body(&with_extra);
        assert_eq!(tgi["parameters"]["grammar"]["value"], "a+");
        assert_eq!(tgi["parameters"]["max_new_tokens"], 5);
        let chat = ApiKind::OpenaiChat.body(&with_extra);
        assert_eq!(chat["grammar"]["type"], "regex");
    }
}
