//! Batching, chunked prefill, preemption and aborts never change greedy output, and never
//! leak KV blocks (tiny random model).

mod common;
use common::*;
use sluice_core::{GenerationRequest, LogprobOptions, SamplingParams, StopCriteria};
use sluice_engine::{CacheSize, EngineConfig};
use std::path::Path;

const VOCAB: u32 = 256;

fn alone(model: &Path, cfg: &EngineConfig, prompts: &[Vec<u32>], max_new: usize) -> Vec<Vec<u32>> {
    let handle = engine(model, cfg.clone());
    prompts
        .iter()
        .map(|p| {
            run_all(&handle, vec![greedy(p.clone(), max_new)])
                .remove(0)
                .tokens
        })
        .collect()
}

/// All prompts queued before the first step, so which of them share a step does not depend on
/// thread timing.
fn together(
    model: &Path,
    cfg: &EngineConfig,
    prompts: &[Vec<u32>],
    max_new: usize,
) -> (Vec<Vec<u32>>, sluice_engine::EngineStats) {
    let reqs = prompts.iter().map(|p| greedy(p.clone(), max_new)).collect();
    let (outs, stats) = run_all_queued_first(model, cfg, reqs);
    (outs.into_iter().map(|o| o.tokens).collect(), stats)
}

fn roomy() -> EngineConfig {
    EngineConfig {
        cache: CacheSize::Tokens(16 * 256),
        max_batch_tokens: 4096,
        max_running: 64,
        enable_prefix_caching: false,
        ..EngineConfig::default()
    }
}

#[test]
fn sixteen_prompts_together_equal_each_alone() {
    let prompts = token_prompts(16, VOCAB);
    for model in tiny_models() {
        let want = alone(&model, &roomy(), &prompts, 24);
        let (got, stats) = together(&model, &roomy(), &prompts, 24);
        assert_eq!(got, want, "{}", model.display());
        assert!(want.iter().all(|t| t.len() == 24));
        // Every request was in the same batch at some point: 16 * 24 tokens in far fewer steps.
        assert!(stats.steps < 16 * 24 / 2, "{stats:?}");
        assert_eq!(
            stats.kv_blocks_free, stats.kv_blocks_total,
            "blocks leaked: {stats:?}"
        );
    }
}

#[test]
fn tiny_prefill_budget_chunks_prompts_without_changing_output() {
    let prompts = token_prompts(16, VOCAB);
    for model in tiny_models() {
        let want = alone(&model, &roomy(), &prompts, 16);
        let cfg = EngineConfig {
            max_batch_tokens: 5,
            ..roomy()
        };
        let (got, stats) = together(&model, &cfg, &prompts, 16);
        assert_eq!(got, want, "{}", model.display());
        assert_eq!(stats.kv_blocks_free, stats.kv_blocks_total);
    }
}

#[test]
fn preemption_under_a_small_pool_keeps_output() {
    let prompts = token_prompts(16, VOCAB);
    for (model, caching) in tiny_models()
        .into_iter()
        .flat_map(|m| [(m.clone(), false), (m, true)])
    {
        let want = alone(&model, &roomy(), &prompts, 40);
        // 12 blocks of 8 tokens: enough for any one request (<= 80 tokens), not for 16 at once.
        let cfg = EngineConfig {
            block_size: 8,
            cache: CacheSize::Tokens(8 * 12),
            enable_prefix_caching: caching,
            ..roomy()
        };
        let (got, stats) = together(&model, &cfg, &prompts, 40);
        assert_eq!(got, want, "{}, prefix caching {caching}", model.display());
        assert!(
            stats.preemptions > 0,
            "the pool was meant to force preemption: {stats:?}"
        );
        assert_eq!(
            stats.kv_blocks_free, stats.kv_blocks_total,
            "blocks leaked: {stats:?}"
        );
        assert_eq!(stats.kv_sequences, 0);
    }
}

#[test]
fn prefix_cache_hits_do_not_change_output() {
    // Same long prefix, different endings: the later requests reuse the first one's blocks.
    let prefix: Vec<u32> = (0..50).map(|i| (i * 13 % 250) as u32).collect();
    let prompts: Vec<Vec<u32>> = (0..4)
        .map(|i| [prefix.clone(), vec![i as u32 + 1, 7]].concat())
        .collect();
    let plain = EngineConfig {
        enable_prefix_caching: false,
        ..roomy()
    };
    let want = alone(&tiny_model_path(), &plain, &prompts, 12);
    let cached = EngineConfig {
        enable_prefix_caching: true,
        ..roomy()
    };
    let handle = engine(&tiny_model_path(), cached);
    let got: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| {
            run_all(&handle, vec![greedy(p.clone(), 12)])
                .remove(0)
                .tokens
        })
        .collect();
    assert_eq!(got, want);
    let s = stats(&handle);
    assert!(s.prefix_cache_hit_blocks >= 3 * 3, "{s:?}");
}

/// Requests that arrive together with the same long prefix: the first computes it, the others
/// wait a step for its blocks and take them from the prefix cache, with the same output. A
/// prefix of a single block is not worth a step's wait: each request computes it.
#[test]
fn a_burst_with_one_prefix_computes_it_once() {
    for (prefix_len, hits_each) in [(50, 3), (20, 0)] {
        let prefix: Vec<u32> = (0..prefix_len).map(|i| (i * 7 % 250) as u32).collect();
        let mut prompts: Vec<Vec<u32>> = (0..4)
            .map(|i| [prefix.clone(), vec![i as u32 + 1, 9]].concat())
            .collect();
        // One unrelated prompt between them, which need not wait.
        prompts.insert(2, token_prompts(1, VOCAB).remove(0));
        let want = alone(&tiny_model_path(), &roomy(), &prompts, 12);
        let cached = EngineConfig {
            enable_prefix_caching: true,
            ..roomy()
        };
        let (got, stats) = together(&tiny_model_path(), &cached, &prompts, 12);
        assert_eq!(got, want);
        // Full blocks of 16 shared tokens, for each of the 3 later requests.
        assert_eq!(stats.prefix_cache_hit_blocks, 3 * hits_each, "{stats:?}");
        assert_eq!(stats.kv_blocks_free, stats.kv_blocks_total);
    }
}

#[test]
fn dropped_requests_free_their_blocks() {
    let handle = engine(&tiny_model_path(), roomy());
    let prompts = token_prompts(8, VOCAB);
    let mut streams = Vec::new();
    for p in &prompts {
        let req = GenerationRequest {
            id: handle.next_request_id(),
            prompt_ids: p.clone(),
            sampling: SamplingParams::greedy(),
            stop: StopCriteria {
                max_new_tokens: 500,
                stop_sequences: vec![],
                ignore_eos: true,
            },
            logprobs: LogprobOptions::default(),
            constraint: None,
        };
        streams.push(handle.submit(req).unwrap());
    }
    // Wait until each produced a token, then drop them all: a dropped receiver is how a
    // request is aborted (the server's disconnect path), and the engine frees its blocks.
    for rx in streams.iter_mut() {
        rx.blocking_recv().unwrap().unwrap();
    }
    drop(streams);
    // A request after them still completes, and afterwards nothing is held.
    let out = run_all(&handle, vec![greedy(vec![1, 2, 3], 4)]);
    assert_eq!(out[0].tokens.len(), 4);
    let s = stats(&handle);
    assert_eq!(s.kv_blocks_free, s.kv_blocks_total, "{s:?}");
    assert_eq!((s.running, s.waiting, s.kv_sequences), (0, 0, 0));
}

#[test]
fn impossible_requests_fail_alone() {
    let cfg = EngineConfig {
        block_size: 8,
        cache: CacheSize::Tokens(8 * 4),
        ..roomy()
    };
    let handle = engine(&tiny_model_path(), cfg);
    let too_long = GenerationRequest {
        id: handle.next_request_id(),
        prompt_ids: vec![5; 40],
        sampling: SamplingParams::greedy(),
        stop: StopCriteria::max_new_tokens(10),
        logprobs: LogprobOptions::default(),
        constraint: None,
    };
    let mut rx = handle.submit(too_long).unwrap();
    let err = rx.blocking_recv().unwrap().unwrap_err();
    assert!(err.to_string().contains("can never fit"), "{err}");
    let empty = GenerationRequest {
        id: handle.next_request_id(),
        prompt_ids: vec![],
        sampling: SamplingParams::greedy(),
        stop: StopCriteria::max_new_tokens(3),
        logprobs: LogprobOptions::default(),
        constraint: None,
    };
    assert!(handle
        .submit(empty)
        .unwrap()
        .blocking_recv()
        .unwrap()
        .is_err());
    let out = run_all(&handle, vec![greedy(vec![1, 2], 3)]);
    assert_eq!(out[0].tokens.len(), 3);
}

#[test]
fn seeded_sampling_is_reproducible_in_any_batch() {
    let sampled = |seed| {
        let p = SamplingParams {
            temperature: 3.0,
            top_k: 50,
            seed,
            ..SamplingParams::greedy()
        };
        (
            vec![3, 4, 5],
            p,
            StopCriteria {
                max_new_tokens: 20,
                stop_sequences: vec![],
                ignore_eos: true,
            },
        )
    };
    let handle = engine(&tiny_model_path(), roomy());
    let a = run_all(&handle, vec![sampled(1)]);
    let b = run_all(
        &handle,
        vec![greedy(vec![9, 9, 9], 20), sampled(1), sampled(2)],
    );
    assert_eq!(a[0].tokens, b[1].tokens);
    assert_ne!(b[1].tokens, b[2].tokens);
}
