use super::{Candidate, Policy, RouteContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Mutex, PoisonError};

/// Power of two choices: two distinct candidates at random, the one with fewer requests in
/// flight (the first drawn on a tie). Nearly as balanced as least-outstanding, but replicas
/// behind several routers do not all see the same "least loaded" at once. The RNG is injected
/// so tests are exact.
#[derive(Debug)]
pub struct PowerOfTwo {
    rng: Mutex<StdRng>,
}

impl PowerOfTwo {
    pub fn seeded(seed: u64) -> Self {
        PowerOfTwo {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    pub fn from_os_rng() -> Self {
        PowerOfTwo {
            rng: Mutex::new(StdRng::from_os_rng()),
        }
    }

    fn two_distinct(&self, n: usize) -> (usize, usize) {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let a = rng.random_range(0..n);
        let b = rng.random_range(0..n - 1);
        (a, if b >= a { b + 1 } else { b })
    }
}

impl Policy for PowerOfTwo {
    fn select(&self, candidates: &[Candidate<'_>], _ctx: &RouteContext<'_>) -> Option<usize> {
        match candidates.len() {
            0 => None,
            1 => Some(0),
            n => {
                let (a, b) = self.two_distinct(n);
                Some(if candidates[b].in_flight < candidates[a].in_flight {
                    b
                } else {
                    a
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::picks;
    use super::*;

    #[test]
    fn of_two_it_always_takes_the_less_loaded() {
        assert_eq!(picks(&PowerOfTwo::seeded(7), &[4, 1], 5), [1; 5]);
    }

    #[test]
    fn never_picks_the_most_loaded_and_reaches_the_others() {
        let got = picks(&PowerOfTwo::seeded(1), &[2, 0, 9, 1], 200);
        assert!(!got.contains(&2));
        for i in [0, 1, 3] {
            assert!(got.contains(&i), "{i} never picked");
        }
        // Index 1 (idle) wins whenever it is drawn, so it gets the most.
        let count = |i| got.iter().filter(|&&g| g == i).count();
        assert!(count(1) > count(3) && count(3) > count(0));
    }

    #[test]
    fn a_seed_fixes_the_sequence() {
        let loads = [0, 0, 0, 0];
        assert_eq!(
            picks(&PowerOfTwo::seeded(42), &loads, 32),
            picks(&PowerOfTwo::seeded(42), &loads, 32)
        );
    }
}
