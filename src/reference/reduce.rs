//! CPU twin of `shaders/reduce.wgsl`: per-lesion statistics, after the labelled distance transform from
//! the cores (`raster::distance`) and the region tables (`regions`).
//!
//! `mark_rims`/`coreless_kind`: compact fluorescent components holding no core's rim, off the border,
//! are coreless lesions (ducts are not compact): homogeneous with a sharp edge, diffuse with a blurred one. `lesion_stats`: core pixels give a rim lesion's area and
//! centroid; fluorescent pixels within `rim_search_mm` of a core are its rim (ratio histogram) and the
//! rim's outer-edge pixels sample its thickness (in `subpixel`, refined to the outer iso-level, and
//! with the core's edges located direction by direction one median a sector about the core's
//! centroid, `RIM_DIRECTIONS`). `boundary_level` and `subpixel`: the core's
//! area at the iso-level halfway between core and rim, each pixel near the iso-line counted by the
//! fraction on the core side.
//!
//! Every pass visits only the distance transform's rectangles (cores, rims and everything within the
//! bound of a core) and, for diffuse lesions, their components' boxes: nothing outside them counts.

use crate::analysis::{
    FERET_DIRS, FERET_OFFSET_MAX, feret_word, CORE_BIN, CORE_BINS, COVERAGE_FIXED, LesionKind, LesionStats, MAX_DIFFUSE, RATIO_BIN, RATIO_BINS, THICKNESS_BIN,
    THICKNESS_BINS,
};
use rayon::prelude::*;

use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::regions::{FLAG_BORDER, FLAG_HAS_RIM, FLAG_NOT_SOLID, FLAG_SHARP_PLATEAU, FLAG_TEXTURE, RegionTable, min_core_area_px};
use super::occluders::Occluders;
use crate::stats::hist_quantile;
use crate::raster::rect::{Rect, row_bands};

/// Rows a unit of parallel work holds.
const BAND_ROWS: usize = 16;

/// Pixels of a row tested at once for having nothing to add (one vector test instead of a branch each).
const CHUNK: usize = 16;

#[inline]
pub fn ratio_bin(v: f32) -> Option<usize> {
    if v < 1.0 {
        return None;
    }
    Some((((v - 1.0) / RATIO_BIN) as usize).min(RATIO_BINS - 1))
}

#[inline]
pub fn core_bin(v: f32) -> usize {
    ((v.max(0.0) / CORE_BIN) as usize).min(CORE_BINS - 1)
}

#[inline]
pub fn thickness_bin(d: f32) -> usize {
    ((d / THICKNESS_BIN) as usize).min(THICKNESS_BINS - 1)
}

/// Inputs shared by the per-lesion passes.
pub struct Maps<'a> {
    pub ratio: &'a Plane<f32>,
    pub fluo: &'a Plane<u8>,
    pub seeds: &'a Plane<u32>,
    pub dist: &'a Plane<f32>,
    pub nearest: &'a Plane<u32>,
    pub bg_labels: &'a Plane<u32>,
    pub fluo_labels: &'a Plane<u32>,
    /// Disjoint rectangles holding every seed and every pixel within the distance bound of one (the
    /// distance transform's), outside which `dist` is infinite and `nearest` 0.
    pub rects: &'a [Rect],
    /// The labels (ascending) of the fluorescent components that touch a core, when only they are rim
    /// (`AnalysisParams::rim_touches_core`); `None`: any fluorescence within reach of a core is its rim.
    pub rim_labels: Option<&'a [u32]>,
}

impl Maps<'_> {
    /// Does fluorescent pixel `i` count as rim (see `rim_labels`)?
    #[inline]
    pub fn rim_pixel(&self, i: usize) -> bool {
        self.rim_labels.is_none_or(|l| l.binary_search(&self.fluo_labels.data[i]).is_ok())
    }
}

/// The labels (ascending) of the fluorescent components `mark_rims` found touching a core.
pub fn rim_labels(fl: &RegionTable) -> Vec<u32> {
    fl.labels.iter().zip(&fl.flags).filter(|&(_, f)| f & FLAG_HAS_RIM != 0).map(|(&l, _)| l).collect()
}

/// Is a pixel background outside a rim (not fluorescent, not a core, not a small enclosed hole)? Keeps
/// the last component's answer: a rim's outside neighbours are nearly all of one component.
pub struct Outside<'a> {
    maps: &'a Maps<'a>,
    bg: &'a RegionTable,
    min_area: f32,
    last: (u32, bool),
}

impl<'a> Outside<'a> {
    pub fn new(maps: &'a Maps<'a>, bg: &'a RegionTable, p: &AnalysisParams) -> Self {
        Self { maps, bg, min_area: min_core_area_px(p), last: (0, false) }
    }

    #[inline]
    pub fn test(&mut self, i: usize) -> bool {
        if self.maps.fluo.data[i] != 0 || self.maps.seeds.data[i] != 0 {
            return false;
        }
        let l = self.maps.bg_labels.data[i];
        if l == 0 {
            return true; // no component (not reached: every non-fluorescent pixel has one)
        }
        if l != self.last.0 {
            let r = self.bg.index(l);
            self.last = (l, self.bg.flags[r] & FLAG_BORDER != 0 || self.bg.area[r] as f32 >= self.min_area);
        }
        self.last.1
    }
}

/// Flag fluorescent components that hold some core's rim: those touching a core (4-adjacent). Such
/// pixels lie next to a seed, so within a pixel of `seed_boxes` (boxes holding every seed, as the
/// distance transform's): only those boxes, grown by one, are visited.
pub fn mark_rims(maps: &Maps, seed_boxes: &[Rect], fl: &mut RegionTable) {
    let (w, h) = (maps.fluo.width, maps.fluo.height);
    let seeds = &maps.seeds.data;
    let near_seeds: Vec<Rect> = seed_boxes.iter().map(|b| b.expand(1, w, h)).collect();
    let touching: Vec<u32> = row_bands(&near_seeds, BAND_ROWS)
        .into_par_iter()
        .flat_map_iter(|r| {
            let mut labels = Vec::new();
            for y in r.y0..r.y1 {
                for x in r.x0..r.x1 {
                    let i = y * w + x;
                    let l = maps.fluo_labels.data[i];
                    if l == 0 || labels.last() == Some(&l) {
                        continue;
                    }
                    if (x > 0 && seeds[i - 1] != 0) || (x + 1 < w && seeds[i + 1] != 0) || (y > 0 && seeds[i - w] != 0) || (y + 1 < h && seeds[i + w] != 0) {
                        labels.push(l);
                    }
                }
            }
            labels
        })
        .collect();
    for l in touching {
        let r = fl.index(l);
        fl.flags[r] |= FLAG_HAS_RIM;
    }
}

/// The kind of a compact, coreless fluorescent component (`None`: not a lesion): homogeneous when at least
/// half its boundary is sharp (`homogeneous_edge_gradient_per_mm`) or its edge at half its height is
/// (`FLAG_SHARP_PLATEAU`), else diffuse.
pub fn coreless_kind(fl: &RegionTable, r: usize, p: &AnalysisParams) -> Option<LesionKind> {
    let area = fl.area[r];
    let lesion = area > 0
        && fl.flags[r] & (FLAG_BORDER | FLAG_HAS_RIM | FLAG_NOT_SOLID | FLAG_TEXTURE) == 0
        && area as f32 >= super::blobs::min_coreless_area_px(p)
        && super::blobs::compact(area, fl.aux[r], p);
    if !lesion {
        return None;
    }
    Some(if 2 * fl.sharp[r] >= fl.aux[r] || fl.flags[r] & FLAG_SHARP_PLATEAU != 0 { LesionKind::Homogeneous } else { LesionKind::Diffuse })
}

/// Per-lesion statistics: rim lesions (one per core, in label order) then diffuse lesions.
pub fn lesion_stats(maps: &Maps, cores: &[u32], bg: &RegionTable, fl: &RegionTable, p: &AnalysisParams) -> (Vec<LesionStats>, Vec<Vec<u32>>) {
    let coreless: Vec<(u32, LesionKind)> =
        (0..fl.labels.len()).filter_map(|r| coreless_kind(fl, r, p).map(|k| (fl.labels[r], k))).take(MAX_DIFFUSE).collect();
    let diffuse: Vec<u32> = coreless.iter().map(|c| c.0).collect();
    let empty = || {
        let mut out: Vec<LesionStats> = cores
            .iter()
            .map(|&l| LesionStats { partial: bg.flags[bg.index(l)] & FLAG_BORDER != 0, ..LesionStats::empty(LesionKind::Rim, l) })
            .collect();
        out.extend(coreless.iter().map(|&(l, k)| LesionStats::empty(k, l)));
        (out, vec![vec![0u32; CORE_BINS]; cores.len()])
    };
    if cores.is_empty() && diffuse.is_empty() {
        return empty();
    }
    let search = p.mm_to_px(p.rim_search_mm);
    // Units of work: bands of the rectangles (cores and rims) and of the diffuse lesions' boxes, in
    // parallel, each with its own sums, added up at the end.
    let rim_work = row_bands(maps.rects, BAND_ROWS);
    let diffuse_boxes: Vec<Rect> = diffuse.iter().map(|&l| fl.bbox[fl.index(l)]).collect();
    let diffuse_work: Vec<(usize, Rect)> =
        diffuse_boxes.iter().enumerate().flat_map(|(k, b)| row_bands(std::slice::from_ref(b), BAND_ROWS).into_iter().map(move |r| (k, r))).collect();
    // Each worker's sums carry over from band to band (`fold`): all are counts, sums of integers and
    // maxima, the same in any order, and one table a worker rather than one a band.
    let rim_part = rim_work.par_iter().fold(empty, |(mut out, mut core_hists), r| {
        let mut outside = Outside::new(maps, bg, p);
        for y in r.y0..r.y1 {
            let (seeds, fluo) = (maps.seeds.row(y), maps.fluo.row(y));
            for x0 in (r.x0..r.x1).step_by(CHUNK) {
                let x1 = (x0 + CHUNK).min(r.x1);
                // A pixel neither core nor fluorescent adds nothing: such chunks go by in one test.
                if seeds[x0..x1].iter().zip(&fluo[x0..x1]).fold(0, |a, (&s, &f)| a | s | f as u32) == 0 {
                    continue;
                }
                for x in x0..x1 {
                    accumulate_rim_pixel(maps, cores, &mut outside, search, x, y, &mut out, &mut core_hists);
                }
            }
        }
        (out, core_hists)
    });
    let diffuse_part = diffuse_work.par_iter().fold(empty, |(mut out, core_hists), &(k, r)| {
        let (w, label) = (maps.ratio.width, diffuse[k]);
        let st = &mut out[cores.len() + k];
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                let i = y * w + x;
                if maps.fluo_labels.data[i] != label {
                    continue;
                }
                st.area_px += 1;
                st.sum_x += x as u64;
                st.sum_y += y as u64;
                if let Some(b) = ratio_bin(maps.ratio.data[i]) {
                    st.ratio_hist[b] += 1;
                }
            }
        }
        (out, core_hists)
    });
    rim_part.chain(diffuse_part).reduce(empty, |(mut a, mut ah), (b, bh)| {
        for (x, y) in a.iter_mut().zip(&b) {
            x.area_px += y.area_px;
            x.sum_x += y.sum_x;
            x.sum_y += y.sum_y;
            x.rim_area_px += y.rim_area_px;
            x.ratio_hist.iter_mut().zip(&y.ratio_hist).for_each(|(u, v)| *u += v);
            x.thickness_hist.iter_mut().zip(&y.thickness_hist).for_each(|(u, v)| *u += v);
            x.feret.iter_mut().zip(&y.feret).for_each(|(u, v)| *u = (*u).max(*v));
        }
        for (x, y) in ah.iter_mut().zip(&bh) {
            x.iter_mut().zip(y).for_each(|(u, v)| *u += v);
        }
        (a, ah)
    })
}

/// A pixel's part in the rim lesions: a core pixel adds to its core's area, centroid, core-ratio
/// histogram and (on the core's boundary) Feret extents; a fluorescent pixel within `search` of a core
/// adds to that core's rim area and ratio histogram, and (on the rim's outer edge) to its thickness.
#[allow(clippy::too_many_arguments)]
#[inline]
fn accumulate_rim_pixel(
    maps: &Maps,
    cores: &[u32],
    outside: &mut Outside,
    search: f32,
    x: usize,
    y: usize,
    out: &mut [LesionStats],
    core_hists: &mut [Vec<u32>],
) {
    let (w, h) = (maps.ratio.width, maps.ratio.height);
    let i = y * w + x;
    let v = maps.ratio.data[i];
    let core = maps.seeds.data[i];
    if core != 0 {
        if let Ok(s) = cores.binary_search(&core) {
            let st = &mut out[s];
            st.area_px += 1;
            st.sum_x += x as u64;
            st.sum_y += y as u64;
            core_hists[s][core_bin(v)] += 1;
            let seeds = &maps.seeds.data;
            let boundary = x == 0 || y == 0 || x + 1 == w || y + 1 == h || seeds[i - 1] != core || seeds[i + 1] != core || seeds[i - w] != core || seeds[i + w] != core;
            if boundary {
                for k in 0..FERET_DIRS {
                    let p = feret_word(x as u32, y as u32, k);
                    st.feret[2 * k] = st.feret[2 * k].max(FERET_OFFSET_MAX - p);
                    st.feret[2 * k + 1] = st.feret[2 * k + 1].max(p);
                }
            }
        }
        return;
    }
    if maps.fluo.data[i] == 0 {
        return;
    }
    let d = maps.dist.data[i];
    if d > search || !maps.rim_pixel(i) {
        return;
    }
    let Ok(s) = cores.binary_search(&maps.nearest.data[i]) else { return };
    let edge = (x > 0 && outside.test(i - 1)) || (x + 1 < w && outside.test(i + 1)) || (y > 0 && outside.test(i - w)) || (y + 1 < h && outside.test(i + w));
    let st = &mut out[s];
    st.rim_area_px += 1;
    if let Some(b) = ratio_bin(v) {
        st.ratio_hist[b] += 1;
    }
    if edge {
        st.thickness_hist[thickness_bin(d)] += 1;
    }
}

/// Sectors (of 5°) about a core's centroid in which its rim's thickness is taken on its own when the
/// edges are located direction by direction (`subpixel` with centres), and its coverage counted
/// (`coverage_by_direction`).
pub const RIM_DIRECTIONS: usize = 72;

/// Each rim lesion's coverage by direction (`LesionStats::boundary_sectors`, `covered_sectors`): the
/// core's boundary pixels (off the image's outermost rows and columns) binned in `RIM_DIRECTIONS`
/// sectors about its centroid, a sector covered when at least half of its boundary pixels have the rim
/// beside them: fluorescence (or the core) on every side, or else, along the ray from the centroid
/// within `COVERAGE_REACH_MM` (at least 3 px) beyond the core, a ratio halfway from the background's
/// mode up to the rim's TBR (its 80th percentile): where the rim is faint, its mask breaks away from
/// the core and the core's cut leaves a strip between them, while the rim still stands there in the
/// ratio. By direction a gap counts by its angle, as the truth's coverage does: counted pixel by pixel
/// it counted by the length of the core's boundary in it, and where a gapped core is cut from the
/// background outside, that boundary runs out through the gap and back (an independent set's gapped
/// rims read 0.15 too little coverage, median); and a pinhole in a complete rim no longer reads as a
/// gap. `boxes`: each core's bounding box; `lesions`: their statistics with the centroid's sums and the
/// rim's ratio histogram. The sectors whose ring reaches that halfway bar along those rays within
/// `RING_REACH_MM`, or `rim_min_tbr` where that is lower, are counted too (`LesionStats::ringed_sectors`,
/// for `drop_dim_rings`): the bar is capped because a blob or a neighbour's rim within the rim's search
/// raises the TBR, not the ring. A covered sector also needs its own peak of rim (`SECTOR_PEAK_SHARE`;
/// where the ring is judged direction by direction, `min_rim_coverage`: CPU only).
pub fn coverage_by_direction(ratio: &Plane<f32>, seeds: &Plane<u32>, fluo: &Plane<u8>, mode: f32, boxes: &[Rect], hidden: Option<&Occluders>, lesions: &mut [LesionStats], p: &AnalysisParams) {
    let (w, h) = (seeds.width, seeds.height);
    let (fl, seeds) = (&fluo.data, &seeds.data);
    let reach = p.mm_to_px(COVERAGE_REACH_MM).max(3.0);
    let ring_reach = p.mm_to_px(RING_REACH_MM).max(3.0);
    lesions.par_iter_mut().zip(boxes.par_iter()).for_each(|(st, &b)| {
        let (core, [cx, cy]) = (st.label, st.centroid());
        let tbr = hist_quantile(&st.ratio_hist, 4, 5, RATIO_BIN, 1.0).unwrap_or(1.0);
        let bar = mode + 0.5 * (tbr - mode);
        let ring_bar = bar.min(p.rim_min_tbr);
        let (reach, ring_reach) = (reach as usize, ring_reach as usize);
        // Along the ray from the centroid through (x, y), beyond the core: does the ratio reach `bar`
        // within `reach` (covered; already so where `covered` comes in true), and `ring_bar` within
        // `ring_reach` (ringed)? And, where `profile` is given (its sector's sums and counts by step),
        // the ratio at each step out to `ring_reach`. One walk answers all: it stops once nothing can
        // change (a ray that leaves the frame does not come back).
        let rim_beyond = |x: usize, y: usize, mut covered: bool, mut profile: Option<&mut [(f32, u32)]>| {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let len = dx.hypot(dy).max(1e-3);
            let mut ringed = false;
            for k in 1..=reach.max(ring_reach) {
                if (covered || k > reach) && (ringed || k > ring_reach) && (profile.is_none() || k > ring_reach) {
                    break;
                }
                let (xx, yy) = ((x as f32 + 0.5 + dx / len * k as f32).floor(), (y as f32 + 0.5 + dy / len * k as f32).floor());
                if xx < 0.0 || yy < 0.0 || xx >= w as f32 || yy >= h as f32 {
                    break;
                }
                let j = yy as usize * w + xx as usize;
                if seeds[j] != core {
                    covered |= k <= reach && ratio.data[j] >= bar;
                    ringed |= k <= ring_reach && ratio.data[j] >= ring_bar;
                    if let Some(cell) = profile.as_deref_mut().and_then(|pr| pr.get_mut(k - 1)) {
                        (cell.0, cell.1) = (cell.0 + ratio.data[j], cell.1 + 1);
                    }
                }
            }
            (covered, ringed)
        };
        // Each sector's boundary pixels, those covered and those ringed; and, where the ring is judged
        // direction by direction (`min_rim_coverage`, CPU only), its mean radial profile beyond the core
        // out to `ring_reach`.
        let mut sectors = [(0u32, 0u32, 0u32); RIM_DIRECTIONS];
        let steps = ring_reach.max(1);
        let mut profile = vec![(0.0f32, 0u32); if p.min_rim_coverage <= 1.0 { RIM_DIRECTIONS * steps } else { 0 }];
        for y in b.y0.max(1)..b.y1.min(h - 1) {
            for x in b.x0.max(1)..b.x1.min(w - 1) {
                let i = y * w + x;
                let around = [i - 1, i + 1, i - w, i + w];
                // Beside an occluder the boundary is the occluder's, as at the image's edge.
                if seeds[i] != core || around.iter().all(|&j| seeds[j] == core) || hidden.is_some_and(|o| o.beside(i)) {
                    continue;
                }
                let k = crate::raster::sector(x as f32 + 0.5 - cx, y as f32 + 0.5 - cy, RIM_DIRECTIONS);
                let (covered, ringed) = rim_beyond(x, y, around.iter().all(|&j| seeds[j] == core || fl[j] != 0), profile.get_mut(k * steps..(k + 1) * steps));
                sectors[k].0 += 1;
                sectors[k].1 += covered as u32;
                sectors[k].2 += ringed as u32;
            }
        }
        // Each sector's peak: the highest mean of its profile (`SECTOR_PEAK_SHARE`); with no profiles,
        // no bar.
        let peaks: Vec<f32> = (0..RIM_DIRECTIONS)
            .map(|k| profile.get(k * steps..(k + 1) * steps).unwrap_or(&[]).iter().filter(|c| c.1 > 0).map(|c| c.0 / c.1 as f32).fold(f32::NEG_INFINITY, f32::max))
            .collect();
        let mut seen: Vec<f32> = (0..RIM_DIRECTIONS).filter(|&k| sectors[k].0 > 0 && peaks[k].is_finite()).map(|k| peaks[k]).collect();
        let peak_bar = crate::stats::median(&mut seen).map_or(f32::NEG_INFINITY, |m| mode + SECTOR_PEAK_SHARE * (m - mode));
        st.boundary_sectors = sectors.iter().filter(|s| s.0 > 0).count() as u32;
        st.covered_sectors = (0..RIM_DIRECTIONS).filter(|&k| sectors[k].0 > 0 && 2 * sectors[k].1 >= sectors[k].0 && !(peaks[k] < peak_bar)).count() as u32;
        st.ringed_sectors = sectors.iter().filter(|s| s.0 > 0 && 2 * s.2 >= s.0).count() as u32;
    });
}

/// A sector of a core's boundary has rim only where its peak (the highest mean, over the sector's
/// arc, of the ratio along the rays out to `RING_REACH_MM` beyond the core) rises at least this share of
/// the way from the background's mode to the lesion's median peak over its sectors. The liver in a gap,
/// lifted over the fluorescence level by a scatter halo or by bright texture, has the mask on it all
/// round and counted as rim (independent set: a 42° gap read coverage 1.0 and the verdict `ok`, its
/// liver at about a quarter of the rim's excess); a rim's stretches dimmed by texture keep half their
/// excess and more, and the mean over the sector's arc averages the texture down (counted pixel by
/// pixel, the same test read complete rims in 16–23% texture incomplete: tuning seeds 9900 and 9600, 14
/// -> 29 and 12 -> 25 of about 160).
pub const SECTOR_PEAK_SHARE: f32 = 0.35;

/// How far beyond a core's boundary the rim is looked for in the ratio where its mask does not touch
/// the core (`coverage_by_direction`): the strip a faint rim's broken mask leaves, not the next grain.
pub const COVERAGE_REACH_MM: f32 = 0.5;

/// How far beyond a core's boundary its ring is looked for (`coverage_by_direction`'s ringed sectors):
/// into a rim of any thickness (0.5–4 mm, half that where it thins) through the strip a faint rim's
/// broken mask leaves, not across a lobule (1–5 mm) to the walls of the next.
pub const RING_REACH_MM: f32 = 1.5;

/// Drops the rim lesions whose own ring is bright in fewer than `min_rim_coverage` of their directions
/// (`LesionStats::ringed_sectors`: halfway from the background's mode to the TBR, or `rim_min_tbr` where
/// lower; where the backend counts them and the gapped-rim stage is on). A core is a rim lesion when its
/// rim covers at least half its boundary; the mask's coverage counts any fluorescence over the level,
/// and the TBR (`measure::figures`: a percentile of the fluorescence nearest the core) any fluorescence
/// within the rim's search. A cell of lobular liver beside a tumour is walled by the lobules' faint
/// walls, over the level where the tumour's scatter lifts them, and the tumour's bright rim within reach
/// lends it a rim's TBR: by direction its ring's maxima read 1.2–1.3 in all but a few sectors, a true
/// rim's (median over its sectors) 1.6–3.2 (lobular tuning seed 9000).
pub fn drop_dim_rings(lesions: &mut Vec<LesionStats>, p: &AnalysisParams) {
    if p.min_rim_coverage > 1.0 {
        return;
    }
    lesions.retain(|st| st.kind != LesionKind::Rim || st.boundary_sectors == 0 || st.ringed_sectors as f32 >= p.min_rim_coverage * st.boundary_sectors as f32);
}

/// The thickness histograms from the outer edge's samples (sector index `core slot × RIM_DIRECTIONS +
/// sector`, refined distance): one sample a sector, its median. A duct or blob joined to the rim holds
/// a few sectors whatever its length, where counted pixel by pixel its long edges outweigh the ring's.
fn by_direction(mut samples: Vec<(u32, f32)>, edges: &mut [Vec<u32>]) {
    samples.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for run in samples.chunk_by(|a, b| a.0 == b.0) {
        let slot = run[0].0 as usize / RIM_DIRECTIONS;
        edges[slot][thickness_bin(run[run.len() / 2].1)] += 1;
    }
}

/// Per-lesion levels for the sub-pixel pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Levels {
    /// Iso-level of the core boundary: halfway between the core's median and the rim's 90th percentile.
    pub core: f32,
    /// Width of the band outside the core searched for it: half the median (threshold) rim thickness, 1.5–4 px.
    pub band: f32,
    /// Iso-level of the rim's outer edge: halfway between background (1) and the rim's 90th percentile.
    pub outer: f32,
    /// The core's median ratio and the median (threshold) rim thickness, px, that these derive from.
    pub core_median: f32,
    pub rim_px: f32,
}

pub fn boundary_level(st: &LesionStats, core_hist: &[u32]) -> Levels {
    let rim = hist_quantile(&st.ratio_hist, 9, 10, RATIO_BIN, 1.0).unwrap_or(1.0 + RATIO_BIN);
    let core = hist_quantile(core_hist, 1, 2, CORE_BIN, 0.0).unwrap_or(0.5);
    let thick = hist_quantile(&st.thickness_hist, 1, 2, THICKNESS_BIN, 0.0).unwrap_or(3.0);
    Levels { core: 0.5 * (core + rim), band: (0.5 * thick).clamp(1.5, MAX_BAND), outer: 0.5 * (1.0 + rim), core_median: core, rim_px: thick }
}

/// The widest `Levels::band`, px.
const MAX_BAND: f32 = 4.0;

/// Central-difference gradient magnitude of the ratio at interior pixel `i` (at least 1e-3).
#[inline]
pub fn gradient(r: &[f32], w: usize, i: usize) -> f32 {
    let gx = 0.5 * (r[i + 1] - r[i - 1]);
    let gy = 0.5 * (r[i + w] - r[i - w]);
    (gx * gx + gy * gy).sqrt().max(1e-3)
}

/// Distance of a rim outer-edge pixel moved to where the ratio crosses the outer iso-level, assuming it
/// falls linearly along the gradient (the move is clamped to 3 px).
#[inline]
pub fn refined_edge_distance(d: f32, v: f32, outer: f32, grad: f32) -> f32 {
    d + ((v - outer) / grad).clamp(-3.0, 3.0)
}

/// Fixed-point coverage of pixel `i` by the core side of the iso-line at `level` (linear interpolation
/// along the gradient); 0 on the image's outermost rows and columns.
#[inline]
pub fn coverage_fixed(r: &[f32], w: usize, h: usize, i: usize, level: f32) -> u32 {
    let (x, y) = (i % w, i / w);
    if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
        return 0;
    }
    interior_coverage_fixed(r, w, i, level)
}

/// `coverage_fixed` at a pixel known to be interior (not on the outermost rows or columns): without
/// the division that finds its row and column.
#[inline]
fn interior_coverage_fixed(r: &[f32], w: usize, i: usize, level: f32) -> u32 {
    ((0.5 + (level - r[i]) / gradient(r, w, i)).clamp(0.0, 1.0) * COVERAGE_FIXED) as u32
}

/// Sub-pixel pass for the rim lesions (`cores`, with their `levels`): the core area (px²) at its
/// iso-level, and a histogram of the rim's outer-edge distances refined to the outer iso-level: pixel
/// by pixel where `centres` is `None`, else one median a sector about each core's centre, and none for
/// a core whose centre is `None` (its thickness is read elsewhere, `edges`).
pub fn subpixel(maps: &Maps, cores: &[u32], levels: &[Levels], bg: &RegionTable, centres: Option<&[Option<[f32; 2]>]>, p: &AnalysisParams) -> Vec<(f32, Vec<u32>)> {
    let (w, h) = (maps.ratio.width, maps.ratio.height);
    if cores.is_empty() {
        return Vec::new();
    }
    let search = p.mm_to_px(p.rim_search_mm);
    let r = &maps.ratio.data;
    let empty = || (vec![0u64; cores.len()], vec![vec![0u32; THICKNESS_BINS]; cores.len()], Vec::new());
    // Only pixels in a core or with a nearest core count: inside the rectangles.
    // Sums carried from band to band by each worker (`fold`; the samples are sorted before use).
    let (acc, mut edges, samples) = row_bands(maps.rects, BAND_ROWS)
        .into_par_iter()
        .fold(empty, |(mut acc, mut edges, mut samples): (Vec<u64>, Vec<Vec<u32>>, Vec<(u32, f32)>), rect| {
            let mut outside = Outside::new(maps, bg, p);
            for y in rect.y0.max(1)..rect.y1.min(h - 1) {
                let (seeds, dist, fluo) = (maps.seeds.row(y), maps.dist.row(y), maps.fluo.row(y));
                let (x0, x1) = (rect.x0.max(1), rect.x1.min(w - 1));
                for c0 in (x0..x1).step_by(CHUNK) {
                    let c1 = (c0 + CHUNK).min(x1);
                    // Chunks of pixels with nothing to add (below: no core, no core within the widest
                    // band, not fluorescent; a pixel with no nearest core is infinitely far) go by in one test.
                    let busy = seeds[c0..c1].iter().zip(&dist[c0..c1]).zip(&fluo[c0..c1]).fold(false, |a, ((&s, &d), &f)| a | (s != 0) | (d <= MAX_BAND) | (f != 0));
                    if !busy {
                        continue;
                    }
                    for x in c0..c1 {
                        let i = y * w + x;
                        let seed = maps.seeds.data[i];
                        let near = maps.nearest.data[i];
                        if seed == 0 && near == 0 {
                            continue;
                        }
                        let d = maps.dist.data[i];
                        // Neither core, nor within any core's band (at most 4 px), nor fluorescent: nothing
                        // to add (most of the rectangles at a fine scale), without looking its core up.
                        if seed == 0 && d > MAX_BAND && maps.fluo.data[i] == 0 {
                            continue;
                        }
                        let Ok(s) = cores.binary_search(if seed != 0 { &seed } else { &near }) else { continue };
                        if seed != 0 || d <= levels[s].band {
                            acc[s] += interior_coverage_fixed(r, w, i, levels[s].core) as u64; // x, y interior here
                        }
                        let sampled = centres.is_none_or(|c| c[s].is_some());
                        if sampled && seed == 0 && maps.fluo.data[i] != 0 && d <= search && maps.rim_pixel(i) {
                            let edge = outside.test(i - 1) || outside.test(i + 1) || outside.test(i - w) || outside.test(i + w);
                            if edge {
                                let dr = refined_edge_distance(d, r[i], levels[s].outer, gradient(r, w, i)).max(0.0);
                                match centres.and_then(|c| c[s]) {
                                    // The edge's direction from its core's centroid, in `RIM_DIRECTIONS` sectors.
                                    Some([cx, cy]) => {
                                        let sector = crate::raster::sector(x as f32 + 0.5 - cx, y as f32 + 0.5 - cy, RIM_DIRECTIONS);
                                        samples.push(((s * RIM_DIRECTIONS + sector) as u32, dr));
                                    }
                                    None => edges[s][thickness_bin(dr)] += 1,
                                }
                            }
                        }
                    }
                }
            }
            (acc, edges, samples)
        })
        .reduce(empty, |(mut a, mut ae, mut asam), (b, be, bsam)| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            for (x, y) in ae.iter_mut().zip(&be) {
                x.iter_mut().zip(y).for_each(|(u, v)| *u += v);
            }
            asam.extend(bsam);
            (a, ae, asam)
        });
    by_direction(samples, &mut edges);
    acc.iter().zip(edges).map(|(&a, e)| (a as f32 / COVERAGE_FIXED, e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disc core of radius 40 px in a ring of rim 8 px wide, with a gap of 45° (`gap`) through which
    /// the core runs out as a channel 30 px long (as a gapped core cut from the background outside);
    /// `pinholes`: non-fluorescent pixels on the ring's inner edge.
    fn ring(gap: bool, pinholes: usize) -> (Plane<u32>, Plane<u8>, Rect, LesionStats) {
        let (w, h, c, label) = (200usize, 200usize, 100.0f32, 7u32);
        let mut seeds = Plane::<u32>::new(w, h);
        let mut fluo = Plane::<u8>::new(w, h);
        let mut st = LesionStats::empty(LesionKind::Rim, label);
        st.ratio_hist[20] = 100; // a rim at twice the background (`ratio_of`)
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c);
                let (r, a) = (dx.hypot(dy), dy.atan2(dx).to_degrees());
                let in_gap = gap && a.abs() < 22.5;
                let core = r < 40.0 || (in_gap && r < 70.0 && dy.abs() < 8.0);
                if core {
                    seeds.data[y * w + x] = label;
                    st.area_px += 1;
                    st.sum_x += x as u64;
                    st.sum_y += y as u64;
                } else if (40.0..48.0).contains(&r) && !in_gap {
                    fluo.data[y * w + x] = 1;
                }
            }
        }
        for k in 0..pinholes {
            let a = (k as f32 * 37.0 + 100.0).to_radians();
            let (x, y) = ((c + 40.5 * a.cos()) as usize, (c + 40.5 * a.sin()) as usize);
            if seeds.data[y * w + x] == 0 {
                fluo.data[y * w + x] = 0;
            }
        }
        (seeds, fluo, Rect { x0: 55, y0: 55, x1: 175, y1: 145 }, st)
    }

    /// A ratio map of a binary mask: 2 on the fluorescence, 1 elsewhere.
    fn ratio_of(fluo: &Plane<u8>) -> Plane<f32> {
        Plane::from_vec(fluo.width, fluo.height, fluo.data.iter().map(|&v| if v != 0 { 2.0 } else { 1.0 }).collect()).unwrap()
    }

    /// The coverage counted pixel by pixel, as it was: the share of the core's boundary pixels whose
    /// every neighbour outside the core is fluorescent.
    fn by_pixel(seeds: &Plane<u32>, fluo: &Plane<u8>, label: u32) -> f32 {
        let (w, h) = (seeds.width, seeds.height);
        let (mut boundary, mut covered) = (0u32, 0u32);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                let around = [i - 1, i + 1, i - w, i + w];
                if seeds.data[i] == label && !around.iter().all(|&j| seeds.data[j] == label) {
                    boundary += 1;
                    covered += around.iter().all(|&j| seeds.data[j] == label || fluo.data[j] != 0) as u32;
                }
            }
        }
        covered as f32 / boundary as f32
    }

    /// A gap of 45° whose liver a scatter halo lifts over the fluorescence level (1.4 where the rim
    /// stands at 3, the mask on in the gap as on the rim): its sectors have no peak of rim, so the gap
    /// still counts (0.875, within a sector). Counted by the mask alone it read 1.0: the verdict `ok`.
    #[test]
    fn a_gap_filled_by_a_halo_is_no_rim() {
        let sector = 1.0 / RIM_DIRECTIONS as f32;
        let (seeds, mut fluo, b, mut st) = ring(true, 0);
        st.ratio_hist.iter_mut().for_each(|v| *v = 0);
        st.ratio_hist[40] = 100; // a rim at three times the background
        let mut ratio = Plane::from_vec(fluo.width, fluo.height, fluo.data.iter().map(|&v| if v != 0 { 3.0 } else { 1.0 }).collect()).unwrap();
        for y in 0..fluo.height {
            for x in 0..fluo.width {
                let (dx, dy) = (x as f32 + 0.5 - 100.0, y as f32 + 0.5 - 100.0);
                let i = y * fluo.width + x;
                if seeds.data[i] == 0 && dx.hypot(dy) < 60.0 && dy.atan2(dx).to_degrees().abs() < 22.5 {
                    (fluo.data[i], ratio.data[i]) = (1, 1.4);
                }
            }
        }
        coverage_by_direction(&ratio, &seeds, &fluo, 1.0, &[b], None, std::slice::from_mut(&mut st), &AnalysisParams::with_scale(0.1));
        assert!((st.rim_coverage() - 0.875).abs() <= sector + 1e-6, "halo-filled gap: coverage {}", st.rim_coverage());
    }

    /// Coverage by direction reads a gap of 45° as the share of directions it takes (0.875, within a
    /// sector), though the core's boundary runs out through it and back (counted pixel by pixel, under
    /// 0.8); a complete ring reads 1, and with six pinholes on its inner edge loses at most a sector
    /// or two (pixel by pixel it read under 0.97, a rim incomplete); a stretch whose mask broke away
    /// from the core by 3 px (0.3 mm) is covered by the rim beyond it.
    #[test]
    fn a_gap_covers_its_angle_however_the_core_runs_out_through_it() {
        let sector = 1.0 / RIM_DIRECTIONS as f32;
        let (seeds, fluo, b, mut st) = ring(true, 0);
        coverage_by_direction(&ratio_of(&fluo), &seeds, &fluo, 1.0, &[b], None, std::slice::from_mut(&mut st), &AnalysisParams::with_scale(0.1));
        assert!((st.rim_coverage() - 0.875).abs() <= sector + 1e-6, "gapped ring: coverage {}", st.rim_coverage());
        assert!(by_pixel(&seeds, &fluo, st.label) < 0.8, "the channel makes the pixel count read low");
        let (seeds, fluo, b, mut st) = ring(false, 0);
        coverage_by_direction(&ratio_of(&fluo), &seeds, &fluo, 1.0, &[b], None, std::slice::from_mut(&mut st), &AnalysisParams::with_scale(0.1));
        assert_eq!(st.rim_coverage(), 1.0, "complete ring");
        let (seeds, fluo, b, mut st) = ring(false, 6);
        coverage_by_direction(&ratio_of(&fluo), &seeds, &fluo, 1.0, &[b], None, std::slice::from_mut(&mut st), &AnalysisParams::with_scale(0.1));
        assert!(st.rim_coverage() >= 1.0 - 2.0 * sector, "complete ring with pinholes: coverage {}", st.rim_coverage());
        assert!(by_pixel(&seeds, &fluo, st.label) < 0.97, "pixel by pixel the pinholes read as gaps");
        // A faint stretch whose mask broke away from the core: a strip of 3 px between them over 60°.
        let (seeds, mut fluo, b, mut st) = ring(false, 0);
        for y in 0..fluo.height {
            for x in 0..fluo.width {
                let (dx, dy) = (x as f32 + 0.5 - 100.0, y as f32 + 0.5 - 100.0);
                if dx.hypot(dy) < 43.0 && (90.0..150.0).contains(&dy.atan2(dx).to_degrees()) {
                    fluo.data[y * fluo.width + x] = 0;
                }
            }
        }
        coverage_by_direction(&ratio_of(&fluo), &seeds, &fluo, 1.0, &[b], None, std::slice::from_mut(&mut st), &AnalysisParams::with_scale(0.1));
        assert_eq!(st.rim_coverage(), 1.0, "the rim beyond the strip covers it");
        assert!(by_pixel(&seeds, &fluo, st.label) < 0.9, "pixel by pixel the strip reads as a gap");
    }

    /// A core's ring judged by its own brightness, direction by direction (`drop_dim_rings`): a pocket
    /// walled all round by faint walls (1.25) but for a quarter of a neighbour's bright rim (2.5), which
    /// lends it a TBR of 2.5, is covered by the mask all round yet ringed in under half its directions,
    /// and is dropped; a true ring at 1.8 with a bright blob (4.0) over an eighth of it, which makes its
    /// TBR 4, keeps its place, and so does a faint ring (TBR 1.7) at 1.42 over 60% of its directions,
    /// under `rim_min_tbr` there but over halfway to its TBR.
    #[test]
    fn a_pocket_walled_by_faint_walls_is_no_rim_lesion() {
        let p = AnalysisParams::with_scale(0.1);
        let judge = |on_ring: fn(f32) -> f32, tbr: f32| {
            let (seeds, fluo, b, mut st) = ring(false, 0);
            let ratio = Plane::from_vec(
                fluo.width,
                fluo.height,
                (0..fluo.data.len())
                    .map(|i| {
                        let (dx, dy) = ((i % fluo.width) as f32 + 0.5 - 100.0, (i / fluo.width) as f32 + 0.5 - 100.0);
                        if fluo.data[i] != 0 { on_ring(dy.atan2(dx).to_degrees()) } else { 1.0 }
                    })
                    .collect(),
            )
            .unwrap();
            st.ratio_hist.fill(0);
            st.ratio_hist[((tbr - 1.0) / RATIO_BIN).round() as usize] = 100;
            coverage_by_direction(&ratio, &seeds, &fluo, 1.0, &[b], None, std::slice::from_mut(&mut st), &p);
            let mut lesions = vec![st.clone()];
            drop_dim_rings(&mut lesions, &p);
            (st, lesions.len())
        };
        let (pocket, kept) = judge(|a| if (0.0..90.0).contains(&a) { 2.5 } else { 1.25 }, 2.5);
        assert_eq!(pocket.rim_coverage(), 1.0, "the mask covers the pocket all round");
        assert!(pocket.ringed_sectors * 2 < pocket.boundary_sectors, "ringed {} of {}", pocket.ringed_sectors, pocket.boundary_sectors);
        assert_eq!(kept, 0, "the pocket is dropped");
        let (tumour, kept) = judge(|a| if (0.0..45.0).contains(&a) { 4.0 } else { 1.8 }, 4.0);
        assert_eq!((tumour.ringed_sectors, tumour.boundary_sectors), (RIM_DIRECTIONS as u32, RIM_DIRECTIONS as u32), "ringed all round");
        assert_eq!(kept, 1, "the ring with a blob is kept");
        let (faint, kept) = judge(|a| if (-90.0..126.0).contains(&a) { 1.42 } else { 1.7 }, 1.7);
        assert_eq!(faint.ringed_sectors, faint.boundary_sectors, "ringed all round");
        assert_eq!(kept, 1, "the faint ring is kept");
    }
}
