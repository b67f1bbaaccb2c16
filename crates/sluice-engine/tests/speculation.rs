//! Speculative decoding never changes greedy output: with `--speculate 1`, `2` and `8`, by
//! prompt lookup and with a draft model, every request gets the tokens and logprobs it gets
//! without speculation, batched with others, with prompts chunked, under preemption, with and
//! without the prefix cache, on both tiny weight sources; proposals are made, accepted and
//! rejected, and no block leaks.

mod common;
use common::*;
use sluice_engine::{CacheSize, EngineConfig, EngineStats};
use std::path::{Path, PathBuf};

const VOCAB: u32 = 256;
const NEW_TOKENS: usize = 40;

/// Random prompts, a third of them laid as traps for prompt lookup. The tiny model repeats a
/// prompt's last token for ever, so its loops are proposed and accepted; a trap prompt holds
/// `a t t u v` and ends `a t`, so once the model has repeated `t`, the lookup of `a t t`
/// proposes `u v`, which the model rejects.
fn prompts() -> Vec<Vec<u32>> {
    let mut prompts = token_prompts(12, VOCAB);
    for (i, p) in prompts.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
        let [a, t, u, v, w] = [1u32, 2, 3, 4, 5].map(|k| (i as u32 * 5 + k) % VOCAB);
        p.extend([a, t, t, u, v, w, a, t]);
    }
    prompts
}

/// Prompt lookup, then the tiny draft model.
fn proposers() -> [Option<PathBuf>; 2] {
    [None, Some(tiny_draft_path())]
}

fn with_proposers(model: PathBuf) -> [(PathBuf, Option<PathBuf>); 2] {
    proposers().map(|draft| (model.clone(), draft))
}

/// The run, as assertion messages name it; it names the method the stats must report.
fn describe(model: &Path, n: usize, draft: &Option<PathBuf>) -> String {
    match draft {
        None => format!("{} --speculate {n} (ngram)", model.display()),
        Some(d) => format!(
            "{} --speculate {n} --draft-model {} (draft)",
            model.display(),
            d.display()
        ),
    }
}

fn run(model: &Path, cfg: &EngineConfig) -> (Vec<Output>, EngineStats) {
    let reqs = prompts()
        .into_iter()
        .map(|p| greedy(p, NEW_TOKENS))
        .collect();
    run_all_queued_first(model, cfg, reqs)
}

/// Same tokens, logprobs within 1e-5 (they are computed by the same arithmetic, so in fact
/// equal), and proposals made, accepted and rejected with every block given back.
fn assert_unchanged(want: &[Output], got: &[Output], stats: &EngineStats, what: &str) {
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(w.tokens, g.tokens, "{what}: request {i}");
        let worst = w
            .logprobs
            .iter()
            .zip(&g.logprobs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "{what}: request {i}'s logprobs differ by {worst}"
        );
    }
    let spec = stats.speculation.as_ref().expect("speculation stats");
    assert!(what.contains(&spec.method), "{what}: {spec:?}");
    assert!(
        spec.accepted_tokens > 0 && spec.accepted_tokens < spec.proposed_tokens,
        "{what}: proposals must be both accepted and rejected to test anything: {spec:?}"
    );
    assert_eq!(
        spec.accepted_lengths.iter().sum::<u64>() > 0,
        spec.proposed_tokens > 0
    );
    assert_eq!(
        stats.kv_blocks_free, stats.kv_blocks_total,
        "{what}: {stats:?}"
    );
    assert_eq!(stats.kv_sequences, 0, "{what}");
}

#[test]
fn speculation_keeps_greedy_output_batched() {
    for (model, draft) in tiny_models().into_iter().flat_map(with_proposers) {
        let (want, plain) = run(&model, &speculating(0, &None));
        assert!(plain.speculation.is_none());
        for n in [1, 2, 8] {
            let (got, stats) = run(&model, &speculating(n, &draft));
            let what = describe(&model, n, &draft);
            assert_unchanged(&want, &got, &stats, &what);
            // Accepted proposals save steps: never more, and fewer where every sequence has
            // some accepted (prompt lookup's loops).
            assert!(stats.steps <= plain.steps, "{what}: {stats:?} vs {plain:?}");
            if draft.is_none() {
                assert!(stats.steps < plain.steps, "{what}: {stats:?} vs {plain:?}");
            }
        }
    }
}

#[test]
fn speculation_keeps_greedy_output_with_chunks_and_a_small_budget() {
    for (model, draft) in tiny_models().into_iter().flat_map(with_proposers) {
        let (want, _) = run(&model, &speculating(0, &None));
        for n in [2, 8] {
            // Five rows a step: prompts are chunked, and proposals are cut to what fits.
            let cfg = EngineConfig {
                max_batch_tokens: 5,
                ..speculating(n, &draft)
            };
            let (got, stats) = run(&model, &cfg);
            let what = format!("{}, 5 rows a step", describe(&model, n, &draft));
            assert_unchanged(&want, &got, &stats, &what);
        }
    }
}

#[test]
fn speculation_keeps_greedy_output_under_preemption() {
    for ((model, draft), caching) in tiny_models()
        .into_iter()
        .flat_map(with_proposers)
        .flat_map(|m| [(m.clone(), false), (m, true)])
    {
        let (want, _) = run(&model, &speculating(0, &None));
        for n in [1, 8] {
            // 12 blocks of 8 tokens: enough for any one request, not for all at once.
            let cfg = EngineConfig {
                block_size: 8,
                cache: CacheSize::Tokens(8 * 12),
                enable_prefix_caching: caching,
                ..speculating(n, &draft)
            };
            let (got, stats) = run(&model, &cfg);
            let what = format!("{}, prefix caching {caching}", describe(&model, n, &draft));
            assert_unchanged(&want, &got, &stats, &what);
            assert!(stats.preemptions > 0, "{what}: {stats:?}");
        }
    }
}
