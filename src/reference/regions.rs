//! CPU twin of `shaders/regions.wgsl`: per-component sums and the choice of tumour cores. Region
//! tables are packed in label order (the GPU by dense component id, also in label order), and sums use the same integer
//! fixed-point arithmetic, so both backends decide alike.
//!
//! `region_stats`: per non-fluorescent component its area, border contact, box and (for those of a
//! core's size, the only ones the choice reads) fixed-point ratio sum; per fluorescent component its
//! area, border contact, box, boundary pixels and sharp boundary pixels.
//! `select_cores`: large enough non-fluorescent components that are not most of the frame are tumour
//! cores: enclosed by fluorescence at any level under the fluorescence floor (`core_max_ratio`), or
//! partial where they touch the image border, then only if dark (`partial_core_max_ratio`); their labels
//! seed the distance transform. Where more than the table holds, the first by label (as the GPU), or the
//! largest (`largest_cores_first`, CPU only).

use rayon::prelude::*;

use crate::analysis::{MAX_CORES, RATIO_FIXED};
use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::components::Component;
use crate::raster::rect::Rect;

pub const FLAG_BORDER: u32 = 1;
pub const FLAG_HAS_RIM: u32 = 2;
/// Set on the roots `select_cores` chose.
pub const FLAG_CORE: u32 = 4;
/// A fluorescent component not shaped as a coreless lesion is (an arc, a strip): `shape`.
pub const FLAG_NOT_SOLID: u32 = 8;
/// A core carved out of fluorescence that scatter, haze or blur lifted above the level (`filled`): its
/// depth under its rim decided, not its level, so `core_max_ratio` does not apply.
pub const FLAG_FILLED: u32 = 16;
/// A coreless candidate that is no outlier among the frame's texture blobs (`texture`).
pub const FLAG_TEXTURE: u32 = 32;
/// A coreless candidate whose edge at half its height is an optical edge, however gentle its outline
/// (`shape::flag_sharp_plateaus`): homogeneous.
pub const FLAG_SHARP_PLATEAU: u32 = 64;

/// Per-component sums. Packed in label order (the GPU indexes them by dense component id, the same order), with
/// `labels` to find a component's row.
#[derive(Default, Clone)]
pub struct RegionTable {
    pub labels: Vec<u32>,
    pub area: Vec<u32>,
    /// Non-fluorescent: sum of fixed-point ratios. Fluorescent: boundary pixels.
    pub aux: Vec<u32>,
    pub flags: Vec<u32>,
    /// Fluorescent only: boundary pixels (off the image edge) where the ratio's gradient is sharp.
    pub sharp: Vec<u32>,
    /// Bounding box of each component.
    pub bbox: Vec<Rect>,
}

/// An edge's least slope (per px) as a measured gradient must show it where the frame's gradient noise
/// is `edge_noise`: raised in quadrature by two of its sigmas, so that a glow's gentle flank in noise
/// does not pass for an optical edge (the noise alone made half of a deep glow's outline "sharp" at four
/// times the phantoms' sensor noise).
pub fn above_noise(slope_px: f32, edge_noise: f32) -> f32 {
    slope_px.hypot(2.0 * edge_noise)
}

/// The least gradient (per px) of a sharp boundary pixel: `homogeneous_edge_gradient_per_mm`, raised by
/// the frame's gradient noise where that is measured (`above_noise`; `edge_noise` 0: the bar itself, as on
/// the GPU).
pub fn sharp_bar(p: &AnalysisParams, edge_noise: f32) -> f32 {
    above_noise(p.homogeneous_edge_gradient_per_mm * p.mm_per_px, edge_noise)
}

/// Is the ratio's gradient at interior pixel `i` (central differences) at least `min_per_px`?
#[inline]
pub fn sharp_edge(r: &[f32], w: usize, i: usize, min_per_px: f32) -> bool {
    let gx = 0.5 * (r[i + 1] - r[i - 1]);
    let gy = 0.5 * (r[i + w] - r[i - w]);
    gx * gx + gy * gy >= min_per_px * min_per_px
}

impl RegionTable {
    /// Rows for `components`, with their areas, border flags and boxes; the sums start at 0.
    fn reset(&mut self, components: &[Component]) {
        self.labels.clear();
        self.labels.extend(components.iter().map(|c| c.label));
        self.area.clear();
        self.area.extend(components.iter().map(|c| c.area));
        self.flags.clear();
        self.flags.extend(components.iter().map(|c| c.border as u32 * FLAG_BORDER));
        self.bbox.clear();
        self.bbox.extend(components.iter().map(|c| c.bbox));
        for v in [&mut self.aux, &mut self.sharp] {
            v.clear();
            v.resize(components.len(), 0);
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

/// Could a non-fluorescent component of `area` pixels be a core, by its size alone?
#[inline]
fn core_sized(area: u32, n_pixels: usize, p: &AnalysisParams) -> bool {
    area > 0 && area as f32 >= min_core_area_px(p) && (area as usize) * 3 <= n_pixels
}

/// Fills the region tables from the components `label_components` returned. Areas, boxes and border
/// contact come from the labelling; this adds the ratio sums of the non-fluorescent components that are
/// of a core's size (the only ones `is_core` reads; the others keep 0), and the boundary and sharp-edge
/// counts of the fluorescent ones (sharp against `sharp_bar` at the frame's `edge_noise`).
#[allow(clippy::too_many_arguments)]
pub fn region_stats(
    bg_labels: &Plane<u32>,
    bg_components: &[Component],
    fluo_labels: &Plane<u32>,
    fl_components: &[Component],
    fluo: &Plane<u8>,
    ratio: &Plane<f32>,
    p: &AnalysisParams,
    edge_noise: f32,
    bg: &mut RegionTable,
    fl: &mut RegionTable,
) {
    let (w, h) = (ratio.width, ratio.height);
    bg.reset(bg_components);
    fl.reset(fl_components);
    // Ratio sums: each candidate's pixels within its box.
    let sums: Vec<(usize, u32)> = (0..bg.labels.len())
        .into_par_iter()
        .filter(|&r| core_sized(bg.area[r], w * h, p))
        .map(|r| {
            let (b, label) = (bg.bbox[r], bg.labels[r]);
            let mut sum = 0u32;
            for y in b.y0..b.y1 {
                let (lrow, rrow) = (&bg_labels.row(y)[b.x0..b.x1], &ratio.row(y)[b.x0..b.x1]);
                sum += lrow.iter().zip(rrow).filter(|(l, _)| **l == label).map(|(_, &v)| ratio_fixed(v)).sum::<u32>();
            }
            (r, sum)
        })
        .collect();
    for (r, sum) in sums {
        bg.aux[r] = sum;
    }
    // Boundary pixels of the fluorescent components: a fluorescent pixel with a 4-neighbour inside the
    // image that is not fluorescent (a 4-neighbour that is fluorescent is in the same 8-connected
    // component). Bands of rows in parallel, each with its own counts.
    let sharp_per_px = sharp_bar(p, edge_noise);
    let n_fl = fl.labels.len();
    if n_fl == 0 {
        return;
    }
    let band = 32;
    let (edges, sharp) = (0..h.div_ceil(band))
        .into_par_iter()
        .map(|b| {
            let (mut edges, mut sharp) = (vec![0u32; n_fl], vec![0u32; n_fl]);
            for y in b * band..((b + 1) * band).min(h) {
                let row = fluo.row(y);
                let up = (y > 0).then(|| fluo.row(y - 1));
                let down = (y + 1 < h).then(|| fluo.row(y + 1));
                let interior_row = y > 0 && y + 1 < h;
                let mut x = 0;
                while x < w {
                    if row[x] == 0 {
                        // Background goes by eight pixels at a time, then pixel by pixel.
                        x = super::components::skip(row, x, |v| v == 0, |c| c == 0);
                        continue;
                    }
                    let x0 = x;
                    while x < w && row[x] != 0 {
                        x += 1;
                    }
                    let r = fl.index(fluo_labels.row(y)[x0]); // a run is within one component
                    for k in x0..x {
                        let vert = up.is_some_and(|u| u[k] == 0) || down.is_some_and(|d| d[k] == 0);
                        let horiz = (k == x0 && k > 0) || (k + 1 == x && k + 1 < w);
                        if vert || horiz {
                            edges[r] += 1;
                            if interior_row && k > 0 && k + 1 < w && sharp_edge(&ratio.data, w, y * w + k, sharp_per_px) {
                                sharp[r] += 1;
                            }
                        }
                    }
                }
            }
            (edges, sharp)
        })
        .reduce(
            || (vec![0u32; n_fl], vec![0u32; n_fl]),
            |(mut ea, mut sa), (eb, sb)| {
                ea.iter_mut().zip(eb).for_each(|(a, b)| *a += b);
                sa.iter_mut().zip(sb).for_each(|(a, b)| *a += b);
                (ea, sa)
            },
        );
    fl.aux = edges;
    fl.sharp = sharp;
}

pub use crate::params::min_core_area_px;

/// The ratios of region `r`'s pixels (of `labels`, the labelling `table` was taken from), in raster
/// order, into `values` (reused).
pub fn component_ratios<'a>(labels: &Plane<u32>, table: &RegionTable, r: usize, ratio: &Plane<f32>, values: &'a mut Vec<f32>) -> &'a mut [f32] {
    let (b, label) = (table.bbox[r], table.labels[r]);
    values.clear();
    for y in b.y0..b.y1 {
        let (lrow, rrow) = (&labels.row(y)[b.x0..b.x1], &ratio.row(y)[b.x0..b.x1]);
        values.extend(lrow.iter().zip(rrow).filter(|(l, _)| **l == label).map(|(_, &v)| v));
    }
    values
}

/// Is the non-fluorescent component in row `r` of the table a tumour core?
pub fn is_core(bg: &RegionTable, r: usize, n_pixels: usize, p: &AnalysisParams) -> bool {
    let area = bg.area[r];
    let max_ratio = if bg.flags[r] & FLAG_BORDER != 0 { p.partial_core_max_ratio } else { p.core_max_ratio };
    core_sized(area, n_pixels, p) && (bg.flags[r] & FLAG_FILLED != 0 || (bg.aux[r] as f32) < max_ratio * RATIO_FIXED * area as f32)
}

/// The boxes of the non-fluorescent components that are cores (`is_core`) of an `n_pixels` frame.
pub fn core_boxes(bg: &RegionTable, n_pixels: usize, p: &AnalysisParams) -> Vec<Rect> {
    (0..bg.labels.len()).filter(|&r| is_core(bg, r, n_pixels, p)).map(|r| bg.bbox[r]).collect()
}

/// Could a fluorescent component (or cluster of them) with this box and area hold a core: as much area
/// as the smallest core, and a box wider and taller than it by a pixel each side?
pub fn holds_core(b: Rect, area: f32, p: &AnalysisParams) -> bool {
    let min_side = p.mm_to_px(p.min_core_diameter_mm);
    area >= min_core_area_px(p) && ((b.x1 - b.x0) as f32) >= min_side + 2.0 && ((b.y1 - b.y0) as f32) >= min_side + 2.0
}

/// Makes `pixels` a non-fluorescent component of their own (a core split off its background component,
/// or carved out of fluorescence), with `flags` (`FLAG_BORDER` added where it touches the image edge).
/// Its label is 1 + its first pixel's raster index, or its last's when the first already names the
/// component it came from; the rows of the components its pixels leave (label 0: fluorescence, no row)
/// lose their area and ratio sums.
pub fn split_off(pixels: &[usize], flags: u32, bg_labels: &mut Plane<u32>, bg: &mut RegionTable, ratio: &Plane<f32>) {
    let w = bg_labels.width;
    let first = *pixels.iter().min().expect("a split region has pixels");
    let label = if bg_labels.data[first] == first as u32 + 1 { *pixels.iter().max().expect("a split region has pixels") as u32 + 1 } else { first as u32 + 1 };
    let (mut bbox, mut sum, mut border) = (Rect::EMPTY, 0u32, false);
    for &i in pixels {
        let (x, y) = (i % w, i / w);
        bbox.include_span(y, x, x + 1);
        border |= x == 0 || y == 0 || x + 1 == w || y + 1 == bg_labels.height;
        let v = ratio_fixed(ratio.data[i]);
        if bg_labels.data[i] != 0 {
            let old = bg.index(bg_labels.data[i]);
            bg.area[old] = bg.area[old].saturating_sub(1);
            bg.aux[old] = bg.aux[old].saturating_sub(v);
        }
        sum = sum.saturating_add(v);
        bg_labels.data[i] = label;
    }
    let at = bg.labels.partition_point(|&l| l < label);
    debug_assert_ne!(bg.labels.get(at), Some(&label), "a split region's label is no other component's");
    bg.labels.insert(at, label);
    bg.area.insert(at, pixels.len() as u32);
    bg.aux.insert(at, sum);
    bg.flags.insert(at, flags | if border { FLAG_BORDER } else { 0 });
    bg.sharp.insert(at, 0);
    bg.bbox.insert(at, bbox);
}

/// Core labels in ascending order (`MAX_CORES` at most: the largest where
/// `AnalysisParams::largest_cores_first`, ties to the lower label, else the first); writes each core
/// pixel's label into `seeds`, 0 elsewhere. `seed_boxes` holds the boxes the last frame's seeds were
/// written in (cleared here) and comes back with this frame's.
pub fn select_cores(bg_labels: &Plane<u32>, bg: &mut RegionTable, p: &AnalysisParams, seeds: &mut Plane<u32>, seed_boxes: &mut Vec<Rect>) -> Vec<u32> {
    let (w, h) = (bg_labels.width, bg_labels.height);
    let mut rows: Vec<usize> = (0..bg.labels.len()).filter(|&r| is_core(bg, r, w * h, p)).collect();
    if rows.len() > MAX_CORES && p.largest_cores_first {
        rows.sort_by_key(|&r| (std::cmp::Reverse(bg.area[r]), r)); // rows are in label order
        rows.truncate(MAX_CORES);
        rows.sort_unstable();
    }
    rows.truncate(MAX_CORES);
    for &r in &rows {
        bg.flags[r] |= FLAG_CORE;
    }
    if seeds.width != w || seeds.height != h {
        seeds.resize(w, h); // all 0
    } else {
        for b in seed_boxes.iter() {
            for y in b.y0..b.y1 {
                seeds.data[y * w + b.x0..y * w + b.x1].fill(0);
            }
        }
    }
    seed_boxes.clear();
    for &r in &rows {
        let (b, label) = (bg.bbox[r], bg.labels[r]);
        for y in b.y0..b.y1 {
            let (src, dst) = (&bg_labels.data[y * w + b.x0..y * w + b.x1], &mut seeds.data[y * w + b.x0..y * w + b.x1]);
            for (d, &l) in dst.iter_mut().zip(src) {
                if l == label {
                    *d = label;
                }
            }
        }
        seed_boxes.push(b);
    }
    rows.iter().map(|&r| bg.labels[r]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 70 dark squares of 10×10 px in raster order (cores of 1.1 mm at 0.1 mm/px), then one of 40×40
    /// below them: more cores than the table holds. The largest kept first keeps the large one (and the
    /// first 63 small ones); the first by label leaves it out.
    #[test]
    fn the_largest_cores_are_kept_where_the_table_overflows() {
        let (w, h) = (400usize, 200usize);
        let mut bg_labels = Plane { width: w, height: h, data: vec![0u32; w * h] };
        let mut bg = RegionTable::default();
        let squares = (0..70).map(|i| (5 + 20 * (i % 18), 5 + 20 * (i / 18), 10)).chain([(200, 120, 40)]);
        for (x0, y0, side) in squares {
            let label = 1 + (y0 * w + x0) as u32;
            for y in y0..y0 + side {
                bg_labels.data[y * w + x0..y * w + x0 + side].fill(label);
            }
            let area = (side * side) as u32;
            bg.labels.push(label);
            bg.area.push(area);
            bg.aux.push((0.5 * RATIO_FIXED * area as f32) as u32);
            bg.flags.push(0);
            bg.sharp.push(0);
            bg.bbox.push(Rect { x0, y0, x1: x0 + side, y1: y0 + side });
        }
        let large = 1 + (120 * w + 200) as u32;
        let p = AnalysisParams { min_core_diameter_mm: 1.0, ..AnalysisParams::with_scale(0.1) };
        let (mut seeds, mut boxes) = (Plane::default(), Vec::new());
        let cores = select_cores(&bg_labels, &mut bg.clone(), &p, &mut seeds, &mut boxes);
        assert_eq!(cores.len(), MAX_CORES);
        assert!(cores.contains(&large) && cores.windows(2).all(|c| c[0] < c[1]), "the large core kept, labels ascending");
        assert_eq!(seeds.data[130 * w + 210], large);
        let first = AnalysisParams { largest_cores_first: false, ..p };
        let cores = select_cores(&bg_labels, &mut bg, &first, &mut seeds, &mut boxes);
        assert_eq!(cores.len(), MAX_CORES);
        assert!(!cores.contains(&large), "the first by label fill the table");
    }
}
