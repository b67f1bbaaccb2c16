//! Deterministic data for tests and benchmarks (here and in other crates): variety, not quality.
//! And the benchmarks' timer.

use std::time::{Duration, Instant};

fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x
    }
}

/// `n` bytes.
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut next = lcg(seed);
    (0..n).map(|_| (next() >> 56) as u8).collect()
}

/// `n` values uniform in `[-1, 1)`.
pub fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut next = lcg(seed);
    (0..n)
        .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}

/// Median seconds per call of `f`: runs it in batches until a batch takes at least 50 ms, then
/// times 7 such batches. A plain loop rather than criterion, which would add some 30 crates to
/// every test build on our 2-core machines.
pub fn median_seconds_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let mut reps = 1;
    loop {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        if start.elapsed() >= Duration::from_millis(50) {
            break;
        }
        reps *= 2;
    }
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                f();
            }
            start.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
