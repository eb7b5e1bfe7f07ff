//! CPU twin of `shaders/threshold.wgsl`: the fluorescence mask, at a level derived from the frame's
//! own ratio histogram. A pixel is fluorescent when its background ratio reaches the level and it is not
//! a specular glint (a white-light pixel whose darkest channel is at least `glint_level`: speculars are
//! white, liver is red).
//!
//! The level histogram: the ratio of every other row and column in bins of 1/256 over [0.5, 1.5),
//! counted by `normalize::normalize_and_count` as it makes the map (`count_row`; `ratio_histogram`, the
//! same count over a finished map, is the tests' reference; the GPU privatises it per workgroup). `fluo_level`: the background's mode and its noise (the half width at
//! half maximum of the peak of the 5-bin-smoothed histogram, the narrower side, as a Gaussian sigma)
//! give the level: the larger of
//! `fluo_ratio` and the mode plus `fluo_noise_sigmas` noise sigmas. On a clean frame that is
//! `fluo_ratio`; on a noisy one (low excitation, high gain) it rises so that noise and texture do not
//! pass as fluorescence. `keep_strong` adds hysteresis: fluorescence down to `low_level` counts where
//! it is connected to fluorescence at the level (the GPU's twin: hysteresis.wgsl's
//! `local_low`, `merge_low` and `mark_strong`, then `clean_mask_strong`; see morphology.wgsl).

use rayon::prelude::*;

use crate::analysis::{FluoLevel, LEVEL_BINS, LEVEL_LO, LEVEL_SCALE, LEVEL_SMOOTH, MIN_LEVEL_SAMPLES};
use crate::frame::{Plane, RgbView};
use crate::params::AnalysisParams;

/// Histogram bin of a ratio (floor((v - 0.5) * 256), as the shader), if within the histogram's range.
#[inline]
pub fn level_bin(v: f32) -> Option<usize> {
    let b = (v - LEVEL_LO) * LEVEL_SCALE;
    // Non-negative: truncation is the floor (and cheaper than `floor()` without SSE4.1); through i32,
    // whose cast has fewer saturation checks than usize's (b is in range here either way).
    (b >= 0.0 && b < LEVEL_BINS as f32).then_some(b as i32 as usize)
}

/// Counts of the ratios at even rows and columns, `LEVEL_BINS` bins: what `normalize_and_count` counts
/// as it makes the map, counted over a finished one (the reference its tests hold it to).
#[cfg(test)]
pub fn ratio_histogram(ratio: &Plane<f32>) -> Vec<u32> {
    let w = ratio.width;
    ratio
        .data
        .par_chunks(2 * w)
        .fold(
            || vec![0u32; LEVEL_BINS],
            |mut hist, rows| {
                count_row(&rows[..w], &mut hist);
                hist
            },
        )
        .reduce(|| vec![0u32; LEVEL_BINS], |mut a, b| {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            a
        })
}

/// Adds one even row's ratios at even columns to `hist` (`ratio_histogram`; `normalize` counts them so
/// as it makes each row).
#[inline]
pub fn count_row(row: &[f32], hist: &mut [u32]) {
    for &v in row.iter().step_by(2) {
        if let Some(b) = level_bin(v) {
            hist[b] += 1;
        }
    }
}

/// Sum of the `LEVEL_SMOOTH` bins centred on bin `k` (bins past the ends count 0).
#[inline]
fn smoothed(hist: &[u32], k: usize) -> u32 {
    let r = LEVEL_SMOOTH / 2;
    hist[k.saturating_sub(r)..(k + r + 1).min(LEVEL_BINS)].iter().sum()
}

/// The level from a ratio histogram (f32 arithmetic in the order of the shader). The peak and its
/// half-maximum crossings are found on the smoothed histogram; the box's own variance ((B² − 1)/12
/// bins²) is taken off the measured width.
pub fn fluo_level(hist: &[u32], p: &AnalysisParams) -> FluoLevel {
    let total: u32 = hist.iter().sum();
    if total < MIN_LEVEL_SAMPLES {
        return FluoLevel { level: p.fluo_ratio, mode: 1.0, noise: 0.0, edge_noise: 0.0 };
    }
    let sm: Vec<u32> = (0..LEVEL_BINS).map(|k| smoothed(hist, k)).collect();
    let mut m = 0;
    for (k, &c) in sm.iter().enumerate() {
        if c > sm[m] {
            m = k;
        }
    }
    let half = 0.5 * sm[m] as f32;
    // Left: the first bin below half the peak, walking down from the mode; the crossing interpolated
    // between bin centres. At the histogram's edge the half width is the distance to it.
    let mut k = m;
    while k > 0 && sm[k - 1] as f32 >= half {
        k -= 1;
    }
    let left = if k == 0 {
        m as f32 + 0.5
    } else {
        let (lo, hi) = (sm[k - 1] as f32, sm[k] as f32);
        (m - k) as f32 + (hi - half) / (hi - lo)
    };
    let mut k = m;
    while k + 1 < LEVEL_BINS && sm[k + 1] as f32 >= half {
        k += 1;
    }
    let right = if k + 1 == LEVEL_BINS {
        (LEVEL_BINS - m) as f32 - 0.5
    } else {
        let (hi, lo) = (sm[k] as f32, sm[k + 1] as f32);
        (k - m) as f32 + (hi - half) / (hi - lo)
    };
    let mode = LEVEL_LO + (m as f32 + 0.5) / LEVEL_SCALE;
    // HWHM = sigma * sqrt(2 ln 2); in bins, less the box's variance.
    let sigma_bins = left.min(right) / 1.177_410_0;
    let box_var = ((LEVEL_SMOOTH * LEVEL_SMOOTH - 1) as f32) / 12.0;
    let noise = (sigma_bins * sigma_bins - box_var).max(0.0).sqrt() / LEVEL_SCALE;
    FluoLevel { level: p.fluo_ratio.max(mode + p.fluo_noise_sigmas * noise), mode, noise, edge_noise: 0.0 }
}

/// The hysteresis level: fluorescence connected to a pixel at the level counts down to this (the larger
/// of `fluo_low_ratio` and the mode plus `fluo_low_sigmas` noise sigmas, at most the level); the level
/// itself when hysteresis is off (`AnalysisParams::hysteresis`). `fluo_level` in threshold.wgsl computes
/// the same in the same order.
pub fn low_level(level: &FluoLevel, p: &AnalysisParams) -> f32 {
    if !p.hysteresis() {
        return level.level;
    }
    p.fluo_low_ratio.max(level.mode + p.fluo_low_sigmas * level.noise).min(level.level)
}

/// Hysteresis: of the mask's 8-connected components (pixels at the low level), keeps those holding a
/// pixel whose ratio reaches `high`; clears the others. A rim whose brightness dips below the level
/// along its length (texture, a faint stretch) stays one ring; texture alone does not start one.
/// Worked on the mask's runs (`components::retain_components`): no label plane is written, and only the
/// mask's own pixels are looked at.
pub fn keep_strong(ratio: &Plane<f32>, high: f32, mask: &mut Plane<u8>, parent: &mut Vec<u32>) {
    use super::components::{Connectivity, retain_components};
    retain_components(mask, 1, Connectivity::Eight, parent, |y, xs| ratio.row(y)[xs].iter().any(|&v| v >= high));
}

pub use crate::analysis::is_glint;

/// Writes 1 for fluorescent pixels (ratio at least `level`, not a glint), 0 otherwise.
pub fn threshold<'a>(ratio: &Plane<f32>, wl: impl Into<RgbView<'a>>, level: f32, glint_level: u8, out: &mut Plane<u8>) {
    let wl = wl.into();
    let w = ratio.width;
    out.ensure_size(w, ratio.height);
    out.data.par_chunks_mut(w).enumerate().for_each(|(y, dst)| {
        // The level first (a comparison a pixel, no branch), then the glint test only in words of
        // eight pixels where some passed: most of a frame is under the level.
        for (d, &r) in dst.iter_mut().zip(ratio.row(y)) {
            *d = (r >= level) as u8;
        }
        let px = &wl.data[y * w * 3..(y + 1) * w * 3];
        for (d8, px8) in dst.chunks_mut(8).zip(px.chunks(24)) {
            if d8.iter().fold(0, |a, &d| a | d) == 0 {
                continue;
            }
            for (d, rgb) in d8.iter_mut().zip(px8.chunks_exact(3)) {
                *d &= !is_glint(rgb, glint_level) as u8;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hysteresis level: down to `fluo_low_ratio` on a clean frame, raised with the noise like the
    /// level, never above it; with the hysteresis off, the level itself, even where `fluo_low_sigmas`
    /// under `fluo_noise_sigmas` would put the low level lower (the cut is then at the level, as on the
    /// GPU's `fluo_level`).
    #[test]
    fn low_level_is_the_level_when_the_hysteresis_is_off() {
        let p = AnalysisParams::default();
        let clean = FluoLevel { level: 1.3, mode: 1.0, noise: 0.02, edge_noise: 0.0 };
        assert_eq!(low_level(&clean, &p), p.fluo_low_ratio);
        let textured = FluoLevel { level: 1.0 + 2.5 * 0.2, mode: 1.0, noise: 0.2, edge_noise: 0.0 };
        assert_eq!(low_level(&textured, &p), textured.level);
        let off = AnalysisParams { fluo_low_ratio: p.fluo_ratio, fluo_low_sigmas: 1.0, ..p.clone() };
        assert!(!off.hysteresis());
        assert_eq!(low_level(&textured, &off), textured.level);
        let on = AnalysisParams { fluo_low_sigmas: 1.5, ..p };
        assert!((low_level(&textured, &on) - 1.3).abs() < 1e-6);
    }

    /// On Gaussian noise of known sigma around 1 (plus a bright tail the size of a few rims), the
    /// histogram finds the mode and the sigma, and the level follows the noise above the floor.
    #[test]
    fn level_follows_the_background_noise() {
        let p = AnalysisParams { fluo_noise_sigmas: 5.0, ..AnalysisParams::default() };
        for sigma in [0.01f32, 0.03, 0.06, 0.1] {
            let (w, h) = (400, 300);
            let mut state = 17u64;
            let mut gauss = || {
                // Box-Muller from a 64-bit LCG
                let mut u = || {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
                };
                ((-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos()) as f32
            };
            let data = (0..w * h).map(|i| if i % 10 == 0 { 2.0 } else { 1.0 + sigma * gauss() }).collect();
            let ratio = Plane::from_vec(w, h, data).unwrap();
            let fl = fluo_level(&ratio_histogram(&ratio), &p);
            assert!((fl.mode - 1.0).abs() <= 0.01, "sigma {sigma}: mode {}", fl.mode);
            assert!((fl.noise - sigma).abs() <= 0.15 * sigma + 0.002, "sigma {sigma}: noise {}", fl.noise);
            let want = p.fluo_ratio.max(1.0 + p.fluo_noise_sigmas * sigma);
            assert!((fl.level - want).abs() <= 0.15 * p.fluo_noise_sigmas * sigma + 0.01, "sigma {sigma}: level {} vs {want}", fl.level);
        }
        // Off (K = 0): the fixed ratio whatever the noise.
        let off = AnalysisParams { fluo_noise_sigmas: 0.0, ..AnalysisParams::default() };
        let noisy = Plane::from_vec(64, 64, (0..64 * 64).map(|i| if i % 2 == 0 { 0.8 } else { 1.2 }).collect()).unwrap();
        assert_eq!(fluo_level(&ratio_histogram(&noisy), &off).level, off.fluo_ratio);
        // Too few samples (a tiny frame): the floor.
        let tiny = Plane::filled(8, 8, 1.0f32);
        assert_eq!(fluo_level(&ratio_histogram(&tiny), &p).level, p.fluo_ratio);
    }
}
