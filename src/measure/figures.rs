//! Per-lesion figures in millimetres from a backend's per-lesion statistics (pixels and histograms):
//! equivalent-circle core diameter from the sub-pixel core area, rim thickness (median and 5th
//! percentile of the outer edge's distance to the core), tumour-to-background ratio (80th percentile
//! of the rim's background ratios), centroid. Pure functions; no state across frames.

use crate::analysis::{LesionKind, LesionStats, RATIO_BIN, THICKNESS_BIN};
use crate::reference::reduce::hist_quantile;

/// A lesion's figures before it is given a tracked ID.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub label: u32,
    pub kind: LesionKind,
    pub centroid_px: [f32; 2],
    pub core_diameter_mm: Option<f32>,
    pub rim_thickness_mm: Option<f32>,
    pub min_rim_thickness_mm: Option<f32>,
    pub tbr: f32,
    pub area_mm2: f32,
    /// Radius of the region in px (for placing labels).
    pub radius_px: f32,
}

pub fn figures(st: &LesionStats, mm_per_px: f32) -> Figures {
    let centroid_px = st.centroid();
    let tbr = hist_quantile(&st.ratio_hist, 4, 5, RATIO_BIN, 1.0).unwrap_or(1.0);
    match st.kind {
        LesionKind::Rim => {
            let area = if st.core_area_subpx > 0.0 { st.core_area_subpx } else { st.area_px as f32 };
            let d_px = 2.0 * (area / std::f32::consts::PI).sqrt();
            let thick = |num, den| hist_quantile(&st.thickness_hist, num, den, THICKNESS_BIN, 0.0).map(|px| px * mm_per_px);
            Figures {
                label: st.label,
                kind: st.kind,
                centroid_px,
                core_diameter_mm: Some(d_px * mm_per_px),
                rim_thickness_mm: thick(1, 2),
                min_rim_thickness_mm: thick(1, 20),
                tbr,
                area_mm2: area * mm_per_px * mm_per_px,
                radius_px: d_px / 2.0,
            }
        }
        LesionKind::Diffuse => Figures {
            label: st.label,
            kind: st.kind,
            centroid_px,
            core_diameter_mm: None,
            rim_thickness_mm: None,
            min_rim_thickness_mm: None,
            tbr,
            area_mm2: st.area_px as f32 * mm_per_px * mm_per_px,
            radius_px: (st.area_px as f32 / std::f32::consts::PI).sqrt(),
        },
    }
}
