//! Bytes of a memory-mapped file, shared: a tensor view keeps its file mapped for as long as a
//! layer reads the weights in place, so weights used as stored are never copied into memory.
//! (A source that must rewrite a tensor, as a checkpoint's q and k rows are reordered for
//! llama.cpp's rotation, hands out its own bytes the same way.)

use memmap2::{Mmap, UncheckedAdvice};
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// A range of a mapped file, or of bytes a source made.
#[derive(Clone)]
pub struct Mapped {
    map: Arc<Backing>,
    range: Range<usize>,
}

enum Backing {
    File(Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::File(map) => map,
            Backing::Owned(bytes) => bytes,
        }
    }
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
        Ok(Mapped::new(Backing::File(map)))
    }

    /// Bytes a source made (a tensor it rewrote).
    pub(crate) fn owned(bytes: Vec<u8>) -> Self {
        Mapped::new(Backing::Owned(bytes))
    }

    fn new(backing: Backing) -> Self {
        let len = backing.bytes().len();
        Mapped {
            map: Arc::new(backing),
            range: 0..len,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map.bytes()[self.range.clone()]
    }

    /// Says that a layer has copied these bytes out (converted them to the type it holds), so
    /// the file's pages under them need not stay in this process's memory: without this, a
    /// file kept mapped for one tensor read in place would keep every page the load read
    /// resident beside its converted copy. Only whole pages inside the range are let go.
    pub fn release(&self) {
        let Backing::File(map) = &*self.map else {
            return;
        };
        let page = page_size();
        let start = self.range.start.div_ceil(page) * page;
        let end = self.range.end / page * page;
        if start < end {
            // SAFETY: the mapping is read-only and private to no writer, so MADV_DONTNEED only
            // drops the pages from this process; a later read of them faults them back in from
            // the file, the same bytes (the file is not rewritten while mapped, as `file` says).
            // Failing to advise costs memory, never correctness, so the error is ignored.
            let _ = unsafe {
                map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
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

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}
