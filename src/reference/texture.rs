//! Coreless lesions tested against the frame's own texture. Textured liver (5–25% at a grain of 1–5 mm)
//! puts many blobs over any fixed level, and their brightness says little: a strongly textured frame
//! has grains at 1.8–2.2 times its background, as bright as a deep lesion's glow. What tells a lesion
//! from a grain is that it is an outlier among the frame's own blobs. Every fluorescent component of a
//! lesion's size that is no rim is a sample of the frame's texture; its excess mass (the sum of its
//! ratio above the background's mode: area and brightness together) is measured, and the texture's
//! distribution of log excess mass, and of log mean excess (mass over area), is estimated robustly
//! (median, and the median absolute deviation as a sigma) so that the few lesions among the samples do
//! not move it. A coreless candidate is reported only if one of the two stands above its median by the
//! normal quantile that `n` texture samples reach with probability α/2 a frame (a family-wise bound:
//! z = Φ⁻¹(1 − α/2n), α = `AnalysisParams::texture_alpha`): a deep lesion's glow stands out by its mass,
//! a tumour's own fluorescence by its mean where the frame's grains are as large.
//! With fewer than `MIN_SAMPLES` samples the frame's texture makes too few blobs to judge by, and the
//! fixed bars (`measure::figures::significant`) decide alone. Candidates that fail are flagged
//! `FLAG_TEXTURE` and `reduce::coreless_kind` does not report them. CPU only (no GPU twin yet;
//! `AnalysisParams::cpu_only_stages`).

use crate::analysis::FluoLevel;
use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::blobs::min_coreless_area_px;
use super::reduce::coreless_kind;
use super::regions::{FLAG_HAS_RIM, FLAG_TEXTURE, RegionTable};

/// Fewer samples than this of a lesion's size: the frame's texture is not judged (the median absolute
/// deviation of fewer is too loose a sigma, and a few ducts or lesions among them set the bar; at 8 an
/// independent phantom set lost a homogeneous lesion among 8 samples, at 16 none).
pub const MIN_SAMPLES: usize = 16;

/// Flags the coreless candidates of `fl` that are no outliers among the frame's texture blobs (see the
/// module's doc).
pub fn flag_texture(fluo_labels: &Plane<u32>, fl: &mut RegionTable, ratio: &Plane<f32>, level: &FluoLevel, p: &AnalysisParams) {
    if !(p.texture_alpha > 0.0) {
        return;
    }
    let min_area = min_coreless_area_px(p);
    let samples: Vec<usize> = (0..fl.labels.len()).filter(|&r| fl.flags[r] & FLAG_HAS_RIM == 0 && fl.area[r] as f32 >= min_area).collect();
    if samples.len() < MIN_SAMPLES {
        return;
    }
    let mass: Vec<f32> = samples.iter().map(|&r| excess_mass(fluo_labels, fl, r, ratio, level.mode).max(1.0)).collect();
    let log_mass: Vec<f32> = mass.iter().map(|m| m.ln()).collect();
    let log_mean: Vec<f32> = mass.iter().zip(&samples).map(|(m, &r)| (m / fl.area[r] as f32).max(1e-3).ln()).collect();
    // Two statistics, each at half the false-alarm budget: a deep lesion's glow stands out by its mass
    // (wide), a tumour's own fluorescence by its mean (bright) where the frame's grains are as large.
    let bars = (outlier_bar(&log_mass, 0.5 * p.texture_alpha), outlier_bar(&log_mean, 0.5 * p.texture_alpha));
    let (Some(mass_bar), Some(mean_bar)) = bars else { return };
    for ((&r, &m), &e) in samples.iter().zip(&log_mass).zip(&log_mean) {
        if m < mass_bar && e < mean_bar && coreless_kind(fl, r, p).is_some() {
            fl.flags[r] |= FLAG_TEXTURE;
        }
    }
}

/// The value a sample (a log mass or log mean) must reach to be an outlier among `samples`: the median plus z robust sigmas, z the normal
/// quantile of 1 − α/n. `None` when the samples have no spread (all alike: nothing stands out or in).
pub fn outlier_bar(samples: &[f32], alpha: f32) -> Option<f32> {
    let mut v = samples.to_vec();
    let median = crate::stats::median(&mut v)?;
    let mut dev: Vec<f32> = samples.iter().map(|m| (m - median).abs()).collect();
    let sigma = 1.4826 * crate::stats::median(&mut dev)?;
    if !(sigma > 0.0) {
        return None;
    }
    let tail = (alpha as f64 / samples.len() as f64).clamp(1e-12, 0.5);
    Some(median + normal_quantile(1.0 - tail) as f32 * sigma)
}

/// Σ (ratio − mode) over the component's pixels, px (ratio units).
fn excess_mass(fluo_labels: &Plane<u32>, fl: &RegionTable, r: usize, ratio: &Plane<f32>, mode: f32) -> f32 {
    let (b, label) = (fl.bbox[r], fl.labels[r]);
    let mut sum = 0f32;
    for y in b.y0..b.y1 {
        let (lrow, rrow) = (&fluo_labels.row(y)[b.x0..b.x1], &ratio.row(y)[b.x0..b.x1]);
        sum += lrow.iter().zip(rrow).filter(|(l, _)| **l == label).map(|(_, &v)| (v - mode).max(0.0)).sum::<f32>();
    }
    sum
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
}
