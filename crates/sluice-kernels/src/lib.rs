//! CPU hot paths of the model step, in plain Rust with no tensor types, so each one is tested
//! against a naive reference on random shapes.
//!
//! Row-major buffers everywhere: a batch of `rows` vectors of width `dim` is a `&[f32]` of
//! `rows * dim` values.

pub mod activation;
pub mod attention;
pub mod cpu;
pub mod ggml;
pub mod norm;
pub mod quant;
pub mod rope;
