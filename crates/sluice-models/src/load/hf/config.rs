//! `config.json`: the architecture, and the settings in llama.cpp's vocabulary that the
//! architecture files read (`attention.head_count` is `num_attention_heads`, ...).

use crate::load::Setting;
use crate::ModelError;
use serde_json::Value;
use std::path::Path;

/// The Hugging Face architectures sluice runs, by what they are to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HfArch {
    /// `LlamaForCausalLM` (Llama 2 and 3, Vicuna, SmolLM2) and `MistralForCausalLM`.
    Llama,
    Qwen2,
    Gemma3,
}

/// `architectures` entries sluice runs, and what each is to it.
const ARCHITECTURES: [(&str, HfArch); 4] = [
    ("LlamaForCausalLM", HfArch::Llama),
    ("MistralForCausalLM", HfArch::Llama),
    ("Qwen2ForCausalLM", HfArch::Qwen2),
    ("Gemma3ForCausalLM", HfArch::Gemma3),
];

impl HfArch {
    /// The architecture's name in [`crate::arch`].
    pub(super) fn name(self) -> &'static str {
        match self {
            HfArch::Llama => "llama",
            HfArch::Qwen2 => "qwen2",
            HfArch::Gemma3 => "gemma3",
        }
    }
}

/// A parsed `config.json`.
pub(super) struct HfConfig {
    pub json: Value,
    pub arch: HfArch,
}

impl HfConfig {
    pub(super) fn read(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("config.json");
        if !path.exists() {
            return Err(ModelError::Checkpoint(format!(
                "{} has no config.json: a Hugging Face model folder has one, beside its \
                 safetensors weights",
                dir.display()
            )));
        }
        let json = read_json(&path)?;
        let named = json["architectures"][0].as_str().ok_or_else(|| {
            ModelError::Checkpoint(format!("{} names no `architectures`", path.display()))
        })?;
        let arch = ARCHITECTURES
            .iter()
            .find(|(name, _)| *name == named)
            .map(|&(_, arch)| arch)
            .ok_or_else(|| {
                let supported: Vec<&str> = ARCHITECTURES.iter().map(|(n, _)| *n).collect();
                ModelError::UnsupportedArchitecture(format!(
                    "{named} (config.json; Hugging Face folders: {})",
                    supported.join(", ")
                ))
            })?;
        Ok(HfConfig { json, arch })
    }

    /// A setting by its key in llama.cpp's vocabulary, from the config's own keys.
    pub(super) fn setting(&self, key: &str) -> Result<Option<Setting>, ModelError> {
        let j = &self.json;
        let value = match key {
            "embedding_length" => &j["hidden_size"],
            "block_count" => &j["num_hidden_layers"],
            "attention.head_count" => &j["num_attention_heads"],
            "attention.head_count_kv" => &j["num_key_value_heads"],
            "attention.key_length" => &j["head_dim"],
            "feed_forward_length" => &j["intermediate_size"],
            "attention.layer_norm_rms_epsilon" => &j["rms_norm_eps"],
            "rope.freq_base" => &j["rope_theta"],
            "rope.freq_base_swa" => &j["rope_local_base_freq"],
            "context_length" => &j["max_position_embeddings"],
            "vocab_size" => &j["vocab_size"],
            "final_logit_softcapping" => &j["final_logit_softcapping"],
            "rope.scaling.type" => match &j["rope_scaling"]["rope_type"] {
                Value::Null => &j["rope_scaling"]["type"],
                given => given,
            },
            "rope.scaling.factor" => &j["rope_scaling"]["factor"],
            // Qwen2 writes a window it does not use unless `use_sliding_window` is set.
            "attention.sliding_window" if j["use_sliding_window"] == Value::Bool(false) => {
                &Value::Null
            }
            "attention.sliding_window" => &j["sliding_window"],
            "attention.sliding_window_pattern" => return self.sliding_window_pattern(),
            _ => &Value::Null,
        };
        setting(key, value)
    }

    /// Gemma 3's pattern of sliding-window and global layers: `sliding_window_pattern`, or
    /// the period of `layer_types` (recent `transformers`), which must then repeat it.
    fn sliding_window_pattern(&self) -> Result<Option<Setting>, ModelError> {
        let j = &self.json;
        if !j["sliding_window_pattern"].is_null() {
            return setting(
                "attention.sliding_window_pattern",
                &j["sliding_window_pattern"],
            );
        }
        let Some(types) = j["layer_types"].as_array() else {
            return Ok(None);
        };
        let global = |t: &Value| t == "full_attention";
        let Some(first_global) = types.iter().position(global) else {
            // Every layer slides: llama.cpp's pattern 0.
            return Ok(Some(Setting::Int(0)));
        };
        let pattern = first_global + 1;
        let repeats = types
            .iter()
            .enumerate()
            .all(|(i, t)| global(t) == (i % pattern == pattern - 1));
        if !repeats {
            return Err(ModelError::Metadata(
                "config.json's layer_types do not repeat one pattern of sliding-window and \
                 global layers"
                    .into(),
            ));
        }
        Ok(Some(Setting::Int(pattern as i64)))
    }
}

impl HfConfig {
    /// Llama 3.1's rotary frequency factors, as llama.cpp's converter computes them into its
    /// `rope_freqs` tensor from `rope_scaling` (`rope_type` llama3), in f32 as it does; `None`
    /// for other models.
    pub(super) fn llama3_rope_factors(&self) -> Option<Vec<f32>> {
        let j = &self.json;
        let scaling = &j["rope_scaling"];
        let kind = scaling["rope_type"].as_str().or(scaling["type"].as_str())?;
        if !kind.eq_ignore_ascii_case("llama3") {
            return None;
        }
        let number = |v: &Value, default: f64| v.as_f64().unwrap_or(default) as f32;
        let base = number(&j["rope_theta"], 10_000.0);
        let dim = match j["head_dim"].as_u64() {
            Some(d) => d as usize,
            None => {
                let heads = j["num_attention_heads"].as_u64().unwrap_or(1).max(1);
                (j["hidden_size"].as_u64().unwrap_or(0) / heads) as usize
            }
        };
        let factor = number(&scaling["factor"], 8.0);
        let low = number(&scaling["low_freq_factor"], 1.0);
        let high = number(&scaling["high_freq_factor"], 4.0);
        let old_context = number(&scaling["original_max_position_embeddings"], 8192.0);
        let (low_wavelen, high_wavelen) = (old_context / low, old_context / high);
        let factors = (0..dim / 2)
            .map(|i| {
                let freq = 1.0 / base.powf((2 * i) as f32 / dim as f32);
                let wavelen = 2.0 * std::f32::consts::PI / freq;
                if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    factor
                } else {
                    let smooth = (old_context / wavelen - low) / (high - low);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                }
            })
            .collect();
        Some(factors)
    }
}

/// A JSON value as a setting: `null` or absent is no setting.
fn setting(key: &str, value: &Value) -> Result<Option<Setting>, ModelError> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Bool(b) => Setting::Bool(*b),
        Value::String(s) => Setting::Text(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Setting::Int(i),
            None => Setting::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        _ => {
            return Err(ModelError::Metadata(format!(
                "config.json: the value for `{key}` is not a single value"
            )))
        }
    }))
}

pub(super) fn read_json(path: &Path) -> Result<Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ModelError::Checkpoint(format!("{} is not valid JSON: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Llama 3.1 8B's settings: 64 pairs of 128, base 500,000, factor 8 over 8,192 positions.
    /// Pairs whose wavelength is under 8192 / 4 keep their frequency, those over 8192 / 1
    /// are slowed 8 times, the ones between smoothly.
    #[test]
    fn llama3_factors_follow_llama_cpps_converter() {
        let config = HfConfig {
            json: serde_json::json!({
                "rope_theta": 500000.0,
                "head_dim": 128,
                "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            }),
            arch: HfArch::Llama,
        };
        let factors = config.llama3_rope_factors().unwrap();
        assert_eq!(factors.len(), 64);
        assert_eq!(factors.iter().filter(|&&f| f == 1.0).count(), 29);
        assert_eq!(*factors.last().unwrap(), 8.0);
        assert!(factors.windows(2).all(|w| w[0] <= w[1]));
        let plain = HfConfig {
            json: serde_json::json!({"rope_scaling": null}),
            arch: HfArch::Llama,
        };
        assert_eq!(plain.llama3_rope_factors(), None);
    }
}
