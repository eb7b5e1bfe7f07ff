//! CPU twin of `shaders/regions.wgsl`: per-component sums and the choice of tumour cores. Region
//! tables are indexed by a component's root (its first pixel's raster index, i.e. label − 1), as on
//! the GPU, and sums use the same integer fixed-point arithmetic, so both backends decide alike.
//!
//! `region_stats`: per non-fluorescent component its area, fixed-point ratio sum and border contact;
//! per fluorescent component its area, boundary pixels and border contact.
//! `select_cores`: dark (mean ratio < `core_max_ratio`), large enough non-fluorescent components that
//! are not most of the frame are tumour cores (enclosed by fluorescence, or partial where they touch the
//! image border); their labels seed the distance transform.

use rayon::prelude::*;

use crate::analysis::{MAX_CORES, RATIO_FIXED};
use crate::frame::Plane;
use crate::params::AnalysisParams;

pub const FLAG_BORDER: u32 = 1;
pub const FLAG_HAS_RIM: u32 = 2;
/// Set on the roots `select_cores` chose.
pub const FLAG_CORE: u32 = 4;

/// Per-component sums. The GPU indexes them by root pixel; here they are packed in label order, with
/// `labels` to find a component's row.
#[derive(Default)]
pub struct RegionTable {
    pub labels: Vec<u32>,
    pub area: Vec<u32>,
    /// Non-fluorescent: sum of fixed-point ratios. Fluorescent: boundary pixels.
    pub aux: Vec<u32>,
    pub flags: Vec<u32>,
    /// Fluorescent only: boundary pixels (off the image edge) where the ratio's gradient is sharp.
    pub sharp: Vec<u32>,
}

/// Is the ratio's gradient at interior pixel `i` (central differences) at least `min_per_px`?
#[inline]
pub fn sharp_edge(r: &[f32], w: usize, i: usize, min_per_px: f32) -> bool {
    let gx = 0.5 * (r[i + 1] - r[i - 1]);
    let gy = 0.5 * (r[i + w] - r[i - w]);
    gx * gx + gy * gy >= min_per_px * min_per_px
}

impl RegionTable {
    fn reset(&mut self, labels: &[u32]) {
        self.labels.clear();
        self.labels.extend_from_slice(labels);
        for v in [&mut self.area, &mut self.aux, &mut self.flags, &mut self.sharp] {
            v.clear();
            v.resize(labels.len(), 0);
        }
    }

    /// Row of the component with `label`.
    #[inline]
    pub fn index(&self, label: u32) -> usize {
        self.labels.binary_search(&label).expect("label of a labelled component")
    }
}

#[inline]
pub fn ratio_fixed(v: f32) -> u32 {
    (v.clamp(0.0, 4.0) * RATIO_FIXED) as u32
}

/// `bg_list` and `fl_list`: the components' labels as `label_components` returned them.
#[allow(clippy::too_many_arguments)]
pub fn region_stats(
    bg_labels: &Plane<u32>,
    bg_list: &[u32],
    fluo_labels: &Plane<u32>,
    fl_list: &[u32],
    ratio: &Plane<f32>,
    p: &AnalysisParams,
    bg: &mut RegionTable,
    fl: &mut RegionTable,
) {
    let sharp_per_px = p.homogeneous_edge_gradient_per_mm * p.mm_per_px;
    let (w, h) = (ratio.width, ratio.height);
    bg.reset(bg_list);
    fl.reset(fl_list);
    // Labels are constant along horizontal segments: accumulate a segment, then add it to its root.
    for y in 0..h {
        let edge_row = (y == 0 || y + 1 == h) as u32 * FLAG_BORDER;
        let (b, f, r) = (bg_labels.row(y), fluo_labels.row(y), ratio.row(y));
        let up = (y > 0).then(|| fluo_labels.row(y - 1));
        let down = (y + 1 < h).then(|| fluo_labels.row(y + 1));
        let mut x = 0;
        while x < w {
            let (lb, lf) = (b[x], f[x]);
            let x0 = x;
            while x < w && b[x] == lb && f[x] == lf {
                x += 1;
            }
            let border = edge_row | ((x0 == 0 || x == w) as u32 * FLAG_BORDER);
            let len = (x - x0) as u32;
            if lb != 0 {
                let root = bg.index(lb);
                bg.area[root] += len;
                bg.aux[root] += r[x0..x].iter().map(|&v| ratio_fixed(v)).sum::<u32>();
                bg.flags[root] |= border;
            }
            if lf != 0 {
                let root = fl.index(lf);
                fl.area[root] += len;
                fl.flags[root] |= border;
                // Boundary pixels: a 4-neighbour inside the image with another label.
                let (mut edges, mut sharp) = (0u32, 0u32);
                let interior_row = y > 0 && y + 1 < h;
                for k in x0..x {
                    let vert = up.is_some_and(|u| u[k] != lf) || down.is_some_and(|d| d[k] != lf);
                    let horiz = (k == x0 && k > 0) || (k + 1 == x && k + 1 < w);
                    if vert || horiz {
                        edges += 1;
                        if interior_row && k > 0 && k + 1 < w && sharp_edge(&ratio.data, w, y * w + k, sharp_per_px) {
                            sharp += 1;
                        }
                    }
                }
                fl.aux[root] += edges;
                fl.sharp[root] += sharp;
            }
        }
    }
}

pub fn min_core_area_px(p: &AnalysisParams) -> f32 {
    std::f32::consts::FRAC_PI_4 * p.mm_to_px(p.min_core_diameter_mm).powi(2)
}

/// Is the non-fluorescent component in row `r` of the table a tumour core?
pub fn is_core(bg: &RegionTable, r: usize, n_pixels: usize, p: &AnalysisParams) -> bool {
    let area = bg.area[r];
    area > 0
        && area as f32 >= min_core_area_px(p)
        && (area as usize) * 3 <= n_pixels
        && (bg.aux[r] as f32) < p.core_max_ratio * RATIO_FIXED * area as f32
}

/// Core labels in ascending order (the first `MAX_CORES`); writes each core pixel's label into `seeds`.
pub fn select_cores(bg_labels: &Plane<u32>, bg: &mut RegionTable, p: &AnalysisParams, seeds: &mut Plane<u32>) -> Vec<u32> {
    let n = bg_labels.data.len();
    let rows: Vec<usize> = (0..bg.labels.len()).filter(|&r| is_core(bg, r, n, p)).take(MAX_CORES).collect();
    for &r in &rows {
        bg.flags[r] |= FLAG_CORE;
    }
    let cores: Vec<u32> = rows.iter().map(|&r| bg.labels[r]).collect();
    seeds.resize(bg_labels.width, bg_labels.height);
    seeds.data.par_iter_mut().zip(bg_labels.data.par_iter()).for_each(|(s, &l)| {
        *s = if l != 0 && cores.binary_search(&l).is_ok() { l } else { 0 };
    });
    cores
}
