//! Summary statistics over latency samples: mean and the percentiles every report shows.

use serde::{Deserialize, Serialize};

/// Mean and percentiles of one metric over the requests of a level, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Distribution {
    /// Summarises `samples` (any order; NaNs are dropped). `None` when there is no sample.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
        Some(Self {
            count: sorted.len(),
            mean,
            p50: percentile_sorted(&sorted, 50.0),
            p90: percentile_sorted(&sorted, 90.0),
            p99: percentile_sorted(&sorted, 99.0),
            max: sorted[sorted.len() - 1],
        })
    }
}

/// The `p`th percentile (0..=100) of ascending `sorted` samples, interpolating linearly between
/// the two nearest ranks: numpy's default, which vLLM's and GuideLLM's reports also use, so
/// numbers are comparable with theirs.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let xs: Vec<f64> = (1..=10).map(f64::from).collect();
        // numpy.percentile(range(1, 11), [50, 90, 99]) = [5.5, 9.1, 9.91]
        assert_eq!(percentile_sorted(&xs, 50.0), 5.5);
        assert!((percentile_sorted(&xs, 90.0) - 9.1).abs() < 1e-12);
        assert!((percentile_sorted(&xs, 99.0) - 9.91).abs() < 1e-12);
        assert_eq!(percentile_sorted(&xs, 0.0), 1.0);
        assert_eq!(percentile_sorted(&xs, 100.0), 10.0);
    }

    #[test]
    fn distribution_sorts_and_ignores_nan() {
        let d = Distribution::of(&[3.0, f64::NAN, 1.0, 2.0]).unwrap();
        assert_eq!(d.count, 3);
        assert_eq!(d.mean, 2.0);
        assert_eq!(d.p50, 2.0);
        assert_eq!(d.max, 3.0);
        assert_eq!(Distribution::of(&[]), None);
        assert_eq!(Distribution::of(&[7.0]).unwrap().p99, 7.0);
    }
}
