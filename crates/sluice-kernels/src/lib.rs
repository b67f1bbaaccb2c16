//! CPU hot paths of the model step: quantized matmuls, paged attention, norms, rope, activations.
//! May import std::arch and rayon; never a sluice crate or a tensor library.
//!
//! With no tensor types, each kernel is tested against a naive reference on random shapes.
//!
//! Every kernel computes what llama.cpp's x86 kernels compute, in the same order, so greedy
//! output equals the reference engine's token for token (`ggml`). AVX2 + FMA code is chosen at
//! run time (`cpu`) and equals the scalar code bit for bit.
//!
//! Row-major buffers everywhere: a batch of `rows` vectors of width `dim` is a `&[f32]` of
//! `rows * dim` values.

pub mod activation;
pub mod attention;
pub mod cpu;
pub mod dense;
pub mod element;
pub mod ggml;
pub mod norm;
pub mod quant;
pub mod rope;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod test_data;
