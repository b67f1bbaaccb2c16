//! The shared core of nucleus and typical sampling: walk the candidates in some order and stop
//! as soon as enough probability mass is covered.

use std::cmp::Ordering;

use super::distribution::{max_logit, total_weight, weight, Candidate};

/// Mass within this (relative) distance of the target counts as reaching it. Probabilities come
/// from `f32` logits and are only that accurate, so without slack a nucleus whose mass is
/// "exactly" `top_p` (0.5 + 0.3 for `top_p = 0.8`) would be kept or not by rounding noise.
const MASS_TOLERANCE: f64 = 1e-6;

/// The first batch sorted; a peaked distribution reaches any useful mass well inside it.
const FIRST_BATCH: usize = 64;

/// Orders the head of `candidates` by `order` and returns the length of the shortest prefix
/// whose share of the total probability reaches `mass` — at least 1 when there is any candidate.
/// Only that head ends up sorted (the tail is left in any order).
///
/// Rather than sorting a whole vocabulary, batches of growing size are selected from the
/// unsorted rest and sorted on their own, so the work stays proportional to the prefix actually
/// needed (a few hundred tokens out of 260k, typically); a flat distribution degrades gracefully
/// to about one full sort.
pub(super) fn prefix_reaching_mass<F>(candidates: &mut [Candidate], mass: f64, order: F) -> usize
where
    F: Fn(&Candidate, &Candidate) -> Ordering,
{
    let max = max_logit(candidates);
    let total = total_weight(candidates, max);
    let target = (mass - MASS_TOLERANCE) * total;
    let mut cumulative = 0.0;
    let mut sorted = 0;
    let mut batch = FIRST_BATCH;
    while sorted < candidates.len() {
        let end = (sorted + batch).min(candidates.len());
        if end < candidates.len() {
            candidates[sorted..].select_nth_unstable_by(end - sorted - 1, &order);
        }
        let head = &mut candidates[sorted..end];
        head.sort_unstable_by(&order);
        for (i, c) in head.iter().enumerate() {
            cumulative += weight(c, max);
            if cumulative >= target {
                return sorted + i + 1;
            }
        }
        sorted = end;
        batch *= 4;
    }
    candidates.len()
}

#[cfg(test)]
mod tests {
    use super::super::distribution::by_logit_desc;
    use super::*;

    #[test]
    fn matches_a_full_sort_across_many_batches() {
        // 10_000 near-uniform candidates: the prefix needs several growing batches.
        let mut c: Vec<Candidate> = (0u32..10_000)
            .map(|id| Candidate {
                id,
                logit: ((id * 7919) % 10_000) as f32 * 1e-4,
            })
            .collect();
        let mut reference = c.clone();
        reference.sort_unstable_by(by_logit_desc);

        let kept = prefix_reaching_mass(&mut c, 0.9, by_logit_desc);
        let max = max_logit(&reference);
        let total: f64 = reference.iter().map(|c| weight(c, max)).sum();
        let mut cumulative = 0.0;
        let expected = 1 + reference
            .iter()
            .position(|c| {
                cumulative += weight(c, max);
                cumulative >= (0.9 - MASS_TOLERANCE) * total
            })
            .unwrap_or(reference.len() - 1);
        assert!(
            kept > FIRST_BATCH * 5,
            "the test must span several batches, kept {kept}"
        );
        assert_eq!(kept, expected);
        assert_eq!(c[..kept], reference[..kept]);
    }

    #[test]
    fn keeps_at_least_one() {
        let mut c = vec![
            Candidate { id: 0, logit: 0.0 },
            Candidate { id: 1, logit: 0.0 },
        ];
        assert_eq!(prefix_reaching_mass(&mut c, 0.0, by_logit_desc), 1);
    }
}
