//! Whole-pipeline behaviour of [`Sampler`]; each stage has its own tests beside it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_core::SamplingParams;

use super::{argmax, log_softmax_at, Sampler};

fn random_params(seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: 1.0,
        seed,
        ..SamplingParams::default()
    }
}

fn random_logits(rng: &mut StdRng, vocab: usize) -> Vec<f32> {
    (0..vocab).map(|_| rng.random_range(-5.0..5.0)).collect()
}

fn softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let scaled: Vec<f64> = logits.iter().map(|&l| f64::from(l) / temperature).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = scaled.iter().map(|s| (s - max).exp()).sum();
    scaled.iter().map(|s| (s - max).exp() / total).collect()
}

/// Frequencies of `draws` samples (without `accept`, so the distribution stays fixed).
fn empirical(params: SamplingParams, logits: &[f32], draws: usize) -> Vec<f64> {
    let mut sampler = Sampler::new(params, &[]);
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..draws {
        counts[sampler.sample(logits).token as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / draws as f64).collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn draw_sequence(seed: u64, logits: &[f32], n: usize) -> Vec<u32> {
    let mut sampler = Sampler::new(random_params(seed), &[]);
    (0..n)
        .map(|_| {
            let token = sampler.sample(logits).token;
            sampler.accept(token);
            token
        })
        .collect()
}

const FLAT: [f32; 16] = [0.0; 16];

#[test]
fn same_seed_gives_the_same_samples() {
    let a = draw_sequence(42, &FLAT, 50);
    assert_eq!(a, draw_sequence(42, &FLAT, 50));
    assert!(
        a.iter().any(|&t| t != a[0]),
        "a flat distribution must not yield a constant: {a:?}"
    );
}

#[test]
fn different_seeds_give_different_samples() {
    assert_ne!(draw_sequence(1, &FLAT, 50), draw_sequence(2, &FLAT, 50));
}

#[test]
fn top_k_one_equals_greedy() {
    let mut rng = StdRng::seed_from_u64(7);
    for seed in 0..200 {
        let logits = random_logits(&mut rng, 1000);
        let params = SamplingParams {
            top_k: 1,
            temperature: 0.7,
            ..random_params(seed)
        };
        let sampled = Sampler::new(params, &[]).sample(&logits).token;
        let greedy = Sampler::new(SamplingParams::greedy(), &[])
            .sample(&logits)
            .token;
        assert_eq!(sampled, greedy);
        assert_eq!(greedy, argmax(&logits));
    }
}

#[test]
fn temperature_one_matches_the_softmax() {
    let logits = [2.0, 1.0, 0.5, 0.0, -1.0, -3.0];
    let freq = empirical(random_params(3), &logits, 20_000);
    let diff = max_abs_diff(&freq, &softmax(&logits, 1.0));
    assert!(diff < 0.02, "max abs diff {diff}: {freq:?}");
}

#[test]
fn lower_temperature_is_sharper_and_still_a_softmax() {
    let logits = [2.0, 1.0, 0.5, 0.0, -1.0, -3.0];
    let warm = empirical(random_params(3), &logits, 20_000);
    let cold = empirical(
        SamplingParams {
            temperature: 0.5,
            ..random_params(4)
        },
        &logits,
        20_000,
    );
    let diff = max_abs_diff(&cold, &softmax(&logits, 0.5));
    assert!(diff < 0.02, "max abs diff {diff}: {cold:?}");
    assert!(cold[0] > warm[0] + 0.1, "cold {cold:?} vs warm {warm:?}");
}

#[test]
fn filters_restrict_what_is_drawn() {
    let logits = [0.0, 3.0, 2.9, -1.0, 2.8];
    let params = SamplingParams {
        top_k: 2,
        ..random_params(9)
    };
    let freq = empirical(params, &logits, 2_000);
    assert!(freq[1] > 0.0 && freq[2] > 0.0);
    assert_eq!(freq[0] + freq[3] + freq[4], 0.0, "{freq:?}");
}

#[test]
fn logprob_is_the_raw_log_softmax_of_the_chosen_token() {
    let mut rng = StdRng::seed_from_u64(11);
    let logits = random_logits(&mut rng, 500);
    let params = SamplingParams {
        temperature: 0.7,
        top_k: 40,
        top_p: 0.9,
        typical_p: 0.95,
        repetition_penalty: 1.3,
        frequency_penalty: 0.5,
        presence_penalty: 0.2,
        seed: 5,
        ..SamplingParams::greedy()
    };
    let reference = softmax(&logits, 1.0);
    let mut sampler = Sampler::new(params, &[1, 2, 3]);
    for _ in 0..50 {
        let s = sampler.sample(&logits);
        let expected = reference[s.token as usize].ln() as f32;
        assert!(
            (s.logprob - expected).abs() < 1e-5,
            "{} vs {expected}",
            s.logprob
        );
        sampler.accept(s.token);
    }
}

#[test]
fn greedy_sees_the_penalties() {
    let params = SamplingParams {
        repetition_penalty: 2.0,
        ..SamplingParams::greedy()
    };
    let mut sampler = Sampler::new(params, &[0]);
    assert_eq!(sampler.sample(&[3.0, 2.0]).token, 1, "3 / 2 < 2");

    let params = SamplingParams {
        frequency_penalty: 1.5,
        ..SamplingParams::greedy()
    };
    let mut sampler = Sampler::new(params, &[0]);
    assert_eq!(
        sampler.sample(&[3.0, 2.0]).token,
        0,
        "the prompt does not count"
    );
    sampler.accept(0);
    assert_eq!(sampler.sample(&[3.0, 2.0]).token, 1, "3 - 1.5 < 2");
}

#[test]
fn accepted_tokens_are_penalised_in_later_draws() {
    let params = SamplingParams {
        presence_penalty: 100.0,
        ..random_params(13)
    };
    let mut sampler = Sampler::new(params, &[]);
    let mut drawn: Vec<u32> = (0..8)
        .map(|_| {
            let token = sampler.sample(&[0.0; 8]).token;
            sampler.accept(token);
            token
        })
        .collect();
    drawn.sort_unstable();
    assert_eq!(drawn, (0..8).collect::<Vec<u32>>());
}

#[test]
fn non_finite_logits_never_panic() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let cases: [&[f32]; 7] = [
        &[nan, 1.0, nan, 0.5],
        &[nan, nan, nan],
        &[f32::NEG_INFINITY, nan],
        &[1.0, inf, 2.0, inf],
        &[inf, nan, f32::NEG_INFINITY],
        &[f32::MAX, f32::MAX, -f32::MAX],
        &[],
    ];
    let configs = [
        SamplingParams::greedy(),
        random_params(1),
        SamplingParams {
            temperature: 0.3,
            top_k: 2,
            top_p: 0.5,
            typical_p: 0.5,
            repetition_penalty: 1.2,
            frequency_penalty: 0.3,
            presence_penalty: 0.3,
            seed: 2,
            ..SamplingParams::greedy()
        },
    ];
    for params in configs {
        let mut sampler = Sampler::new(params, &[0, 1]);
        for logits in cases {
            for _ in 0..20 {
                let s = sampler.sample(logits);
                sampler.accept(s.token);
                if let Some(&chosen) = logits.get(s.token as usize) {
                    let all_impossible =
                        logits.iter().all(|l| l.is_nan() || *l == f32::NEG_INFINITY);
                    assert!(
                        all_impossible || !chosen.is_nan(),
                        "chose NaN from {logits:?}"
                    );
                    if logits.contains(&inf) {
                        assert_eq!(chosen, inf, "a +inf logit is certain: {logits:?}");
                    }
                }
                assert!(!s.logprob.is_nan(), "NaN logprob for {logits:?}");
            }
        }
    }
}

#[test]
fn nothing_possible_yields_token_zero_with_zero_probability() {
    for params in [SamplingParams::greedy(), random_params(1)] {
        let s = Sampler::new(params, &[]).sample(&[f32::NAN, f32::NEG_INFINITY]);
        assert_eq!((s.token, s.logprob), (0, f32::NEG_INFINITY));
    }
}

/// The distribution `sample` draws from after `prompt` and the output `accepted`, computed
/// with the pipeline's own stages.
fn final_distribution(
    params: &SamplingParams,
    logits: &[f32],
    prompt: &[u32],
    accepted: &[u32],
) -> Vec<f64> {
    use super::{
        apply_penalties, apply_temperature, collect_candidates, top_k_filter, top_p_filter,
        typical_filter, Candidate, TokenCounts,
    };
    let mut counts = if params.repetition_penalty != 1.0 {
        TokenCounts::from_prompt(prompt)
    } else {
        TokenCounts::default()
    };
    for &t in accepted {
        counts.record(t);
    }
    let mut penalised = logits.to_vec();
    apply_penalties(&mut penalised, &counts, params);
    let mut c: Vec<Candidate> = Vec::new();
    collect_candidates(&penalised, &mut c);
    apply_temperature(&mut c, params.temperature);
    top_k_filter(&mut c, params.top_k);
    top_p_filter(&mut c, params.top_p);
    typical_filter(&mut c, params.typical_p);
    let mut p = vec![0f64; logits.len()];
    let max = c
        .iter()
        .map(|c| f64::from(c.logit))
        .fold(f64::MIN, f64::max);
    let total: f64 = c.iter().map(|c| (f64::from(c.logit) - max).exp()).sum();
    for c in &c {
        p[c.id as usize] = (f64::from(c.logit) - max).exp() / total;
    }
    p
}

/// Pearson's χ² of `observed` counts against `expected` probabilities, and its degrees of
/// freedom; a token drawn that should be impossible is a failure by itself.
fn chi_square(observed: &[usize], expected: &[f64]) -> (f64, usize) {
    let draws: usize = observed.iter().sum();
    let mut statistic = 0.0;
    let mut categories = 0;
    for (&o, &p) in observed.iter().zip(expected) {
        if p == 0.0 {
            assert_eq!(o, 0, "an impossible token was drawn");
            continue;
        }
        let e = p * draws as f64;
        statistic += (o as f64 - e).powi(2) / e;
        categories += 1;
    }
    (statistic, categories - 1)
}

/// The χ² distribution's 0.999 quantile for 1 to 12 degrees of freedom: a correct sampler
/// exceeds it in one run of a thousand.
const CHI_SQUARE_999: [f64; 12] = [
    10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588, 31.264, 32.909,
];

/// Speculative sampling keeps the distribution: for every sampling setting and proposals of
/// high, middling and zero probability, the tokens `verify` returns pass a χ² test against
/// the distribution `sample` draws from (40,000 seeded draws each, at the 0.999 level), while
/// the common mistake (on rejection, drawing from the whole distribution again) fails it.
#[test]
fn checking_a_proposal_keeps_the_sampling_distribution() {
    let logits = [2.0f32, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, 1.2, 0.3, -2.0];
    let (prompt, accepted) = ([0u32, 1], [0u32, 2, 2]);
    let random = |temperature| SamplingParams {
        temperature,
        seed: 7,
        ..SamplingParams::greedy()
    };
    let cases = [
        ("temperature", random(0.7)),
        (
            "top-k",
            SamplingParams {
                top_k: 4,
                ..random(1.0)
            },
        ),
        (
            "top-p",
            SamplingParams {
                top_p: 0.8,
                ..random(1.3)
            },
        ),
        (
            "typical-p",
            SamplingParams {
                typical_p: 0.9,
                ..random(1.0)
            },
        ),
        (
            "penalties",
            SamplingParams {
                repetition_penalty: 1.3,
                frequency_penalty: 0.4,
                presence_penalty: 0.2,
                ..random(1.0)
            },
        ),
    ];
    const DRAWS: usize = 40_000;
    for (name, params) in cases {
        let expected = final_distribution(&params, &logits, &prompt, &accepted);
        for proposed in [0u32, 3, 9] {
            let mut sampler = Sampler::new(params.clone(), &prompt);
            for &t in &accepted {
                sampler.accept(t);
            }
            let mut observed = vec![0usize; logits.len()];
            for _ in 0..DRAWS {
                observed[sampler.verify(&logits, proposed).token as usize] += 1;
            }
            let (statistic, df) = chi_square(&observed, &expected);
            assert!(
                statistic < CHI_SQUARE_999[df - 1],
                "{name}, proposing {proposed}: χ² = {statistic:.1} over {df} degrees of freedom"
            );
        }
    }
    // The mistake: a rejected proposal drawn again from the whole distribution over-weights it.
    let params = random(1.0);
    let expected = final_distribution(&params, &logits, &[], &[]);
    let mut sampler = Sampler::new(params, &[]);
    let mut rng = StdRng::seed_from_u64(3);
    let mut observed = vec![0usize; logits.len()];
    for _ in 0..DRAWS {
        let token = if rng.random::<f64>() < expected[0] {
            0
        } else {
            sampler.sample(&logits).token
        };
        observed[token as usize] += 1;
    }
    let (statistic, df) = chi_square(&observed, &expected);
    assert!(statistic > CHI_SQUARE_999[df - 1], "χ² = {statistic:.1}");
}

/// Greedy checking takes the proposal exactly when it is the argmax, penalties included.
#[test]
fn greedy_checking_takes_the_argmax() {
    let logits = [0.5f32, 3.0, 1.0];
    let mut sampler = Sampler::new(SamplingParams::greedy(), &[]);
    assert_eq!(sampler.verify(&logits, 1).token, 1);
    assert_eq!(sampler.verify(&logits, 2).token, 1);
    let params = SamplingParams {
        repetition_penalty: 4.0,
        ..SamplingParams::greedy()
    };
    let mut sampler = Sampler::new(params, &[1]);
    assert_eq!(sampler.verify(&logits, 1).token, 2, "3 / 4 < 1");
}

/// `logit_bias` moves the choice, greedy or sampled: +100 all but forces a token, -100 bans
/// the model's favourite; the logprob stays the model's own.
#[test]
fn logit_bias_forces_and_bans_tokens() {
    let mut rng = StdRng::seed_from_u64(21);
    let logits = random_logits(&mut rng, 300);
    let best = argmax(&logits);
    let forced = (best + 7) % 300;
    for temperature in [0.0, 1.0] {
        let with = |bias: Vec<(u32, f32)>| SamplingParams {
            temperature,
            logit_bias: bias,
            ..SamplingParams::greedy()
        };
        let mut sampler = Sampler::new(with(vec![(forced, 100.0)]), &[]);
        let chosen = sampler.sample(&logits);
        assert_eq!(chosen.token, forced);
        assert_eq!(chosen.logprob, log_softmax_at(&logits, forced));
        let mut sampler = Sampler::new(with(vec![(best, -100.0)]), &[]);
        for _ in 0..20 {
            assert_ne!(sampler.sample(&logits).token, best);
        }
    }
}
