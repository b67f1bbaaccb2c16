//! Request fields the peers define that sluice does not implement. A request that sets one
//! to anything but its neutral value gets 422 naming it, rather than an answer that quietly
//! ignores it; fields nobody defines are ignored, as TGI and vLLM ignore them.

use crate::error::ApiError;
use serde_json::{Map, Value};

/// `(field, its neutral value as JSON)`; `null` is always neutral.
pub type Table = &'static [(&'static str, &'static str)];

/// TGI's `parameters`.
pub const TGI: Table = &[("watermark", "false"), ("adapter_id", "null")];

/// OpenAI's completions and chat fields, and vLLM's extensions of them.
pub const OPENAI: Table = &[
    // OpenAI, completions.
    ("best_of", "1"),
    ("suffix", "\"\""),
    // OpenAI, chat.
    ("audio", "null"),
    ("functions", "null"),
    ("function_call", "null"),
    ("modalities", "[\"text\"]"),
    ("prediction", "null"),
    ("web_search_options", "null"),
    ("store", "false"),
    ("reasoning_effort", "null"),
    // vLLM's sampling and chat extensions.
    ("use_beam_search", "false"),
    ("length_penalty", "1"),
    ("min_tokens", "0"),
    ("min_p", "0"),
    ("stop_token_ids", "[]"),
    ("include_stop_str_in_output", "false"),
    ("skip_special_tokens", "true"),
    ("spaces_between_special_tokens", "true"),
    ("allowed_token_ids", "null"),
    ("bad_words", "[]"),
    ("prompt_logprobs", "null"),
    ("truncate_prompt_tokens", "null"),
    ("priority", "0"),
    ("logits_processors", "null"),
    ("return_tokens_as_token_ids", "false"),
    ("guided_whitespace_pattern", "null"),
    ("chat_template", "null"),
    ("chat_template_kwargs", "{}"),
    ("continue_final_message", "false"),
    ("add_generation_prompt", "true"),
    ("documents", "null"),
];

/// 422 for the first field of `table` that `fields` sets to a value other than its neutral one.
pub fn refuse(fields: &Map<String, Value>, table: Table) -> Result<(), ApiError> {
    for &(name, neutral) in table {
        let Some(value) = fields.get(name) else {
            continue;
        };
        let neutral: Value = serde_json::from_str(neutral).unwrap_or(Value::Null);
        if !is_neutral(value, &neutral) {
            let default = match neutral {
                Value::Null => String::new(),
                v => format!(", or at its default {v}"),
            };
            return Err(ApiError::validation(format!(
                "`{name}` is not implemented by sluice; leave it out{default}"
            )));
        }
    }
    Ok(())
}

fn is_neutral(value: &Value, neutral: &Value) -> bool {
    match (value, neutral) {
        (Value::Null, _) => true,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}
