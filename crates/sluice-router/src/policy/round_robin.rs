use super::{Candidate, Policy, RouteContext};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Each candidate in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl Policy for RoundRobin {
    fn select(&self, candidates: &[Candidate<'_>], _ctx: &RouteContext<'_>) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % candidates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, picks};
    use super::*;

    #[test]
    fn cycles_through_candidates_whatever_their_load() {
        assert_eq!(
            picks(&RoundRobin::default(), &[9, 0, 3], 7),
            [0, 1, 2, 0, 1, 2, 0]
        );
    }

    #[test]
    fn nothing_to_pick_from_is_none() {
        let p = RoundRobin::default();
        assert_eq!(p.select(&candidates(&[]), &RouteContext::default()), None);
    }
}
