//! Order statistics, written once for every layer: the median and percentile of samples (live latency,
//! the report's and `analyze`'s summaries, the 3-frame smoothing) and the quantile of a fixed-bin
//! histogram (the per-lesion figures; `shaders/reduce.wgsl`'s `quantile` is its GPU twin), and the
//! robust outlier bar of a frame's samples with the normal quantile behind it (coreless lesions judged
//! against the frame's texture grains). Plain functions on plain numbers; knows nothing
//! else of the crate.

/// The sample at rank round(q (n - 1)) of `v` in ascending order (NaN last); `None` for no sample.
/// `v` is reordered (selected, not sorted: the sample is the one sorting would put at that rank).
pub fn percentile<T: Copy + PartialOrd>(v: &mut [T], q: f64) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1);
    Some(*v.select_nth_unstable_by(rank, |a, b| a.partial_cmp(b).unwrap_or_else(|| (a != a).cmp(&(b != b)))).1)
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

/// Fewer grains than this: a frame's texture is not judged by them (the median absolute deviation of
/// fewer is too loose a sigma, and a few ducts or lesions among them set the bar; at 8 an independent
/// phantom set lost a homogeneous lesion among 8 samples, at 12 and 16 none). 12 rather than 16 (eighth
/// session): coarse heavy texture makes 12–15 grains of a lesion's size, and those frames held 6 of the
/// 11 false coreless lesions of tuning seed 9200 and 27 of the independent set's.
pub const MIN_GRAINS: usize = 12;

/// The bars a blob must reach to stand out from a frame's blobs (each an excess mass over the
/// background, and an area), which are taken for the frame's texture grains: `outlier_bar` at α/2 of
/// their log mass and of their log mean excess (mass over area; a deep lesion's glow stands out by its
/// mass, a tumour's own fluorescence by its mean where the grains are as large). `None` with fewer than
/// `MIN_GRAINS` blobs or no spread: nothing is judged.
pub fn grain_bars(mass: &[f32], area: &[f32], alpha: f32) -> Option<GrainBars> {
    if mass.len() < MIN_GRAINS {
        return None;
    }
    let log_mass: Vec<f32> = mass.iter().map(|m| m.max(1.0).ln()).collect();
    let log_mean: Vec<f32> = mass.iter().zip(area).map(|(&m, &a)| log_mean_excess(m, a)).collect();
    Some(GrainBars { log_mass: outlier_bar(&log_mass, 0.5 * alpha)?, log_mean: outlier_bar(&log_mean, 0.5 * alpha)? })
}

/// See `grain_bars`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrainBars {
    pub log_mass: f32,
    pub log_mean: f32,
}

/// Which of a frame's blobs stand out from the rest (`grain_bars`): an outlier's log mass or log mean
/// excess reaches its bar. `None` where `grain_bars` is.
pub fn stand_out_of_grains(mass: &[f32], area: &[f32], alpha: f32) -> Option<Vec<bool>> {
    let bars = grain_bars(mass, area, alpha)?;
    Some(mass.iter().zip(area).map(|(&m, &a)| m.max(1.0).ln() >= bars.log_mass || log_mean_excess(m, a) >= bars.log_mean).collect())
}

/// A blob's log mean excess (its excess mass over its area, floored so that the log stays finite).
pub fn log_mean_excess(mass: f32, area: f32) -> f32 {
    (mass.max(1.0) / area.max(1.0)).max(1e-3).ln()
}

/// The value a sample must reach to be an outlier among `samples`: their median plus z robust sigmas
/// (1.4826 median absolute deviations), z the normal quantile of 1 − α/n, so that n samples of a normal
/// reach it with probability α in all. `None` when the samples have no spread.
pub fn outlier_bar(samples: &[f32], alpha: f32) -> Option<f32> {
    let (mid, sigma) = robust_spread(samples)?;
    let tail = (alpha as f64 / samples.len() as f64).clamp(1e-12, 0.5);
    Some(mid + normal_quantile(1.0 - tail) as f32 * sigma)
}

/// The value a sample must reach to be an outlier in the upper tail of `samples`: as `outlier_bar`, but
/// the sigma is the upper half's own (1.4826 medians of the deviations above the median), because a
/// bright outlier is judged against the bright side: skewed texture's long tail makes it wider than the
/// lower half's. `None` when there are no samples or no spread above the median.
pub fn upper_outlier_bar(samples: &[f32], alpha: f32) -> Option<f32> {
    upper_outlier_bar_of(samples, samples.len(), alpha)
}

/// `upper_outlier_bar` with α shared among `n` tries.
fn upper_outlier_bar_of(samples: &[f32], n: usize, alpha: f32) -> Option<f32> {
    let mut v = samples.to_vec();
    let mid = median(&mut v)?;
    let mut up: Vec<f32> = samples.iter().filter(|&&x| x > mid).map(|&x| x - mid).collect();
    let sigma = 1.4826 * median(&mut up)?;
    let tail = (alpha as f64 / n as f64).clamp(1e-12, 0.5);
    (sigma > 0.0).then(|| mid + normal_quantile(1.0 - tail) as f32 * sigma)
}

/// As `upper_outlier_bar`, with the samples that reach the bar set aside and the bar drawn again from
/// the rest until none reaches it (α/n keeps n, the count of all samples): fluorescence that is not the
/// texture (a duct across the frame, other lesions) fills much of the upper half and widens its spread,
/// and an outlier rejected no longer does. Texture alone loses few samples a round (α of them). At most
/// `MAX_CLIP_ROUNDS` rounds.
pub fn clipped_upper_outlier_bar(samples: &[f32], alpha: f32) -> Option<f32> {
    let n = samples.len();
    let mut kept = samples.to_vec();
    let mut bar = upper_outlier_bar_of(&kept, n, alpha)?;
    for _ in 0..MAX_CLIP_ROUNDS {
        let before = kept.len();
        kept.retain(|&x| x < bar);
        if kept.len() == before {
            break;
        }
        match upper_outlier_bar_of(&kept, n, alpha) {
            Some(b) => bar = b,
            None => break,
        }
    }
    Some(bar)
}

/// Rounds of `clipped_upper_outlier_bar` (a frame's bright things of several sizes go in a few).
const MAX_CLIP_ROUNDS: usize = 8;

/// The samples' median and robust sigma (1.4826 median absolute deviations); `None` when they are
/// empty or have no spread.
pub fn robust_spread(samples: &[f32]) -> Option<(f32, f32)> {
    let mut v = samples.to_vec();
    let mid = median(&mut v)?;
    let mut dev: Vec<f32> = samples.iter().map(|m| (m - mid).abs()).collect();
    let sigma = 1.4826 * median(&mut dev)?;
    (sigma > 0.0).then_some((mid, sigma))
}

/// Φ⁻¹(q), the standard normal quantile, for q in (0, 1): P. J. Acklam's rational approximation
/// (relative error under 1.2e-9).
pub fn normal_quantile(q: f64) -> f64 {
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |t: f64| {
        let s = (-2.0 * t.ln()).sqrt();
        (((((C[0] * s + C[1]) * s + C[2]) * s + C[3]) * s + C[4]) * s + C[5]) / ((((D[0] * s + D[1]) * s + D[2]) * s + D[3]) * s + 1.0)
    };
    if q < 0.02425 {
        tail(q)
    } else if q > 1.0 - 0.02425 {
        -tail(1.0 - q)
    } else {
        let t = q - 0.5;
        let s = t * t;
        (((((A[0] * s + A[1]) * s + A[2]) * s + A[3]) * s + A[4]) * s + A[5]) * t / (((((B[0] * s + B[1]) * s + B[2]) * s + B[3]) * s + B[4]) * s + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Selecting gives the sample sorting would put at the rank, ties and NaN (last) included, on
    /// shuffled samples at every quantile.
    #[test]
    fn percentile_selects_what_sorting_would() {
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 8
        };
        for n in [1usize, 2, 7, 64, 301] {
            let v: Vec<f32> = (0..n).map(|_| match next() % 10 { 0 => f32::NAN, 1 => 0.5, k => k as f32 * 0.25 }).collect();
            let mut sorted = v.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or_else(|| a.is_nan().cmp(&b.is_nan())));
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                let mut w = v.clone();
                let got = percentile(&mut w, q).unwrap();
                let want = sorted[((q * (n - 1) as f64).round() as usize).min(n - 1)];
                assert!(got == want || (got.is_nan() && want.is_nan()), "n {n} q {q}: {got} vs {want}");
            }
        }
    }

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

    #[test]
    fn normal_quantiles_match_the_tables() {
        for (q, z) in [(0.5, 0.0), (0.975, 1.959964), (0.999, 3.090232), (1.0 - 1e-6, 4.753424), (0.01, -2.326348)] {
            assert!((normal_quantile(q) - z).abs() < 1e-5, "Φ⁻¹({q}) = {} not {z}", normal_quantile(q));
        }
    }

    #[test]
    fn the_bar_of_normal_samples_is_the_family_wise_quantile() {
        // n samples at the normal's quantiles: median 0, robust sigma 1, so the bar is Φ⁻¹(1 − α/n), and
        // it rises with n (more grains, a higher largest grain).
        let normal = |n: usize| (0..n).map(|i| normal_quantile((i as f64 + 0.5) / n as f64) as f32).collect::<Vec<f32>>();
        for (n, z) in [(200, 3.4806), (1000, 3.8906)] {
            let bar = outlier_bar(&normal(n), 0.05).unwrap();
            assert!((bar - z).abs() < 0.05, "bar for {n} normal samples {bar}, not {z}");
        }
        assert!(outlier_bar(&[2.0; 20], 0.05).is_none(), "samples without spread set no bar");
    }

    #[test]
    fn the_upper_bar_follows_the_bright_tail() {
        // Normal samples: the upper half's spread is the whole's, so the bar is the family-wise quantile.
        let z: Vec<f32> = (0..1000).map(|i| normal_quantile((i as f64 + 0.5) / 1000.0) as f32).collect();
        let bar = upper_outlier_bar(&z, 0.05).unwrap();
        assert!((bar - 3.8906).abs() < 0.05, "normal: {bar}");
        // Log-normal samples (sigma 0.5): the bright tail is longer than the dark one, and the upper bar sits
        // above the symmetric one, near the law's own quantile exp(0.5 z).
        let skewed: Vec<f32> = z.iter().map(|&z| (0.5 * z).exp()).collect();
        let (upper, symmetric) = (upper_outlier_bar(&skewed, 0.05).unwrap(), outlier_bar(&skewed, 0.05).unwrap());
        assert!(upper > symmetric + 0.3, "upper {upper}, symmetric {symmetric}");
        assert!(upper <= (0.5f32 * 3.8906).exp(), "upper {upper} over the law's own quantile");
        // Fewer tries (every tenth sample: the same law), a lower bar.
        let fewer: Vec<f32> = skewed.iter().copied().step_by(10).collect();
        assert!(upper_outlier_bar(&fewer, 0.05).unwrap() < upper);
        assert!(upper_outlier_bar(&[2.0; 20], 0.05).is_none(), "no spread above the median, no bar");
    }

    #[test]
    fn clipping_sets_aside_what_is_not_the_texture() {
        // 1000 normal samples and k far outliers (other fluorescence): the plain upper bar widens with k,
        // the clipped one stays at the clean samples' family-wise quantile for all n = 1000 + k tries.
        let z: Vec<f32> = (0..1000).map(|i| normal_quantile((i as f64 + 0.5) / 1000.0) as f32).collect();
        for k in [60, 150, 300] {
            let mut s = z.clone();
            s.extend(std::iter::repeat_n(20.0f32, k));
            let clean = normal_quantile(1.0 - 0.05 / s.len() as f64) as f32;
            let (plain, clipped) = (upper_outlier_bar(&s, 0.05).unwrap(), clipped_upper_outlier_bar(&s, 0.05).unwrap());
            assert!(plain > clean + 0.4, "k {k}: plain {plain}");
            assert!((clipped - clean).abs() < 0.05, "k {k}: clipped {clipped}, clean {clean}");
        }
        assert_eq!(clipped_upper_outlier_bar(&z, 0.05), upper_outlier_bar(&z, 0.05), "nothing to set aside");
    }
}
