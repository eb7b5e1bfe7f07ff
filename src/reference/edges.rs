//! The core's edge located direction by direction: where the ratio crosses halfway between the core's
//! level and its rim's *local* peak. Liver texture modulates a rim's brightness around its core (by up
//! to a quarter), so one level for the whole core (halfway to the rim's 90th percentile,
//! `reduce::subpixel`) lies above the midpoint of the rim's dim stretches and puts the core's edge out
//! in them: the core reads large. Here the core's neighbourhood is binned by direction from the core's
//! centroid and by radius; each direction's mean radial profile gives its local rim peak and the radius
//! where the profile first rises halfway to it (interpolated between radii). A direction whose profile
//! rises less than `AnalysisParams::core_edge_rise_sigmas` background noise sigmas above the core (a gap
//! where the core is as bright as the liver) has no edge of its own and takes its radius from its neighbours. The area is
//! the sum of the directions' sectors.
//!
//! The rim's thickness, direction by direction (`rim_span`): each direction with an edge of its
//! own also has a mean profile by distance from the core's mask (normal to the core whatever its
//! shape, where the radius from the centroid runs oblique along a lobe), read from the rise halfway
//! from the core to its peak to the fall halfway from the peak to the background (moved out to the
//! largest step down where the rim fades outwards), and each direction's figure is the median of its
//! own and its neighbours'. One sample a direction: a duct joined to the rim holds a few directions
//! whatever its length. CPU only (no GPU twin yet; `AnalysisParams::cpu_only_stages`).

use rayon::prelude::*;

use crate::frame::Plane;
use crate::analysis::LesionStats;
use super::reduce::Levels;
use crate::raster::rect::Rect;
use crate::raster::{Sectors, hypot};

/// Directions are about this long (px) of arc at the core's boundary: enough pixels a radius to
/// average the texture down, short enough to follow a lobulated core.
const ARC_PX: f32 = 8.0;

/// One core to locate: its label in `seeds`, its box, its pixels' count and centroid (pixel centres),
/// its level (the median ratio of its pixels), and how far out from its mask its rim is looked for (px).
#[derive(Clone, Copy, Debug)]
pub struct CoreEdgeQuery {
    pub label: u32,
    pub bbox: Rect,
    pub area_px: u32,
    pub centroid: [f32; 2],
    pub level: f32,
    /// Median (threshold) rim thickness, px: the rim's peak lies within this of the core's mask.
    pub rim_px: f32,
}

/// The query for core `label` (box `bbox`) from the statistics and levels `reduce` measured for it.
pub fn query(label: u32, bbox: Rect, st: &LesionStats, levels: &Levels) -> CoreEdgeQuery {
    let n = st.area_px.max(1) as f64;
    let centroid = [(st.sum_x as f64 / n + 0.5) as f32, (st.sum_y as f64 / n + 0.5) as f32];
    CoreEdgeQuery { label, bbox, area_px: st.area_px, centroid, level: levels.core_median, rim_px: levels.rim_px }
}

/// The maps the edges are read from: the ratio, the cores (`seeds`), each pixel's nearest core and its
/// distance from it (px, centre to centre), and the background's level in the ratio.
pub struct EdgeMaps<'a> {
    pub ratio: &'a Plane<f32>,
    pub seeds: &'a Plane<u32>,
    pub nearest: &'a Plane<u32>,
    pub dist: &'a Plane<f32>,
    pub background: f32,
}

/// A core's edges located direction by direction: its area within them (px²; `None` where fewer than
/// half the directions have an edge of their own or the core touches the image border), and its rim's
/// thickness in each direction where the rim has an inner and an outer edge (px).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoreEdges {
    pub area: Option<f32>,
    pub thickness: Vec<f32>,
    pub spans: RimSpans,
}

/// Where a core's rim lies, direction by direction: each direction's inner and outer edge, as distances
/// from the core's mask (px, from its outermost pixel centres), `None` where the direction has no rim
/// of its own; direction `k` holds `raster::sector(dx, dy, spans.len())` of an offset from `centroid`.
/// The class map draws the rim and core between them (`reference::class_map`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RimSpans {
    pub centroid: [f32; 2],
    pub spans: Vec<Option<(f32, f32)>>,
}

impl RimSpans {
    /// The span of the direction from the centroid to the pixel centre `(x, y)`.
    pub fn at(&self, x: usize, y: usize) -> Option<(f32, f32)> {
        if self.spans.is_empty() {
            return None;
        }
        self.spans[crate::raster::sector(x as f32 + 0.5 - self.centroid[0], y as f32 + 0.5 - self.centroid[1], self.spans.len())]
    }
}

/// Each core's edges located direction by direction (see the module's doc). A direction has an edge
/// of its own where its profile peaks `min_rise` (ratio) above the core.
pub fn core_edges(maps: &EdgeMaps, queries: &[CoreEdgeQuery], min_rise: f32) -> Vec<CoreEdges> {
    queries.par_iter().map(|q| locate(maps, q, min_rise)).collect()
}

/// Where a direction's profile by distance from the core's mask reads the rim's thickness: its rim is
/// looked for this many times the median (threshold) thickness out (a rim varies by up to ±50% around
/// its core), and `RIM_REACH_PAD` px more.
const RIM_REACH: f32 = 2.0;
const RIM_REACH_PAD: f32 = 4.0;

/// The fewest directions whose thickness stands for a rim's (else it is taken from its outer edge's
/// pixels, `reduce::subpixel`).
pub const MIN_THICKNESS_DIRECTIONS: usize = 6;

/// A rim ends where its direction's profile falls under halfway to the background and stays under
/// for this fraction of the median (threshold) thickness, at least `STAY_MIN_PX`.
const STAY: f32 = 0.5;
const STAY_MIN_PX: f32 = 2.0;

fn locate(maps: &EdgeMaps, q: &CoreEdgeQuery, min_rise: f32) -> CoreEdges {
    let (w, h) = (maps.ratio.width, maps.ratio.height);
    let b = q.bbox;
    if q.area_px == 0 {
        return CoreEdges::default();
    }
    // Only part of the core is in view: no area, but its rim's thickness where it has one.
    let whole = !(b.x0 == 0 || b.y0 == 0 || b.x1 >= w || b.y1 >= h);
    let [cx, cy] = q.centroid;
    let r_eq = (q.area_px as f32 / std::f32::consts::PI).sqrt();
    let bins = ((std::f32::consts::TAU * r_eq / ARC_PX).round() as usize).clamp(12, 64);
    let rim_reach = RIM_REACH * q.rim_px + RIM_REACH_PAD;
    let reach = rim_reach.ceil() as usize;
    let bx = Rect { x0: b.x0.saturating_sub(reach), y0: b.y0.saturating_sub(reach), x1: (b.x1 + reach).min(w), y1: (b.y1 + reach).min(h) };
    let radii = ((bx.x1 - bx.x0).max(bx.y1 - bx.y0) as f32 * std::f32::consts::SQRT_2).ceil() as usize + 2;
    // Per direction: the radial profile's sums and counts (1-px radii), and the mask's outermost radius.
    let mut sum = vec![0.0f32; bins * radii];
    let mut count = vec![0u32; bins * radii];
    let mut mask_r = vec![0.0f32; bins];
    // Per direction: the profile by distance from the core's mask (half-pixel bins: sums of the ratio,
    // of the distance, and counts).
    let dbins = (2.0 * rim_reach) as usize + 1;
    let mut dprof = vec![(0.0f32, 0.0f32, 0u32); bins * dbins];
    // Each pixel's direction and radius (`SKIP`: another core's, or nearer another core, or out of every
    // core's reach), rows in parallel; then summed in row order below, as one pass would. First the radii
    // and the core's own pixels' directions: no profile is read beyond radius `hi_max` (the farthest own
    // pixel's, plus the rim's width and 2: every direction's `hi` below is at most that), so a
    // neighbour farther out adds nothing read and needs no direction (the stage's main cost; a row's
    // pixels mostly share their neighbour's, which `Sectors` answers without an arctangent).
    let sectors = Sectors::new(bins);
    const SKIP: u32 = u32::MAX;
    // Flags of a pixel whose direction is yet to find, and of one within `rim_reach` of the mask.
    const PENDING: u32 = 1 << 31;
    const NEAR: u32 = 1 << 30;
    let bw = bx.x1 - bx.x0;
    let mut polar = vec![(SKIP, 0.0f32); bw * (bx.y1 - bx.y0)];
    let own_r = polar
        .par_chunks_mut(bw.max(1))
        .enumerate()
        .map(|(row, out)| {
            let y = bx.y0 + row;
            let (sr, nr, dr) = (maps.seeds.row(y), maps.nearest.row(y), maps.dist.row(y));
            let mut own_r = 0.0f32;
            let mut last = 0;
            for (x, o) in (bx.x0..bx.x1).zip(out.iter_mut()) {
                if sr[x] == q.label || (sr[x] == 0 && nr[x] == q.label) {
                    let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                    let r = hypot(dx, dy);
                    if sr[x] == q.label {
                        own_r = own_r.max(r);
                        *o = (sectors.of(dx, dy, &mut last) as u32, r);
                    } else if dr[x] <= rim_reach {
                        *o = (PENDING | NEAR, r);
                    } else {
                        *o = (PENDING, r);
                    }
                }
            }
            own_r
        })
        .reduce(|| 0.0f32, f32::max);
    let hi_max = ((own_r + q.rim_px + 2.0) as usize).min(radii - 1);
    polar.par_chunks_mut(bw.max(1)).enumerate().for_each(|(row, out)| {
        let dy = (bx.y0 + row) as f32 + 0.5 - cy;
        let mut last = 0;
        for (x, o) in (bx.x0..bx.x1).zip(out.iter_mut()) {
            if o.0 != SKIP && o.0 & PENDING != 0 {
                o.0 = if (o.1 as usize) <= hi_max || o.0 & NEAR != 0 { sectors.of(x as f32 + 0.5 - cx, dy, &mut last) as u32 } else { SKIP };
            }
        }
    });
    for y in bx.y0..bx.y1 {
        let (rr, sr, dr) = (maps.ratio.row(y), maps.seeds.row(y), maps.dist.row(y));
        let polar = &polar[(y - bx.y0) * bw..(y - bx.y0 + 1) * bw];
        for x in bx.x0..bx.x1 {
            let (k, r) = polar[x - bx.x0];
            if k == SKIP {
                continue;
            }
            let own = sr[x] == q.label;
            let k = k as usize;
            let j = r as usize;
            if j < radii {
                sum[k * radii + j] += rr[x];
                count[k * radii + j] += 1;
            }
            if own {
                mask_r[k] = mask_r[k].max(r);
            } else if dr[x] <= rim_reach {
                let e = &mut dprof[k * dbins + (2.0 * dr[x]) as usize];
                *e = (e.0 + rr[x], e.1 + dr[x], e.2 + 1);
            }
        }
    }
    // Each direction's edge radius (NaN: none of its own), and its rim's thickness where it has one.
    let mut edge = vec![f32::NAN; bins];
    let mut spans = vec![None; bins];
    let mut profile = vec![f32::NAN; radii];
    for k in 0..bins {
        if mask_r[k] <= 0.0 {
            continue;
        }
        for j in 0..radii {
            let c = count[k * radii + j];
            profile[j] = if c == 0 { f32::NAN } else { sum[k * radii + j] / c as f32 };
        }
        // The rim's peak: from halfway into the core out to the rim's width past the mask.
        let (lo, hi) = ((0.5 * mask_r[k]) as usize, ((mask_r[k] + q.rim_px + 2.0) as usize).min(radii - 1));
        let peak = profile[lo..=hi].iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        if !(peak - q.level >= min_rise) {
            continue;
        }
        let half = 0.5 * (q.level + peak);
        // The first rise through the half level, outward from halfway in (profile values at radii j + 0.5).
        let mut prev: Option<(usize, f32)> = None;
        for (j, &v) in profile.iter().enumerate().take(hi + 1).skip(lo) {
            if v.is_nan() {
                continue;
            }
            if v >= half {
                edge[k] = match prev {
                    Some((i, u)) => i as f32 + 0.5 + (j - i) as f32 * (half - u) / (v - u),
                    None => j as f32,
                };
                break;
            }
            prev = Some((j, v));
        }
        if !edge[k].is_nan() {
            // Where the mask reaches past the core's edge, the edge lies that far (radially) inside it.
            let inside = (edge[k] - mask_r[k]).min(0.5);
            spans[k] = rim_span(&dprof[k * dbins..(k + 1) * dbins], q.level, maps.background, q.rim_px + 2.0, inside, (STAY * q.rim_px).max(STAY_MIN_PX));
        }
    }
    let by_direction: Vec<Option<f32>> = spans.iter().map(|s| s.map(|(inner, outer)| (outer - inner).max(0.0))).collect();
    let thickness = median_of_neighbours(&by_direction);
    let spans = RimSpans { centroid: q.centroid, spans };
    let filled = edge.iter().filter(|r| !r.is_nan()).count();
    if !whole || 2 * filled < bins {
        return CoreEdges { area: None, thickness, spans };
    }
    // Directions with no edge of their own: interpolated around the circle from their nearest neighbours.
    let sector = std::f32::consts::TAU / bins as f32;
    let area = crate::raster::interpolate_around(&edge).iter().fold(0.0f32, |a, &r| a + 0.5 * sector * r * r);
    CoreEdges { area: Some(area), thickness, spans }
}

/// Each direction's thickness as the median of its own and its two neighbours' (around the circle,
/// those that have one): a rim's thickness changes smoothly around its core, where a direction whose
/// profile a grain of the liver or a joined blob throws off is one alone. The thinnest rim, a low
/// percentile of a few dozen directions, would be that one.
fn median_of_neighbours(t: &[Option<f32>]) -> Vec<f32> {
    let n = t.len();
    (0..n)
        .filter(|&k| t[k].is_some())
        .map(|k| {
            let mut v: Vec<f32> = [(k + n - 1) % n, k, (k + 1) % n].iter().filter_map(|&j| t[j]).collect();
            v.sort_by(f32::total_cmp);
            // Two: their mean (the median of two).
            if v.len() == 2 { 0.5 * (v[0] + v[1]) } else { v[v.len() / 2] }
        })
        .collect()
}

/// A direction's rim (its inner and outer edge, px from the core's mask) from its profile by distance
/// from the core's mask (`bins`: sums of the ratio and of the distance, and counts, by half pixel): its
/// thickness runs from where the profile first rises
/// halfway from the core's `level` to its peak (the peak within `peak_px` of the mask; interpolated
/// between the bins' mean distances) to its outer edge. That is the largest step down (the mean over a
/// window inside a point less the mean outside it) between the peak and `stay` px past where the
/// profile falls under halfway from the peak to the `background` and stays under for `stay` px (a rim
/// thick against the liver's grain dips under halfway within itself; a rim fading outwards falls
/// under halfway before its edge). Where the profile is over the rise from its first bin, the core's
/// edge lies within the mask, at `inside` (px from the mask's outermost pixel centres, at most the 0.5
/// of the mask's edge). `None` where the profile does not fall back within reach (a duct or blob
/// joined to the rim there, or a rim thicker than the reach) or peaks under the background.
///
/// Both edges are read at the halfway levels of one mean profile, from the same origin. Blur and a
/// scatter halo spread a rim's edges about those levels and leave them in place; but a halo lifts the
/// core's edge over the fluorescence level, so that the mask ends inside the core, and measured from
/// the mask the rim reads that much thicker (0.27 mm on the independent phantoms' first draw, 0.37 mm
/// under a halo). Averaging along the direction's arc takes the texture out of the rim's brightness,
/// where a pixel-by-pixel step to the level, from the mask's outer edge, is thrown by it.
fn rim_span(bins: &[(f32, f32, u32)], level: f32, background: f32, peak_px: f32, inside: f32, stay: f32) -> Option<(f32, f32)> {
    let profile: Vec<(f32, f32)> = bins.iter().filter(|b| b.2 > 0).map(|&(v, d, n)| (d / n as f32, v / n as f32)).collect();
    let (top, &(_, peak)) = profile.iter().enumerate().take_while(|(_, p)| p.0 <= peak_px).max_by(|a, b| a.1.1.total_cmp(&b.1.1))?;
    if peak <= background {
        return None;
    }
    let cross = |(d0, v0): (f32, f32), (d1, v1): (f32, f32), at: f32| d0 + (d1 - d0) * (at - v0) / (v1 - v0);
    let rise = 0.5 * (level + peak);
    let inner = match profile[..=top].iter().position(|&(_, v)| v >= rise)? {
        0 => inside,
        j => cross(profile[j - 1], profile[j], rise),
    };
    // The outer edge: where the profile falls under halfway from the peak to the background and stays
    // under for `stay` px (a rim thick against the liver's grain dips under halfway within itself).
    let fall = 0.5 * (background + peak);
    let j = (top + 1..profile.len()).find(|&j| profile[j].1 < fall && profile[j + 1..].iter().take_while(|p| p.0 <= profile[j].0 + stay).all(|p| p.1 < fall))?;
    let halfway = cross(profile[j - 1], profile[j], fall);
    // A rim fading outwards falls under halfway before its edge: the edge is the largest step down
    // between the peak and `stay` past that crossing, a step being the mean profile over `window` px
    // inside a point less that outside it.
    let window = (0.5 * stay).max(STAY_MIN_PX);
    // Sums from the peak on, so that a window's mean costs two binary searches (the profile's distances
    // ascend): a thick rim at a fine scale has hundreds of bins.
    let from_top = &profile[top..];
    let sums: Vec<f64> = std::iter::once(0.0).chain(from_top.iter().scan(0.0f64, |acc, p| {
        *acc += p.1 as f64;
        Some(*acc)
    })).collect();
    let mean = |lo: f32, hi: f32| {
        let (a, b) = (from_top.partition_point(|p| p.0 < lo), from_top.partition_point(|p| p.0 < hi));
        (b > a).then(|| ((sums[b] - sums[a]) / (b - a) as f64) as f32)
    };
    let step = |x: f32| Some(mean((x - window).max(profile[top].0), x)? - mean(x, x + window)?);
    let outer = (top + 1..profile.len())
        .map(|k| 0.5 * (profile[k - 1].0 + profile[k].0))
        .take_while(|&x| x <= halfway + stay)
        .filter_map(|x| Some((x, step(x)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(halfway, |(x, _)| x);
    Some((inner, outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core of radius `r0` at level `core` in a rim 12 px wide whose brightness runs from `dim` to
    /// `bright` around it, on a background at 1.0, all blurred over 6 px (a linear ramp); the
    /// mask (seeds) holds what a threshold at `cut` leaves inside the rim; the rim has a gap of
    /// `gap_deg` degrees (background there). Returns the core's edges, and the mask's area.
    fn ring(r0: f32, core: f32, dim: f32, bright: f32, cut: f32, gap_deg: f32) -> (CoreEdges, f32) {
        let (w, h) = (220usize, 220usize);
        let (cx, cy) = (110.0f32, 110.0f32);
        let ramp = |d: f32| (0.5 + d / 6.0).clamp(0.0, 1.0); // 0 inside, 1 outside, over 6 px
        let mut ratio = Plane::<f32>::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let (r, a) = (dx.hypot(dy), dy.atan2(dx));
                let in_gap = a.to_degrees().abs() < 0.5 * gap_deg;
                let peak = if in_gap { 1.0 } else { dim + (bright - dim) * 0.5 * (1.0 + a.sin()) };
                let inner = core + (peak - core) * ramp(r - r0);
                let v = inner + (1.0 - peak) * ramp(r - r0 - 12.0);
                ratio.data[y * w + x] = v;
            }
        }
        // The threshold's mask: the core is what lies inside below the cut, up to the rim (in the gap,
        // up to the ring's outer radius, as the enclosure's chord leaves it).
        let mut seeds = Plane::<u32>::new(w, h);
        let mut bbox = Rect::EMPTY;
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let (r, a) = (dx.hypot(dy), dy.atan2(dx));
                let in_gap = a.to_degrees().abs() < 0.5 * gap_deg;
                let inside = if in_gap { r < r0 + 12.0 } else { r < r0 + 6.0 && ratio.data[y * w + x] < cut };
                if inside {
                    seeds.data[y * w + x] = 1;
                    bbox.include_span(y, x, x + 1);
                }
            }
        }
        let mut distance = crate::raster::distance::LabeledDistance::default();
        crate::raster::distance::distance_transform(&seeds, &[bbox], 40.0, &mut distance);
        let maps = EdgeMaps { ratio: &ratio, seeds: &seeds, nearest: &distance.nearest, dist: &distance.dist, background: 1.0 };
        let inside: Vec<(f32, f32)> = (0..w * h).filter(|&i| seeds.data[i] == 1).map(|i| ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5)).collect();
        let n = inside.len() as f32;
        let centroid = [inside.iter().map(|p| p.0).sum::<f32>() / n, inside.iter().map(|p| p.1).sum::<f32>() / n];
        let q = CoreEdgeQuery { label: 1, bbox, area_px: inside.len() as u32, centroid, level: core, rim_px: 12.0 };
        (core_edges(&maps, &[q], 0.1).remove(0), n)
    }

    fn radius(area: f32) -> f32 {
        (area / std::f32::consts::PI).sqrt()
    }

    /// A rim from 1.3 to 2.2 around a core at 0.7, cut at 1.25 (above the dim side's midpoint, 1.0): the
    /// threshold's core reads wide on the dim side; its edges find the true radius.
    #[test]
    fn a_rim_dimmed_on_one_side_does_not_widen_the_core() {
        let (edges, mask) = ring(40.0, 0.7, 1.3, 2.2, 1.25, 0.0);
        assert!(radius(mask) > 40.35, "the threshold's core is wide: radius {} (true 40)", radius(mask));
        let r = radius(edges.area.expect("an edge all round"));
        assert!((r - 40.0).abs() < 0.15, "radius {r} (true 40)");
    }

    /// A gap of 50° where the core is as bright as the liver (no edge there): the radius is taken from
    /// the directions on either side, not from the chord far out.
    #[test]
    fn a_gap_with_no_edge_takes_its_radius_from_its_neighbours() {
        let r = radius(ring(40.0, 1.0, 1.8, 1.8, 1.4, 50.0).0.area.expect("edges on most directions"));
        assert!((r - 40.0).abs() < 0.6, "radius {r} (true 40)");
    }

    /// A direction's profile by distance from the mask, by half pixel (four pixels a bin).
    fn profile(v: impl Fn(f32) -> f32) -> Vec<(f32, f32, u32)> {
        (1..80).map(|j| 0.5 * j as f32).map(|d| (4.0 * v(d), 4.0 * d, 4)).collect()
    }

    /// A rim 20 px wide (edges halfway up at 1 and 21 px) fading outwards from 4.0 to 2.2, under halfway
    /// from the background to its peak (2.5) for its outer sixth: its edge is the step down at 21, not
    /// where it fades under halfway (17); without the fade, the halfway crossing is the edge.
    #[test]
    fn a_rim_fading_outwards_ends_at_its_step() {
        let ramp = |a: f32, b: f32, t: f32| a + (b - a) * t.clamp(0.0, 1.0);
        for (fade_to, what) in [(2.2, "fading"), (4.0, "even")] {
            let bins = profile(|d| if d < 2.0 { ramp(0.7, 4.0, d / 2.0) } else if d < 20.0 { ramp(4.0, fade_to, (d - 2.0) / 18.0) } else { ramp(fade_to, 1.0, (d - 20.0) / 2.0) });
            let (inner, outer) = rim_span(&bins, 0.7, 1.0, 12.0, 0.5, 10.0).expect("a rim");
            let t = outer - inner;
            assert!((t - 20.0).abs() < 0.75, "{what}: thickness {t} (true 20)");
        }
    }

    /// The rim of `ring` is 12 px wide between its edges' halfway levels whatever its brightness: each
    /// direction reads that, from a mask that ends inside the core on the bright side (cut at 1.25,
    /// under the bright side's midpoint 1.45) and out in the rim on the dim side (where the edge lies
    /// inside the mask); none reads across the gap of 50°, whose directions have no rim.
    #[test]
    fn each_direction_reads_the_rim_between_its_edges() {
        for (gap, cut) in [(0.0, 1.25), (50.0, 1.4)] {
            let (edges, mask) = ring(40.0, 0.7, 1.3, 2.2, cut, gap);
            let (t, bins) = (edges.thickness, ((std::f32::consts::TAU * radius(mask) / ARC_PX).round() as usize).clamp(12, 64));
            assert!(t.len() as f32 >= (1.0 - gap / 360.0 - 0.05) * bins as f32 && t.len() as f32 <= (1.0 - gap / 360.0 + 0.05) * bins as f32, "gap {gap}: {} directions of {bins}", t.len());
            // Beside the gap the mask's channel through it bends the distances: a few directions there.
            let near = t.iter().filter(|v| (*v - 12.0).abs() < 0.6).count();
            let mut sorted = t.clone();
            sorted.sort_by(f32::total_cmp);
            assert!(near as f32 >= 0.8 * t.len() as f32 && (sorted[sorted.len() / 2] - 12.0).abs() < 0.3, "gap {gap}: thickness {t:?} (true 12)");
        }
    }
}
