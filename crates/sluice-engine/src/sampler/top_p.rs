//! Nucleus (top-p) sampling, Holtzman et al. 2019.

use super::distribution::{by_logit_desc, Candidate};
use super::mass::prefix_reaching_mass;

/// Keeps the smallest set of most likely tokens whose probability sums to at least `top_p`
/// (always at least one); `top_p >= 1` switches it off. The survivors end up sorted by logit.
pub fn top_p_filter(candidates: &mut Vec<Candidate>, top_p: f32) {
    if top_p >= 1.0 || candidates.len() <= 1 {
        return;
    }
    let kept = prefix_reaching_mass(candidates, f64::from(top_p), by_logit_desc);
    candidates.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept_ids(probs: &[f32], top_p: f32) -> Vec<u32> {
        super::super::distribution::kept_ids(probs, top_p, top_p_filter)
    }

    #[test]
    fn keeps_the_smallest_set_reaching_top_p() {
        let probs = [0.5, 0.3, 0.15, 0.05];
        assert_eq!(kept_ids(&probs, 0.8), [0, 1]);
        assert_eq!(kept_ids(&probs, 0.81), [0, 1, 2]);
        assert_eq!(kept_ids(&probs, 0.5), [0]);
        assert_eq!(kept_ids(&probs, 0.96), [0, 1, 2, 3]);
    }

    #[test]
    fn order_of_the_input_does_not_matter() {
        assert_eq!(kept_ids(&[0.15, 0.05, 0.3, 0.5], 0.8), [2, 3]);
    }

    #[test]
    fn always_keeps_the_most_likely_token() {
        assert_eq!(kept_ids(&[0.2, 0.7, 0.1], 0.01), [1]);
        assert_eq!(kept_ids(&[0.2, 0.7, 0.1], 0.0), [1]);
    }

    #[test]
    fn one_switches_it_off() {
        assert_eq!(kept_ids(&[0.97, 0.02, 0.01], 1.0), [0, 1, 2]);
    }
}
