//! A Hugging Face model folder: `config.json`, safetensors weights (one file or shards), the
//! tokenizer files and `generation_config.json`. It answers [`WeightSource`] in llama.cpp's
//! vocabulary, rewriting what GGUF stores differently, so an architecture file reads the same
//! values from either format; the floats it does not rewrite stay memory-mapped.

mod config;
mod names;
mod shards;
mod tokenizer;

use super::{Mapped, Setting, TensorView, WeightSource};
use crate::layers::widen_floats;
use crate::weights::ROPE_FREQS;
use crate::ModelError;
use candle_core::quantized::GgmlDType;
use config::HfConfig;
use names::{checkpoint_name, interleave_rows, Rewrite};
use serde_json::Value;
use shards::Shards;
use sluice_core::SamplingDefaults;
use sluice_tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

pub struct HfFolder {
    dir: PathBuf,
    config: HfConfig,
    shards: Shards,
}

impl HfFolder {
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let config = HfConfig::read(dir)?;
        let shards = Shards::open(dir)?;
        Ok(HfFolder {
            dir: dir.to_path_buf(),
            config,
            shards,
        })
    }

    /// Query and K/V heads, for the rows of q and k.
    fn heads(&self) -> (usize, usize) {
        let count = |key: &str| self.config.json[key].as_u64().unwrap_or(0) as usize;
        let q = count("num_attention_heads");
        let kv = match count("num_key_value_heads") {
            0 => q,
            kv => kv,
        };
        (q, kv)
    }

    /// Whether the output projection is the embedding (`tie_word_embeddings`, `transformers`'
    /// default true for Gemma and false otherwise).
    fn tied(&self) -> bool {
        match &self.config.json["tie_word_embeddings"] {
            Value::Bool(tied) => *tied,
            _ => self.config.arch == config::HfArch::Gemma3,
        }
    }
}

impl WeightSource for HfFolder {
    fn architecture(&self) -> Result<String, ModelError> {
        Ok(self.config.arch.name().to_string())
    }

    fn setting(&self, key: &str) -> Result<Option<Setting>, ModelError> {
        self.config.setting(key)
    }

    fn setting_name(&self, key: &str) -> String {
        format!("config.json's value for {key}")
    }

    fn has_tensor(&self, name: &str) -> bool {
        if name == "output.weight" && self.tied() {
            return false;
        }
        if name == ROPE_FREQS {
            return self.config.llama3_rope_factors().is_some();
        }
        checkpoint_name(self.config.arch, name, self.heads())
            .is_some_and(|(hf, _)| self.shards.tensors.contains_key(&hf))
    }

    fn tensor(&self, name: &str) -> Result<TensorView, ModelError> {
        let tensor_error = |reason: String| ModelError::Tensor {
            name: name.to_string(),
            reason,
        };
        if let (ROPE_FREQS, Some(factors)) = (name, self.config.llama3_rope_factors()) {
            // What llama.cpp's converter adds for Llama 3.1: the checkpoint has no such tensor.
            let bytes = factors.iter().flat_map(|f| f.to_le_bytes()).collect();
            return Ok(TensorView {
                dtype: GgmlDType::F32,
                shape: vec![factors.len()],
                data: Mapped::owned(bytes),
            });
        }
        let (hf, rewrite) = checkpoint_name(self.config.arch, name, self.heads())
            .ok_or_else(|| tensor_error("not in this architecture's checkpoints".into()))?;
        let entry = self
            .shards
            .tensors
            .get(&hf)
            .ok_or_else(|| tensor_error(format!("`{hf}` is missing from the checkpoint")))?;
        let dtype = entry.dtype.ok_or_else(|| {
            tensor_error(format!(
                "`{hf}` is {:?}; sluice reads f32, f16 and bf16 checkpoints",
                entry.stored
            ))
        })?;
        let view = |dtype, data| TensorView {
            dtype,
            shape: entry.shape.clone(),
            data,
        };
        match rewrite {
            Rewrite::None => Ok(view(dtype, entry.data.clone())),
            Rewrite::InterleaveRows { heads } => {
                let cols: usize = entry.shape.iter().skip(1).product();
                let row_bytes = cols * dtype.type_size();
                let rows =
                    interleave_rows(entry.data.bytes(), heads, row_bytes).ok_or_else(|| {
                        tensor_error(format!("rows {:?} are not {heads} heads", entry.shape))
                    })?;
                // Layers read the rewritten copy; the checkpoint's pages need not stay.
                entry.data.release();
                Ok(view(dtype, Mapped::owned(rows)))
            }
            Rewrite::AddOne => {
                let values = widen_floats(dtype, entry.data.bytes()).expect("a float type");
                let bytes = values
                    .iter()
                    .flat_map(|v| (v + 1.0).to_le_bytes())
                    .collect();
                entry.data.release();
                Ok(view(GgmlDType::F32, Mapped::owned(bytes)))
            }
        }
    }

    fn tokenizer(&self) -> Result<Tokenizer, ModelError> {
        tokenizer::tokenizer(&self.dir, &self.config.json)
    }

    fn generation_defaults(&self) -> Result<SamplingDefaults, ModelError> {
        tokenizer::generation_defaults(&self.dir)
    }
}
