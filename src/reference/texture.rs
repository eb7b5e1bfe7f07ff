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
//! z = Φ⁻¹(1 − α/2n), α = `AnalysisParams::texture_alpha`; `stats::stand_out_of_grains`): a deep lesion's glow stands out by its mass, a tumour's own fluorescence by its
//! mean where the frame's grains are as large.
//! With fewer than `stats::MIN_GRAINS` samples the frame's texture makes too few blobs to judge by, and the
//! fixed bars (`measure::figures::significant`) decide alone. Candidates that fail are flagged
//! `FLAG_TEXTURE` and `reduce::coreless_kind` does not report them. CPU only (no GPU twin yet;
//! `AnalysisParams::cpu_only_stages`).

use crate::analysis::FluoLevel;
use crate::frame::Plane;
use crate::params::AnalysisParams;
use crate::stats::stand_out_of_grains;
use super::blobs::min_coreless_area_px;
use super::reduce::coreless_kind;
use super::regions::{FLAG_HAS_RIM, FLAG_TEXTURE, RegionTable};

/// Flags the coreless candidates of `fl` that are no outliers among the frame's texture blobs (see the
/// module's doc).
pub fn flag_texture(fluo_labels: &Plane<u32>, fl: &mut RegionTable, ratio: &Plane<f32>, level: &FluoLevel, p: &AnalysisParams) {
    if !(p.texture_alpha > 0.0) {
        return;
    }
    let min_area = min_coreless_area_px(p);
    let samples: Vec<usize> = (0..fl.labels.len()).filter(|&r| fl.flags[r] & FLAG_HAS_RIM == 0 && fl.area[r] as f32 >= min_area).collect();
    let mass: Vec<f32> = samples.iter().map(|&r| excess_mass(fluo_labels, fl, r, ratio, level.mode)).collect();
    let area: Vec<f32> = samples.iter().map(|&r| fl.area[r] as f32).collect();
    let Some(stand_out) = stand_out_of_grains(&mass, &area, p.texture_alpha) else { return };
    for (&r, out) in samples.iter().zip(stand_out) {
        if !out && coreless_kind(fl, r, p).is_some() {
            fl.flags[r] |= FLAG_TEXTURE;
        }
    }
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
