//! Shared test helpers: engines over the tiny random model or the real default model, and
//! running a set of prompts to completion.
#![allow(dead_code)] // each test binary uses a different subset

pub mod references;

use sluice_core::{
    FinishReason, GenerationRequest, LogprobOptions, RequestId, SamplingParams, StopCriteria,
};
use sluice_engine::{
    fetch, CacheSize, Engine, EngineConfig, EngineEvent, EngineHandle, EngineStats, Speculation,
};
use sluice_testing::{write_tiny_hf, write_tiny_llama, TinyHf, TinyLlama};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The tiny model's file, written once per test binary.
pub fn tiny_model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-tiny-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny-llama.gguf");
        write_tiny_llama(&path, &TinyLlama::default()).unwrap();
        path
    })
    .clone()
}

/// The same tiny model's values in f32 as a Hugging Face folder, written once per test binary.
pub fn tiny_hf_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-tiny-hf-{}", std::process::id()));
        write_tiny_hf(&dir, &TinyLlama::default().in_f32(), TinyHf::default()).unwrap();
        dir
    })
    .clone()
}

/// Another tiny model with the same vocabulary (other weights, one layer, a noisy output
/// matrix): a draft model for the tiny model that is right only part of the time, written
/// once per test binary.
pub fn tiny_draft_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-tiny-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny-draft.gguf");
        let draft = TinyLlama {
            layers: 1,
            seed: 8,
            output_noise: Some(1.5),
            ..TinyLlama::default()
        };
        write_tiny_llama(&path, &draft).unwrap();
        path
    })
    .clone()
}

/// The tiny model as a GGUF file and as a Hugging Face folder: the tests of the engine's
/// bookkeeping run on both weight sources.
pub fn tiny_models() -> [PathBuf; 2] {
    [tiny_model_path(), tiny_hf_path()]
}

/// The default model, fetched into the cache on first use.
pub fn real_model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        fetch::resolve_model(fetch::DEFAULT_MODEL).expect("fetching the default model")
    })
    .clone()
}

/// Gemma 3 270M (`gemma3-270m`, Q4_K_M), fetched into the cache on first use.
pub fn gemma_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| fetch::resolve_model("gemma3-270m").expect("fetching gemma3-270m"))
        .clone()
}

pub fn load(path: &Path, cfg: &EngineConfig) -> Engine {
    Engine::load(path.to_str().expect("a UTF-8 path"), cfg).expect("loading the engine")
}

/// Only the model's tokenizer.
pub fn tokenizer(path: &Path) -> sluice_tokenizer::Tokenizer {
    sluice_engine::load::tokenizer(path.to_str().expect("a UTF-8 path")).expect("the tokenizer")
}

pub fn engine(path: &Path, cfg: EngineConfig) -> EngineHandle {
    EngineHandle::spawn(load(path, &cfg)).expect("engine thread")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub text: String,
    pub finish: FinishReason,
}

pub fn greedy(
    prompt_ids: Vec<u32>,
    max_new_tokens: usize,
) -> (Vec<u32>, SamplingParams, StopCriteria) {
    (
        prompt_ids,
        SamplingParams::greedy(),
        StopCriteria {
            max_new_tokens,
            stop_sequences: vec![],
            ignore_eos: true,
        },
    )
}

/// Submits every request at once and waits for all of them.
pub fn run_all(
    handle: &EngineHandle,
    reqs: Vec<(Vec<u32>, SamplingParams, StopCriteria)>,
) -> Vec<Output> {
    let streams: Vec<_> = reqs
        .into_iter()
        .map(|req| {
            handle
                .submit(request(handle.next_request_id(), req))
                .unwrap()
        })
        .collect();
    streams.into_iter().map(collect).collect()
}

/// Runs the requests on an engine driven from this thread, so that all of them are queued
/// before its first step (the engine thread may start a step between two submissions).
pub fn run_all_queued_first(
    path: &Path,
    cfg: &EngineConfig,
    reqs: Vec<(Vec<u32>, SamplingParams, StopCriteria)>,
) -> (Vec<Output>, EngineStats) {
    let mut engine = load(path, cfg);
    let streams: Vec<_> = reqs
        .into_iter()
        .enumerate()
        .map(|(i, req)| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            engine.submit(request(RequestId(i as u64 + 1), req), tx);
            rx
        })
        .collect();
    while engine.has_work() {
        engine.step();
    }
    let stats = engine.stats();
    (streams.into_iter().map(collect).collect(), stats)
}

fn request(
    id: RequestId,
    (prompt_ids, sampling, stop): (Vec<u32>, SamplingParams, StopCriteria),
) -> GenerationRequest {
    GenerationRequest {
        id,
        prompt_ids,
        sampling,
        stop,
        logprobs: LogprobOptions::default(),
        constraint: None,
    }
}

/// A request's events up to its finish.
pub fn collect(mut rx: tokio::sync::mpsc::UnboundedReceiver<EngineEvent>) -> Output {
    let (mut tokens, mut logprobs, mut text) = (Vec::new(), Vec::new(), String::new());
    loop {
        let ev = rx
            .blocking_recv()
            .expect("stream ended without finish")
            .expect("generation error");
        tokens.push(ev.token_id);
        logprobs.push(ev.logprob);
        text.push_str(&ev.text);
        if let Some(finish) = ev.finish {
            return Output {
                tokens,
                logprobs,
                text,
                finish,
            };
        }
    }
}

pub fn stats(handle: &EngineHandle) -> EngineStats {
    handle.stats().unwrap()
}

/// Token prompts of different lengths from a fixed generator (ids below `vocab`).
pub fn token_prompts(count: usize, vocab: u32) -> Vec<Vec<u32>> {
    let mut x: u64 = 12345;
    (0..count)
        .map(|i| {
            let len = 1 + (i * 7) % 40;
            (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) % vocab as u64) as u32
                })
                .collect()
        })
        .collect()
}

/// A roomy engine that speculates `speculate` tokens a step (0: off), by prompt lookup or with
/// `draft`, without backing off.
pub fn speculating(speculate: usize, draft: &Option<PathBuf>) -> EngineConfig {
    EngineConfig {
        cache: CacheSize::Tokens(16 * 256),
        max_batch_tokens: 4096,
        max_running: 64,
        // Proposals as found, so what the tests exercise does not depend on timing.
        speculation: Speculation {
            max_tokens: speculate,
            back_off: false,
        },
        draft_model: draft.as_ref().map(|p| p.to_str().unwrap().to_string()),
        ..EngineConfig::default()
    }
}
