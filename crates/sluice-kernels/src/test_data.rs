//! Deterministic data for tests and benchmarks (here and in other crates): variety, not quality.

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
