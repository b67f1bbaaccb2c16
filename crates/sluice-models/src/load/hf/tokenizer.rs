//! A checkpoint's tokenizer files: `tokenizer.json`, the BOS/EOS rules and the chat template
//! of `tokenizer_config.json` (or `chat_template.jinja`, or `chat_template.json`, as recent
//! `transformers` saves it), and the end-of-generation ids of `generation_config.json`.

use super::config::read_json;
use crate::ModelError;
use serde_json::Value;
use sluice_core::SamplingDefaults;
use sluice_tokenizer::{HfTokenizerSpec, Tokenizer};
use std::path::Path;

pub(super) fn tokenizer(dir: &Path, config: &Value) -> Result<Tokenizer, ModelError> {
    let json_path = dir.join("tokenizer.json");
    let json = std::fs::read_to_string(&json_path).map_err(|source| ModelError::Io {
        path: json_path.clone(),
        source,
    })?;
    let tokenizer_config = optional_json(&dir.join("tokenizer_config.json"))?;
    let special_map = optional_json(&dir.join("special_tokens_map.json"))?;
    // A token is a string, or an object with its `content`.
    let token = |key: &str| {
        [&tokenizer_config[key], &special_map[key]]
            .into_iter()
            .find_map(|v| v.as_str().or_else(|| v["content"].as_str()))
            .map(str::to_owned)
    };
    let generation = optional_json(&dir.join("generation_config.json"))?;
    let spec = HfTokenizerSpec {
        json,
        bos_token: token("bos_token"),
        eos_token: token("eos_token"),
        add_bos: tokenizer_config["add_bos_token"].as_bool(),
        add_eos: tokenizer_config["add_eos_token"].as_bool().unwrap_or(false),
        chat_template: chat_template(dir, &tokenizer_config)?,
        eos_ids: [&generation["eos_token_id"], &config["eos_token_id"]]
            .into_iter()
            .flat_map(ids)
            .collect(),
    };
    Tokenizer::from_hf(&spec)
        .map_err(|e| ModelError::Checkpoint(format!("{}: {e}", json_path.display())))
}

/// `generation_config.json`'s sampling defaults.
pub(super) fn generation_defaults(dir: &Path) -> Result<SamplingDefaults, ModelError> {
    let g = optional_json(&dir.join("generation_config.json"))?;
    let float = |key: &str| g[key].as_f64().map(|v| v as f32);
    Ok(SamplingDefaults {
        temperature: float("temperature"),
        top_p: float("top_p"),
        top_k: g["top_k"].as_u64().map(|k| k as usize),
        repetition_penalty: float("repetition_penalty"),
    })
}

/// The chat template: `chat_template.jinja`, else `chat_template.json`, else
/// `tokenizer_config.json`'s (a string, or a list of named templates of which `default`).
fn chat_template(dir: &Path, tokenizer_config: &Value) -> Result<Option<String>, ModelError> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.exists() {
        let text = std::fs::read_to_string(&jinja).map_err(|source| ModelError::Io {
            path: jinja,
            source,
        })?;
        return Ok(Some(text));
    }
    let from_json = optional_json(&dir.join("chat_template.json"))?;
    let template = match &from_json["chat_template"] {
        Value::Null => &tokenizer_config["chat_template"],
        given => given,
    };
    Ok(match template {
        Value::String(text) => Some(text.clone()),
        Value::Array(named) => named
            .iter()
            .find(|t| t["name"] == "default")
            .and_then(|t| t["template"].as_str())
            .map(str::to_owned),
        _ => None,
    })
}

/// A JSON file the folder may lack (`null` then).
fn optional_json(path: &Path) -> Result<Value, ModelError> {
    if path.exists() {
        read_json(path)
    } else {
        Ok(Value::Null)
    }
}

/// An id, or a list of ids.
fn ids(value: &Value) -> Vec<u32> {
    match value {
        Value::Array(list) => list.iter().flat_map(ids).collect(),
        other => other
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .into_iter()
            .collect(),
    }
}
