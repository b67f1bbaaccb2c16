//! Locally typical sampling (Meister et al. 2022), as HF's `TypicalLogitsWarper` does it.
//!
//! Instead of the most likely tokens it keeps those whose surprisal `-log p` is closest to the
//! distribution's entropy — the information content a "typical" continuation carries — which
//! avoids both the dull high-probability loops and the incoherent tail.

use std::cmp::Ordering;

use super::distribution::{max_logit, total_weight, weight, Candidate};
use super::mass::prefix_reaching_mass;

/// Keeps the tokens with the smallest `|-log p - H|` until their probability reaches
/// `typical_p` (at least one, plus any token tied with the last one kept, as HF does);
/// `typical_p >= 1` switches it off. Probabilities are those of the current candidates,
/// renormalised.
pub fn typical_filter(candidates: &mut Vec<Candidate>, typical_p: f32) {
    if typical_p >= 1.0 || candidates.len() <= 1 {
        return;
    }
    let max = max_logit(candidates);
    let total = total_weight(candidates, max);
    let log_total = f64::from(max) + total.ln();
    let entropy: f64 = candidates
        .iter()
        .map(|c| {
            let p = weight(c, max) / total;
            // p log p -> 0 as p -> 0; skip it rather than produce 0 * -inf = NaN.
            if p > 0.0 {
                -p * (f64::from(c.logit) - log_total)
            } else {
                0.0
            }
        })
        .sum();
    let atypicality = |c: &Candidate| (log_total - f64::from(c.logit) - entropy).abs();
    let order = |a: &Candidate, b: &Candidate| -> Ordering {
        atypicality(a)
            .total_cmp(&atypicality(b))
            .then(a.id.cmp(&b.id))
    };

    let head = prefix_reaching_mass(candidates, f64::from(typical_p), order);
    let boundary = atypicality(&candidates[head - 1]);
    let mut kept = head;
    for i in head..candidates.len() {
        if atypicality(&candidates[i]) == boundary {
            candidates.swap(kept, i);
            kept += 1;
        }
    }
    candidates.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept_ids(probs: &[f32], typical_p: f32) -> Vec<u32> {
        super::super::distribution::kept_ids(probs, typical_p, typical_filter)
    }

    /// probs [0.5, 0.3, 0.15, 0.05]: entropy H = 1.1421 nats; surprisals 0.693, 1.204, 1.897,
    /// 2.996; distances to H 0.449, 0.062, 0.755, 1.854. Typical order: 1, 0, 2, 3 with
    /// cumulative mass 0.3, 0.8, 0.95, 1.0.
    #[test]
    fn keeps_the_tokens_closest_to_the_entropy() {
        let probs = [0.5, 0.3, 0.15, 0.05];
        assert_eq!(
            kept_ids(&probs, 0.25),
            [1],
            "the most typical token is not the most likely"
        );
        assert_eq!(kept_ids(&probs, 0.5), [0, 1]);
        assert_eq!(kept_ids(&probs, 0.9), [0, 1, 2]);
        assert_eq!(kept_ids(&probs, 0.99), [0, 1, 2, 3]);
    }

    #[test]
    fn tokens_tied_with_the_last_kept_are_kept() {
        // Two equal tokens have equal surprisal: keeping one keeps both.
        assert_eq!(kept_ids(&[0.2, 0.4, 0.4], 0.3), [1, 2]);
    }

    #[test]
    fn one_switches_it_off() {
        assert_eq!(kept_ids(&[0.97, 0.02, 0.01], 1.0), [0, 1, 2]);
    }
}
