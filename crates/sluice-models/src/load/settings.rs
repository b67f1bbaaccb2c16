//! Typed reads of a source's settings, with errors that name the setting as the source does.

use super::{Setting, WeightSource};
use crate::ModelError;

/// The settings of one source, read as the types a config needs.
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    source: &'a dyn WeightSource,
}

impl<'a> Settings<'a> {
    pub fn new(source: &'a dyn WeightSource) -> Self {
        Settings { source }
    }

    fn invalid(&self, key: &str, reason: &str) -> ModelError {
        ModelError::Metadata(format!("`{}`: {reason}", self.source.setting_name(key)))
    }

    /// The setting, which must be there.
    fn get(&self, key: &str) -> Result<Setting, ModelError> {
        self.source.setting(key)?.ok_or_else(|| {
            ModelError::Metadata(format!("missing key `{}`", self.source.setting_name(key)))
        })
    }

    pub fn has(&self, key: &str) -> Result<bool, ModelError> {
        Ok(self.source.setting(key)?.is_some())
    }

    pub fn usize(&self, key: &str) -> Result<usize, ModelError> {
        match self.get(key)? {
            Setting::Int(v) => usize::try_from(v).map_err(|_| self.invalid(key, "negative")),
            _ => Err(self.invalid(key, "not an integer")),
        }
    }

    pub fn f32(&self, key: &str) -> Result<f32, ModelError> {
        match self.get(key)? {
            Setting::Float(v) => Ok(v as f32),
            Setting::Int(v) => Ok(v as f32),
            _ => Err(self.invalid(key, "not a number")),
        }
    }

    /// The setting if present, else `default`.
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, ModelError> {
        if self.has(key)? {
            self.usize(key)
        } else {
            Ok(default)
        }
    }

    /// The setting's text if present, else `default`.
    pub fn text_or(&self, key: &str, default: &str) -> Result<String, ModelError> {
        match self.source.setting(key)? {
            None => Ok(default.to_string()),
            Some(Setting::Text(text)) => Ok(text),
            Some(_) => Err(self.invalid(key, "not text")),
        }
    }

    /// The sliding window (`attention.sliding_window`), if the model has one.
    pub fn window(&self) -> Result<Option<usize>, ModelError> {
        Ok(match self.has("attention.sliding_window")? {
            true => Some(self.usize("attention.sliding_window")?).filter(|&w| w > 0),
            false => None,
        })
    }

    /// The setting if present, else `default`.
    pub fn f32_or(&self, key: &str, default: f32) -> Result<f32, ModelError> {
        if self.has(key)? {
            self.f32(key)
        } else {
            Ok(default)
        }
    }
}
