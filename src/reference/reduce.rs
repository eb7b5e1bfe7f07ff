//! CPU twin of `shaders/reduce.wgsl`: from the per-pixel maps to per-lesion statistics.
//!
//! 1. `select_cores`: enclosed non-fluorescent components (4-connected, not touching the border) that
//!    are dark (mean ratio below `core_max_ratio`) and large enough are tumour cores.
//! 2. `rim_stats` (after the labelled distance transform from the cores): each fluorescent pixel within
//!    `rim_search_mm` of a core is that core's rim; the rim's outer edge pixels sample its thickness.
//! 3. `subpixel_core_area`: the core's area at the half level between core and rim, with each pixel
//!    near the iso-line counted by the fraction of it on the core side (linear interpolation).
//! 4. `diffuse_regions`: compact fluorescent components that hold no core's rim (duct-like, elongated
//!    or sparse ones are not lesions).

use std::collections::HashMap;

use crate::analysis::{LesionKind, LesionStats, RATIO_BIN, RATIO_BINS, THICKNESS_BIN};
use crate::frame::Plane;
use crate::params::AnalysisParams;

/// At most this many lesions of each kind are reported a frame (largest kept).
pub const MAX_LESIONS: usize = 64;

#[derive(Clone, Copy, Debug, Default)]
struct RegionAcc {
    area: u32,
    sum_ratio: f64,
    sum_x: f64,
    sum_y: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
    touches_border: bool,
}

fn accumulate(labels: &Plane<u32>, ratio: &Plane<f32>) -> HashMap<u32, RegionAcc> {
    let (w, h) = (labels.width, labels.height);
    let mut regions: HashMap<u32, RegionAcc> = HashMap::new();
    for y in 0..h {
        for x in 0..w {
            let l = labels.data[y * w + x];
            if l == 0 {
                continue;
            }
            let a = regions.entry(l).or_default();
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            a.area += 1;
            a.sum_ratio += ratio.data[y * w + x] as f64;
            a.sum_x += fx;
            a.sum_y += fy;
            a.sxx += fx * fx;
            a.syy += fy * fy;
            a.sxy += fx * fy;
            a.touches_border |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
        }
    }
    regions
}

pub fn ratio_bin(v: f32) -> Option<usize> {
    if v < 1.0 {
        return None;
    }
    Some((((v - 1.0) / RATIO_BIN) as usize).min(RATIO_BINS - 1))
}

/// Cores chosen from the labelled non-fluorescent components. Writes the core's label into `seeds`
/// (0 elsewhere) and returns the labels in ascending order.
pub fn select_cores(bg_labels: &Plane<u32>, ratio: &Plane<f32>, params: &AnalysisParams, seeds: &mut Plane<u32>) -> Vec<u32> {
    let regions = accumulate(bg_labels, ratio);
    let min_area = std::f32::consts::FRAC_PI_4 * params.mm_to_px(params.min_core_diameter_mm).powi(2);
    let max_area = (bg_labels.width * bg_labels.height) as f32 / 3.0;
    let mut cores: Vec<(u32, u32)> = regions
        .iter()
        .filter(|(_, a)| {
            !a.touches_border
                && a.area as f32 >= min_area
                && (a.area as f32) <= max_area
                && (a.sum_ratio / a.area as f64) < params.core_max_ratio as f64
        })
        .map(|(&l, a)| (l, a.area))
        .collect();
    // Keep the largest if there are too many, report in label order.
    cores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    cores.truncate(MAX_LESIONS);
    let mut labels: Vec<u32> = cores.into_iter().map(|(l, _)| l).collect();
    labels.sort_unstable();
    seeds.resize(bg_labels.width, bg_labels.height);
    for (s, &l) in seeds.data.iter_mut().zip(&bg_labels.data) {
        *s = if l != 0 && labels.binary_search(&l).is_ok() { l } else { 0 };
    }
    labels
}

/// Inputs shared by the per-lesion passes.
pub struct Maps<'a> {
    pub ratio: &'a Plane<f32>,
    pub fluo: &'a Plane<u8>,
    pub seeds: &'a Plane<u32>,
    pub dist: &'a Plane<f32>,
    pub nearest: &'a Plane<u32>,
    pub bg_labels: &'a Plane<u32>,
}

/// Rim area, ratio histogram, and outer-edge thickness histogram for each core; core pixel sums.
pub fn rim_stats(maps: &Maps, cores: &[u32], params: &AnalysisParams) -> Vec<LesionStats> {
    let (w, h) = (maps.ratio.width, maps.ratio.height);
    let search = params.mm_to_px(params.rim_search_mm);
    let thick_bins = (search / THICKNESS_BIN) as usize + 2;
    let mut out: Vec<LesionStats> = cores
        .iter()
        .map(|&label| LesionStats {
            kind: LesionKind::Rim,
            label,
            area_px: 0,
            core_area_subpx: 0.0,
            sum_x: 0.0,
            sum_y: 0.0,
            rim_area_px: 0,
            ratio_hist: vec![0; RATIO_BINS],
            thickness_hist: vec![0; thick_bins],
            touches_border: false,
        })
        .collect();
    let slot = |label: u32| cores.binary_search(&label).ok();
    // Small enclosed holes (noise specks inside a rim) are not the rim's outer edge.
    let hole_area = std::f32::consts::FRAC_PI_4 * params.mm_to_px(params.min_core_diameter_mm).powi(2);
    let bg_areas = accumulate_areas(maps.bg_labels);
    let is_outside = |i: usize| -> bool {
        if maps.fluo.data[i] != 0 || maps.seeds.data[i] != 0 {
            return false;
        }
        let l = maps.bg_labels.data[i];
        l == 0 || bg_areas.get(&l).is_none_or(|&(a, border)| border || a as f32 >= hole_area)
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let core = maps.seeds.data[i];
            if core != 0 {
                if let Some(s) = slot(core) {
                    let st = &mut out[s];
                    st.area_px += 1;
                    st.sum_x += x as f64 + 0.5;
                    st.sum_y += y as f64 + 0.5;
                }
                continue;
            }
            if maps.fluo.data[i] == 0 {
                continue;
            }
            let d = maps.dist.data[i];
            if d > search {
                continue;
            }
            let Some(s) = slot(maps.nearest.data[i]) else { continue };
            let st = &mut out[s];
            st.rim_area_px += 1;
            if let Some(b) = ratio_bin(maps.ratio.data[i]) {
                st.ratio_hist[b] += 1;
            }
            let edge = (x > 0 && is_outside(i - 1))
                || (x + 1 < w && is_outside(i + 1))
                || (y > 0 && is_outside(i - w))
                || (y + 1 < h && is_outside(i + w));
            if edge {
                let b = ((d / THICKNESS_BIN) as usize).min(thick_bins - 1);
                st.thickness_hist[b] += 1;
            }
        }
    }
    out
}

fn accumulate_areas(labels: &Plane<u32>) -> HashMap<u32, (u32, bool)> {
    let (w, h) = (labels.width, labels.height);
    let mut m: HashMap<u32, (u32, bool)> = HashMap::new();
    for (i, &l) in labels.data.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let (x, y) = (i % w, i / w);
        let e = m.entry(l).or_insert((0, false));
        e.0 += 1;
        e.1 |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
    }
    m
}

/// Value below which a fraction `q` of a histogram's samples lie, at bin resolution (bin centre).
pub fn hist_quantile(hist: &[u32], q: f32, bin: f32, origin: f32) -> Option<f32> {
    let total: u64 = hist.iter().map(|&c| c as u64).sum();
    if total == 0 {
        return None;
    }
    let target = (q as f64 * total as f64).ceil().max(1.0) as u64;
    let mut acc = 0u64;
    for (i, &c) in hist.iter().enumerate() {
        acc += c as u64;
        if acc >= target {
            return Some(origin + (i as f32 + 0.5) * bin);
        }
    }
    None
}

/// Core and rim levels whose mean is the iso-level of the core boundary.
pub fn boundary_level(maps: &Maps, st: &LesionStats) -> f32 {
    let rim_level = hist_quantile(&st.ratio_hist, 0.9, RATIO_BIN, 1.0).unwrap_or(1.0 + RATIO_BIN);
    // Median core ratio from the core's own pixels.
    let mut core_vals: Vec<f32> = Vec::with_capacity(st.area_px as usize);
    for (i, &s) in maps.seeds.data.iter().enumerate() {
        if s == st.label {
            core_vals.push(maps.ratio.data[i]);
        }
    }
    let core_level = if core_vals.is_empty() {
        0.5
    } else {
        let mid = core_vals.len() / 2;
        *core_vals.select_nth_unstable_by(mid, f32::total_cmp).1
    };
    0.5 * (core_level + rim_level)
}

/// Sub-pixel core area at the boundary iso-level, counting pixels of the core and of a band outside it.
pub fn subpixel_core_area(maps: &Maps, st: &LesionStats, level: f32, band_px: f32) -> f32 {
    let (w, h) = (maps.ratio.width, maps.ratio.height);
    let r = &maps.ratio.data;
    let mut area = 0f64;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let own = maps.seeds.data[i] == st.label || (maps.nearest.data[i] == st.label && maps.dist.data[i] <= band_px);
            if !own {
                continue;
            }
            let v = r[i];
            let gx = 0.5 * (r[i + 1] - r[i - 1]);
            let gy = 0.5 * (r[i + w] - r[i - w]);
            let g = (gx * gx + gy * gy).sqrt().max(1e-3);
            area += (0.5 + (level - v) / g).clamp(0.0, 1.0) as f64;
        }
    }
    area as f32
}

/// Compact fluorescent components holding no core's rim.
pub fn diffuse_regions(fluo_labels: &Plane<u32>, maps: &Maps, params: &AnalysisParams) -> Vec<LesionStats> {
    let regions = accumulate(fluo_labels, maps.ratio);
    let search = params.mm_to_px(params.rim_search_mm);
    // Components that carry some core's rim.
    let mut with_rim: std::collections::HashSet<u32> = std::collections::HashSet::new();
    for (i, &l) in fluo_labels.data.iter().enumerate() {
        if l != 0 && maps.nearest.data[i] != 0 && maps.dist.data[i] <= search {
            with_rim.insert(l);
        }
    }
    let min_area = std::f32::consts::FRAC_PI_4 * params.mm_to_px(params.min_diffuse_diameter_mm).powi(2);
    let mut picked: Vec<(u32, RegionAcc)> = regions
        .into_iter()
        .filter(|(l, a)| {
            if with_rim.contains(l) || a.touches_border || (a.area as f32) < min_area {
                return false;
            }
            let n = a.area as f64;
            let (mx, my) = (a.sum_x / n, a.sum_y / n);
            let cxx = a.sxx / n - mx * mx + 1.0 / 12.0;
            let cyy = a.syy / n - my * my + 1.0 / 12.0;
            let cxy = a.sxy / n - mx * my;
            let tr = cxx + cyy;
            let det = (cxx * cyy - cxy * cxy).max(1e-9);
            let disc = ((tr * tr / 4.0 - det).max(0.0)).sqrt();
            let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-9));
            let elongation = (l1 / l2).sqrt();
            // A filled ellipse with these moments has area 4π sqrt(l1 l2).
            let fill = n / (4.0 * std::f64::consts::PI * (l1 * l2).sqrt());
            elongation <= params.max_diffuse_elongation as f64 && fill >= 0.6
        })
        .collect();
    picked.sort_by(|a, b| b.1.area.cmp(&a.1.area).then(a.0.cmp(&b.0)));
    picked.truncate(MAX_LESIONS);
    picked.sort_by_key(|p| p.0);
    let mut out: Vec<LesionStats> = picked
        .iter()
        .map(|(l, a)| LesionStats {
            kind: LesionKind::Diffuse,
            label: *l,
            area_px: a.area,
            core_area_subpx: 0.0,
            sum_x: a.sum_x,
            sum_y: a.sum_y,
            rim_area_px: 0,
            ratio_hist: vec![0; RATIO_BINS],
            thickness_hist: Vec::new(),
            touches_border: a.touches_border,
        })
        .collect();
    for (i, &l) in fluo_labels.data.iter().enumerate() {
        if l == 0 {
            continue;
        }
        if let Ok(s) = picked.binary_search_by_key(&l, |p| p.0) {
            if let Some(b) = ratio_bin(maps.ratio.data[i]) {
                out[s].ratio_hist[b] += 1;
            }
        }
    }
    out
}
