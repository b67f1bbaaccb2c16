use super::{Candidate, Policy, RouteContext};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The candidate with the fewest requests in flight. Ties go in turn (the scan starts one
/// further each call), so an idle cluster is not all sent to the first replica.
#[derive(Debug, Default)]
pub struct LeastOutstanding {
    start: AtomicUsize,
}

impl Policy for LeastOutstanding {
    fn select(&self, candidates: &[Candidate<'_>], _ctx: &RouteContext<'_>) -> Option<usize> {
        let n = candidates.len();
        let start = self.start.fetch_add(1, Ordering::Relaxed) % n.max(1);
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| candidates[i].in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, picks};
    use super::*;

    #[test]
    fn picks_the_least_loaded() {
        assert_eq!(
            picks(&LeastOutstanding::default(), &[3, 1, 2], 4),
            [1, 1, 1, 1]
        );
    }

    #[test]
    fn ties_go_in_turn() {
        assert_eq!(
            picks(&LeastOutstanding::default(), &[0, 5, 0, 0], 6),
            [0, 2, 2, 3, 0, 2]
        );
    }

    #[test]
    fn follows_the_load_as_it_changes() {
        let p = LeastOutstanding::default();
        let mut loads = vec![0usize; 3];
        for _ in 0..9 {
            let i = p
                .select(&candidates(&loads), &RouteContext::default())
                .unwrap();
            loads[i] += 1;
        }
        assert_eq!(loads, [3, 3, 3]);
        assert_eq!(p.select(&candidates(&[]), &RouteContext::default()), None);
    }
}
