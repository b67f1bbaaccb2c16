//! The instruction set the kernels use, detected once at run time: the binary runs on any
//! x86-64 (or other) CPU, and uses AVX2 + FMA (with F16C) where the CPU has them. Also the small
//! CPU-level helpers the kernels share: an output buffer for parallel writers, a row-wise
//! parallel loop, and a cache prefetch.

use rayon::prelude::*;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX2 and FMA, with F16C (which every CPU with AVX2 also has).
    Avx2Fma,
    Scalar,
}

pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        // F16C (for f16 KV cache loads) is on every x86 CPU that has AVX2; checked all the same.
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            return Isa::Avx2Fma;
        }
        Isa::Scalar
    })
}

/// An output buffer shared by parallel tasks that each write a disjoint set of elements.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(*mut f32);

// SAFETY: tasks write disjoint elements, and the buffer outlives them (rayon joins before the
// owner of the buffer returns).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub(crate) fn new(out: &mut [f32]) -> Self {
        SharedOut(out.as_mut_ptr())
    }

    /// # Safety
    /// `at` is inside the buffer and no other task writes it.
    pub(crate) unsafe fn write(&self, at: usize, v: f32) {
        *self.0.add(at) = v;
    }

    /// # Safety
    /// `at..at + values.len()` is inside the buffer and no other task writes it.
    pub(crate) unsafe fn write_all(&self, at: usize, values: &[f32]) {
        std::ptr::copy_nonoverlapping(values.as_ptr(), self.0.add(at), values.len());
    }
}

/// Rows per task of [`for_each_row`]; fewer than two tasks' worth stay on the calling thread.
const PARALLEL_ROWS: usize = 32;

/// Runs `f(r, row)` for every row `r` of `out` (rows of `width`): in parallel for a step with
/// enough rows to pay for the dispatch (a prompt chunk), on this thread for a few (decodes).
/// For the row-wise float ops between the matmuls, which would otherwise leave the other
/// threads idle; each row's arithmetic is the same either way.
pub(crate) fn for_each_row(
    out: &mut [f32],
    width: usize,
    f: impl Fn(usize, &mut [f32]) + Send + Sync,
) {
    if out.len() / width < 2 * PARALLEL_ROWS {
        out.chunks_exact_mut(width)
            .enumerate()
            .for_each(|(r, row)| f(r, row));
    } else {
        out.par_chunks_exact_mut(width)
            .with_min_len(PARALLEL_ROWS)
            .enumerate()
            .for_each(|(r, row)| f(r, row));
    }
}

/// Asks the CPU to start loading `values` into cache: a hint, never a fault, whatever the
/// slice. For rows of the paged KV cache, whose addresses the hardware prefetcher cannot guess.
#[inline(always)]
pub(crate) fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    for line in values.chunks((64 / std::mem::size_of::<T>().max(1)).max(1)) {
        // SAFETY: prefetching is a hint with no architectural effect; the address is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_each_row_visits_every_row_once_serial_or_parallel() {
        for rows in [
            1,
            2 * PARALLEL_ROWS - 1,
            2 * PARALLEL_ROWS,
            5 * PARALLEL_ROWS + 3,
        ] {
            let mut out = vec![-1f32; rows * 3];
            for_each_row(&mut out, 3, |r, row| {
                row.iter_mut().for_each(|v| *v += 1.0 + r as f32)
            });
            let want: Vec<f32> = (0..rows).flat_map(|r| [r as f32; 3]).collect();
            assert_eq!(out, want, "{rows} rows");
        }
    }
}
