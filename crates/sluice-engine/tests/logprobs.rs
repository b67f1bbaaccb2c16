//! Prompt logprobs (TGI's `decoder_input_details`) and top alternatives per token (OpenAI's
//! `top_logprobs`) on the tiny random model.

mod common;
use common::*;
use sluice_core::{GenerationRequest, LogprobOptions, SamplingParams, StopCriteria, TokenEvent};
use sluice_engine::{CacheSize, EngineConfig, EngineHandle};

/// Runs one greedy request and returns its first event.
fn first_event(handle: &EngineHandle, prompt: &[u32], logprobs: LogprobOptions) -> TokenEvent {
    let mut rx = handle
        .submit(GenerationRequest {
            id: handle.next_request_id(),
            prompt_ids: prompt.to_vec(),
            sampling: SamplingParams::greedy(),
            stop: StopCriteria::max_new_tokens(1),
            logprobs,
            constraint: None,
        })
        .unwrap();
    rx.blocking_recv().unwrap().unwrap()
}

fn config(max_batch_tokens: usize, enable_prefix_caching: bool) -> EngineConfig {
    EngineConfig {
        block_size: 4,
        cache: CacheSize::Tokens(4 * 64),
        max_batch_tokens,
        max_running: 8,
        enable_prefix_caching,
        ..EngineConfig::default()
    }
}

const PROMPT: [u32; 11] = [3, 17, 200, 45, 45, 9, 120, 7, 99, 31, 64];
const PROMPT_ONLY: LogprobOptions = LogprobOptions {
    top_n: 0,
    prompt: true,
};
/// Every token of the tiny vocabulary.
const ALL: LogprobOptions = LogprobOptions {
    top_n: 256 + 16,
    prompt: false,
};

#[test]
fn prompt_logprobs_score_each_token_given_the_ones_before() {
    let handle = engine(&tiny_model_path(), config(4096, false));
    let event = first_event(&handle, &PROMPT, PROMPT_ONLY);
    let scored = event.prompt_logprobs.expect("asked for prompt logprobs");
    assert_eq!(scored.len(), PROMPT.len() - 1);
    // Position i scores token i+1: the same as the full distribution after PROMPT[..=i].
    for i in [0, 4, 9] {
        let next = first_event(&handle, &PROMPT[..=i], ALL);
        let (_, want) = next
            .top_logprobs
            .iter()
            .find(|(id, _)| *id == PROMPT[i + 1])
            .copied()
            .unwrap();
        assert!(
            (scored[i] - want).abs() < 1e-4,
            "{i}: {} vs {want}",
            scored[i]
        );
    }
    // Only the first event carries them, and only when asked.
    assert!(first_event(&handle, &PROMPT, LogprobOptions::default())
        .prompt_logprobs
        .is_none());
}

#[test]
fn prompt_logprobs_are_the_same_chunked_and_after_a_prefix_cache_hit() {
    let whole = engine(&tiny_model_path(), config(4096, false));
    let want = first_event(&whole, &PROMPT, PROMPT_ONLY).prompt_logprobs;
    let chunked = engine(&tiny_model_path(), config(3, true));
    // Warm the prefix cache with the same prompt: the scored request must not skip it.
    first_event(&chunked, &PROMPT, LogprobOptions::default());
    let got = first_event(&chunked, &PROMPT, PROMPT_ONLY).prompt_logprobs;
    assert_eq!(got.as_ref().map(Vec::len), Some(PROMPT.len() - 1));
    let (got, want) = (got.unwrap(), want.unwrap());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
    }
}

#[test]
fn top_logprobs_lead_with_the_greedy_token() {
    let handle = engine(&tiny_model_path(), config(4096, false));
    let options = LogprobOptions {
        top_n: 5,
        prompt: false,
    };
    let event = first_event(&handle, &PROMPT, options);
    assert_eq!(event.top_logprobs.len(), 5);
    assert_eq!(event.top_logprobs[0], (event.token_id, event.logprob));
    assert!(event.top_logprobs.windows(2).all(|w| w[0].1 >= w[1].1));
}
