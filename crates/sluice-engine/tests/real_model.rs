//! The default model (SmolLM2-135M-Instruct Q4_1) and Gemma 3 270M (Q4_K_M) against llama.cpp's
//! references, committed in tests/data by
//! scripts/llama-cpp/make_references.py. The models are fetched on first use.

mod common;
use common::references::*;
use common::*;
use sluice_engine::{CacheSize, EngineConfig, KvDtype, Speculation};
use sluice_tokenizer::{IncrementalDecoder, Tokenizer};

fn config() -> EngineConfig {
    // The defaults (blocks of 16, steps of 512 tokens, prefix caching, an f32 cache) but a
    // smaller cache and running limit.
    EngineConfig {
        cache: CacheSize::Tokens(16 * 512),
        max_running: 64,
        ..EngineConfig::default()
    }
}

/// Every case of a tokenizer reference file: llama.cpp's ids with special tokens parsed, and
/// decoding (all at once and incrementally) giving back `decoded(text)`. The round trip
/// encodes without parsing special tokens, so marker texts stay text, and decodes skipping
/// them, which hides the BOS that `add_bos` puts first.
fn assert_tokenizer_matches(
    tok: &Tokenizer,
    refs_file: &str,
    min_cases: usize,
    decoded: impl Fn(&str) -> String,
) {
    let refs: TokenizerRefs = reference(refs_file);
    assert!(refs.cases.len() >= min_cases);
    for case in &refs.cases {
        assert_eq!(
            tok.encode(&case.text, true).unwrap(),
            case.ids,
            "tokenizing {:?}",
            case.text
        );
        let plain = tok.encode(&case.text, false).unwrap();
        let expected = decoded(&case.text);
        assert_eq!(
            tok.decode(&plain, true),
            expected,
            "round trip of {:?}",
            case.text
        );
        let mut decoder = IncrementalDecoder::new(true);
        let mut streamed: String = plain.iter().map(|&id| decoder.push(tok, id)).collect();
        streamed.push_str(&decoder.finish());
        assert_eq!(streamed, expected, "streaming {:?}", case.text);
    }
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let tok = tokenizer(&real_model_path());
    assert_tokenizer_matches(&tok, "tokenizer_refs.json", 30, str::to_owned);
}

/// Gemma 3's vocabulary is SentencePiece (`tokenizer.ggml.model = "llama"`, 262k tokens, byte
/// fallback, `add_space_prefix = false`, BOS added). Only the tokenizer is built, from the
/// GGUF metadata.
#[test]
fn gemma_tokenizer_matches_llama_cpp() {
    let tok = tokenizer(&gemma_path());
    assert_eq!(tok.vocab_size(), 262_144);
    assert_eq!(tok.bos_id(), Some(2));
    // A `▁` typed in the text is stored like an escaped space, so it decodes as a space, as
    // llama.cpp's detokenizer gives it too.
    assert_tokenizer_matches(&tok, "gemma_tokenizer_refs.json", 60, |text| {
        text.replace('\u{2581}', " ")
    });
    // <end_of_turn> ends a chat turn; <eos> is the EOS.
    assert!(tok.eog_ids().contains(&106) && tok.eog_ids().contains(&1));
}

/// Token for token, the same greedy continuation as llama.cpp on every committed prompt, run
/// together in one batch, and the chosen tokens' logprobs equal to float precision: the kernels
/// reproduce llama.cpp's CPU arithmetic bit for bit (`sluice_kernels::ggml`). Nothing weaker
/// is enough for this model, whose 8-bit activation quantization turns a last-bit difference
/// anywhere in a step into different logprobs (by up to 0.3 nats) and, within 32 tokens, into
/// different text on half of these prompts.
#[test]
fn greedy_tokens_match_llama_cpp() {
    assert_greedy_matches(&real_model_path(), "greedy_refs.json", 10, KvDtype::F32);
}

/// As [`greedy_tokens_match_llama_cpp`] with `--speculate 1`, `2` and `8` (every proposal
/// checked, none held back): a proposal's row is computed as llama.cpp computes that token
/// alone, so the text and logprobs stay llama.cpp's however many tokens are accepted.
#[test]
fn speculation_keeps_greedy_tokens_of_llama_cpp() {
    for (refs, kv_dtype, max_tokens) in [
        ("greedy_refs.json", KvDtype::F32, 1),
        ("greedy_refs.json", KvDtype::F32, 2),
        ("greedy_refs.json", KvDtype::F32, 8),
        ("greedy_refs_f16kv.json", KvDtype::F16, 2),
    ] {
        let cfg = EngineConfig {
            kv_dtype,
            speculation: Speculation {
                max_tokens,
                back_off: false,
            },
            ..config()
        };
        let s = assert_greedy_matches_with(&real_model_path(), refs, 10, cfg);
        let spec = s.speculation.expect("speculation stats");
        assert!(
            spec.accepted_tokens > 0 && spec.accepted_tokens < spec.proposed_tokens,
            "{refs} --speculate {max_tokens}: {spec:?}"
        );
    }
}

/// Gemma 3's K-quant rows with `--speculate 2`: proposals checked at every position, windowed
/// layers included.
#[test]
fn gemma_speculation_keeps_greedy_tokens_of_llama_cpp() {
    let cfg = EngineConfig {
        speculation: Speculation {
            max_tokens: 2,
            back_off: false,
        },
        ..config()
    };
    let s = assert_greedy_matches_with(&gemma_path(), "gemma_greedy_refs.json", 10, cfg);
    let spec = s.speculation.expect("speculation stats");
    assert!(spec.accepted_tokens > 0 && spec.accepted_tokens < spec.proposed_tokens);
}

/// As [`greedy_tokens_match_llama_cpp`], over an f16 KV cache (`--kv-cache-dtype f16`) against
/// llama.cpp's f16 cache (flash attention off), whose rounding changes the text of half these
/// prompts: the cache's values, the queries and the softmax weights rounded to f16, and a
/// prompt's `q · k` summed in tinyBLAS's order.
#[test]
fn f16_kv_cache_greedy_tokens_match_llama_cpp() {
    assert_greedy_matches(
        &real_model_path(),
        "greedy_refs_f16kv.json",
        10,
        KvDtype::F16,
    );
}

/// As [`greedy_tokens_match_llama_cpp`], for Gemma 3 270M: the K-quant, Q5_0 and GeGLU kernels,
/// q/k norms, sandwich norms, two rotary bases, and a prompt longer than the 512-token window of
/// its sliding-window layers.
#[test]
fn gemma_greedy_tokens_match_llama_cpp() {
    assert_greedy_matches(&gemma_path(), "gemma_greedy_refs.json", 10, KvDtype::F32);
}

/// Gemma 3 over an f16 KV cache: head size 256, and windowed layers.
#[test]
fn gemma_f16_kv_cache_greedy_tokens_match_llama_cpp() {
    assert_greedy_matches(
        &gemma_path(),
        "gemma_greedy_refs_f16kv.json",
        10,
        KvDtype::F16,
    );
}

/// Every case of a greedy reference file, run together in one batch: the same tokens as
/// llama.cpp, and the chosen tokens' logprobs within 1e-5 of its.
fn assert_greedy_matches(
    model: &std::path::Path,
    refs_file: &str,
    min_cases: usize,
    kv_dtype: KvDtype,
) {
    let cfg = EngineConfig {
        kv_dtype,
        ..config()
    };
    assert_greedy_matches_with(model, refs_file, min_cases, cfg);
}

/// [`assert_greedy_matches`] with an engine configured as `cfg`; gives the engine's stats.
fn assert_greedy_matches_with(
    model: &std::path::Path,
    refs_file: &str,
    min_cases: usize,
    cfg: EngineConfig,
) -> sluice_engine::EngineStats {
    let refs: GreedyRefs = reference(refs_file);
    assert!(refs.cases.len() >= min_cases);
    let handle = engine(model, cfg);
    let tok = tokenizer(model);
    let reqs = refs
        .cases
        .iter()
        .map(|c| greedy(c.prompt_ids.clone(), refs.n_predict))
        .collect();
    let outs = run_all(&handle, reqs);
    for (case, out) in refs.cases.iter().zip(&outs) {
        assert_eq!(
            tok.encode(&case.prompt, true).unwrap(),
            case.prompt_ids,
            "prompt tokens of {:?}",
            case.prompt
        );
        assert_eq!(out.tokens, case.tokens, "{:?}", case.prompt);
        for (step, (ours, [theirs, _])) in out.logprobs.iter().zip(&case.top2_logprobs).enumerate()
        {
            assert!(
                (ours - theirs).abs() < 1e-5,
                "{:?} step {step}: logprob {ours}, llama.cpp {theirs}",
                case.prompt
            );
        }
    }
    let s = stats(&handle);
    assert_eq!(s.kv_blocks_free, s.kv_blocks_total);
    s
}

#[test]
fn real_model_batched_chunked_and_preempted_equal_alone() {
    assert_batched_chunked_and_preempted_equal_alone(
        &real_model_path(),
        "greedy_refs.json",
        KvDtype::F32,
        Speculation::default(),
    );
}

/// With `--speculate 2` in the crowded run: proposals counted in the 24-row budget, checked beside
/// prompt chunks, and dropped with their sequence when it is preempted.
#[test]
fn speculation_batched_chunked_and_preempted_equal_alone() {
    assert_batched_chunked_and_preempted_equal_alone(
        &real_model_path(),
        "greedy_refs.json",
        KvDtype::F32,
        Speculation {
            max_tokens: 2,
            back_off: false,
        },
    );
}

/// Over an f16 cache too: a prompt row's `q · k` is summed in tinyBLAS's order in whichever
/// chunk and step it is computed.
#[test]
fn f16_kv_cache_batched_chunked_and_preempted_equal_alone() {
    assert_batched_chunked_and_preempted_equal_alone(
        &real_model_path(),
        "greedy_refs_f16kv.json",
        KvDtype::F16,
        Speculation::default(),
    );
}

/// For Gemma 3 too: its K-quant products round by each row's position and prompt length (as
/// llama.cpp's would alone), whatever the step's other rows and the prompt's chunks.
#[test]
fn gemma_batched_chunked_and_preempted_equal_alone() {
    assert_batched_chunked_and_preempted_equal_alone(
        &gemma_path(),
        "gemma_greedy_refs.json",
        KvDtype::F32,
        Speculation::default(),
    );
}

/// Gemma 3 over an f16 cache: head size 256, and the windowed layers' rows.
#[test]
fn gemma_f16_kv_cache_batched_chunked_and_preempted_equal_alone() {
    assert_batched_chunked_and_preempted_equal_alone(
        &gemma_path(),
        "gemma_greedy_refs_f16kv.json",
        KvDtype::F16,
        Speculation::default(),
    );
}

/// The first 8 prompts of a greedy reference file, each alone, then all together with small
/// prefill chunks and a KV pool too small for all their continuations (so some are preempted
/// and recomputed): the same tokens.
fn assert_batched_chunked_and_preempted_equal_alone(
    model: &std::path::Path,
    refs_file: &str,
    kv_dtype: KvDtype,
    speculation: Speculation,
) {
    let refs: GreedyRefs = reference(refs_file);
    let prompts: Vec<Vec<u32>> = refs
        .cases
        .iter()
        .take(8)
        .map(|c| c.prompt_ids.clone())
        .collect();
    const NEW: usize = 24;
    let handle = engine(
        model,
        EngineConfig {
            kv_dtype,
            ..config()
        },
    );
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| {
            run_all(&handle, vec![greedy(p.clone(), NEW)])
                .remove(0)
                .tokens
        })
        .collect();
    drop(handle);
    // Small prefill chunks, and a pool that holds every prompt but not their continuations.
    let prompt_blocks: usize = prompts.iter().map(|p| p.len().div_ceil(16)).sum();
    let cfg = EngineConfig {
        block_size: 16,
        cache: CacheSize::Tokens(16 * (prompt_blocks + 2)),
        max_batch_tokens: 24,
        kv_dtype,
        speculation,
        ..config()
    };
    // All queued before the first step, so that the pool runs short however the threads run.
    let reqs = prompts.iter().map(|p| greedy(p.clone(), NEW)).collect();
    let (outs, s) = run_all_queued_first(model, &cfg, reqs);
    let together: Vec<Vec<u32>> = outs.into_iter().map(|o| o.tokens).collect();
    assert_eq!(together, alone);
    assert!(s.preemptions > 0, "{s:?}");
    assert_eq!(s.kv_blocks_free, s.kv_blocks_total);
}
