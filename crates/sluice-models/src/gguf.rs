use crate::error::candle_message;
use crate::ModelError;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;
use sluice_tokenizer::TokenizerSpec;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// An open GGUF file: its metadata, parsed once, and lazy access to its tensors.
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: BufReader<File>,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let io_err = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
        let content = Content::read(&mut reader).map_err(|e| ModelError::NotGguf {
            path: path.to_path_buf(),
            reason: candle_message(&e),
        })?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            content,
            reader,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage type of a tensor (`q4_1`, `f16`, ...), if the file has it.
    pub fn tensor_type(&self, name: &str) -> Option<String> {
        let info = self.content.tensor_infos.get(name)?;
        Some(format!("{:?}", info.ggml_dtype).to_lowercase())
    }

    pub fn architecture(&self) -> Result<String, ModelError> {
        self.string("general.architecture")
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

    pub fn usize(&self, key: &str) -> Result<usize, ModelError> {
        // Writers disagree on integer widths; accept any unsigned or non-negative one.
        self.convert(key, |v| match v {
            Value::U64(x) => Ok(*x as usize),
            Value::I64(x) if *x >= 0 => Ok(*x as usize),
            Value::I32(x) if *x >= 0 => Ok(*x as usize),
            other => other.to_u32().map(|x| x as usize),
        })
    }

    pub fn f32(&self, key: &str) -> Result<f32, ModelError> {
        self.convert(key, |v| v.to_f32())
    }

    pub fn string(&self, key: &str) -> Result<String, ModelError> {
        self.convert(key, |v| v.to_string().cloned())
    }

    pub fn bool(&self, key: &str) -> Result<bool, ModelError> {
        self.convert(key, |v| v.to_bool())
    }

    pub fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ModelError> {
        self.convert(key, |v| {
            v.to_vec()?.iter().map(|s| s.to_string().cloned()).collect()
        })
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    pub fn tensor(&mut self, name: &str) -> Result<QTensor, ModelError> {
        if !self.has_tensor(name) {
            return Err(ModelError::Tensor {
                name: name.into(),
                reason: "missing from the file".into(),
            });
        }
        self.content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .map_err(|e| ModelError::Tensor {
                name: name.into(),
                reason: candle_message(&e),
            })
    }

    /// A small f32 tensor (norm weights) as a plain vector.
    pub fn f32_vec(&mut self, name: &str) -> Result<Vec<f32>, ModelError> {
        let t = self.tensor(name)?.dequantize(&Device::Cpu)?;
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
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
