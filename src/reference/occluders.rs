//! Opaque occluders: an instrument's shaft hides the tissue behind it, as the image border hides what
//! lies past it. A shaft is metal: grey in the white light (`OCCLUDER_MAX_CHROMA`), where tissue is red
//! (a tumour's pale core too, if less), and dark in the NIR, lit by stray light only (0.05–0.35 of the
//! background, haze included, on this project's phantoms and an independent set's: under
//! `AnalysisParams::occluder_max_ratio`, raised by `OCCLUDER_HAZE_ALLOWANCE`). It enters the view from the
//! image border, so an occluder is a region of such pixels, touching the border, of at least
//! `MIN_OCCLUDER_MM`'s disc; its edge's skirt (blur and optics, `SKIRT_PX`) is hidden with it.
//!
//! What an occluder hides is not in view:
//! - a core that a shaft lies across is open to the liver only through the shaft: without the hidden
//!   pixels it is a region of its own, split off as a partial core (`split_cores`), and, as a core cut
//!   by the image border, taken only if dark (`partial_core_max_ratio`);
//! - its boundary along the shaft is neither rim nor gap (`reduce::coverage_by_direction` skips it, as
//!   it skips the image's edge);
//! - a lesion that the hidden pixels touch (its core, its rim, or the coreless lesion's region) is
//!   partial: no size claim (`mark_partial`).
//!
//! Measured on an independent phantom set (draws B and C, tuning reads): the rim arcs of cores under a
//! shaft were reported as coreless lesions, false ones, since the truth holds an occluded lesion as not
//! in view. CPU only (no GPU twin yet; `AnalysisParams::cpu_only_stages`).

use crate::analysis::{LesionKind, LesionStats, THICKNESS_BIN};
use crate::frame::{Plane, RgbView};
use crate::params::{AnalysisParams, min_core_area_px};
use crate::raster::rect::Rect;
use crate::raster::{flood, four_neighbours};
use super::regions::{FLAG_BORDER, RegionTable, split_off};

/// The smallest occluder: a disc of this diameter. An instrument's shaft is 5–10 mm wide; a dark core at
/// the border with its texture under the ratio in places makes specks, not a region this large.
pub const MIN_OCCLUDER_MM: f32 = 4.0;

/// A shaft's pixels are at most this colourful in the white light: chroma, (max − min) / max of the
/// channels. Shafts: 0.14–0.15 on an independent set's frames, 0.06–0.11 by this project's renderer's metal
/// (haze included); liver 0.53–0.62 (independent), 0.45–0.67 (ours); a tumour's pale core 0.20–0.27 by
/// our renderer's colours, the palest case.
pub const OCCLUDER_MAX_CHROMA: f32 = 0.18;

/// Haze lifts a shaft's stray light over `occluder_max_ratio` (an independent set: 0.30–0.35 of the
/// background); the white light's grey tells it from tissue, so a pixel is dark enough at this much over it.
pub const OCCLUDER_HAZE_ALLOWANCE: f32 = 0.15;

/// The skirt of an occluder's edge hidden with it, px: optics and blur spread a shaft's edge over 2–4 px
/// that read 0.3–0.7 of the background (the independent set's shafts).
pub const SKIRT_PX: usize = 4;

/// A deep lesion (`glow`) is taken to reach this far beyond the disc of its area (its glow's skirt).
pub const GLOW_REACH_MM: f32 = 1.0;

/// The hidden pixels of a frame: its occluders with their skirts.
pub struct Occluders {
    /// 1 where hidden, within `bbox`.
    pub hidden: Plane<u8>,
    /// The box holding every hidden pixel.
    pub bbox: Rect,
}

impl Occluders {
    /// The frame's occluders (the NIR's `ratio` to its background, the white light `wl`), `None` where it has none (or the stage is off: `occluder_max_ratio` 0).
    pub fn find(ratio: &Plane<f32>, wl: RgbView<'_>, p: &AnalysisParams) -> Option<Self> {
        if !(p.occluder_max_ratio > 0.0) {
            return None;
        }
        let (w, h) = (ratio.width, ratio.height);
        if w < 3 || h < 3 || (wl.width, wl.height) != (w, h) {
            return None;
        }
        let max_ratio = p.occluder_max_ratio + OCCLUDER_HAZE_ALLOWANCE;
        let dark = |i: usize| {
            let c = &wl.data[3 * i..3 * i + 3];
            let (hi, lo) = (c.iter().max().copied().unwrap_or(0) as f32, c.iter().min().copied().unwrap_or(0) as f32);
            ratio.data[i] < max_ratio && hi - lo <= OCCLUDER_MAX_CHROMA * hi
        };
        let min_area = std::f32::consts::FRAC_PI_4 * p.mm_to_px(MIN_OCCLUDER_MM).powi(2);
        let border = || (0..w).flat_map(move |x| [x, (h - 1) * w + x]).chain((1..h - 1).flat_map(move |y| [y * w, y * w + w - 1]));
        // Most frames have no shaft: their border is all they cost.
        if !border().any(dark) {
            return None;
        }
        let mut seen = vec![false; w * h];
        let mut kept: Vec<usize> = Vec::new();
        for start in border() {
            if seen[start] || !dark(start) {
                continue;
            }
            // A 4-connected dark region from the border.
            let region = flood(start, w, h, dark, &mut seen);
            if region.len() as f32 >= min_area {
                kept.extend(region);
            }
        }
        if kept.is_empty() {
            return None;
        }
        let mut hidden = Plane::<u8>::new(w, h);
        let mut bbox = Rect::EMPTY;
        // Each kept pixel with its skirt: a square of `SKIRT_PX` about it, row runs at a time.
        for &i in &kept {
            let (x, y) = (i % w, i / w);
            let (x0, x1) = (x.saturating_sub(SKIRT_PX), (x + SKIRT_PX + 1).min(w));
            for yy in y.saturating_sub(SKIRT_PX)..(y + SKIRT_PX + 1).min(h) {
                hidden.data[yy * w + x0..yy * w + x1].fill(1);
                bbox.include_span(yy, x0, x1);
            }
        }
        Some(Self { hidden, bbox })
    }

    fn is_hidden(&self, i: usize) -> bool {
        self.hidden.data[i] != 0
    }

    /// The hidden pixels and their 4-neighbours (what the occluder touches), in raster order.
    fn touched(&self) -> impl Iterator<Item = usize> + '_ {
        let (w, h) = (self.hidden.width, self.hidden.height);
        let b = self.bbox;
        (b.y0..b.y1).flat_map(move |y| (b.x0..b.x1).map(move |x| y * w + x)).filter(|&i| self.is_hidden(i)).flat_map(move |i| std::iter::once(i).chain(four_neighbours(i, w, h)))
    }

    /// Is pixel `i`, a core's boundary pixel, beside a hidden one (its boundary there is the occluder's)?
    pub fn beside(&self, i: usize) -> bool {
        self.is_hidden(i) || four_neighbours(i, self.hidden.width, self.hidden.height).any(|j| self.is_hidden(j))
    }
}

/// Splits off, as partial cores (`FLAG_BORDER`), the pieces of the non-fluorescent components that
/// the hidden pixels cut apart: each component holding hidden pixels is taken without them, and every
/// piece of a core's size but its largest (the liver it belongs to) becomes a component of its own, so
/// long as what is left of a component larger than a core (the liver, most of the frame) stays so: a
/// shaft across the view with ducts below its tip halves the liver, and a half is no core.
/// Returns how many were split off.
pub fn split_cores(occ: &Occluders, bg_labels: &mut Plane<u32>, bg: &mut RegionTable, ratio: &Plane<f32>, p: &AnalysisParams) -> usize {
    let (w, h) = (bg_labels.width, bg_labels.height);
    let mut labels: Vec<u32> = occ.touched().map(|i| bg_labels.data[i]).filter(|&l| l != 0).collect();
    labels.sort_unstable();
    labels.dedup();
    let min_area = min_core_area_px(p);
    let mut split = 0;
    let mut seen = vec![false; w * h];
    for label in labels {
        let Some(r) = bg.labels.binary_search(&label).ok() else { continue };
        let b = bg.bbox[r];
        let mut pieces: Vec<Vec<usize>> = Vec::new();
        for y in b.y0..b.y1 {
            for x in b.x0..b.x1 {
                let start = y * w + x;
                if seen[start] || bg_labels.data[start] != label || occ.is_hidden(start) {
                    continue;
                }
                let piece = flood(start, w, h, |j| bg_labels.data[j] == label && !occ.is_hidden(j), &mut seen);
                pieces.push(piece);
            }
        }
        let Some(largest) = (0..pieces.len()).max_by_key(|&k| pieces[k].len()) else { continue };
        // A component larger than a core (most of the frame: the liver) keeps no core's figures
        // (`regions::region_stats` sums the ratio of cores' sizes only): it is never cut down to one.
        let (n, mut left) = (w * h, bg.area[r] as usize);
        let core_sized = |area: usize| area * 3 <= n;
        let was_core_sized = core_sized(left);
        for (k, piece) in pieces.iter().enumerate() {
            if k != largest && piece.len() as f32 >= min_area && (was_core_sized || !core_sized(left - piece.len())) {
                split_off(piece, FLAG_BORDER, bg_labels, bg, ratio);
                left -= piece.len();
                split += 1;
            }
        }
    }
    split
}

/// Marks partial the lesions that the hidden pixels touch: a rim lesion whose core (`bg_labels`) or rim
/// (fluorescence no farther from the core than the rim's measured outer edge reaches anywhere round it,
/// by the distance field's `nearest` and `dist`) does, a coreless lesion whose region (`fluo_labels`)
/// does, and a deep lesion found at its own scale (`glow`: blocks, no region of its own) whose disc,
/// reaching `GLOW_REACH_MM` beyond its area's, does. (The whole rim search instead, 6 mm, took in the
/// grains and ducts beside a shaft that passed a lesion by: three true rims of an independent set, not
/// occluded, read partial.)
pub fn mark_partial(occ: &Occluders, bg_labels: &Plane<u32>, fluo_labels: &Plane<u32>, nearest: &Plane<u32>, dist: &Plane<f32>, lesions: &mut [LesionStats], p: &AnalysisParams) {
    // Each rim lesion's reach: the outermost edge its thickness histogram holds, a pixel more.
    let mut reach: Vec<(u32, f32)> = lesions
        .iter()
        .filter(|st| st.kind == LesionKind::Rim)
        .map(|st| (st.label, st.thickness_hist.iter().rposition(|&n| n > 0).map_or(0.0, |b| (b + 1) as f32 * THICKNESS_BIN) + 1.0))
        .collect();
    reach.sort_unstable_by_key(|r| r.0);
    let search = p.mm_to_px(p.rim_search_mm);
    let mut touched: Vec<u32> = Vec::new();
    for i in occ.touched() {
        touched.push(bg_labels.data[i]);
        let f = fluo_labels.data[i];
        if f != 0 {
            touched.push(f);
            let core = nearest.data[i];
            let within = reach.binary_search_by_key(&core, |r| r.0).ok().is_some_and(|k| dist.data[i] <= reach[k].1.min(search));
            if within {
                touched.push(core);
            }
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let (w, h) = (occ.hidden.width, occ.hidden.height);
    for st in lesions.iter_mut() {
        if touched.binary_search(&st.label).is_ok() {
            st.partial = true;
        } else if st.kind == LesionKind::Diffuse {
            let r = (st.area_px as f32 / std::f32::consts::PI).sqrt() + p.mm_to_px(GLOW_REACH_MM);
            let [cx, cy] = st.centroid();
            let b = occ.bbox;
            let (x0, x1) = (((cx - r).floor().max(0.0) as usize).max(b.x0), ((cx + r).ceil().max(0.0) as usize + 1).min(w).min(b.x1));
            let (y0, y1) = (((cy - r).floor().max(0.0) as usize).max(b.y0), ((cy + r).ceil().max(0.0) as usize + 1).min(h).min(b.y1));
            st.partial = (y0..y1).any(|y| {
                (x0..x1).any(|x| occ.is_hidden(y * w + x) && (x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2) <= r * r)
            });
        }
    }
}
