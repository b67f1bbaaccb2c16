//! Qwen2, as llama.cpp builds it: Llama's wiring with biases on the q, k and v projections and
//! rotation by halves (NeoX). Tensor names only.

use super::llama;
use crate::transformer::Transformer;
use crate::weights::{TensorNames, Weights};
use crate::ModelError;
use sluice_kernels::rope::RopeStyle;

const NAMES: TensorNames = TensorNames {
    qkv_bias: Some([
        "blk.{i}.attn_q.bias",
        "blk.{i}.attn_k.bias",
        "blk.{i}.attn_v.bias",
    ]),
    ..llama::NAMES
};

pub(super) fn build(weights: &Weights<'_>) -> Result<Transformer, ModelError> {
    llama::build_with(weights, &NAMES, RopeStyle::Halves)
}
