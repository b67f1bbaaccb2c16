//! Text Generation Inference's native API (`/generate`, `/generate_stream`, `/`, `/info`,
//! `/tokenize`), with TGI's field names and types.

use crate::structured::TgiGrammar;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize)]
pub struct GenerateRequest {
    pub inputs: String,
    #[serde(default)]
    pub parameters: Option<GenerateParameters>,
}

/// The body of `POST /`: a generate request that may ask for a stream.
#[derive(Clone, Debug, Deserialize)]
pub struct CompatGenerateRequest {
    pub inputs: String,
    #[serde(default)]
    pub parameters: Option<GenerateParameters>,
    #[serde(default)]
    pub stream: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct GenerateParameters {
    pub best_of: Option<usize>,
    pub temperature: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub typical_p: Option<f32>,
    pub do_sample: Option<bool>,
    pub max_new_tokens: Option<u32>,
    pub return_full_text: Option<bool>,
    pub stop: Option<Vec<String>>,
    pub truncate: Option<usize>,
    pub details: Option<bool>,
    pub decoder_input_details: Option<bool>,
    pub seed: Option<u64>,
    pub top_n_tokens: Option<u32>,
    pub grammar: Option<TgiGrammar>,
    /// Every field not named above (see `openai::CommonParameters::other`).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u32,
    pub text: String,
    /// `null` when the probability is zero (JSON has no `-inf`).
    pub logprob: Option<f32>,
    pub special: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillToken {
    pub id: u32,
    pub text: String,
    /// `null` for the first prompt token, which nothing predicts.
    pub logprob: Option<f32>,
}

/// What TGI reports about one generated sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceDetails {
    pub finish_reason: String,
    pub generated_tokens: u32,
    pub seed: Option<u64>,
    pub prefill: Vec<PrefillToken>,
    pub tokens: Vec<Token>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_tokens: Vec<Vec<Token>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Details {
    #[serde(flatten)]
    pub sequence: SequenceDetails,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_of_sequences: Option<Vec<BestOfSequence>>,
}

/// One of the other `best_of` candidates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestOfSequence {
    pub generated_text: String,
    #[serde(flatten)]
    pub sequence: SequenceDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    pub generated_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

/// One server-sent event of `/generate_stream`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamResponse {
    pub index: u32,
    pub token: Token,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_tokens: Vec<Token>,
    /// The whole text, on the last event only.
    pub generated_text: Option<String>,
    /// On the last event only.
    pub details: Option<StreamDetails>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamDetails {
    pub finish_reason: String,
    pub generated_tokens: u32,
    pub seed: Option<u64>,
    pub input_length: u32,
}

/// TGI's error body, also sent as the last event of a failed stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    pub error_type: String,
}

/// `POST /tokenize` answers a list of these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimpleToken {
    pub id: u32,
    pub text: String,
    /// Byte offsets of the token's text in the input.
    pub start: usize,
    pub stop: usize,
}

/// `GET /info`: TGI's fields, plus what sluice adds about its cache and quantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub model_id: String,
    pub model_sha: Option<String>,
    pub model_dtype: String,
    pub model_device_type: String,
    pub model_pipeline_tag: Option<String>,
    pub max_concurrent_requests: usize,
    pub max_best_of: usize,
    pub max_stop_sequences: usize,
    pub max_input_tokens: usize,
    pub max_total_tokens: usize,
    pub max_batch_prefill_tokens: usize,
    pub max_batch_total_tokens: usize,
    pub validation_workers: usize,
    pub max_client_batch_size: usize,
    pub router: String,
    pub version: String,
    pub sha: Option<String>,
    pub docker_label: Option<String>,
    pub architecture: String,
    pub quantize: String,
    /// The number type of the KV cache's values (`--kv-cache-dtype`).
    pub kv_cache_dtype: String,
    pub kv_cache_capacity_tokens: usize,
    /// The most tokens speculative decoding proposes per sequence and step (0: off), and
    /// where they come from (`ngram`).
    #[serde(default)]
    pub speculate: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculation_method: Option<String>,
    /// What `parameters.watermark` does here.
    pub watermark: String,
}
