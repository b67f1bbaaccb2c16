//! Llama (and Llama-shaped models such as SmolLM2) from GGUF: weight names and wiring only.

use crate::layers::{Attention, DecoderLayer, GatedMlp, Linear, RmsNorm, StepBuffers, StepContext};
use crate::{CausalLm, ForwardBatch, GgufFile, KvStore, ModelConfig, ModelError};
use sluice_kernels::attention::AttentionParams;
use sluice_kernels::rope::{RopeStyle, RopeTable};
use std::sync::{Mutex, PoisonError};

pub struct Llama {
    cfg: ModelConfig,
    /// The token embedding table, also the output projection when `lm_head` is `None` (tied).
    embed: Linear,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
    rope: RopeTable,
    /// The layers' intermediates, reused by every step. Steps of one model run one at a time
    /// (an engine runs one step at a time anyway); the buffers keep the largest step's size.
    buffers: Mutex<StepBuffers>,
}

impl Llama {
    pub fn load(gguf: &mut GgufFile) -> Result<Self, ModelError> {
        let cfg = ModelConfig::from_gguf(gguf, "llama")?;
        let linear = |g: &mut GgufFile, name: &str| Linear::new(name, g.tensor(name)?);
        let embed = linear(gguf, "token_embd.weight")?;
        // Small models tie the output projection to the embedding (shared, not loaded twice).
        let lm_head = if gguf.has_tensor("output.weight") {
            Some(linear(gguf, "output.weight")?)
        } else {
            None
        };
        let norm = |g: &mut GgufFile, name: &str| {
            Ok::<_, ModelError>(RmsNorm::new(g.f32_vec(name)?, cfg.rms_norm_eps, 0.0))
        };
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("blk.{i}");
            layers.push(DecoderLayer {
                attn_norm: norm(gguf, &format!("{p}.attn_norm.weight"))?,
                attn: Attention {
                    q: linear(gguf, &format!("{p}.attn_q.weight"))?,
                    k: linear(gguf, &format!("{p}.attn_k.weight"))?,
                    v: linear(gguf, &format!("{p}.attn_v.weight"))?,
                    o: linear(gguf, &format!("{p}.attn_output.weight"))?,
                    q_norm: None,
                    k_norm: None,
                    params: AttentionParams {
                        n_heads: cfg.num_heads,
                        kv_heads: cfg.num_kv_heads,
                        head_dim: cfg.head_dim,
                        scale: 1.0 / (cfg.head_dim as f32).sqrt(),
                        window: None,
                    },
                },
                post_attn_norm: None,
                ffn_norm: norm(gguf, &format!("{p}.ffn_norm.weight"))?,
                mlp: GatedMlp {
                    gate: linear(gguf, &format!("{p}.ffn_gate.weight"))?,
                    up: linear(gguf, &format!("{p}.ffn_up.weight"))?,
                    down: linear(gguf, &format!("{p}.ffn_down.weight"))?,
                },
                post_ffn_norm: None,
            });
        }
        let rope = RopeTable::new(
            RopeStyle::Interleaved,
            cfg.rope_dim,
            cfg.rope_theta,
            cfg.context_length,
        );
        Ok(Llama {
            norm: norm(gguf, "output_norm.weight")?,
            cfg,
            embed,
            layers,
            lm_head,
            rope,
            buffers: Mutex::default(),
        })
    }
}

impl CausalLm for Llama {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn forward(&self, batch: &ForwardBatch, kv: &mut KvStore) -> Result<Vec<f32>, ModelError> {
        batch
            .validate(kv.num_slots(), kv.block_size())
            .map_err(ModelError::Batch)?;
        if batch
            .positions
            .iter()
            .any(|&p| p >= self.rope.max_positions())
        {
            return Err(ModelError::Batch(format!(
                "position beyond the context length {}",
                self.cfg.context_length
            )));
        }
        if batch
            .tokens
            .iter()
            .any(|&t| t as usize >= self.cfg.vocab_size)
        {
            return Err(ModelError::Batch("token id outside the vocabulary".into()));
        }
        let mut x = self.embed.rows(&batch.tokens)?;
        let step = StepContext::new(batch);
        // Scratch only: a step that panicked left nothing in it that the next one reads.
        let mut buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, layer) in self.layers.iter().enumerate() {
            layer.forward(&mut x, i, &self.rope, &step, kv, &mut buffers)?;
        }
        drop(buffers);
        if batch.logit_rows.is_empty() {
            // A step of prompt chunks that all continue next step: only the cache was wanted.
            return Ok(Vec::new());
        }
        let d = self.cfg.hidden_size;
        let last: Vec<f32> = batch
            .logit_rows
            .iter()
            .flat_map(|&r| x[r * d..(r + 1) * d].iter().copied())
            .collect();
        let lm_head = self.lm_head.as_ref().unwrap_or(&self.embed);
        lm_head.forward(&self.norm.forward(&last))
    }
}
