//! Bytes of a memory-mapped file, shared: a tensor view keeps its file mapped for as long as a
//! layer reads the weights in place, so weights used as stored are never copied into memory.
//! (A source that must rewrite a tensor, as a checkpoint's q and k rows are reordered for
//! llama.cpp's rotation, hands out its own bytes the same way.)

use memmap2::Mmap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// A range of a mapped file, or of bytes a source made.
#[derive(Clone)]
pub struct Mapped {
    map: Arc<dyn AsRef<[u8]> + Send + Sync>,
    range: Range<usize>,
}

impl Mapped {
    /// The whole of `file`, mapped read-only.
    pub(crate) fn file(file: &File, path: &Path) -> std::io::Result<Self> {
        // SAFETY: the map is read-only; like every program that maps its model (llama.cpp and
        // the safetensors loaders do too), sluice relies on the file not being truncated or
        // rewritten while it runs. A file shorter than its header says is caught when a tensor
        // would reach past its end.
        let map = unsafe { Mmap::map(file) }.map_err(|e| {
            std::io::Error::new(e.kind(), format!("mapping {}: {e}", path.display()))
        })?;
        Ok(Mapped::new(Arc::new(map)))
    }

    /// Bytes a source made (a tensor it rewrote).
    pub(crate) fn owned(bytes: Vec<u8>) -> Self {
        Mapped::new(Arc::new(bytes))
    }

    fn new(map: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Self {
        let len = (*map).as_ref().len();
        Mapped { map, range: 0..len }
    }

    pub fn bytes(&self) -> &[u8] {
        &(*self.map).as_ref()[self.range.clone()]
    }

    pub fn len(&self) -> usize {
        self.range.len()
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// Bytes `range` of this range, if it lies inside.
    pub fn slice(&self, range: Range<usize>) -> Option<Mapped> {
        let start = self.range.start.checked_add(range.start)?;
        let end = self.range.start.checked_add(range.end)?;
        (start <= end && end <= self.range.end).then(|| Mapped {
            map: self.map.clone(),
            range: start..end,
        })
    }
}
