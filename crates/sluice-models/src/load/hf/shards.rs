//! A checkpoint's safetensors files: `model.safetensors`, or the shards that
//! `model.safetensors.index.json` lists, each memory-mapped and its header read once.

use crate::load::Mapped;
use crate::ModelError;
use candle_core::quantized::GgmlDType;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

/// One tensor's place in a shard.
pub(super) struct Entry {
    /// `None` for a type sluice does not read (its name is in `stored`).
    pub dtype: Option<GgmlDType>,
    pub stored: Dtype,
    pub shape: Vec<usize>,
    pub data: Mapped,
}

/// Every tensor of the checkpoint by its name in the checkpoint.
pub(super) struct Shards {
    pub tensors: HashMap<String, Entry>,
}

const SINGLE: &str = "model.safetensors";
const INDEX: &str = "model.safetensors.index.json";

impl Shards {
    pub(super) fn open(dir: &Path) -> Result<Self, ModelError> {
        let files = if dir.join(INDEX).exists() {
            index_files(&dir.join(INDEX))?
        } else if dir.join(SINGLE).exists() {
            vec![SINGLE.to_string()]
        } else {
            return Err(ModelError::Checkpoint(format!(
                "{} has neither {SINGLE} nor {INDEX} (sluice reads safetensors weights, not \
                 PyTorch .bin files)",
                dir.display()
            )));
        };
        let mut tensors = HashMap::new();
        for file in files {
            read_shard(&dir.join(&file), &mut tensors)?;
        }
        Ok(Shards { tensors })
    }
}

/// The shard files an index names, each once, in order.
fn index_files(index: &Path) -> Result<Vec<String>, ModelError> {
    let text = std::fs::read_to_string(index).map_err(|source| ModelError::Io {
        path: index.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ModelError::Checkpoint(format!("{} is not valid JSON: {e}", index.display()))
    })?;
    let map = json["weight_map"]
        .as_object()
        .ok_or_else(|| ModelError::Checkpoint(format!("{} has no weight_map", index.display())))?;
    let files: BTreeSet<String> = map
        .values()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    Ok(files.into_iter().collect())
}

fn read_shard(path: &PathBuf, tensors: &mut HashMap<String, Entry>) -> Result<(), ModelError> {
    let file = File::open(path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let bytes = Mapped::file(&file, path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let (header, metadata) = SafeTensors::read_metadata(bytes.bytes()).map_err(|e| {
        ModelError::Checkpoint(format!(
            "{} is not a whole safetensors file ({e})",
            path.display()
        ))
    })?;
    let data_start = 8 + header;
    for (name, info) in metadata.tensors() {
        let (start, end) = info.data_offsets;
        let data = bytes
            .slice(data_start + start..data_start + end)
            .ok_or_else(|| {
                ModelError::Checkpoint(format!("{}: `{name}` lies past its end", path.display()))
            })?;
        let dtype = match info.dtype {
            Dtype::F32 => Some(GgmlDType::F32),
            Dtype::F16 => Some(GgmlDType::F16),
            Dtype::BF16 => Some(GgmlDType::BF16),
            _ => None,
        };
        let entry = Entry {
            dtype,
            stored: info.dtype,
            shape: info.shape.clone(),
            data,
        };
        tensors.insert(name, entry);
    }
    Ok(())
}
