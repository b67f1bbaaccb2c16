//! The instruction set the kernels use, detected once at run time: the binary runs on any
//! x86-64 (or other) CPU, and uses AVX2 + FMA (with F16C) where the CPU has them. Also the small
//! CPU-level helpers the kernels share: an output buffer for parallel writers, a row-wise
//! parallel loop, and a cache prefetch.

use rayon::prelude::*;
use std::marker::PhantomData;
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

/// An output buffer that parallel tasks write at places no other task writes.
///
/// It cannot be a safe split into disjoint `&mut` chunks: a matmul's tasks own *columns* of
/// its row-major `[rows, n_out]` output (the weight rows each task multiplies), and an
/// attention task owns the heads of some rows of `[rows, n_heads * head_dim]`; neither is a
/// contiguous run that `chunks_mut` or `split_at_mut` could hand out. Splitting the work by
/// output rows instead would make every task read every weight, losing the weight reuse the
/// tile kernels are built on, and per-task buffers scattered afterwards would copy the whole
/// output once more. So the one promise left to the caller is that no two tasks write the
/// same element; the bounds are checked on every write, and the borrow ties the writer to the
/// buffer, so it cannot outlive it.
pub(crate) struct DisjointOut<'a> {
    ptr: *mut f32,
    len: usize,
    buffer: PhantomData<&'a mut [f32]>,
}

// SAFETY: the writer only writes, each element from one task (the contract of `write`), into
// a buffer it borrows mutably for its whole life, so sharing it between threads races on
// nothing.
unsafe impl Send for DisjointOut<'_> {}
unsafe impl Sync for DisjointOut<'_> {}

impl<'a> DisjointOut<'a> {
    pub(crate) fn new(out: &'a mut [f32]) -> Self {
        DisjointOut {
            ptr: out.as_mut_ptr(),
            len: out.len(),
            buffer: PhantomData,
        }
    }

    /// Writes `values` at `at..at + values.len()`; panics past the end of the buffer.
    ///
    /// # Safety
    /// No other task writes any of these elements while the writer lives.
    pub(crate) unsafe fn write_all(&self, at: usize, values: &[f32]) {
        assert!(
            at.checked_add(values.len())
                .is_some_and(|end| end <= self.len),
            "write past the output"
        );
        // SAFETY: in bounds (asserted), and the caller promises no other task writes there.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr.add(at), values.len()) };
    }

    /// Writes `v` at `at`; panics past the end of the buffer.
    ///
    /// # Safety
    /// No other task writes this element while the writer lives.
    pub(crate) unsafe fn write(&self, at: usize, v: f32) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.write_all(at, &[v]) }
    }
}

/// Rows per task of [`for_each_row`]; fewer than two tasks' worth stay on the calling thread.
const PARALLEL_ROWS: usize = 32;

/// Weight rows per parallel task of a matmul over `n_out` weight rows, in whole `group`s.
/// When the activations are so few rows that the weights stream from memory once
/// (`streaming`), a few long tasks per thread: interleaved short chunks read memory a quarter
/// slower (measured: 27 against 35 GB/s on two Zen 3 cores). Otherwise `chunk`, small enough
/// that a task's weights stay in cache while every activation row passes them.
pub(crate) fn weight_rows_per_task(
    n_out: usize,
    streaming: bool,
    chunk: usize,
    group: usize,
) -> usize {
    if streaming {
        n_out
            .div_ceil(4 * rayon::current_num_threads())
            .next_multiple_of(group)
            .max(chunk)
    } else {
        chunk
    }
}

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
