//! How many tokens to propose for a sequence this step: only as many as are likely to pay for
//! the rows they add.
//!
//! A step of `r` rows takes about `a + b·r` seconds: `a` is what any step costs (the weights
//! read once, the dispatch), `b` what each row adds. Both are fitted to the engine's own steps
//! as they run (least squares over a decaying window), so the rule follows the hardware and
//! the model. Prompt steps are in the fit on purpose: their spread of sizes keeps it well
//! posed. Fitted to decode steps alone, whose sizes barely vary at a steady load, the slope
//! was mostly noise, often negative, and the rule fell back to proposing everything (measured:
//! 0.72x throughput at 32 clients with `--speculate 1`); prompt rows cost less each than a
//! few decode rows, so the fit errs towards proposing at low load, where proposals are cheap. At `d` decoding sequences, plain decoding spends `(a + b·d) / d` per token.
//! A proposed token costs one row, `b`, plus `c`, what proposing it costs (nothing for prompt
//! lookup; a draft model's step shared by the tokens it proposes, also measured), and is worth
//! a token's time only if it is accepted; the `j`-th token of a chain is accepted only if the
//! `j - 1` before it were, with probability `αʲ` for a per-token acceptance rate `α`. So the
//! `j`-th is proposed while
//!
//! `αʲ · (a + b·d) / d > b + c`, that is `αʲ > (b + c)·d / (a + b·d)`.
//!
//! The right side is the share of a decode step that one more proposed token costs. When a step is bound
//! by reading the weights (few sequences, `a` large), it is small and chains run long; as the
//! batch grows the step becomes bound by compute, the share nears 1, and proposals stop. Until
//! the fit has seen steps of different sizes, proposals are made up to the limit.

/// The weight a new step has in the fit: the last hundred or so steps count.
const DECAY: f64 = 0.99;

/// An online least-squares fit of step time against rows.
#[derive(Clone, Debug, Default)]
pub struct StepCost {
    weight: f64,
    rows: f64,
    seconds: f64,
    rows_sq: f64,
    rows_seconds: f64,
}

impl StepCost {
    /// Adds a step of `rows` rows that took `seconds`.
    pub fn record(&mut self, rows: usize, seconds: f64) {
        let r = rows as f64;
        for (sum, value) in [
            (&mut self.weight, 1.0),
            (&mut self.rows, r),
            (&mut self.seconds, seconds),
            (&mut self.rows_sq, r * r),
            (&mut self.rows_seconds, r * seconds),
        ] {
            *sum = *sum * DECAY + value;
        }
    }

    /// `(a, b)`: the fitted cost of a step and of each row, once steps of different sizes have
    /// been seen and the fit is meaningful (both positive).
    pub fn fit(&self) -> Option<(f64, f64)> {
        let spread = self.weight * self.rows_sq - self.rows * self.rows;
        // Steps of one size only (every step a single decode, say) fix no slope.
        if self.weight < 2.0 || spread <= 1e-9 * self.weight * self.rows_sq {
            return None;
        }
        let b = (self.weight * self.rows_seconds - self.rows * self.seconds) / spread;
        let a = (self.seconds - b * self.rows) / self.weight;
        (a > 0.0 && b > 0.0).then_some((a, b))
    }

    /// How many of up to `max` tokens to propose for a sequence whose proposals are accepted
    /// at rate `acceptance`, in a step of `decodes` decoding sequences, when proposing a token
    /// costs `proposing` seconds (see the module).
    pub fn tokens_worth_proposing(
        &self,
        max: usize,
        acceptance: f64,
        decodes: usize,
        proposing: f64,
    ) -> usize {
        let Some((a, b)) = self.fit() else {
            return max;
        };
        let d = decodes.max(1) as f64;
        let row_share = (b + proposing) * d / (a + b * d);
        let mut chance = 1.0;
        (0..max)
            .take_while(|_| {
                chance *= acceptance;
                chance > row_share
            })
            .count()
    }
}

/// A rate of acceptance followed as proposals are checked: each checked token moves it a
/// step towards 1 (accepted) or 0 (rejected).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acceptance(f64);

impl Acceptance {
    /// How far one outcome moves the rate.
    const STEP: f64 = 0.2;

    pub fn new(rate: f64) -> Self {
        Acceptance(rate.clamp(0.0, 1.0))
    }

    pub fn rate(self) -> f64 {
        self.0
    }

    /// Records a chain of proposals checked: `accepted` taken, then one rejected unless the
    /// whole chain of `proposed` was taken.
    pub fn record(&mut self, proposed: usize, accepted: usize) {
        for _ in 0..accepted {
            self.0 += Self::STEP * (1.0 - self.0);
        }
        if accepted < proposed {
            self.0 -= Self::STEP * self.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(a: f64, b: f64) -> StepCost {
        let mut cost = StepCost::default();
        for rows in [1, 1, 2, 9, 32, 1, 4, 512] {
            cost.record(rows, a + b * rows as f64);
        }
        cost
    }

    #[test]
    fn the_fit_finds_the_fixed_and_the_per_row_cost() {
        let (a, b) = fitted(0.004, 0.0005).fit().unwrap();
        assert!(
            (a - 0.004).abs() < 1e-9 && (b - 0.0005).abs() < 1e-9,
            "{a} {b}"
        );
    }

    #[test]
    fn steps_of_one_size_fix_nothing_and_allow_the_limit() {
        let mut cost = StepCost::default();
        for _ in 0..50 {
            cost.record(1, 0.005);
        }
        assert_eq!(cost.fit(), None);
        assert_eq!(cost.tokens_worth_proposing(8, 0.1, 64, 0.0), 8);
    }

    #[test]
    fn proposals_stop_as_the_batch_grows_or_acceptance_falls() {
        // A step costs 4 ms plus 0.5 ms a row: one more row is 1/9 of a lone decode and
        // 16/24 of a 32-sequence one.
        let cost = fitted(0.004, 0.0005);
        assert_eq!(cost.tokens_worth_proposing(8, 0.8, 1, 0.0), 8); // 0.8^8 = 0.17 > 0.11
        assert_eq!(cost.tokens_worth_proposing(8, 0.5, 1, 0.0), 3); // 0.5^3 = 0.125 > 0.11
        assert_eq!(cost.tokens_worth_proposing(8, 0.9, 32, 0.0), 2); // 0.81 > 0.8 > 0.729
        assert_eq!(cost.tokens_worth_proposing(8, 0.6, 32, 0.0), 0);
        assert_eq!(cost.tokens_worth_proposing(8, 0.95, 256, 0.0), 0); // one more row: 0.97
        assert_eq!(cost.tokens_worth_proposing(0, 1.0, 1, 0.0), 0);
        // A draft model's 1.75 ms a token: (0.5 + 1.75) / 4.5 = 0.5 of a lone decode.
        assert_eq!(cost.tokens_worth_proposing(8, 0.8, 1, 0.00175), 3); // 0.8^3 = 0.51
    }

    #[test]
    fn acceptance_follows_the_outcomes() {
        let mut rate = Acceptance::new(0.5);
        rate.record(4, 4);
        let after_hits = rate.rate();
        assert!(after_hits > 0.75, "{after_hits}");
        rate.record(3, 0);
        assert!(rate.rate() < after_hits);
        let mut rate = Acceptance::new(0.5);
        for _ in 0..20 {
            rate.record(2, 0);
        }
        assert!(rate.rate() < 0.02);
    }
}
