//! Coreless lesions tested against the frame's own texture. Textured liver (5–25% at a grain of 1–5 mm)
//! puts many blobs over any fixed level, and their brightness says little: a strongly textured frame
//! has grains at 1.8–2.2 times its background, as bright as a deep lesion's glow. What tells a lesion
//! from a grain is that it is an outlier among the frame's own blobs. Every fluorescent component of a
//! lesion's size that is no rim is a sample of the frame's texture; its excess (its median ratio above the
//! background's mode) and its excess mass (that times its area: area and brightness together) are
//! measured, the median rather than the mean, so that a duct through a piece of texture (`blobs` cuts
//! such pieces off ducts) lends it neither, and the texture's
//! distribution of log excess mass, and of log excess, is estimated robustly
//! (median, and the median absolute deviation as a sigma) so that the few lesions among the samples do
//! not move it. A coreless candidate is reported only if one of the two stands above its median by the
//! normal quantile that `n` texture samples reach with probability α/2 a frame (a family-wise bound:
//! z = Φ⁻¹(1 − α/2n), α = `AnalysisParams::texture_alpha`; `stats::stand_out_of_grains`): a deep lesion's glow stands out by its mass, a tumour's own fluorescence by its
//! excess where the frame's grains are as large.
//! With fewer than `stats::MIN_GRAINS` samples the frame's texture makes too few blobs to judge by, and the
//! fixed bars (`measure::figures::significant`) decide alone. Candidates that fail are flagged
//! `FLAG_TEXTURE` and `reduce::coreless_kind` does not report them.
//!
//! Rim lesions are judged against the same grains (`drop_texture_pockets`). Where grains crowd, the
//! dark pockets between them are walled by fluorescence on most of their boundary, as a core by its
//! rim; but a pocket is smaller than the grains that wall it. A rim lesion is kept when its core is no
//! smaller than the grains' median area less `AnalysisParams::texture_pocket_sigmas` robust sigmas of
//! their log area, or when its rim's median excess reaches the bar a coreless lesion's must (a small
//! tumour with a bright rim). Measured on an independent phantom set: the texture's pockets lay 2–6
//! sigmas under the grains' median, every true core of a textured frame above it.
//! Where the texture's bright parts join into a network (lobule walls) there are few grains to judge
//! by, and the pockets are many: a frame then holds a crowd of holes (non-fluorescent components
//! enclosed by fluorescence, of a core's size; `Holes`) alike in area and in the brightness of their
//! walls, and a rim lesion is kept only when its core stands out of the crowd by its area (with a
//! compact outline: merged lobules are large but ragged) or by its wall's median excess
//! (`drop_pocket_crowds`, the same family-wise bar; the median, as a duct along one side of a pocket
//! raises its wall's mean, not its median), both in the whole frame's crowd and in its neighbours'
//! (lobules vary in size across a view). A patient's view holds a few tumours, not a
//! dozen alike.
//! CPU only (no GPU twin yet; `AnalysisParams::cpu_only_stages`).

use std::cell::OnceCell;

use crate::analysis::{FluoLevel, LesionKind, LesionStats, RATIO_BIN};
use crate::frame::Plane;
use crate::params::{AnalysisParams, min_core_area_px};
use crate::raster::rect::Rect;
use crate::stats::{MIN_GRAINS, grain_bars, outlier_bar, robust_spread, stand_out_of_grains};
use super::blobs::min_coreless_area_px;
use super::reduce::coreless_kind;
use super::scale_texture::ScaleTexture;
use super::shape::solidity_and_elongation;
use super::regions::{FLAG_BORDER, FLAG_HAS_RIM, FLAG_TEXTURE, RegionTable, component_ratios};

/// A hole that stands out of its crowd by its area alone must be at least this solid (its area over its
/// convex hull's) to be a core: lobules merged where the walls between them fell under the level (blur,
/// a dim stretch of liver) are as large as a tumour's core but as ragged as the walls that broke; a
/// tumour's core, lobulated or not, is compact. Measured: 0.89 and over for the true cores of an
/// independent phantom set; 0.43–0.89 for the merged lobules of a blurred lobular frame of our own (20 of
/// 29 under 0.8).
const CORE_MIN_SOLIDITY: f32 = 0.8;

/// The neighbourhood a hole is judged in among its neighbours (`drop_pocket_crowds`): the holes whose
/// centres lie within this many of its own diameters (about 36 lobules of its size).
const NEIGHBOURHOOD_DIAMETERS: f32 = 3.0;

/// The frame's texture grains: its fluorescent components of a lesion's size that are no rim.
pub struct Grains {
    /// Their indices in the fluorescent region table.
    regions: Vec<usize>,
    /// Robust excess mass (area × median excess of the ratio over the background's mode, px) and
    /// area (px) of each.
    mass: Vec<f32>,
    area: Vec<f32>,
}

impl Grains {
    /// The grains of a frame whose rims are marked (`reduce::mark_rims`).
    pub fn of(fluo_labels: &Plane<u32>, fl: &RegionTable, ratio: &Plane<f32>, level: &FluoLevel, p: &AnalysisParams) -> Self {
        if !(p.texture_alpha > 0.0) {
            return Self { regions: Vec::new(), mass: Vec::new(), area: Vec::new() }; // the texture is not judged
        }
        let min_area = min_coreless_area_px(p);
        let regions: Vec<usize> = (0..fl.labels.len()).filter(|&r| fl.flags[r] & FLAG_HAS_RIM == 0 && fl.area[r] as f32 >= min_area).collect();
        let mut scratch = Vec::new();
        let mut mass = Vec::with_capacity(regions.len());
        for &r in &regions {
            let values = component_ratios(fluo_labels, fl, r, ratio, &mut scratch);
            mass.push(fl.area[r] as f32 * (crate::stats::median(values).unwrap_or(0.0) - level.mode).max(0.0));
        }
        let area = regions.iter().map(|&r| fl.area[r] as f32).collect();
        Self { regions, mass, area }
    }
}

/// Flags the coreless candidates of `fl` that are no outliers among the frame's texture grains (see the
/// module's doc), or, where `scale` is given, that do not stand out of the frame's texture at their own
/// scale (`scale_texture`; judged whatever the count of grains).
pub fn flag_texture(grains: &Grains, scale: Option<&ScaleTexture>, fl: &mut RegionTable, p: &AnalysisParams) {
    if !(p.texture_alpha > 0.0) {
        return;
    }
    if let Some(stand_out) = stand_out_of_grains(&grains.mass, &grains.area, p.texture_alpha) {
        for (&r, out) in grains.regions.iter().zip(stand_out) {
            if !out && coreless_kind(fl, r, p).is_some() {
                fl.flags[r] |= FLAG_TEXTURE;
            }
        }
    }
    let Some(scale) = scale else { return };
    for r in 0..fl.labels.len() {
        if coreless_kind(fl, r, p).is_some() && !scale.stands_out(fl.bbox[r].centre(), fl.area[r] as f32, fl.bbox[r], p.texture_alpha) {
            fl.flags[r] |= FLAG_TEXTURE;
        }
    }
}

/// Drops the rim lesions whose core is a pocket of the texture (see the module's doc): smaller than
/// the grains that wall such pockets, with a rim no brighter than they are. A lesion cut by the image
/// border is kept (its core's area is not all in view).
pub fn drop_texture_pockets(grains: &Grains, lesions: &mut Vec<LesionStats>, level: &FluoLevel, p: &AnalysisParams) {
    if !(p.texture_alpha > 0.0) {
        return;
    }
    let Some(bars) = grain_bars(&grains.mass, &grains.area, p.texture_alpha) else { return };
    let log_area: Vec<f32> = grains.area.iter().map(|a| a.max(1.0).ln()).collect();
    let Some((mid, sigma)) = robust_spread(&log_area) else { return };
    let area_bar = mid - p.texture_pocket_sigmas * sigma;
    lesions.retain(|st| {
        st.kind != LesionKind::Rim || st.partial || (st.area_px.max(1) as f32).ln() >= area_bar || rim_median_excess(st, level.mode).max(1e-3).ln() >= bars.log_mean
    });
}

/// Drops the rim lesions whose ring does not stand out of the frame's texture at its own scale
/// (`ScaleTexture::ring_stands_out`, at `texture_alpha`; a `ScaleTexture` is made only where that is
/// on). A lesion cut by the image border is kept.
pub fn drop_faint_rings(scale: &ScaleTexture, bg: &RegionTable, lesions: &mut Vec<LesionStats>, p: &AnalysisParams) {
    lesions.retain(|st| {
        st.kind != LesionKind::Rim
            || st.partial
            || scale.ring_stands_out(st.centroid(), st.area_px as f32, st.rim_area_px as f32, bg.bbox[bg.index(st.label)], p.texture_alpha)
    });
}

/// The frame's holes: its non-fluorescent components of a core's size (`min_core_area_px`) clear of
/// the image border, each enclosed by fluorescence (a core, with or without a gap, is one after the
/// enclosure stage), with their log area and the log median excess over the background's mode of the
/// fluorescence that walls them: at each boundary pixel with a fluorescent 4-neighbour, the peak of
/// the ratio out from it in that direction within `WALL_DEPTH_MM`. The median, so that a duct or a
/// neighbour's rim along one side does not make a pocket's wall stand out.
pub struct Holes {
    labels: Vec<u32>,
    log_area: Vec<f32>,
    log_wall: Vec<f32>,
    bbox: Vec<Rect>,
}

/// How far out from a hole its wall's peak is looked for (mm, at least 2 px): into a rim of 0.5 mm or
/// more to its bright middle, through a lobule's wall (a few tenths of a mm) and no further than the
/// next lobule. The wall's first pixel alone is the foot of its edge: a tumour's rim at TBR 5 walled
/// its core at 0.3–0.6 over the mode, as the texture's pockets are (independent draw E, s028 frame 0:
/// five tumours dropped as a crowd of pockets).
const WALL_DEPTH_MM: f32 = 0.5;

impl Holes {
    /// The centre of hole `k`'s box, px.
    fn centre(&self, k: usize) -> [f32; 2] {
        self.bbox[k].centre()
    }
}

impl Holes {
    pub fn of(bg_labels: &Plane<u32>, bg: &RegionTable, fluo: &Plane<u8>, ratio: &Plane<f32>, level: &FluoLevel, p: &AnalysisParams) -> Self {
        let mut holes = Self { labels: Vec::new(), log_area: Vec::new(), log_wall: Vec::new(), bbox: Vec::new() };
        if !(p.texture_alpha > 0.0) {
            return holes; // the texture is not judged
        }
        let (w, h, min_area) = (bg_labels.width, bg_labels.height, min_core_area_px(p));
        let depth = p.mm_to_px(WALL_DEPTH_MM).round().max(2.0) as isize;
        let mut wall = Vec::new();
        for r in 0..bg.labels.len() {
            if bg.flags[r] & FLAG_BORDER != 0 || (bg.area[r] as f32) < min_area {
                continue;
            }
            let (label, b) = (bg.labels[r], bg.bbox[r]);
            wall.clear();
            // Clear of the image border, so every pixel has its four neighbours.
            for y in b.y0..b.y1 {
                for x in b.x0..b.x1 {
                    let i = y * w + x;
                    if bg_labels.data[i] != label {
                        continue;
                    }
                    for (dx, dy) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
                        let j = (i as isize + dx + dy * w as isize) as usize;
                        if fluo.data[j] != 0 && bg_labels.data[j] != label {
                            // The wall's peak in that direction, out to `depth` px: a tumour's rim
                            // rises to its own level there, where its first pixel is the foot of its
                            // edge, hardly over the fluorescence level, as a pocket's wall is.
                            let peak = (1..=depth)
                                .map(|k| (x as isize + k * dx, y as isize + k * dy))
                                .take_while(|&(u, v)| u >= 0 && v >= 0 && (u as usize) < w && (v as usize) < h)
                                .map(|(u, v)| ratio.data[v as usize * w + u as usize])
                                .fold(f32::NEG_INFINITY, f32::max);
                            wall.push(peak - level.mode);
                        }
                    }
                }
            }
            holes.labels.push(label);
            holes.log_area.push((bg.area[r] as f32).ln());
            holes.log_wall.push(crate::stats::median(&mut wall).unwrap_or(0.0).max(1e-3).ln());
            holes.bbox.push(b);
        }
        holes
    }
}

/// Drops the rim lesions whose core is the typical hole of a crowd of them (see the module's doc):
/// where a frame holds at least `MIN_GRAINS` holes, a rim lesion is kept only when its wall's log median
/// excess, or its core's log area with a compact outline (`CORE_MIN_SOLIDITY`), is an outlier among
/// the holes' (`stats::outlier_bar` at α/2 each), both among the frame's and among its neighbours' (the
/// holes within `NEIGHBOURHOOD_DIAMETERS` of its own diameter, itself included, where they are
/// `MIN_GRAINS` or more). Lobules vary in size across a
/// view, so the largest of one stretch of liver stand out of the frame's crowd; they do not stand out
/// of the lobules around them, and a tumour does. Lesions cut by the image border are kept.
/// `bg_labels`: the non-fluorescent components' labels the holes were taken from (`Holes::of`); a
/// hole's outline is read from it only when its area alone stands out.
pub fn drop_pocket_crowds(holes: &Holes, bg_labels: &Plane<u32>, lesions: &mut Vec<LesionStats>, p: &AnalysisParams) {
    if !(p.texture_alpha > 0.0) || holes.labels.len() < MIN_GRAINS {
        return;
    }
    let alpha = 0.5 * p.texture_alpha;
    // Is hole `k`'s outline compact, as a tumour's core is? Read once a hole, and only for the holes
    // that stand out by their area alone.
    let compact = |k: usize, known: &OnceCell<bool>| {
        *known.get_or_init(|| solidity_and_elongation(|i| bg_labels.data[i] == holes.labels[k], bg_labels.width, holes.bbox[k]).0 >= CORE_MIN_SOLIDITY)
    };
    // Does hole `k` stand out of the holes `among` by its wall, or by its area with a tumour's compact
    // outline? `None`: nothing to judge by.
    let stands_out = |k: usize, among: &[usize], known: &OnceCell<bool>| -> Option<bool> {
        if among.len() < MIN_GRAINS {
            return None;
        }
        let area: Vec<f32> = among.iter().map(|&j| holes.log_area[j]).collect();
        let wall: Vec<f32> = among.iter().map(|&j| holes.log_wall[j]).collect();
        let (area_bar, wall_bar) = (outlier_bar(&area, alpha)?, outlier_bar(&wall, alpha)?);
        Some(holes.log_wall[k] >= wall_bar || (holes.log_area[k] >= area_bar && compact(k, known)))
    };
    let all: Vec<usize> = (0..holes.labels.len()).collect();
    lesions.retain(|st| {
        if st.kind != LesionKind::Rim || st.partial {
            return true;
        }
        let Some(k) = holes.labels.iter().position(|&l| l == st.label) else { return true };
        let known = OnceCell::new();
        let Some(in_frame) = stands_out(k, &all, &known) else { return true };
        let reach = NEIGHBOURHOOD_DIAMETERS * 2.0 * (holes.log_area[k].exp() / std::f32::consts::PI).sqrt();
        let c = holes.centre(k);
        let around: Vec<usize> = all.iter().copied().filter(|&j| (holes.centre(j)[0] - c[0]).hypot(holes.centre(j)[1] - c[1]) <= reach).collect();
        in_frame && stands_out(k, &around, &known).unwrap_or(true)
    });
}

/// The rim's median ratio above the background's mode, from its histogram (bin centres).
fn rim_median_excess(st: &LesionStats, mode: f32) -> f32 {
    crate::stats::hist_quantile(&st.ratio_hist, 1, 2, RATIO_BIN, 1.0).map_or(0.0, |m| m - mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::FluoLevel;
    use crate::stats::{MIN_GRAINS, normal_quantile};
    use super::super::reduce::ratio_bin;

    /// `n` grains of median area 500 px (log area spread 0.3) and median mean excess 0.4 (spread 0.15).
    fn grains(n: usize) -> Grains {
        let z = |i: usize| normal_quantile((i as f64 + 0.5) / n as f64) as f32;
        let area: Vec<f32> = (0..n).map(|i| 500.0 * (0.3 * z(i)).exp()).collect();
        let mass = area.iter().enumerate().map(|(i, a)| a * 0.4 * (0.15 * z(n - 1 - i)).exp()).collect();
        Grains { regions: (0..n).collect(), mass, area }
    }

    fn rim(core_px: u32, rim_ratio: f32, partial: bool) -> LesionStats {
        let mut st = LesionStats { area_px: core_px, rim_area_px: 400, partial, ..LesionStats::empty(LesionKind::Rim, core_px) };
        st.ratio_hist[ratio_bin(rim_ratio).unwrap()] = 400;
        st
    }

    /// A 480×300 frame at 0.1 mm/px, fluorescent at 1.3 times the background (mode 1) but for square
    /// holes at the background's level: `pockets` of 14–18 px a side walled at 1.45–1.51, one of 60 (a
    /// core of 6 mm) and one of 16 walled at 4 (a small core in a bright rim). Each hole is a rim
    /// lesion of its own.
    fn holes_frame(pockets: usize) -> (Plane<u32>, RegionTable, Plane<u8>, Plane<f32>, Vec<LesionStats>) {
        let (w, h) = (480usize, 300usize);
        let mut bg_labels = Plane { width: w, height: h, data: vec![0u32; w * h] };
        let mut fluo = Plane { width: w, height: h, data: vec![1u8; w * h] };
        let mut ratio = Plane { width: w, height: h, data: vec![1.3f32; w * h] };
        let mut bg = RegionTable::default();
        let mut lesions = Vec::new();
        let squares = (0..pockets).map(|i| (10 + 24 * (i % 10), 10 + 24 * (i / 10), 14 + i % 5, 1.45 + 0.01 * (i % 7) as f32)).chain([(300, 150, 60, 1.5), (400, 200, 16, 4.0)]);
        for (x0, y0, side, wall) in squares {
            let label = 1 + (y0 * w + x0) as u32;
            for y in y0 - 1..y0 + side + 1 {
                ratio.data[y * w + x0 - 1..y * w + x0 + side + 1].fill(wall);
            }
            for y in y0..y0 + side {
                bg_labels.data[y * w + x0..y * w + x0 + side].fill(label);
                fluo.data[y * w + x0..y * w + x0 + side].fill(0);
                ratio.data[y * w + x0..y * w + x0 + side].fill(1.0);
            }
            let area = (side * side) as u32;
            bg.labels.push(label);
            bg.area.push(area);
            bg.aux.push(0);
            bg.flags.push(0);
            bg.sharp.push(0);
            bg.bbox.push(crate::raster::rect::Rect { x0, y0, x1: x0 + side, y1: y0 + side });
            lesions.push(LesionStats { area_px: area, ..LesionStats::empty(LesionKind::Rim, label) });
        }
        (bg_labels, bg, fluo, ratio, lesions)
    }

    /// Flags `flag_texture` sets on the candidates of a ratio map thresholded at 1.3 (mode 1, noise
    /// 0.01, 0.1 mm/px): for each point of `at`, whether the candidate holding it is flagged (`None`: no
    /// candidate holds it), and the number of grains.
    fn texture_flags(ratio: &Plane<f32>, at: &[(f32, f32)]) -> (Vec<Option<bool>>, usize) {
        use super::super::components::{Connectivity, label_components};
        use super::super::regions::region_stats;
        let p = AnalysisParams::with_scale(0.1);
        let fluo = Plane { width: ratio.width, height: ratio.height, data: ratio.data.iter().map(|&v| u8::from(v >= 1.3)).collect() };
        let (mut parent, mut bl, mut fll) = (Vec::new(), Plane::new(0, 0), Plane::new(0, 0));
        let bgc = label_components(&fluo, 0, Connectivity::Four, &mut parent, &mut bl);
        let flc = label_components(&fluo, 1, Connectivity::Eight, &mut parent, &mut fll);
        let (mut bg, mut fl) = (RegionTable::default(), RegionTable::default());
        region_stats(&bl, &bgc, &fll, &flc, &fluo, ratio, &p, 0.0, &mut bg, &mut fl);
        let grains = Grains::of(&fll, &fl, ratio, &FluoLevel { level: 1.3, mode: 1.0, noise: 0.01, edge_noise: 0.0 }, &p);
        flag_texture(&grains, None, &mut fl, &p);
        let flags = at
            .iter()
            .map(|&(x, y)| {
                let l = fll.data[y as usize * ratio.width + x as usize];
                (l != 0).then(|| fl.index(l)).filter(|&r| coreless_kind(&fl, r, &p).is_some() || fl.flags[r] & FLAG_TEXTURE != 0).map(|r| fl.flags[r] & FLAG_TEXTURE != 0)
            })
            .collect();
        (flags, grains.regions.len())
    }

    /// A ratio map of `w`×`h` from `f(x, y, background)`, the background drawn from a log-normal of
    /// sigma `texture_sigma` about 1 (i.i.d. pixels, kept under the level of 1.3).
    fn textured(w: usize, h: usize, texture_sigma: f32, f: impl Fn(f32, f32, f32) -> f32) -> Plane<f32> {
        let mut state = 11u64;
        let mut u = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 + 0.5) / (1u64 << 24) as f32
        };
        let data = (0..w * h)
            .map(|i| {
                let z = (-2.0 * u().ln()).sqrt() * (std::f32::consts::TAU * u()).cos(); // Box–Muller
                f((i % w) as f32 + 0.5, (i / w) as f32 + 0.5, (texture_sigma * z).exp().min(1.25))
            })
            .collect();
        Plane { width: w, height: h, data }
    }

    /// Twenty grains (discs of 20 px at 1.55–1.65) and one more crossed by a duct (3 px at 4 times the
    /// background, inside it), with a lesion at 2.6: the grain with the duct is a grain, judged by its
    /// median (its mean excess would stand out of the grains'), and the lesion is not.
    #[test]
    fn a_duct_through_a_grain_lends_it_no_excess() {
        let centre = |k: usize| (40.0 + 60.0 * (k % 10) as f32, 40.0 + 80.0 * (k / 10) as f32);
        let (ducted, lesion) = (centre(20), (400.0f32, 300.0f32));
        let ratio = textured(640, 360, 0.01, |x, y, bg| {
            if (x - lesion.0).hypot(y - lesion.1) < 30.0 {
                return 2.6;
            }
            match (0..21).find(|&k| (x - centre(k).0).hypot(y - centre(k).1) < 20.0) {
                Some(20) if (y - ducted.1).abs() < 1.5 => 4.0,
                Some(k) => 1.55 + 0.01 * (k % 11) as f32,
                None => bg,
            }
        });
        let mut at: Vec<(f32, f32)> = (0..21).map(centre).map(|(x, y)| (x, y + 5.0)).collect();
        at.push(lesion);
        let (flags, grains) = texture_flags(&ratio, &at);
        assert!(grains >= MIN_GRAINS, "{grains} grains");
        assert!(flags[..21].iter().all(|&f| f == Some(true)), "grains (the last with the duct): {flags:?}");
        assert_eq!(flags[21], Some(false), "the lesion");
    }

    /// Among twenty alike holes the typical ones are the texture's pockets: they are dropped (one with a
    /// duct along its top side too), the large core and the bright-walled one kept, and so is a pocket
    /// cut by the image border. Below `MIN_GRAINS` holes nothing is judged.
    #[test]
    fn the_typical_hole_of_a_crowd_is_a_pocket() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let (bg_labels, bg, fluo, mut ratio, mut lesions) = holes_frame(20);
        // A duct along pocket 5's top side (x 130–143, y 10): a quarter of its wall at 4.0.
        ratio.data[9 * 480 + 129..9 * 480 + 145].fill(4.0);
        let (large, bright) = (lesions[20].label, lesions[21].label);
        lesions[0].partial = true;
        let cut = lesions[0].label;
        let holes = Holes::of(&bg_labels, &bg, &fluo, &ratio, &level, &p);
        drop_pocket_crowds(&holes, &bg_labels, &mut lesions, &p);
        assert_eq!(lesions.iter().map(|st| st.label).collect::<Vec<_>>(), vec![cut, large, bright], "the outliers and the cut pocket are kept");
        let (bg_labels, bg, fluo, ratio, mut lesions) = holes_frame(MIN_GRAINS - 3);
        let holes = Holes::of(&bg_labels, &bg, &fluo, &ratio, &level, &p);
        drop_pocket_crowds(&holes, &bg_labels, &mut lesions, &p);
        assert_eq!(lesions.len(), MIN_GRAINS - 1, "fewer than MIN_GRAINS holes: nothing judged");
    }

    /// A tumour's rim rises from the foot of its edge: the bright-walled core's first ring of wall at
    /// the pockets' 1.45, its rim at 4.0 from the second pixel out. Judged by its wall's peak it stands
    /// out of the crowd and is kept; by its first ring alone it was one of the pockets.
    #[test]
    fn a_rim_rising_from_the_foot_of_its_edge_stands_out_of_a_crowd() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let (bg_labels, bg, fluo, mut ratio, mut lesions) = holes_frame(20);
        let (large, bright) = (lesions[20].label, lesions[21].label);
        let w = bg_labels.width;
        // The bright core is (400..416, 200..216): its first ring at 1.45, the next three at 4.0.
        for y in 196..220 {
            for x in 396..420 {
                // 0: the first ring out of the core (centre 408, 208; half-side 8).
                let ring = ((x as f32 + 0.5 - 408.0).abs().max((y as f32 + 0.5 - 208.0).abs()) - 8.0).floor();
                if (0.0..4.0).contains(&ring) {
                    ratio.data[y * w + x] = if ring == 0.0 { 1.45 } else { 4.0 };
                }
            }
        }
        let holes = Holes::of(&bg_labels, &bg, &fluo, &ratio, &level, &p);
        drop_pocket_crowds(&holes, &bg_labels, &mut lesions, &p);
        assert_eq!(lesions.iter().map(|st| st.label).collect::<Vec<_>>(), vec![large, bright], "the large core and the bright rim are kept");
    }

    /// Among twenty alike holes, a large one as ragged as merged lobules (a U: 2000 px over a 3600 px
    /// hull) is no core, though its area stands out; compact, it was one (above).
    #[test]
    fn a_large_but_ragged_hole_among_a_crowd_is_merged_lobules() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let (mut bg_labels, mut bg, mut fluo, mut ratio, mut lesions) = holes_frame(20);
        let (large, bright) = (lesions[20].label, lesions[21].label);
        let w = bg_labels.width;
        for y in 150..190 {
            for x in 310..350 {
                bg_labels.data[y * w + x] = 0;
                fluo.data[y * w + x] = 1;
                ratio.data[y * w + x] = 1.5;
            }
        }
        let r = bg.labels.iter().position(|&l| l == large).unwrap();
        bg.area[r] -= 1600;
        lesions[20].area_px -= 1600;
        let holes = Holes::of(&bg_labels, &bg, &fluo, &ratio, &level, &p);
        assert!(solidity_and_elongation(|i| bg_labels.data[i] == large, w, bg.bbox[r]).0 < CORE_MIN_SOLIDITY);
        drop_pocket_crowds(&holes, &bg_labels, &mut lesions, &p);
        assert_eq!(lesions.iter().map(|st| st.label).collect::<Vec<_>>(), vec![bright], "only the bright-walled core is kept");
    }

    /// Among grains of 500 px, a 100 px core walled at the grains' own brightness is a pocket of the
    /// texture; a 1500 px core is a lesion, and so is a 100 px core whose rim is far brighter than any
    /// grain, or one cut by the image border. With too few grains to judge by, nothing is dropped.
    #[test]
    fn a_core_smaller_than_the_grains_is_a_pocket_unless_its_rim_stands_out() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let lesions = || vec![rim(100, 1.42, false), rim(1500, 1.42, false), rim(101, 3.0, false), rim(102, 1.42, true), LesionStats::empty(LesionKind::Diffuse, 7)];
        let mut kept = lesions();
        drop_texture_pockets(&grains(40), &mut kept, &level, &p);
        let labels: Vec<u32> = kept.iter().map(|st| st.label).collect();
        assert_eq!(labels, vec![1500, 101, 102, 7], "the 100 px pocket alone is dropped");
        let mut kept = lesions();
        drop_texture_pockets(&grains(MIN_GRAINS - 1), &mut kept, &level, &p);
        assert_eq!(kept.len(), 5, "too few grains: nothing judged");
        let mut kept = lesions();
        drop_texture_pockets(&grains(40), &mut kept, &level, &AnalysisParams { texture_alpha: 0.0, ..p });
        assert_eq!(kept.len(), 5, "stage off: nothing judged");
    }
}
