//! The prompt sets a run sends: the built-in instructions, synthetic random prompts, and files
//! (ShareGPT JSON or JSONL of `{"prompt", "max_new_tokens"?}`).

mod builtin;
mod jsonl;
mod random;
mod sharegpt;

use anyhow::{bail, Context, Result};
use std::path::Path;

pub use random::RandomLengths;

/// One prompt to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub text: String,
    /// The dataset's own output length (JSONL field, ShareGPT answer, random length); `None`
    /// means `--max-new-tokens`.
    pub max_new_tokens: Option<u32>,
    /// Prompt tokens as the dataset knows them; see `record::TokenSource::Estimate`.
    pub est_input_tokens: u64,
}

/// `--dataset`: `builtin`, `random`, or a path.
pub fn load(dataset: &str, num_prompts: usize, random: &RandomLengths) -> Result<Vec<Prompt>> {
    if num_prompts == 0 {
        bail!("--num-prompts must be at least 1");
    }
    let prompts = match dataset {
        "builtin" => builtin::prompts()?,
        "random" => return Ok(random.prompts(num_prompts)),
        path => load_file(Path::new(path))?,
    };
    if prompts.is_empty() {
        bail!("dataset {dataset} has no usable prompts");
    }
    if prompts.len() < num_prompts {
        tracing::warn!(
            "dataset {dataset} has {} prompts; sending them again in order to reach {num_prompts}",
            prompts.len()
        );
    }
    Ok(prompts.into_iter().cycle().take(num_prompts).collect())
}

/// A file by its extension (`.jsonl` / `.json`), else by its first character (`[` is ShareGPT).
fn load_file(path: &Path) -> Result<Vec<Prompt>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read dataset {}", path.display()))?;
    let name = path.display().to_string();
    let is_sharegpt = match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") => false,
        Some("json") => true,
        _ => text.trim_start().starts_with('['),
    };
    if is_sharegpt {
        sharegpt::parse(&text, &name)
    } else {
        jsonl::parse(&text, &name)
    }
}

/// One token per 4 bytes of UTF-8, rounded up: the usual rule of thumb for English text and
/// BPE tokenizers, used only where neither the server nor the dataset gives a count.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

/// serde_json's message without its ` at line L column C` suffix, for errors that name the line
/// of the file themselves.
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
