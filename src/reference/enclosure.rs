//! Cores whose rim has a gap. A tumour core is a non-fluorescent region enclosed by fluorescence on most
//! of its boundary; a rim with a gap of 15–50° leaves it joined to the liver around it, so no
//! labelling finds it as a component of its own. Here, for each fluorescent component large enough to
//! hold a core, the non-fluorescent pixels inside the component's convex hull that belong to a
//! background component reaching beyond the component's box are grouped (4-connected, within the hull).
//! Such a group is a core when the component borders at least `min_rim_coverage` of its boundary and it
//! opens to the rest of the hull only through a gap narrower than itself (a ring with a gap, not the bay
//! of a bent duct). It is split off its background component as a component of its own (label: 1 + its first
//! pixel's raster index), so that the core rules (`regions::select_cores`) and every later stage treat
//! it as any core.
//!
//! The group reaches out to the hull's chord across the gap, so the core's area counts the gap's channel
//! too (about 10% of a disc's area for a 15° gap in a rim a seventh of the core's radius thick): a
//! known overestimate, to be cut at the rim's inner ends.
//! CPU only so far: the GPU backend finds enclosed cores only (see README, "Backends").

use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::regions::{FLAG_BORDER, RegionTable, min_core_area_px, ratio_fixed};
use super::roi::Rect;

/// A group split off: its pixels' indices.
struct Group {
    pixels: Vec<usize>,
    covered: u32,
    open: u32,
}

/// Convex hull (Andrew's monotone chain) of points, counter-clockwise, without collinear points.
fn convex_hull(mut pts: Vec<(f32, f32)>) -> Vec<(f32, f32)> {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let mut hull: Vec<(f32, f32)> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(f32, f32)>> = if pass == 0 { Box::new(pts.iter()) } else { Box::new(pts.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Columns `[x0, x1)` of row `y` (pixel centres at +0.5) inside a convex polygon, if any.
fn hull_span(hull: &[(f32, f32)], y: usize, width: usize) -> Option<(usize, usize)> {
    let yc = y as f32 + 0.5;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for k in 0..hull.len() {
        let (a, b) = (hull[k], hull[(k + 1) % hull.len()]);
        if (a.1 - yc) * (b.1 - yc) > 0.0 {
            continue;
        }
        if (a.1 - b.1).abs() < 1e-6 {
            lo = lo.min(a.0.min(b.0));
            hi = hi.max(a.0.max(b.0));
        } else {
            let x = a.0 + (yc - a.1) / (b.1 - a.1) * (b.0 - a.0);
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    if lo > hi {
        return None;
    }
    // Pixels whose centre lies within [lo, hi].
    let x0 = (lo - 0.5).ceil().max(0.0) as usize;
    let x1 = ((hi - 0.5).floor() + 1.0).clamp(0.0, width as f32) as usize;
    (x0 < x1).then_some((x0, x1))
}

/// Splits the cores of rims with a gap off their background components (see the module's doc). Returns
/// how many were split.
#[allow(clippy::too_many_arguments)]
pub fn split_gapped_cores(
    fluo: &Plane<u8>,
    fluo_labels: &Plane<u32>,
    fl: &RegionTable,
    bg_labels: &mut Plane<u32>,
    bg: &mut RegionTable,
    ratio: &Plane<f32>,
    p: &AnalysisParams,
) -> usize {
    let (w, h) = (fluo.width, fluo.height);
    let min_area = min_core_area_px(p);
    let min_side = p.mm_to_px(p.min_core_diameter_mm);
    let mut groups: Vec<Group> = Vec::new();
    let mut inside = Vec::new(); // hull membership within a component's box, reused
    let mut seen = Vec::new();
    for r in 0..fl.labels.len() {
        let (label, b) = (fl.labels[r], fl.bbox[r]);
        if (fl.area[r] as f32) < min_area || ((b.x1 - b.x0) as f32) < min_side + 2.0 || ((b.y1 - b.y0) as f32) < min_side + 2.0 {
            continue;
        }
        // Leftmost and rightmost pixel of the component in each row: their hull is the component's.
        let mut pts = Vec::new();
        for y in b.y0..b.y1 {
            let row = &fluo_labels.row(y)[b.x0..b.x1];
            if let (Some(l), Some(rr)) = (row.iter().position(|&v| v == label), row.iter().rposition(|&v| v == label)) {
                pts.push(((b.x0 + l) as f32 + 0.5, y as f32 + 0.5));
                pts.push(((b.x0 + rr) as f32 + 0.5, y as f32 + 0.5));
            }
        }
        let hull = convex_hull(pts);
        if hull.len() < 3 {
            continue;
        }
        let (bw, bh) = (b.x1 - b.x0, b.y1 - b.y0);
        inside.clear();
        inside.resize(bw * bh, false);
        for y in b.y0..b.y1 {
            if let Some((x0, x1)) = hull_span(&hull, y, w) {
                for x in x0.max(b.x0)..x1.min(b.x1) {
                    inside[(y - b.y0) * bw + x - b.x0] = true;
                }
            }
        }
        // Non-fluorescent pixels in the hull whose background component reaches beyond the box: the
        // candidates (a component wholly inside the box is enclosed already).
        let open_component = |l: u32, bg: &RegionTable| {
            let cb = bg.bbox[bg.index(l)];
            cb.x0 < b.x0 || cb.y0 < b.y0 || cb.x1 > b.x1 || cb.y1 > b.y1
        };
        seen.clear();
        seen.resize(bw * bh, false);
        for y in b.y0..b.y1 {
            for x in b.x0..b.x1 {
                let k = (y - b.y0) * bw + x - b.x0;
                let i = y * w + x;
                if seen[k] || !inside[k] || fluo.data[i] != 0 || !open_component(bg_labels.data[i], bg) {
                    continue;
                }
                // Flood the group within the hull.
                let mut g = Group { pixels: Vec::new(), covered: 0, open: 0 };
                let mut stack = vec![(x, y)];
                seen[k] = true;
                while let Some((px, py)) = stack.pop() {
                    g.pixels.push(py * w + px);
                    let nbrs = [(px.wrapping_sub(1), py), (px + 1, py), (px, py.wrapping_sub(1)), (px, py + 1)];
                    for (nx, ny) in nbrs {
                        if nx >= w || ny >= h {
                            g.open += 1; // the image border
                            continue;
                        }
                        let ni = ny * w + nx;
                        if fluo.data[ni] != 0 {
                            if fluo_labels.data[ni] == label {
                                g.covered += 1;
                            } else {
                                g.open += 1;
                            }
                            continue;
                        }
                        let in_box = nx >= b.x0 && nx < b.x1 && ny >= b.y0 && ny < b.y1;
                        let nk = if in_box { (ny - b.y0) * bw + nx - b.x0 } else { usize::MAX };
                        if !in_box || !inside[nk] {
                            g.open += 1; // out of the hull: across the gap
                            continue;
                        }
                        if !seen[nk] {
                            seen[nk] = true;
                            stack.push((nx, ny));
                        }
                    }
                }
                let area = g.pixels.len() as f32;
                let eq_diameter = 2.0 * (area / std::f32::consts::PI).sqrt();
                let coverage = g.covered as f32 / (g.covered + g.open).max(1) as f32;
                // A gap narrower than the core (its open edges counted along both axes, so up to √2 of
                // its length), most of the boundary rim, a core's size, not most of the frame.
                if area >= min_area && 3.0 * area <= (w * h) as f32 && coverage >= p.min_rim_coverage && g.open as f32 <= 0.9 * eq_diameter {
                    groups.push(g);
                }
            }
        }
    }
    let n = groups.len();
    for g in groups {
        split_off(g, bg_labels, bg, ratio);
    }
    n
}

/// Makes a group a background component of its own: relabelled, its area and ratio sum moved from its
/// old components' rows to a new row.
fn split_off(g: Group, bg_labels: &mut Plane<u32>, bg: &mut RegionTable, ratio: &Plane<f32>) {
    let w = bg_labels.width;
    let first = *g.pixels.iter().min().expect("a group has pixels");
    let label = first as u32 + 1;
    let (mut bbox, mut sum, mut border) = (Rect::EMPTY, 0u32, false);
    for &i in &g.pixels {
        let (x, y) = (i % w, i / w);
        bbox.include_span(y, x, x + 1);
        border |= x == 0 || y == 0 || x + 1 == w || y + 1 == bg_labels.height;
        let old = bg.index(bg_labels.data[i]);
        bg.area[old] = bg.area[old].saturating_sub(1);
        let v = ratio_fixed(ratio.data[i]);
        bg.aux[old] = bg.aux[old].saturating_sub(v);
        sum = sum.saturating_add(v);
        bg_labels.data[i] = label;
    }
    let at = bg.labels.partition_point(|&l| l < label);
    if bg.labels.get(at) == Some(&label) {
        // The old component's first pixel was the group's: the rest keeps a label no pixel starts.
        // Rare; the row is shared and the sums stay apart by keeping the group's.
        bg.area[at] = g.pixels.len() as u32;
        bg.aux[at] = sum;
        bg.bbox[at] = bbox;
        bg.flags[at] = if border { FLAG_BORDER } else { 0 };
        return;
    }
    bg.labels.insert(at, label);
    bg.area.insert(at, g.pixels.len() as u32);
    bg.aux.insert(at, sum);
    bg.flags.insert(at, if border { FLAG_BORDER } else { 0 });
    bg.sharp.insert(at, 0);
    bg.bbox.insert(at, bbox);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::components::{Connectivity, label_components};
    use crate::reference::regions::region_stats;

    /// A ring of radius 30 (thickness 4) on a 160×120 frame, with a gap of `gap_deg` degrees, and a
    /// U-shaped duct elsewhere: the ring's core is split off when the gap is a ring's, the duct's bay
    /// never is.
    fn scene(gap_deg: f32) -> (Plane<u8>, Plane<f32>) {
        let (w, h) = (160usize, 120usize);
        let mut fluo = Plane::<u8>::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - 60.0, y as f32 + 0.5 - 60.0);
                let (r, a) = (dx.hypot(dy), dy.atan2(dx).to_degrees().rem_euclid(360.0));
                let ring = (30.0..34.0).contains(&r) && a >= gap_deg;
                // A shallow arc (a bent duct) on the right.
                let (ex, ey) = (x as f32 - 135.0, y as f32 - 60.0);
                let duct = (ex.hypot(ey) - 40.0).abs() < 1.5 && ex < -28.0;
                fluo.data[y * w + x] = (ring || duct) as u8;
            }
        }
        let ratio = Plane::from_vec(w, h, fluo.data.iter().map(|&f| if f != 0 { 2.0 } else { 1.0 }).collect()).unwrap();
        (fluo, ratio)
    }

    fn split(gap_deg: f32) -> (usize, Plane<u32>) {
        let (fluo, ratio) = scene(gap_deg);
        let p = AnalysisParams { mm_per_px: 0.1, ..AnalysisParams::default() };
        let (mut parent, mut bl, mut fll) = (Vec::new(), Plane::new(0, 0), Plane::new(0, 0));
        let bgc = label_components(&fluo, 0, Connectivity::Four, &mut parent, &mut bl);
        let flc = label_components(&fluo, 1, Connectivity::Eight, &mut parent, &mut fll);
        let (mut bg, mut fl) = (RegionTable::default(), RegionTable::default());
        region_stats(&bl, &bgc, &fll, &flc, &fluo, &ratio, &p, &mut bg, &mut fl);
        let n = split_gapped_cores(&fluo, &fll, &fl, &mut bl, &mut bg, &ratio, &p);
        // The table stays consistent with the labels.
        for (r, &l) in bg.labels.iter().enumerate() {
            assert_eq!(bl.data.iter().filter(|&&v| v == l).count() as u32, bg.area[r], "label {l}");
        }
        (n, bl)
    }

    #[test]
    fn a_ring_with_a_gap_has_a_core_and_a_bent_duct_has_none() {
        for gap in [15.0, 30.0, 50.0] {
            let (n, labels) = split(gap);
            assert_eq!(n, 1, "gap {gap}°");
            // The centre's component is the split core, of about the ring's inner disc.
            let l = labels.get(60, 60);
            let area = labels.data.iter().filter(|&&v| v == l).count() as f32;
            let disc = std::f32::consts::PI * 30.0 * 30.0;
            assert!(area > 0.95 * disc && area < 1.15 * disc, "gap {gap}°: core of {area} px vs {disc}");
        }
        // Half a ring is no core.
        assert_eq!(split(180.0).0, 0);
    }
}
