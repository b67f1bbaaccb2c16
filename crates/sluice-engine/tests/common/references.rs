//! The references the tests compare with, committed in tests/data by the scripts that
//! regenerate them (scripts/llama-cpp/make_references.py, scripts/hf/make_references.py).

use serde::Deserialize;

/// Greedy continuations from llama.cpp.
#[derive(Deserialize)]
pub struct GreedyRefs {
    pub n_predict: usize,
    pub cases: Vec<GreedyCase>,
}

#[derive(Deserialize)]
pub struct GreedyCase {
    pub prompt: String,
    pub prompt_ids: Vec<u32>,
    pub tokens: Vec<u32>,
    /// llama.cpp's two best logprobs at each step; the first is its chosen token's.
    pub top2_logprobs: Vec<[f32; 2]>,
}

/// Token ids of strings, from a reference tokenizer.
#[derive(Deserialize)]
pub struct TokenizerRefs {
    pub cases: Vec<TokenizerCase>,
}

#[derive(Deserialize)]
pub struct TokenizerCase {
    pub text: String,
    pub ids: Vec<u32>,
}

/// The reference file `name` of tests/data, parsed.
pub fn reference<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
