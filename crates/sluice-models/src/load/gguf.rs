//! GGUF files: the format speaks llama.cpp's vocabulary natively (its setting keys carry the
//! architecture as a prefix), and its tensors are memory-mapped in place.

use super::Mapped;
use super::{Setting, TensorView, WeightSource};
use crate::error::candle_message;
use crate::ModelError;
use candle_core::quantized::gguf_file::{Content, Value};
use sluice_tokenizer::{Tokenizer, TokenizerSpec};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// An open GGUF file: its metadata, parsed once, and its bytes, mapped.
pub struct GgufSource {
    path: PathBuf,
    content: Content,
    bytes: Mapped,
    /// `general.architecture`, the prefix of the model's own keys.
    arch: String,
}

impl GgufSource {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let io_err = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let content =
            Content::read(&mut BufReader::new(&file)).map_err(|e| ModelError::NotGguf {
                path: path.to_path_buf(),
                reason: candle_message(&e),
            })?;
        let bytes = Mapped::file(&file, path).map_err(io_err)?;
        let arch = match content.metadata.get("general.architecture") {
            Some(Value::String(arch)) => arch.clone(),
            _ => {
                return Err(ModelError::Metadata(
                    "missing key `general.architecture`".into(),
                ))
            }
        };
        Ok(GgufSource {
            path: path.to_path_buf(),
            content,
            bytes,
            arch,
        })
    }

    fn value(&self, key: &str) -> Result<&Value, ModelError> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| ModelError::Metadata(format!("missing key `{key}`")))
    }

    fn convert<T>(
        &self,
        key: &str,
        f: impl FnOnce(&Value) -> candle_core::Result<T>,
    ) -> Result<T, ModelError> {
        f(self.value(key)?)
            .map_err(|e| ModelError::Metadata(format!("`{key}`: {}", candle_message(&e))))
    }

    fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    fn usize(&self, key: &str) -> Result<usize, ModelError> {
        match scalar(self.value(key)?) {
            Some(Setting::Int(v)) if v >= 0 => Ok(v as usize),
            _ => Err(ModelError::Metadata(format!(
                "`{key}`: not a non-negative integer"
            ))),
        }
    }

    fn string(&self, key: &str) -> Result<String, ModelError> {
        self.convert(key, |v| v.to_string().cloned())
    }

    fn bool(&self, key: &str) -> Result<bool, ModelError> {
        self.convert(key, |v| v.to_bool())
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ModelError> {
        self.convert(key, |v| {
            v.to_vec()?.iter().map(|s| s.to_string().cloned()).collect()
        })
    }

    /// The tokenizer as the `tokenizer.ggml.*` keys describe it.
    pub fn tokenizer_spec(&self) -> Result<TokenizerSpec, ModelError> {
        let opt_id = |key: &str| {
            self.has(key)
                .then(|| self.usize(key).map(|v| v as u32))
                .transpose()
        };
        let opt_bool = |key: &str, default| {
            if self.has(key) {
                self.bool(key)
            } else {
                Ok(default)
            }
        };
        let token_types = if self.has("tokenizer.ggml.token_type") {
            self.convert("tokenizer.ggml.token_type", |v| {
                v.to_vec()?.iter().map(|t| t.to_i32()).collect()
            })?
        } else {
            Vec::new()
        };
        // llama.cpp accepts f32 or i32 scores.
        let scores = if self.has("tokenizer.ggml.scores") {
            self.convert("tokenizer.ggml.scores", |v| {
                v.to_vec()?
                    .iter()
                    .map(|s| match s {
                        Value::I32(s) => Ok(*s as f32),
                        other => other.to_f32(),
                    })
                    .collect()
            })?
        } else {
            Vec::new()
        };
        let model = self.string("tokenizer.ggml.model")?;
        let pre = if self.has("tokenizer.ggml.pre") {
            self.string("tokenizer.ggml.pre")?
        } else {
            "default".into()
        };
        let add_bos = opt_bool(
            "tokenizer.ggml.add_bos_token",
            TokenizerSpec::default_add_bos(&model, &pre),
        )?;
        let add_space_prefix = opt_bool(
            "tokenizer.ggml.add_space_prefix",
            TokenizerSpec::default_add_space_prefix(&model),
        )?;
        Ok(TokenizerSpec {
            model,
            pre,
            tokens: self.strings("tokenizer.ggml.tokens")?,
            token_types,
            merges: if self.has("tokenizer.ggml.merges") {
                self.strings("tokenizer.ggml.merges")?
            } else {
                Vec::new()
            },
            bos_id: opt_id("tokenizer.ggml.bos_token_id")?,
            eos_id: opt_id("tokenizer.ggml.eos_token_id")?,
            unk_id: opt_id("tokenizer.ggml.unknown_token_id")?,
            pad_id: opt_id("tokenizer.ggml.padding_token_id")?,
            add_bos,
            add_eos: opt_bool("tokenizer.ggml.add_eos_token", false)?,
            add_space_prefix,
            scores,
            chat_template: if self.has("tokenizer.chat_template") {
                Some(self.string("tokenizer.chat_template")?)
            } else {
                None
            },
        })
    }
}

/// A metadata value as a setting; arrays are not settings.
fn scalar(value: &Value) -> Option<Setting> {
    Some(match value {
        Value::U8(v) => Setting::Int(i64::from(*v)),
        Value::I8(v) => Setting::Int(i64::from(*v)),
        Value::U16(v) => Setting::Int(i64::from(*v)),
        Value::I16(v) => Setting::Int(i64::from(*v)),
        Value::U32(v) => Setting::Int(i64::from(*v)),
        Value::I32(v) => Setting::Int(i64::from(*v)),
        Value::U64(v) => Setting::Int(i64::try_from(*v).ok()?),
        Value::I64(v) => Setting::Int(*v),
        Value::F32(v) => Setting::Float(f64::from(*v)),
        Value::F64(v) => Setting::Float(*v),
        Value::Bool(v) => Setting::Bool(*v),
        Value::String(v) => Setting::Text(v.clone()),
        Value::Array(_) => return None,
    })
}

impl WeightSource for GgufSource {
    fn architecture(&self) -> Result<String, ModelError> {
        Ok(self.arch.clone())
    }

    fn setting(&self, key: &str) -> Result<Option<Setting>, ModelError> {
        let key = self.setting_name(key);
        match self.content.metadata.get(&key) {
            None => Ok(None),
            Some(value) => scalar(value)
                .map(Some)
                .ok_or_else(|| ModelError::Metadata(format!("`{key}`: not a single value"))),
        }
    }

    fn setting_name(&self, key: &str) -> String {
        format!("{}.{key}", self.arch)
    }

    fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn tensor(&self, name: &str) -> Result<TensorView, ModelError> {
        let tensor_error = |reason: String| ModelError::Tensor {
            name: name.into(),
            reason,
        };
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| tensor_error("missing from the file".into()))?;
        let elems = info.shape.elem_count();
        let (block, block_bytes) = (info.ggml_dtype.block_size(), info.ggml_dtype.type_size());
        if !elems.is_multiple_of(block) {
            return Err(tensor_error(format!(
                "{elems} values do not fill whole blocks of {block}"
            )));
        }
        let start = self.content.tensor_data_offset.saturating_add(info.offset);
        let end = start.saturating_add((elems / block * block_bytes) as u64);
        let data = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.bytes.slice(start..end))
            .ok_or_else(|| {
                tensor_error(format!(
                    "its data ends at byte {end}, past the end of {} ({} bytes): the file is truncated",
                    self.path.display(),
                    self.bytes.len()
                ))
            })?;
        Ok(TensorView {
            dtype: info.ggml_dtype,
            shape: info.shape.dims().to_vec(),
            data,
        })
    }

    fn tokenizer(&self) -> Result<Tokenizer, ModelError> {
        Ok(Tokenizer::from_spec(&self.tokenizer_spec()?)?)
    }
}
