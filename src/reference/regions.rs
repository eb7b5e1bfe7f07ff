//! CPU twin of `shaders/regions.wgsl`: per-component sums and the choice of tumour cores. Region
//! tables are indexed by a component's root (its first pixel's raster index, i.e. label − 1), as on
//! the GPU, and sums use the same integer fixed-point arithmetic, so both backends decide alike.
//!
//! `region_stats`: per non-fluorescent component its area, fixed-point ratio sum and border contact;
//! per fluorescent component its area, boundary pixels and border contact.
//! `select_cores`: enclosed (not touching the border), dark (mean ratio < `core_max_ratio`), large
//! enough non-fluorescent components are tumour cores; their labels seed the distance transform.

use crate::analysis::{MAX_CORES, RATIO_FIXED};
use crate::frame::Plane;
use crate::params::AnalysisParams;

pub const FLAG_BORDER: u32 = 1;
pub const FLAG_HAS_RIM: u32 = 2;

/// Per-component sums indexed by root.
#[derive(Default)]
pub struct RegionTable {
    pub area: Vec<u32>,
    /// Non-fluorescent: sum of fixed-point ratios. Fluorescent: boundary pixels.
    pub aux: Vec<u32>,
    pub flags: Vec<u32>,
}

impl RegionTable {
    fn reset(&mut self, n: usize) {
        for v in [&mut self.area, &mut self.aux, &mut self.flags] {
            v.clear();
            v.resize(n, 0);
        }
    }
}

#[inline]
pub fn ratio_fixed(v: f32) -> u32 {
    (v.clamp(0.0, 4.0) * RATIO_FIXED) as u32
}

fn is_border(i: usize, w: usize, h: usize) -> bool {
    let (x, y) = (i % w, i / w);
    x == 0 || y == 0 || x + 1 == w || y + 1 == h
}

pub fn region_stats(bg_labels: &Plane<u32>, fluo_labels: &Plane<u32>, ratio: &Plane<f32>, bg: &mut RegionTable, fl: &mut RegionTable) {
    let (w, h) = (ratio.width, ratio.height);
    bg.reset(w * h);
    fl.reset(w * h);
    for i in 0..w * h {
        let border = is_border(i, w, h) as u32 * FLAG_BORDER;
        let b = bg_labels.data[i];
        if b != 0 {
            let r = (b - 1) as usize;
            bg.area[r] += 1;
            bg.aux[r] += ratio_fixed(ratio.data[i]);
            bg.flags[r] |= border;
        }
        let f = fluo_labels.data[i];
        if f != 0 {
            let r = (f - 1) as usize;
            fl.area[r] += 1;
            fl.flags[r] |= border;
            let (x, y) = (i % w, i / w);
            let edge = (x > 0 && fluo_labels.data[i - 1] != f)
                || (x + 1 < w && fluo_labels.data[i + 1] != f)
                || (y > 0 && fluo_labels.data[i - w] != f)
                || (y + 1 < h && fluo_labels.data[i + w] != f);
            fl.aux[r] += edge as u32;
        }
    }
}

pub fn min_core_area_px(p: &AnalysisParams) -> f32 {
    std::f32::consts::FRAC_PI_4 * p.mm_to_px(p.min_core_diameter_mm).powi(2)
}

/// Is the non-fluorescent component rooted at `r` a tumour core?
pub fn is_core(bg: &RegionTable, r: usize, n_pixels: usize, p: &AnalysisParams) -> bool {
    let area = bg.area[r];
    area > 0
        && bg.flags[r] & FLAG_BORDER == 0
        && area as f32 >= min_core_area_px(p)
        && (area as usize) * 3 <= n_pixels
        && (bg.aux[r] as f32) < p.core_max_ratio * RATIO_FIXED * area as f32
}

/// Core labels in ascending order (the first `MAX_CORES`); writes each core pixel's label into `seeds`.
pub fn select_cores(bg_labels: &Plane<u32>, bg: &RegionTable, p: &AnalysisParams, seeds: &mut Plane<u32>) -> Vec<u32> {
    let n = bg_labels.data.len();
    let cores: Vec<u32> = (0..n).filter(|&r| is_core(bg, r, n, p)).take(MAX_CORES).map(|r| r as u32 + 1).collect();
    seeds.resize(bg_labels.width, bg_labels.height);
    for (s, &l) in seeds.data.iter_mut().zip(&bg_labels.data) {
        *s = if l != 0 && cores.binary_search(&l).is_ok() { l } else { 0 };
    }
    cores
}

