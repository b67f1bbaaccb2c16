//! The logit-to-probability arithmetic every stage shares, made total: NaN counts as `-inf`
//! (the token is impossible), and a `+inf` logit means certainty. Model output is data, so a
//! bad value must degrade the answer, never panic or poison the whole distribution with NaN.

use std::cmp::Ordering;

use rand::Rng;

use super::exp::{exp_nonpositive, sum_exp};

/// A token still in the running, with its (possibly penalised, scaled) logit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub logit: f32,
}

/// NaN would make every comparison and sum meaningless; `-inf` says what it must mean here.
fn clean(logit: f32) -> f32 {
    if logit.is_nan() {
        f32::NEG_INFINITY
    } else {
        logit
    }
}

/// Highest logit first; equal logits by lowest id, so every ordering is total and reproducible.
pub(super) fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Greedy choice: the first (lowest id) of the highest logits. One pass, no allocation.
/// An empty or all-NaN slice yields token 0.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = (0, f32::NEG_INFINITY);
    for (id, &logit) in (0u32..).zip(logits) {
        let logit = clean(logit);
        if logit > best.1 {
            best = (id, logit);
        }
    }
    best.0
}

/// `log_softmax(logits)[token]`, without materialising the softmax: one vectorised pass of
/// exponentials, summed in `f64`.
///
/// `+inf` logits share all the mass equally; a token outside the vocabulary, or a vocabulary in
/// which every logit is `-inf`/NaN, has probability zero (`-inf`).
pub fn log_softmax_at(logits: &[f32], token: u32) -> f32 {
    let Some(&chosen) = usize::try_from(token).ok().and_then(|t| logits.get(t)) else {
        return f32::NEG_INFINITY;
    };
    let chosen = clean(chosen);
    // `f32::max` ignores NaN.
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY || chosen == f32::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    if max == f32::INFINITY {
        if chosen < f32::INFINITY {
            return f32::NEG_INFINITY;
        }
        let certain = logits.iter().filter(|&&l| l == f32::INFINITY).count();
        return -(certain as f64).ln() as f32;
    }
    // NaN needs no cleaning here: it weighs nothing in the sum.
    let sum = sum_exp(logits, |&l| l, max);
    (f64::from(chosen - max) - sum.ln()) as f32
}

/// Refills `out` with the tokens that have any probability: `-inf`/NaN logits are dropped, and if
/// some logit is `+inf` only those tokens remain, equally likely (logit 0). Afterwards every
/// candidate's logit is finite, so later stages need no special cases.
pub fn collect_candidates(logits: &[f32], out: &mut Vec<Candidate>) {
    out.clear();
    if logits.contains(&f32::INFINITY) {
        out.extend(
            (0u32..)
                .zip(logits)
                .filter(|(_, &l)| l == f32::INFINITY)
                .map(|(id, _)| Candidate { id, logit: 0.0 }),
        );
    } else {
        out.extend(
            (0u32..)
                .zip(logits)
                .filter(|(_, &l)| l > f32::NEG_INFINITY)
                .map(|(id, &logit)| Candidate { id, logit }),
        );
    }
}

/// Divides the logits by `temperature` (> 0). The maximum is subtracted first — softmax does not
/// change under a shift — so a small temperature cannot overflow a large logit to `+inf`.
pub fn apply_temperature(candidates: &mut [Candidate], temperature: f32) {
    let max = max_logit(candidates);
    for c in candidates {
        c.logit = (c.logit - max) / temperature;
    }
}

pub(super) fn max_logit(candidates: &[Candidate]) -> f32 {
    candidates
        .iter()
        .map(|c| c.logit)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Unnormalised probability, relative to the maximum logit `max` (so the best token weighs 1).
pub(super) fn weight(candidate: &Candidate, max: f32) -> f64 {
    f64::from(exp_nonpositive(candidate.logit - max))
}

/// Sum of [`weight`] over `candidates`.
pub(super) fn total_weight(candidates: &[Candidate], max: f32) -> f64 {
    sum_exp(candidates, |c| c.logit, max)
}

/// Draws one candidate with probability proportional to `exp(logit)`, i.e. from the
/// renormalised distribution over the survivors. `None` only when no candidate has any weight
/// (there are none, say).
///
/// Walking a whole vocabulary token by token would cost a second round of scalar exponentials;
/// instead whole blocks are skipped by their (vectorised) sums and only the block that holds the
/// target is walked.
pub fn draw<R: Rng + ?Sized>(candidates: &[Candidate], rng: &mut R) -> Option<u32> {
    const BLOCK: usize = 1024;
    let max = max_logit(candidates);
    let mut target = rng.random::<f64>() * total_weight(candidates, max);
    for block in candidates.chunks(BLOCK) {
        let block_weight = total_weight(block, max);
        if target >= block_weight {
            target -= block_weight;
            continue;
        }
        let mut cumulative = 0.0;
        for c in block {
            cumulative += weight(c, max);
            if cumulative > target {
                return Some(c.id);
            }
        }
        // Summed in another order, the block can fall a hair short of `target`.
        return last_weighted(block, max);
    }
    // Rounding can leave `target` a hair above the final sum.
    last_weighted(candidates, max)
}

/// Where `id` is among `candidates` and its probability in their renormalised distribution;
/// `None` when it is not among them (its probability is zero).
pub fn probability_of(candidates: &[Candidate], id: u32) -> Option<(usize, f64)> {
    let index = candidates.iter().position(|c| c.id == id)?;
    let max = max_logit(candidates);
    Some((
        index,
        weight(&candidates[index], max) / total_weight(candidates, max),
    ))
}

fn last_weighted(candidates: &[Candidate], max: f32) -> Option<u32> {
    candidates
        .iter()
        .rev()
        .find(|c| weight(c, max) > 0.0)
        .map(|c| c.id)
}

/// Test helper for the filters: candidates with the given probabilities (ids in order), run
/// through `filter`, and the surviving ids sorted.
#[cfg(test)]
pub fn kept_ids(probs: &[f32], param: f32, filter: fn(&mut Vec<Candidate>, f32)) -> Vec<u32> {
    let mut c: Vec<Candidate> = (0u32..)
        .zip(probs)
        .map(|(id, &p)| Candidate { id, logit: p.ln() })
        .collect();
    filter(&mut c, param);
    let mut ids: Vec<u32> = c.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn argmax_breaks_ties_towards_the_lowest_id() {
        assert_eq!(argmax(&[0.0, 3.0, 1.0, 3.0]), 1);
    }

    #[test]
    fn argmax_treats_nan_as_impossible() {
        assert_eq!(argmax(&[f32::NAN, -5.0, f32::NAN]), 1);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[1.0, f32::INFINITY, f32::NAN]), 1);
    }

    #[test]
    fn log_softmax_matches_the_definition() {
        let logits = [1.0f32, 2.0, 3.0, -1.0];
        let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        for (t, &l) in (0u32..).zip(&logits) {
            let expected = (f64::from(l) - z.ln()) as f32;
            assert!((log_softmax_at(&logits, t) - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn log_softmax_survives_non_finite_logits() {
        assert_eq!(log_softmax_at(&[f32::NAN, 0.0], 0), f32::NEG_INFINITY);
        assert!(log_softmax_at(&[f32::NAN, 0.0], 1).abs() < 1e-7);
        let two_certain = [f32::INFINITY, 1.0, f32::INFINITY];
        assert!((log_softmax_at(&two_certain, 0) - (-(2f32.ln()))).abs() < 1e-6);
        assert_eq!(log_softmax_at(&two_certain, 1), f32::NEG_INFINITY);
        assert_eq!(log_softmax_at(&[f32::NAN; 3], 0), f32::NEG_INFINITY);
        assert_eq!(log_softmax_at(&[0.0], 7), f32::NEG_INFINITY);
    }

    #[test]
    fn collecting_drops_impossible_tokens_and_honours_certainty() {
        let mut out = Vec::new();
        collect_candidates(&[1.0, f32::NAN, f32::NEG_INFINITY, -2.0], &mut out);
        let ids: Vec<u32> = out.iter().map(|c| c.id).collect();
        assert_eq!(ids, [0, 3]);

        collect_candidates(&[1.0, f32::INFINITY, f32::NAN, f32::INFINITY], &mut out);
        assert_eq!(
            out,
            [
                Candidate { id: 1, logit: 0.0 },
                Candidate { id: 3, logit: 0.0 }
            ]
        );
    }

    #[test]
    fn draws_across_blocks_follow_the_weights() {
        // 3000 candidates over three blocks: one heavy token in the last, the rest uniform.
        let mut candidates: Vec<Candidate> =
            (0..3000).map(|id| Candidate { id, logit: 0.0 }).collect();
        candidates[2500].logit = 10.0;
        let total = 10f64.exp() + 2999.0;
        let mut rng = StdRng::seed_from_u64(17);
        let (mut heavy, mut first_block) = (0, 0);
        let n = 10_000;
        for _ in 0..n {
            match draw(&candidates, &mut rng) {
                Some(2500) => heavy += 1,
                Some(id) if id < 1024 => first_block += 1,
                Some(_) => {}
                None => panic!("nothing drawn"),
            }
        }
        let heavy = f64::from(heavy) / f64::from(n);
        let first_block = f64::from(first_block) / f64::from(n);
        assert!(
            (heavy - 10f64.exp() / total).abs() < 0.01,
            "heavy token drawn {heavy}"
        );
        assert!(
            (first_block - 1024.0 / total).abs() < 0.01,
            "first block drawn {first_block}"
        );
    }

    #[test]
    fn nothing_to_draw_from() {
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(draw(&[], &mut rng), None);
    }

    #[test]
    fn temperature_scales_relative_to_the_maximum() {
        let mut c = [
            Candidate {
                id: 0,
                logit: f32::MAX,
            },
            Candidate {
                id: 1,
                logit: f32::MAX - 1e32,
            },
        ];
        apply_temperature(&mut c, 0.5);
        assert!(c.iter().all(|c| c.logit.is_finite() && c.logit <= 0.0));
        assert_eq!(c[0].logit, 0.0);
    }
}
