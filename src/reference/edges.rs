//! The core's edge located direction by direction: where the ratio crosses halfway between the core's
//! level and its rim's *local* peak. Liver texture modulates a rim's brightness around its core (by up
//! to a quarter), so one level for the whole core (halfway to the rim's 90th percentile,
//! `reduce::subpixel`) lies above the midpoint of the rim's dim stretches and puts the core's edge out
//! in them: the core reads large. Here the core's neighbourhood is binned by direction from the core's
//! centroid and by radius; each direction's mean radial profile gives its local rim peak and the radius
//! where the profile first rises halfway to it (interpolated between radii). A direction whose profile
//! rises less than `AnalysisParams::core_edge_rise_sigmas` background noise sigmas above the core (a gap
//! where the core is as bright as the liver) has no edge of its own and takes its radius from its neighbours. The area is
//! the sum of the directions' sectors. CPU only (no GPU twin yet; `AnalysisParams::cpu_only_stages`).

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

/// The maps the edges are read from: the ratio, the cores (`seeds`) and each pixel's nearest core.
pub struct EdgeMaps<'a> {
    pub ratio: &'a Plane<f32>,
    pub seeds: &'a Plane<u32>,
    pub nearest: &'a Plane<u32>,
}

/// The area (px²) of each core within its edge located direction by direction (see the module's doc);
/// `None` where fewer than half the directions have an edge of their own or the core touches the image
/// border. A direction has an edge of its own where its profile peaks `min_rise` (ratio) above the core.
pub fn core_areas(maps: &EdgeMaps, queries: &[CoreEdgeQuery], min_rise: f32) -> Vec<Option<f32>> {
    queries.par_iter().map(|q| core_area(maps, q, min_rise)).collect()
}

fn core_area(maps: &EdgeMaps, q: &CoreEdgeQuery, min_rise: f32) -> Option<f32> {
    let (w, h) = (maps.ratio.width, maps.ratio.height);
    let b = q.bbox;
    if b.x0 == 0 || b.y0 == 0 || b.x1 >= w || b.y1 >= h {
        return None; // only part of the core is in view
    }
    if q.area_px == 0 {
        return None;
    }
    let [cx, cy] = q.centroid;
    let r_eq = (q.area_px as f32 / std::f32::consts::PI).sqrt();
    let bins = ((std::f32::consts::TAU * r_eq / ARC_PX).round() as usize).clamp(12, 64);
    let reach = (q.rim_px + 3.0).ceil() as usize;
    let bx = Rect { x0: b.x0.saturating_sub(reach), y0: b.y0.saturating_sub(reach), x1: (b.x1 + reach).min(w), y1: (b.y1 + reach).min(h) };
    let radii = ((bx.x1 - bx.x0).max(bx.y1 - bx.y0) as f32 * std::f32::consts::SQRT_2).ceil() as usize + 2;
    // Per direction: the radial profile's sums and counts (1-px radii), and the mask's outermost radius.
    let mut sum = vec![0.0f32; bins * radii];
    let mut count = vec![0u32; bins * radii];
    let mut mask_r = vec![0.0f32; bins];
    // Each pixel's direction and radius (`SKIP`: another core's, or nearer another core, or out of every
    // core's reach), rows in parallel; then summed in row order below, as one pass would. First the radii
    // and the core's own pixels' directions: no profile is read beyond radius `hi_max` (the farthest own
    // pixel's, plus the rim's width and 2: every direction's `hi` below is at most that), so a
    // neighbour farther out adds nothing read and needs no direction (the stage's main cost; a row's
    // pixels mostly share their neighbour's, which `Sectors` answers without an arctangent).
    let sectors = Sectors::new(bins);
    const SKIP: u32 = u32::MAX;
    const PENDING: u32 = u32::MAX - 1;
    let bw = bx.x1 - bx.x0;
    let mut polar = vec![(SKIP, 0.0f32); bw * (bx.y1 - bx.y0)];
    let own_r = polar
        .par_chunks_mut(bw.max(1))
        .enumerate()
        .map(|(row, out)| {
            let y = bx.y0 + row;
            let (sr, nr) = (maps.seeds.row(y), maps.nearest.row(y));
            let mut own_r = 0.0f32;
            let mut last = 0;
            for (x, o) in (bx.x0..bx.x1).zip(out.iter_mut()) {
                if sr[x] == q.label || (sr[x] == 0 && nr[x] == q.label) {
                    let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                    let r = hypot(dx, dy);
                    if sr[x] == q.label {
                        own_r = own_r.max(r);
                        *o = (sectors.of(dx, dy, &mut last) as u32, r);
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
            if o.0 == PENDING {
                o.0 = if (o.1 as usize) <= hi_max { sectors.of(x as f32 + 0.5 - cx, dy, &mut last) as u32 } else { SKIP };
            }
        }
    });
    for y in bx.y0..bx.y1 {
        let (rr, sr) = (maps.ratio.row(y), maps.seeds.row(y));
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
            }
        }
    }
    // Each direction's edge radius (NaN: none of its own).
    let mut edge = vec![f32::NAN; bins];
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
    }
    let filled: Vec<usize> = (0..bins).filter(|&k| !edge[k].is_nan()).collect();
    if 2 * filled.len() < bins {
        return None;
    }
    // Directions with no edge of their own: interpolated around the circle from their nearest neighbours.
    let mut area = 0.0f32;
    let sector = std::f32::consts::TAU / bins as f32;
    for k in 0..bins {
        let r = if edge[k].is_nan() {
            let after = filled.iter().copied().find(|&f| f > k).unwrap_or(filled[0] + bins);
            let before = filled.iter().rev().copied().find(|&f| f < k).map_or(filled[filled.len() - 1] as isize - bins as isize, |f| f as isize);
            let (ra, rb) = (edge[after % bins], edge[before.rem_euclid(bins as isize) as usize]);
            let t = (k as isize - before) as f32 / (after as isize - before) as f32;
            rb + t * (ra - rb)
        } else {
            edge[k]
        };
        area += 0.5 * sector * r * r;
    }
    Some(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core of radius `r0` at level `core` in a rim 12 px wide whose brightness runs from `dim` to
    /// `bright` around it, on a background at 1.0, all blurred over 6 px (a linear ramp); the
    /// mask (seeds) holds what a threshold at `cut` leaves inside the rim; the rim has a gap of
    /// `gap_deg` degrees (background there). Returns the core's area by its edges, and the mask's.
    fn ring(r0: f32, core: f32, dim: f32, bright: f32, cut: f32, gap_deg: f32) -> (Option<f32>, f32) {
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
        let nearest = Plane { width: w, height: h, data: vec![1u32; w * h] };
        let maps = EdgeMaps { ratio: &ratio, seeds: &seeds, nearest: &nearest };
        let inside: Vec<(f32, f32)> = (0..w * h).filter(|&i| seeds.data[i] == 1).map(|i| ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5)).collect();
        let n = inside.len() as f32;
        let centroid = [inside.iter().map(|p| p.0).sum::<f32>() / n, inside.iter().map(|p| p.1).sum::<f32>() / n];
        let q = CoreEdgeQuery { label: 1, bbox, area_px: inside.len() as u32, centroid, level: core, rim_px: 12.0 };
        (core_areas(&maps, &[q], 0.1)[0], n)
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
        let r = radius(edges.expect("an edge all round"));
        assert!((r - 40.0).abs() < 0.15, "radius {r} (true 40)");
    }

    /// A gap of 50° where the core is as bright as the liver (no edge there): the radius is taken from
    /// the directions on either side, not from the chord far out.
    #[test]
    fn a_gap_with_no_edge_takes_its_radius_from_its_neighbours() {
        let r = radius(ring(40.0, 1.0, 1.8, 1.8, 1.4, 50.0).0.expect("edges on most directions"));
        assert!((r - 40.0).abs() < 0.6, "radius {r} (true 40)");
    }
}
