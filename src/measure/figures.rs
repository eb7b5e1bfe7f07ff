//! Per-lesion figures from a backend's per-lesion statistics (pixels and histograms): equivalent-circle
//! core diameter from the sub-pixel core area, Feret (caliper) diameters, rim thickness (median and 5th
//! percentile of the outer edge's distance to the core), tumour-to-background ratio (80th percentile of
//! the rim's background ratios), centroid, rim coverage (the fraction of the core's boundary with rim;
//! an incomplete rim gets no thinnest-rim figure: its gap is its thinnest part). In pixels, then in mm
//! where the scale is known. A partial lesion (cut by the image border) gets no size claim. Pure
//! functions; no state across frames.

use crate::analysis::{Lesion, LesionKind, LesionStats, RATIO_BIN, THICKNESS_BIN};
use crate::stats::hist_quantile;

/// A rim covering at least this fraction of its core's boundary is complete (pixel rounding aside).
pub const RIM_COMPLETE: f32 = 0.97;

/// A rim lesion's rim covers at least this fraction of its core's boundary (issue 10's definition): a
/// core whose measured rim covers less was enclosed by something other than its own fluorescence.
pub const RIM_LESION_COVERAGE: f32 = 0.5;

/// A lesion's figures in pixels, before it is given a tracked ID.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub label: u32,
    pub kind: LesionKind,
    pub partial: bool,
    pub centroid_px: [f32; 2],
    pub core_diameter_px: Option<f32>,
    pub feret_px: Option<(f32, f32)>,
    pub rim_thickness_px: Option<f32>,
    pub min_rim_thickness_px: Option<f32>,
    /// Fraction of the core's boundary with rim (rim lesions).
    pub rim_coverage: Option<f32>,
    pub tbr: f32,
    pub area_px: f32,
    /// Radius of the region in px (for placing labels and gating the tracker).
    pub radius_px: f32,
}

pub fn figures(st: &LesionStats) -> Figures {
    let tbr = hist_quantile(&st.ratio_hist, 4, 5, RATIO_BIN, 1.0).unwrap_or(1.0);
    let thick = |num, den| hist_quantile(&st.thickness_hist, num, den, THICKNESS_BIN, 0.0);
    match st.kind {
        LesionKind::Rim => {
            let area = if st.core_area_subpx > 0.0 { st.core_area_subpx } else { st.area_px as f32 };
            let d_px = 2.0 * (area / std::f32::consts::PI).sqrt();
            Figures {
                label: st.label,
                kind: st.kind,
                partial: st.partial,
                centroid_px: st.centroid(),
                core_diameter_px: (!st.partial).then_some(d_px),
                feret_px: if st.partial { None } else { st.feret_px() },
                rim_thickness_px: thick(1, 2),
                // Where the rim has a gap, its thinnest part is the gap: no thickness vouches for it.
                min_rim_thickness_px: thick(1, 20).filter(|_| st.rim_coverage() >= RIM_COMPLETE),
                rim_coverage: Some(st.rim_coverage()),
                tbr,
                area_px: area,
                radius_px: d_px / 2.0,
            }
        }
        // A homogeneous lesion's own edge is the tumour boundary: its equivalent-circle diameter.
        LesionKind::Homogeneous => {
            let d_px = 2.0 * (st.area_px as f32 / std::f32::consts::PI).sqrt();
            Figures {
                label: st.label,
                kind: st.kind,
                partial: st.partial,
                centroid_px: st.centroid(),
                core_diameter_px: Some(d_px),
                feret_px: None,
                rim_thickness_px: None,
                min_rim_thickness_px: None,
                rim_coverage: None,
                tbr,
                area_px: st.area_px as f32,
                radius_px: d_px / 2.0,
            }
        }
        LesionKind::Diffuse => Figures {
            label: st.label,
            kind: st.kind,
            partial: st.partial,
            centroid_px: st.centroid(),
            core_diameter_px: None,
            feret_px: None,
            rim_thickness_px: None,
            min_rim_thickness_px: None,
            rim_coverage: None,
            tbr,
            area_px: st.area_px as f32,
            radius_px: (st.area_px as f32 / std::f32::consts::PI).sqrt(),
        },
    }
}

/// Is a lesion significant against the frame's own background? A coreless lesion's TBR must stand
/// `coreless_min_sigmas` noise sigmas above the background's mode, and reach `coreless_min_tbr`; a rim
/// lesion, vouched for by its enclosure, need only reach `rim_min_tbr` (a dark pocket of textured liver
/// ringed by brighter grains is enclosed too, at TBR 1.3–1.5).
pub fn significant(f: &Figures, background: &crate::analysis::FluoLevel, p: &crate::params::AnalysisParams) -> bool {
    if f.kind == LesionKind::Rim {
        return f.tbr >= p.rim_min_tbr && f.rim_coverage.is_none_or(|c| c >= RIM_LESION_COVERAGE);
    }
    f.tbr >= background.coreless_min_tbr(p)
}

impl Figures {
    /// The metrics record: pixel figures always, millimetres when `mm_per_px` is known.
    pub fn to_lesion(&self, id: u32, mm_per_px: Option<f32>) -> Lesion {
        let mm = |v: Option<f32>| v.zip(mm_per_px).map(|(px, s)| px * s);
        Lesion {
            id,
            kind: self.kind,
            centroid_px: self.centroid_px,
            core_diameter_mm: mm(self.core_diameter_px),
            rim_thickness_mm: mm(self.rim_thickness_px),
            min_rim_thickness_mm: mm(self.min_rim_thickness_px),
            rim_coverage: self.rim_coverage,
            tbr: self.tbr,
            area_mm2: mm_per_px.filter(|_| !self.partial).map(|s| self.area_px * s * s),
            partial: self.partial,
            feret_min_mm: mm(self.feret_px.map(|f| f.0)),
            feret_max_mm: mm(self.feret_px.map(|f| f.1)),
            core_diameter_px: self.core_diameter_px,
            rim_thickness_px: self.rim_thickness_px,
            min_rim_thickness_px: self.min_rim_thickness_px,
            verdict: None, // decided by the processor
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{FERET_DIRS, FERET_OFFSET_MAX, feret_word};

    #[test]
    fn a_rim_lesion_needs_rim_on_half_its_core() {
        let p = crate::params::AnalysisParams::default();
        let background = crate::analysis::FluoLevel { level: 1.3, mode: 1.0, noise: 0.05, edge_noise: 0.01 };
        let rim = |coverage: f32| Figures {
            label: 1,
            kind: LesionKind::Rim,
            partial: false,
            centroid_px: [50.0, 50.0],
            core_diameter_px: Some(40.0),
            feret_px: None,
            rim_thickness_px: Some(8.0),
            min_rim_thickness_px: None,
            rim_coverage: Some(coverage),
            tbr: 3.0,
            area_px: 1256.0,
            radius_px: 20.0,
        };
        assert!(significant(&rim(0.6), &background, &p), "a rim with a gap");
        assert!(!significant(&rim(0.125), &background, &p), "a core walled by other than its rim");
        assert!(!significant(&Figures { tbr: 1.2, ..rim(1.0) }, &background, &p), "under rim_min_tbr");
    }

    #[test]
    fn feret_of_an_axis_aligned_rectangle() {
        // Boundary of a 40 x 10 px rectangle at (5, 5).
        let mut st = LesionStats::empty(LesionKind::Rim, 1);
        st.area_px = 400;
        for y in 5..15u32 {
            for x in 5..45u32 {
                if x == 5 || x == 44 || y == 5 || y == 14 {
                    for k in 0..FERET_DIRS {
                        let p = feret_word(x, y, k);
                        st.feret[2 * k] = st.feret[2 * k].max(FERET_OFFSET_MAX - p);
                        st.feret[2 * k + 1] = st.feret[2 * k + 1].max(p);
                    }
                }
            }
        }
        let (mn, mx) = st.feret_px().unwrap();
        assert!((mn - 10.0).abs() < 0.1, "min {mn}");
        // The largest caliper of a rectangle is its diagonal, sampled every 11.25 degrees.
        assert!(mx > 39.5 && mx <= 41.3, "max {mx}");
    }
}
