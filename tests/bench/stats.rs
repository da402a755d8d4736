//! Medians and spreads of samples.

use std::time::Duration;

/// The median of `samples` (the mean of the middle two for an even count).
pub fn median(samples: &mut [f64]) -> f64 {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    }
}

/// Durations as microseconds.
pub fn micros(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e6).collect()
}

/// The smallest and largest of `samples` divided by `scale`, as `min–max`.
#[cfg_attr(
    not(unix),
    expect(dead_code, reason = "the named-lock figures run on Unix")
)]
pub fn spread(samples: &[f64], scale: f64) -> String {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.0}–{:.0}", min / scale, max / scale)
}
