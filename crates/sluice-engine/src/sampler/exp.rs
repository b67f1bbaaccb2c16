//! A vectorisable `e^x` for softmax sums.
//!
//! Every token costs at least one pass of exponentials over the whole vocabulary (the logprob's
//! normaliser), sampling a few more. libm's `expf` is a scalar call the compiler cannot
//! vectorise, and over 256k logits it is the sampler's largest cost; this branch-free version
//! (Cephes' `expf` polynomial) compiles to SIMD and is as accurate as the `f32` inputs.

/// Below this `e^x` leaves the normal `f32` range; such tokens weigh nothing.
const MIN_EXPONENT: f32 = -87.3;

/// `e^x` for `x <= 0` — a logit minus the maximum — within 1e-7 relative. Anything below
/// [`MIN_EXPONENT`], including `-inf` and NaN, gives exactly 0.
#[inline]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
    // 1.5 * 2^23: adding it rounds x log2(e) to the integer n, which then sits in the low
    // mantissa bits — no float-to-int conversion, which would not vectorise as well.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 split in two, so that x - n ln 2 is exact for the high part (Cody–Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let in_range = x >= MIN_EXPONENT;
    let x = x.clamp(MIN_EXPONENT, 0.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r on |r| <= ln(2)/2.
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // 2^n built in the exponent bits: n is in -126..=0, so the biased exponent is in 1..=127.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if in_range {
        e_r * two_n
    } else {
        0.0
    }
}

/// `Σ e^(logit(v) - max)` over `values`, where `max` is at least every logit.
///
/// Shaped for the compiler's loop vectoriser: each block's exponentials go to a buffer in one
/// plain loop, which is then summed in eight independent lanes (a single float sum must stay
/// sequential). Block sums are added in `f64`, so rounding does not grow with the vocabulary.
pub(super) fn sum_exp<T>(values: &[T], logit: impl Fn(&T) -> f32, max: f32) -> f64 {
    const BLOCK: usize = 1024;
    const LANES: usize = 8;
    let mut exps = [0.0f32; BLOCK];
    let mut total = 0.0;
    for block in values.chunks(BLOCK) {
        let exps = &mut exps[..block.len()];
        for (e, v) in exps.iter_mut().zip(block) {
            *e = exp_nonpositive(logit(v) - max);
        }
        let mut lanes = [0.0f32; LANES];
        let mut chunks = exps.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, e) in lanes.iter_mut().zip(chunk) {
                *lane += e;
            }
        }
        let rest: f32 = chunks.remainder().iter().sum();
        total += f64::from(lanes.iter().sum::<f32>() + rest);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exp_to_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in 0..=873_000 {
            let x = -(i as f32) * 1e-4;
            let exact = f64::from(x).exp();
            let rel = (f64::from(exp_nonpositive(x)) - exact).abs() / exact;
            worst = worst.max(rel);
        }
        assert!(worst < 1e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn impossible_values_weigh_nothing() {
        for x in [f32::NEG_INFINITY, f32::NAN, -88.0, -1e30] {
            assert_eq!(exp_nonpositive(x), 0.0, "{x}");
        }
    }

    #[test]
    fn sums_match_a_plain_f64_sum() {
        let values: Vec<f32> = (0..10_007)
            .map(|i| -((i * 37 % 1000) as f32) * 0.01)
            .collect();
        let exact: f64 = values.iter().map(|&v| f64::from(v).exp()).sum();
        let fast = sum_exp(&values, |&v| v, 0.0);
        assert!((fast - exact).abs() / exact < 1e-6, "{fast} vs {exact}");
    }
}
