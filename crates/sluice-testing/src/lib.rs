//! Test fixtures: tiny random-weight models that the tests write for themselves, and a Python
//! for the tests that drive Python libraries.
//! May import candle, safetensors and tokenizers; a dev-dependency only, never imported by a
//! crate's library.
//!
//! One description of a tiny model ([`TinyLlama`]: its settings, vocabulary and weights in
//! llama.cpp's names and layout), written as a GGUF file ([`write_tiny_llama`]) or as a Hugging
//! Face folder ([`write_tiny_hf`]) holding the same values the way `transformers` stores them.
//! Most tests then run in milliseconds without the real model, through the same loaders as
//! real files.

mod gguf;
mod hf;
mod python;
mod weights;

pub use gguf::write_tiny_llama;
pub use hf::{write_tiny_hf, TinyHf};
pub use python::python_venv;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;

/// The architectures a tiny model can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TinyArch {
    Llama,
    Qwen2,
    Gemma3,
}

/// Shape of a tiny model: a Llama (Q4_1 weights) by default, or a Qwen2 or a Gemma 3. Widths
/// must be multiples of 32 (the quantization block); a Gemma 3's `heads * head_dim` and `ffn`
/// of 256 (a K-quant super-block), for its Q4_K and Q6_K projections.
#[derive(Clone, Debug)]
pub struct TinyLlama {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub context: usize,
    pub seed: u64,
    pub arch: TinyArch,
    /// Every matrix (the embedding too) stored as this type instead of the model's own mix:
    /// floats for the paths that hold a checkpoint's weights as stored or quantize them at
    /// load. The values drawn are the same whatever the type.
    pub matrices: Option<GgmlDType>,
    /// GGUF metadata written over (or after) the model's own, to make files the loader
    /// refuses.
    pub metadata: Vec<(String, Value)>,
    /// An output matrix of its own instead of the tied embedding: the embedding plus uniform
    /// noise of this amplitude. The tied model repeats its last token for ever; with noise
    /// it sometimes does not, so it can draft for the tied model and be both right and wrong.
    pub output_noise: Option<f32>,
}

impl Default for TinyLlama {
    fn default() -> Self {
        TinyLlama {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            ffn: 128,
            context: 1024,
            seed: 7,
            arch: TinyArch::Llama,
            matrices: None,
            metadata: Vec::new(),
            output_noise: None,
        }
    }
}

impl TinyLlama {
    /// A tiny Gemma 3: Q5_0 q/k/v/gate/up, Q4_K attention output, Q6_K down projection, a
    /// sliding window of 4 on the first 5 of every 6 layers.
    pub fn gemma3() -> Self {
        TinyLlama {
            hidden: 64,
            layers: 6,
            heads: 2,
            kv_heads: 1,
            ffn: 256,
            arch: TinyArch::Gemma3,
            ..TinyLlama::default()
        }
    }

    /// A tiny Qwen2: a Llama with biases on q, k and v, rotating by halves.
    pub fn qwen2() -> Self {
        TinyLlama {
            arch: TinyArch::Qwen2,
            ..TinyLlama::default()
        }
    }

    /// The same model with every matrix in f32: a checkpoint's floats.
    pub fn in_f32(self) -> Self {
        TinyLlama {
            matrices: Some(GgmlDType::F32),
            ..self
        }
    }

    fn head_dim(&self) -> usize {
        match self.arch {
            TinyArch::Gemma3 => 128,
            _ => self.hidden / self.heads,
        }
    }

    /// The architecture as llama.cpp names it.
    fn arch_name(&self) -> &'static str {
        match self.arch {
            TinyArch::Llama => "llama",
            TinyArch::Qwen2 => "qwen2",
            TinyArch::Gemma3 => "gemma3",
        }
    }
}

/// Special tokens of the tiny vocabulary, after the 256 byte tokens and the merges.
pub const TINY_SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The tiny chat template (ChatML).
const CHAT_TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// The tiny byte-level BPE vocabulary: texts by id, and the merges.
struct Vocab {
    tokens: Vec<String>,
    merges: Vec<(String, String)>,
}

impl Vocab {
    fn new() -> Self {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_symbol(b).to_string()).collect();
        let merges: Vec<(String, String)> =
            [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        tokens.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        tokens.extend(TINY_SPECIALS.iter().map(|s| s.to_string()));
        Vocab { tokens, merges }
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }

    /// `<|im_start|>`, the BOS (not added to prompts).
    fn bos(&self) -> u32 {
        self.len() as u32 - 2
    }

    /// `<|im_end|>`, the EOS.
    fn eos(&self) -> u32 {
        self.len() as u32 - 1
    }

    /// `<|endoftext|>`.
    fn end_of_text(&self) -> u32 {
        self.len() as u32 - 3
    }
}

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the rest are
/// shifted past U+0100 so every byte has a visible symbol.
fn byte_symbol(b: u8) -> char {
    let printable = |b: u8| {
        (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    if printable(b) {
        return char::from(b);
    }
    let shifted = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + shifted).unwrap_or('?')
}
