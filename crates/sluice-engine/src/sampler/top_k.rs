//! Top-k: keep the `k` most likely tokens.

use super::distribution::{by_logit_desc, Candidate};

/// Keeps the `k` highest logits (equal logits: lowest ids first); `k == 0` switches it off.
/// A partial selection, linear in the vocabulary: the survivors are left unordered, since no
/// later stage needs them sorted by logit.
pub fn top_k_filter(candidates: &mut Vec<Candidate>, k: usize) {
    if k == 0 || k >= candidates.len() {
        return;
    }
    candidates.select_nth_unstable_by(k - 1, by_logit_desc);
    candidates.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(logits: &[f32]) -> Vec<Candidate> {
        (0u32..)
            .zip(logits)
            .map(|(id, &logit)| Candidate { id, logit })
            .collect()
    }

    fn sorted_ids(c: &[Candidate]) -> Vec<u32> {
        let mut ids: Vec<u32> = c.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn keeps_exactly_the_k_highest() {
        let mut c = candidates(&[0.1, 3.0, -1.0, 2.0, 0.5]);
        top_k_filter(&mut c, 2);
        assert_eq!(sorted_ids(&c), [1, 3]);
    }

    #[test]
    fn ties_at_the_boundary_keep_the_lowest_ids() {
        let mut c = candidates(&[1.0, 2.0, 1.0, 1.0]);
        top_k_filter(&mut c, 2);
        assert_eq!(sorted_ids(&c), [0, 1]);
    }

    #[test]
    fn zero_or_oversized_k_keeps_everything() {
        for k in [0, 3, 10] {
            let mut c = candidates(&[1.0, 2.0, 3.0]);
            top_k_filter(&mut c, k);
            assert_eq!(c.len(), 3);
        }
    }
}
