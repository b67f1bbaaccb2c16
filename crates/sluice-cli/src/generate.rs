use crate::engine_args::EngineArgs;
use anyhow::{bail, Context};
use clap::Args;
use sluice_core::{GenerationRequest, LogprobOptions, SamplingParams, StopCriteria, TokenEvent};
use sluice_engine::{EngineEvent, EngineHandle};
use sluice_tokenizer::{ChatMessage, Tokenizer};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct GenerateArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// The prompt.
    #[arg(long, conflicts_with = "prompts", required_unless_present = "prompts")]
    prompt: Option<String>,
    /// A JSONL file, one {"prompt": ..., "max_new_tokens"?: N} per line, run together.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Wrap each prompt in the model's chat template as a user message.
    #[arg(long)]
    chat: bool,
    /// Tokens to generate at most (per prompt, unless the file says otherwise).
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches p (1 = off).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Typical sampling mass (1 = off).
    #[arg(long, default_value_t = 1.0)]
    typical_p: f32,
    /// Penalise tokens already seen (1 = off; >1 discourages repeats).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Subtract this times a token's count in the output so far.
    #[arg(long, default_value_t = 0.0)]
    frequency_penalty: f32,
    /// Subtract this from every token already in the output.
    #[arg(long, default_value_t = 0.0)]
    presence_penalty: f32,
    /// Random seed for sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when the output contains this text (repeatable); the text is not printed.
    #[arg(long)]
    stop: Vec<String>,
    /// Keep generating after end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
}

struct PromptJob {
    text: String,
    max_new_tokens: usize,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let sampling = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        typical_p: args.typical_p,
        repetition_penalty: args.repetition_penalty,
        frequency_penalty: args.frequency_penalty,
        presence_penalty: args.presence_penalty,
        seed: args.seed,
        logit_bias: Vec::new(),
    };
    sampling.validate().map_err(anyhow::Error::msg)?;
    let jobs = match (&args.prompt, &args.prompts) {
        (Some(p), _) => vec![PromptJob {
            text: p.clone(),
            max_new_tokens: args.max_new_tokens,
        }],
        (None, Some(path)) => read_prompts(path, args.max_new_tokens)?,
        (None, None) => bail!("give --prompt or --prompts"),
    };
    if let Some(job) = jobs.iter().find(|j| j.max_new_tokens == 0) {
        bail!("max_new_tokens must be at least 1 (prompt {:?})", job.text);
    }
    let engine = args.engine.build_engine()?;
    let tokenizer = engine.tokenizer().clone();
    let handle = EngineHandle::spawn(engine).context("starting the engine thread")?;
    let started = Instant::now();
    let mut streams = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let prompt_ids = encode_prompt(&tokenizer, &job.text, args.chat)?;
        let stop = StopCriteria {
            max_new_tokens: job.max_new_tokens,
            stop_sequences: args.stop.clone(),
            ignore_eos: args.ignore_eos,
        };
        let req = GenerationRequest {
            id: handle.next_request_id(),
            prompt_ids,
            sampling: sampling.clone(),
            stop,
            logprobs: LogprobOptions::default(),
            constraint: None,
        };
        streams.push(handle.submit(req)?);
    }
    let mut stdout = std::io::stdout().lock();
    let mut generated = 0;
    if args.prompt.is_some() {
        let (tokens, _) = drain(&mut streams[0], |text| {
            let _ = write!(stdout, "{text}");
            let _ = stdout.flush();
        })?;
        writeln!(stdout)?;
        generated += tokens;
    } else {
        for (index, rx) in streams.iter_mut().enumerate() {
            let mut text = String::new();
            let (tokens, finish) = drain(rx, |t| text.push_str(t))?;
            let line = serde_json::json!({"index": index, "text": text, "generated_tokens": tokens, "finish_reason": finish});
            writeln!(stdout, "{line}")?;
            generated += tokens;
        }
    }
    report_speed(&handle, generated, started.elapsed().as_secs_f64())
}

fn read_prompts(path: &PathBuf, default_max: usize) -> anyhow::Result<Vec<PromptJob>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        prompt: String,
        max_new_tokens: Option<usize>,
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut jobs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: bad prompt line", path.display(), i + 1))?;
        jobs.push(PromptJob {
            text: parsed.prompt,
            max_new_tokens: parsed.max_new_tokens.unwrap_or(default_max),
        });
    }
    anyhow::ensure!(!jobs.is_empty(), "{} holds no prompts", path.display());
    Ok(jobs)
}

fn encode_prompt(tokenizer: &Tokenizer, text: &str, chat: bool) -> anyhow::Result<Vec<u32>> {
    let text = if chat {
        let template = tokenizer
            .chat_template()
            .context("the model has no chat template; drop --chat")?;
        template.render(
            &[ChatMessage {
                role: "user".into(),
                content: text.into(),
            }],
            None,
            true,
        )?
    } else {
        text.to_string()
    };
    let ids = tokenizer.encode(&text, chat)?;
    anyhow::ensure!(!ids.is_empty(), "the prompt is empty");
    Ok(ids)
}

/// Reads a request's events to the end, handing each text piece to `on_text`; returns the
/// number of generated tokens and the finish reason.
fn drain(
    rx: &mut UnboundedReceiver<EngineEvent>,
    mut on_text: impl FnMut(&str),
) -> anyhow::Result<(usize, String)> {
    let mut tokens = 0;
    while let Some(event) = rx.blocking_recv() {
        let TokenEvent { text, finish, .. } = event?;
        tokens += 1;
        on_text(&text);
        if let Some(reason) = finish {
            return Ok((tokens, reason.to_string()));
        }
    }
    bail!("the engine stopped before the request finished")
}

fn report_speed(handle: &EngineHandle, generated: usize, wall: f64) -> anyhow::Result<()> {
    let s = handle.stats()?;
    let rate = |tokens: u64, secs: f64| {
        if secs > 0.0 {
            tokens as f64 / secs
        } else {
            0.0
        }
    };
    eprintln!(
        "prefill: {} tokens, {:.1} tokens/s | decode: {} tokens, {:.1} tokens/s | {:.2} s wall, {:.1} generated tokens/s overall",
        s.prefill_tokens,
        rate(s.prefill_tokens, s.prefill_seconds),
        s.decode_tokens,
        rate(s.decode_tokens, s.decode_seconds),
        wall,
        rate(generated as u64, wall),
    );
    Ok(())
}
