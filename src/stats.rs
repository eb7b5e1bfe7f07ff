//! Order statistics, written once for every layer: the median and percentile of samples (live latency,
//! the report's and `analyze`'s summaries, the 3-frame smoothing) and the quantile of a fixed-bin
//! histogram (the per-lesion figures; `shaders/reduce.wgsl`'s `quantile` is its GPU twin). Plain
//! functions on plain numbers; knows nothing else of the crate.

/// The sample at rank round(q (n - 1)) of `v` (sorted in place; NaN last); `None` for no sample.
pub fn percentile<T: Copy + PartialOrd>(v: &mut [T], q: f64) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or_else(|| (a != a).cmp(&(b != b))));
    Some(v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)])
}

/// The median as everything here takes it: the sample at rank n/2 (the upper one of an even count),
/// which is `percentile(v, 0.5)`.
pub fn median<T: Copy + PartialOrd>(v: &mut [T]) -> Option<T> {
    percentile(v, 0.5)
}

/// Centre of the bin below which `num/den` of a histogram's samples lie (integer arithmetic, as the GPU).
pub fn hist_quantile(hist: &[u32], num: u64, den: u64, bin: f32, origin: f32) -> Option<f32> {
    let total: u64 = hist.iter().map(|&c| c as u64).sum();
    if total == 0 {
        return None;
    }
    let target = (num * total).div_ceil(den).max(1);
    let mut acc = 0u64;
    for (i, &c) in hist.iter().enumerate() {
        acc += c as u64;
        if acc >= target {
            return Some(origin + (i as f32 + 0.5) * bin);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_upper_middle_and_percentile_rounds_its_rank() {
        for n in 1..12usize {
            let mut v: Vec<f64> = (0..n).rev().map(|x| x as f64).collect();
            assert_eq!(median(&mut v), Some((n / 2) as f64), "n {n}");
        }
        assert_eq!(median::<f32>(&mut []), None);
        let mut v: Vec<f64> = (0..101).map(|x| x as f64).collect();
        assert_eq!(percentile(&mut v, 0.99), Some(99.0));
        assert_eq!(hist_quantile(&[0, 2, 2], 1, 2, 0.5, 1.0), Some(1.75));
    }
}
