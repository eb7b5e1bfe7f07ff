//! The shape of a homogeneous lesion: a tumour's own fluorescence, with a sharp edge, is a solid,
//! roundish patch (a diffuse glow's outline is a level line of a blur, ragged in texture: its shape says
//! little, and it is not tested). An arc is not: it is the stretch of a rim whose core was not found (texture
//! or a faint side broke the ring), or the bend of a duct; nor is a strip a few times longer than wide
//! (the widest stretch of a tapering duct, which the opening of `blobs` keeps). A candidate whose area
//! fills less than `AnalysisParams::homogeneous_min_solidity` of its convex hull, or whose second moments
//! give an elongation (major over minor axis) above `MAX_ELONGATION`, is flagged `FLAG_NOT_SOLID` and
//! `reduce::coreless_kind` does not report it.
//!
//! A homogeneous lesion's own edge is judged at half its height (`flag_sharp_plateaus`): where the
//! scatter halo joins the lesion to a blotch of textured liver, half its outline is the blotch's gentle
//! flank and the outline test calls it a diffuse glow; at half the lesion's height over the background
//! the blotch falls away and the lesion's edge is what optics and motion blur make of a step (rising over
//! under `AnalysisParams::plateau_edge_mm`), where a deep glow's flank is as wide as its diffusion (a
//! Gaussian of sigma s rises at most 0.6/s of its height a mm: 0.4 at s = 1.5 mm). Such a candidate is
//! flagged `FLAG_SHARP_PLATEAU` (homogeneous) when its part over half its height is solid and roundish too.
//! CPU only (no GPU twin yet; `AnalysisParams::cpu_only_stages`).

use rayon::prelude::*;

use crate::analysis::{FluoLevel, LesionKind, LesionStats};
use crate::frame::Plane;
use crate::params::{AnalysisParams, min_core_area_px};
use super::components::{Connectivity, label_components};
use super::enclosure::convex_hull;
use super::reduce::{coreless_kind, gradient};
use super::regions::{FLAG_NOT_SOLID, FLAG_SHARP_PLATEAU, RegionTable, above_noise, component_ratios};
use crate::raster::rect::Rect;

/// A lesion is at most this elongated (major over minor axis of its second moments; the broad phantoms'
/// homogeneous lesions reach 1.4, motion blur adds to it).
pub const MAX_ELONGATION: f32 = 2.5;

/// The frame's gradient noise (`FluoLevel::edge_noise`): the median gradient magnitude of a sample of the
/// background's pixels (every `EDGE_NOISE_STEP`-th of every such row, off the image's edge), which for
/// noise alone is 1.1774 sigmas of one component (Rayleigh). Texture's grains (1–5 mm, 7–125 px here) are
/// smooth at the pixel scale, so what the gradients there hold is the sensor's noise, smoothed as the
/// ratio is.
pub fn edge_noise(ratio: &Plane<f32>, fluo: &Plane<u8>) -> f32 {
    let (w, h) = (ratio.width, ratio.height);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let rows: Vec<usize> = (1..h - 1).step_by(EDGE_NOISE_STEP).collect();
    let mut g: Vec<f32> = rows
        .into_par_iter()
        .flat_map_iter(|y| (1..w - 1).step_by(EDGE_NOISE_STEP).map(move |x| y * w + x))
        .filter(|&i| fluo.data[i] == 0)
        .map(|i| gradient(&ratio.data, w, i))
        .collect();
    crate::stats::median(&mut g).map_or(0.0, |m| m / 1.1774)
}

/// The background is sampled for its gradient noise every this many pixels and rows (`edge_noise`): 57
/// thousand pixels at 1080p fix a median within about a per cent.
const EDGE_NOISE_STEP: usize = 6;

/// Flags the homogeneous-lesion candidates of `fl` that are not solid and roundish (see the module's doc).
pub fn flag_shapeless(fluo_labels: &Plane<u32>, fl: &mut RegionTable, p: &AnalysisParams) {
    if !(p.homogeneous_min_solidity > 0.0) {
        return;
    }
    for r in 0..fl.labels.len() {
        if coreless_kind(fl, r, p) != Some(LesionKind::Homogeneous) {
            continue; // a diffuse glow's outline is a level line of a blur, ragged in texture
        }
        let label = fl.labels[r];
        let (solidity, elongation) = solidity_and_elongation(|i| fluo_labels.data[i] == label, fluo_labels.width, fl.bbox[r]);
        if solidity < p.homogeneous_min_solidity || elongation > MAX_ELONGATION {
            fl.flags[r] |= FLAG_NOT_SOLID;
        }
    }
}

/// Flags the diffuse candidates of `fl` whose edge at half their height is an optical edge (see the
/// module's doc): the height is the 90th percentile of the candidate's ratio over the background's mode;
/// at least half the boundary pixels of its part over half that height (off the image's outermost rows
/// and columns) rise by the height over `plateau_edge_mm` or less (central differences of the ratio), and
/// that part is solid and roundish (`homogeneous_min_solidity`, `MAX_ELONGATION`).
pub fn flag_sharp_plateaus(fluo_labels: &Plane<u32>, fl: &mut RegionTable, ratio: &Plane<f32>, level: &FluoLevel, p: &AnalysisParams) {
    if !(p.plateau_edge_mm > 0.0) {
        return;
    }
    let w = ratio.width;
    // The candidates judged in parallel (each reads only its own pixels and row), flagged after.
    let table = &*fl;
    let sharp: Vec<usize> = (0..fl.labels.len()).into_par_iter().filter(|&r| {
        if coreless_kind(table, r, p) != Some(LesionKind::Diffuse) {
            return false;
        }
        let (label, b) = (table.labels[r], table.bbox[r]);
        let of_it = |i: usize| fluo_labels.data[i] == label;
        let mut values: Vec<f32> = (b.y0..b.y1).flat_map(|y| (b.x0..b.x1).map(move |x| y * w + x)).filter(|&i| of_it(i)).map(|i| ratio.data[i]).collect();
        let Some(top) = crate::stats::percentile(&mut values, 0.9) else { return false };
        let height = top - level.mode;
        if !(height > 0.0) {
            return false;
        }
        let half = level.mode + 0.5 * height;
        sharp_plateau(|i| of_it(i) && ratio.data[i] >= half, height, b, ratio, level.edge_noise, p).is_some()
    }).collect();
    for r in sharp {
        fl.flags[r] |= FLAG_SHARP_PLATEAU;
    }
}

/// The part of a candidate over half its height with its holes smaller than a core filled
/// (`min_core_area_px`): a dip of the texture inside a lesion (texture multiplies the lesion's
/// fluorescence as the liver's, so a textured lesion's ratio spans half its height) is no edge of it,
/// while a hole of a core's size is a core (a ring whose core was not found is no solid lesion).
/// `b`: the part's box in a `width`-px frame.
pub(super) struct Plateau {
    pub b: Rect,
    width: usize,
    /// 1 on the part or a hole of it, over `b` (row by row).
    filled: Vec<u8>,
}

impl Plateau {
    /// The pixels `inside` box `b` (of a `width`-px frame; by index) with the holes under `max_hole`
    /// pixels that they enclose (4-connected background reaching no side of `b`).
    pub(super) fn filled(inside: impl Fn(usize) -> bool, width: usize, b: Rect, max_hole: f32) -> Self {
        // A local frame one pixel wider on each side, so that what lies outside the part is one
        // component around it.
        let (lw, lh) = (b.x1 - b.x0 + 2, b.y1 - b.y0 + 2);
        let mut mask = Plane::<u8>::new(lw, lh);
        for y in b.y0..b.y1 {
            for x in b.x0..b.x1 {
                mask.data[(y - b.y0 + 1) * lw + x - b.x0 + 1] = u8::from(inside(y * width + x));
            }
        }
        let mut labels = Plane::<u32>::new(lw, lh);
        let holes: Vec<u32> = label_components(&mask, 0, Connectivity::Four, &mut Vec::new(), &mut labels).into_iter().filter(|c| !c.border && (c.area as f32) < max_hole).map(|c| c.label).collect();
        let (bw, bh) = (b.x1 - b.x0, b.y1 - b.y0);
        let filled = (0..bw * bh)
            .map(|k| {
                let j = (k / bw + 1) * lw + k % bw + 1;
                u8::from(mask.data[j] != 0 || holes.binary_search(&labels.data[j]).is_ok())
            })
            .collect();
        Self { b, width, filled }
    }

    /// Is frame pixel `i` on the part or in a hole of it?
    #[inline]
    pub(super) fn contains(&self, i: usize) -> bool {
        let (x, y, b) = (i % self.width, i / self.width, self.b);
        (b.x0..b.x1).contains(&x) && (b.y0..b.y1).contains(&y) && self.filled[(y - b.y0) * (b.x1 - b.x0) + x - b.x0] != 0
    }

    /// Its pixel count and the sums of their columns and rows.
    pub(super) fn sums(&self) -> (u32, u64, u64) {
        let bw = self.b.x1 - self.b.x0;
        self.filled.iter().enumerate().filter(|&(_, &f)| f != 0).fold((0, 0, 0), |(n, sx, sy), (k, _)| (n + 1, sx + (self.b.x0 + k % bw) as u64, sy + (self.b.y0 + k / bw) as u64))
    }
}

/// Is a candidate's part over half its height (`plateau`: its pixels there, within box `b`) bounded by an
/// optical edge, and solid and roundish? `height`: the candidate's height over the background's mode. Its
/// small holes filled (`Plateau::filled`), at least half the pixels of its outline (off the image's outermost
/// rows and columns) rise by `height` over `plateau_edge_mm` or less (central differences of the ratio),
/// its area fills `homogeneous_min_solidity` of its convex hull and its elongation is at most
/// `MAX_ELONGATION`. A pixel beside one outside the part counts as outline whatever the reason: where a
/// plateau runs on beyond the pixels it was cut from, that stretch of its outline is no edge. The filled
/// part when it is.
pub(super) fn sharp_plateau(plateau: impl Fn(usize) -> bool, height: f32, b: Rect, ratio: &Plane<f32>, edge_noise: f32, p: &AnalysisParams) -> Option<Plateau> {
    let (w, h) = (ratio.width, ratio.height);
    let part = Plateau::filled(plateau, w, b, min_core_area_px(p));
    let min_slope_px = above_noise(height * p.mm_per_px / p.plateau_edge_mm, edge_noise);
    let (mut boundary, mut sharp) = (0u32, 0u32);
    for y in b.y0.max(1)..b.y1.min(h - 1) {
        for x in b.x0.max(1)..b.x1.min(w - 1) {
            let i = y * w + x;
            if part.contains(i) && [i - 1, i + 1, i - w, i + w].iter().any(|&j| !part.contains(j)) {
                boundary += 1;
                sharp += (gradient(&ratio.data, w, i) >= min_slope_px) as u32;
            }
        }
    }
    let (solidity, elongation) = solidity_and_elongation(|i| part.contains(i), w, b);
    (boundary > 0 && 2 * sharp >= boundary && solidity >= p.homogeneous_min_solidity && elongation <= MAX_ELONGATION).then_some(part)
}

/// A homogeneous lesion's extent, centroid and diameter are those of its part over half its height (as
/// `flag_sharp_plateaus` judges its edge there): where a blotch of textured liver or a duct joins it at
/// the fluorescence level, the component runs on into the blotch and its centroid follows (tuning seeds
/// 9100: lesions of 3.8-4.9 mm read 6-8 mm across, their centroids 2 mm off); a blurred step crosses half
/// its height at the step itself, so the part over it is the lesion's own, unbiased by the blur. The
/// height is the 90th percentile of the component's ratio over the background's mode. Same switch as
/// `flag_sharp_plateaus` (`plateau_edge_mm`); CPU only.
pub fn trim_to_plateau(fluo_labels: &Plane<u32>, fl: &RegionTable, ratio: &Plane<f32>, level: &FluoLevel, lesions: &mut [LesionStats], p: &AnalysisParams) {
    if !(p.plateau_edge_mm > 0.0) {
        return;
    }
    let w = ratio.width;
    let mut values = Vec::new();
    for st in lesions.iter_mut().filter(|st| st.kind == LesionKind::Homogeneous) {
        let (label, r) = (st.label, fl.index(st.label));
        let b = fl.bbox[r];
        let pixels = || (b.y0..b.y1).flat_map(move |y| (b.x0..b.x1).map(move |x| y * w + x)).filter(|&i| fluo_labels.data[i] == label);
        let Some(top) = crate::stats::percentile(component_ratios(fluo_labels, fl, r, ratio, &mut values), 0.9) else { continue };
        let half = level.mode + 0.5 * (top - level.mode);
        let (mut n, mut sx, mut sy) = (0u32, 0u64, 0u64);
        for i in pixels().filter(|&i| ratio.data[i] >= half) {
            n += 1;
            sx += (i % w) as u64;
            sy += (i / w) as u64;
        }
        if n > 0 {
            (st.area_px, st.sum_x, st.sum_y) = (n, sx, sy);
        }
    }
}

/// The area of the pixels `inside` box `b` (of a `width`-px frame; by index) over their convex hull's
/// (the hull of their corners), and the ratio of the major to the minor axis of their second moments.
pub(super) fn solidity_and_elongation(inside: impl Fn(usize) -> bool, width: usize, b: Rect) -> (f32, f32) {
    let mut corners = Vec::new();
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for y in b.y0..b.y1 {
        let of_row = |x: usize| inside(y * width + x);
        let (Some(l), Some(r)) = ((b.x0..b.x1).find(|&x| of_row(x)), (b.x0..b.x1).rev().find(|&x| of_row(x))) else { continue };
        let (xl, xr, yf) = (l as f32, (r + 1) as f32, y as f32);
        corners.extend([(xl, yf), (xl, yf + 1.0), (xr, yf), (xr, yf + 1.0)]);
        for x in (l..=r).filter(|&x| of_row(x)) {
            let (fx, fy) = (x as f64, y as f64);
            n += 1.0;
            sx += fx;
            sy += fy;
            sxx += fx * fx;
            syy += fy * fy;
            sxy += fx * fy;
        }
    }
    if n == 0.0 {
        return (1.0, 1.0);
    }
    let hull = convex_hull(corners);
    let hull_area = 0.5 * (0..hull.len()).map(|i| {
        let (a, c) = (hull[i], hull[(i + 1) % hull.len()]);
        (a.0 * c.1 - c.0 * a.1) as f64
    }).sum::<f64>().abs();
    let solidity = if hull_area > 0.0 { (n / hull_area).min(1.0) as f32 } else { 1.0 };
    // Covariance of the pixel centres (a pixel's own extent, 1/12, added to both axes).
    let (mx, my) = (sx / n, sy / n);
    let (cxx, cyy, cxy) = (sxx / n - mx * mx + 1.0 / 12.0, syy / n - my * my + 1.0 / 12.0, sxy / n - mx * my);
    let (tr, det) = (cxx + cyy, cxx * cyy - cxy * cxy);
    let disc = (0.25 * tr * tr - det).max(0.0).sqrt();
    let (major, minor) = (0.5 * tr + disc, (0.5 * tr - disc).max(1e-9));
    (solidity, (major / minor).sqrt() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(w: usize, h: usize, inside: impl Fn(f32, f32) -> bool) -> (Plane<u32>, Rect) {
        let mut p = Plane::<u32>::new(w, h);
        let mut b = Rect::EMPTY;
        for y in 0..h {
            for x in 0..w {
                if inside(x as f32 + 0.5, y as f32 + 0.5) {
                    p.data[y * w + x] = 1;
                    b.include_span(y, x, x + 1);
                }
            }
        }
        (p, b)
    }

    /// One fluorescent component (ratio ≥ 1.3) of `ratio` on a 200×200 frame as the only row of a region
    /// table, its outline counted as gentle (no sharp boundary pixel), so that the outline test calls it
    /// diffuse.
    fn one_candidate(ratio: &Plane<f32>) -> (Plane<u32>, RegionTable) {
        let (w, h) = (ratio.width, ratio.height);
        let mut labels = Plane::<u32>::new(w, h);
        let (mut b, mut area, mut boundary) = (Rect::EMPTY, 0u32, 0u32);
        let fluo = |i: usize| ratio.data[i] >= 1.3;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                if fluo(i) {
                    labels.data[i] = 1;
                    b.include_span(y, x, x + 1);
                    area += 1;
                    boundary += [i - 1, i + 1, i - w, i + w].iter().any(|&j| !fluo(j)) as u32;
                }
            }
        }
        let fl = RegionTable { labels: vec![1], area: vec![area], aux: vec![boundary], flags: vec![0], sharp: vec![0], bbox: vec![b] };
        (labels, fl)
    }

    /// A homogeneous lesion (a disc of radius 4 mm at 2.5 times the background, its edge blurred over
    /// 0.2 mm) joined by a scatter halo to a blotch of texture (a broad bump at 1.45) is called diffuse by
    /// its gentle outline; at half its height its edge is sharp: homogeneous. A deep glow (a Gaussian of
    /// sigma 1.5 mm, twice the background at its peak) stays diffuse. The lesion's centroid and diameter
    /// are the disc's, not the joined component's (`trim_to_plateau`).
    #[test]
    fn a_lesion_joined_to_a_blotch_keeps_its_edge_at_half_height() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let frame = |f: &dyn Fn(f32, f32) -> f32| Plane::from_vec(200, 200, (0..200 * 200).map(|i| f((i % 200) as f32 + 0.5, (i / 200) as f32 + 0.5)).collect()).unwrap();
        let lesion = frame(&|x, y| {
            let r = (x - 90.0).hypot(y - 100.0);
            let disc = 1.0 + 1.5 / (1.0 + ((r - 40.0) / 0.6).exp());
            let halo = 0.35 * (-((r - 40.0).max(0.0) / 15.0)).exp();
            let blotch = 0.45 * (-((x - 150.0).powi(2) + (y - 100.0).powi(2)) / (2.0 * 14.0 * 14.0)).exp();
            disc.max(1.0 + halo + blotch)
        });
        let (labels, mut fl) = one_candidate(&lesion);
        assert_eq!(coreless_kind(&fl, 0, &p), Some(LesionKind::Diffuse), "the outline test alone calls it diffuse");
        flag_sharp_plateaus(&labels, &mut fl, &lesion, &level, &p);
        assert_eq!(coreless_kind(&fl, 0, &p), Some(LesionKind::Homogeneous));
        // Its figures are the disc's: the component's centroid runs into the blotch, the part over half
        // its height does not.
        let of = |labels: &Plane<u32>| {
            let mut st = LesionStats::empty(LesionKind::Homogeneous, 1);
            for (i, _) in labels.data.iter().enumerate().filter(|&(_, &l)| l == 1) {
                (st.area_px, st.sum_x, st.sum_y) = (st.area_px + 1, st.sum_x + (i % 200) as u64, st.sum_y + (i / 200) as u64);
            }
            st
        };
        let mut lesions = vec![of(&labels)];
        assert!(lesions[0].centroid()[0] > 93.0, "the component's centroid runs into the blotch: {:?}", lesions[0].centroid());
        trim_to_plateau(&labels, &fl, &lesion, &level, &mut lesions, &p);
        let (c, d) = (lesions[0].centroid(), 2.0 * (lesions[0].area_px as f32 / std::f32::consts::PI).sqrt());
        assert!((c[0] - 90.0).abs() < 0.5 && (c[1] - 100.0).abs() < 0.5, "centroid {c:?}");
        assert!((d - 80.0).abs() < 1.5, "diameter {d} px, the disc's 80");
        let glow = frame(&|x, y| 1.0 + (-((x - 100.0).powi(2) + (y - 100.0).powi(2)) / (2.0 * 15.0 * 15.0)).exp());
        let (labels, mut fl) = one_candidate(&glow);
        flag_sharp_plateaus(&labels, &mut fl, &glow, &level, &p);
        assert_eq!(coreless_kind(&fl, 0, &p), Some(LesionKind::Diffuse), "a glow's flank is no edge");
    }

    /// A disc and a 1.4:1 ellipse are solid and roundish; the half of a ring 6 px wide around a
    /// 30 px core (a rim's stretch) is not solid; a 10×40 px strip (a duct's) is too elongated.
    #[test]
    fn arcs_and_strips_are_not_lesion_shaped() {
        let (disc, b) = plane(100, 100, |x, y| (x - 50.0).hypot(y - 50.0) < 20.0);
        let (s, e) = solidity_and_elongation(|i| disc.data[i] == 1, 100, b);
        assert!(s > 0.9 && e < 1.1, "disc: solidity {s}, elongation {e}");
        let (ellipse, b) = plane(100, 100, |x, y| ((x - 50.0) / 24.0).powi(2) + ((y - 50.0) / 17.0).powi(2) < 1.0);
        let (s, e) = solidity_and_elongation(|i| ellipse.data[i] == 1, 100, b);
        assert!(s > 0.9 && (1.3..1.5).contains(&e), "ellipse: solidity {s}, elongation {e}");
        let (arc, b) = plane(100, 100, |x, y| {
            let r = (x - 50.0).hypot(y - 50.0);
            r > 30.0 && r < 36.0 && y > 50.0
        });
        let (s, _) = solidity_and_elongation(|i| arc.data[i] == 1, 100, b);
        assert!(s < 0.5, "arc: solidity {s}");
        let (strip, b) = plane(100, 100, |x, y| (30.0..70.0).contains(&x) && (45.0..55.0).contains(&y));
        let (s, e) = solidity_and_elongation(|i| strip.data[i] == 1, 100, b);
        assert!(s > 0.95 && e > 3.5, "strip: solidity {s}, elongation {e}");
    }

    /// Sensor noise makes any outline steep pixel by pixel. In white noise of 0.1 (a gradient component's
    /// sigma 0.071, the sharp-edge bar's 0.07 a px at 0.1 mm/px) most of a deep glow's outline reads
    /// sharp against the bar alone, and the glow would be homogeneous; `edge_noise` measures the noise
    /// from the background's gradients, and against the bar raised by it the glow's outline is not sharp,
    /// while a disc with an optical edge in the same noise still is.
    #[test]
    fn noise_makes_no_outline_sharp() {
        let p = AnalysisParams::with_scale(0.1);
        let (w, h) = (200usize, 200usize);
        let mut state = 0x1234_5678u32;
        let mut uniform = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 + 1e-7
        };
        let noisy = |f: &dyn Fn(f32) -> f32, uniform: &mut dyn FnMut() -> f32| {
            let data = (0..w * h)
                .map(|i| {
                    let r = ((i % w) as f32 + 0.5 - 100.0).hypot((i / w) as f32 + 0.5 - 100.0);
                    let gauss = (-2.0 * uniform().ln()).sqrt() * (std::f32::consts::TAU * uniform()).cos();
                    f(r) + 0.1 * gauss
                })
                .collect();
            Plane::from_vec(w, h, data).unwrap()
        };
        // The candidate: the disc of radius 25 px (its own outline, whatever the noise does to a mask).
        let (labels, _) = plane(w, h, |x, y| (x - 100.0).hypot(y - 100.0) < 25.0);
        let fluo = Plane::from_vec(w, h, labels.data.iter().map(|&l| l as u8).collect()).unwrap();
        let area = labels.data.iter().filter(|&&l| l == 1).count() as u32;
        let outline: Vec<usize> = (0..w * h).filter(|&i| labels.data[i] == 1 && [i - 1, i + 1, i - w, i + w].iter().any(|&j| labels.data[j] != 1)).collect();
        let judge = |ratio: &Plane<f32>| {
            let raw = outline.iter().filter(|&&i| gradient(&ratio.data, w, i) >= p.homogeneous_edge_gradient_per_mm * p.mm_per_px).count();
            let noise = edge_noise(ratio, &fluo);
            let (mut parent, mut bg_labels, mut fl_labels) = (Vec::new(), Plane::new(0, 0), Plane::new(0, 0));
            let bgc = label_components(&fluo, 0, Connectivity::Four, &mut parent, &mut bg_labels);
            let flc = label_components(&fluo, 1, Connectivity::Eight, &mut parent, &mut fl_labels);
            let (mut bg, mut fl) = (RegionTable::default(), RegionTable::default());
            super::super::regions::region_stats(&bg_labels, &bgc, &fl_labels, &flc, &fluo, ratio, &p, noise, &mut bg, &mut fl);
            assert_eq!((fl.labels.len(), fl.area[0], fl.aux[0] as usize), (1, area, outline.len()), "one component, the disc");
            (raw, fl.sharp[0] as usize, noise)
        };
        let glow = noisy(&|r| 1.0 + (-r * r / (2.0 * 15.0 * 15.0)).exp(), &mut uniform);
        let (raw, above, sigma) = judge(&glow);
        assert!((sigma - 0.0707).abs() < 0.005, "gradient noise {sigma}, 0.0707 drawn");
        assert!(2 * raw >= outline.len(), "against the bar alone the glow's outline reads sharp: {raw} of {}", outline.len());
        assert!(5 * above < outline.len(), "above the noise it does not: {above} of {}", outline.len());
        let disc = noisy(&|r| 1.0 + 1.5 / (1.0 + ((r - 25.0) / 0.6).exp()), &mut uniform);
        let (_, above, _) = judge(&disc);
        assert!(2 * above >= outline.len(), "an optical edge stays sharp: {above} of {}", outline.len());
    }
}
