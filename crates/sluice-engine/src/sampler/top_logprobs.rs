//! The most likely tokens of one step with their logprobs (OpenAI's `top_logprobs`, TGI's
//! `top_n_tokens`).

use super::distribution::{by_logit_desc, log_softmax_at, Candidate};

/// The `n` highest-logit tokens (ties by lowest id), best first, with `log_softmax(logits)`
/// at each. One pass over the vocabulary keeps a sorted shortlist; the normaliser is computed
/// once, for the best token, and the others are offsets from it.
pub fn top_logprobs(logits: &[f32], n: usize) -> Vec<(u32, f32)> {
    if n == 0 {
        return Vec::new();
    }
    let mut best: Vec<Candidate> = Vec::with_capacity(n + 1);
    for (id, &logit) in (0u32..).zip(logits) {
        let logit = if logit.is_nan() {
            f32::NEG_INFINITY
        } else {
            logit
        };
        let candidate = Candidate { id, logit };
        if best.len() == n && by_logit_desc(&candidate, &best[n - 1]).is_ge() {
            continue;
        }
        let at = best.partition_point(|b| by_logit_desc(b, &candidate).is_lt());
        best.insert(at, candidate);
        best.truncate(n);
    }
    let Some(first) = best.first().copied() else {
        return Vec::new();
    };
    let first_logprob = log_softmax_at(logits, first.id);
    best.iter()
        .map(|c| {
            let logprob = if c.logit == first.logit {
                first_logprob
            } else {
                first_logprob + (c.logit - first.logit)
            };
            (c.id, logprob)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_with_the_same_logprobs_as_log_softmax() {
        let logits = [0.5, 3.0, -1.0, 3.0, 2.0];
        let top = top_logprobs(&logits, 3);
        let ids: Vec<u32> = top.iter().map(|t| t.0).collect();
        assert_eq!(ids, [1, 3, 4]);
        for (id, lp) in top {
            assert!((lp - log_softmax_at(&logits, id)).abs() < 1e-6);
        }
    }

    #[test]
    fn n_beyond_the_vocabulary_and_zero() {
        assert_eq!(top_logprobs(&[1.0, 2.0], 5).len(), 2);
        assert!(top_logprobs(&[1.0, 2.0], 0).is_empty());
    }

    #[test]
    fn nan_ranks_last_and_is_impossible() {
        let top = top_logprobs(&[f32::NAN, 0.0], 2);
        assert_eq!(top[0].0, 1);
        assert_eq!(top[1], (0, f32::NEG_INFINITY));
    }
}
