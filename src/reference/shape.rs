//! The shape of a homogeneous lesion: a tumour's own fluorescence, with a sharp edge, is a solid,
//! roundish patch (a diffuse glow's outline is a level line of a blur, ragged in texture: its shape says
//! little, and it is not tested). An arc is not: it is the stretch of a rim whose core was not found (texture
//! or a faint side broke the ring), or the bend of a duct; nor is a strip a few times longer than wide
//! (the widest stretch of a tapering duct, which the opening of `blobs` keeps). A candidate whose area
//! fills less than `AnalysisParams::homogeneous_min_solidity` of its convex hull, or whose second moments
//! give an elongation (major over minor axis) above `MAX_ELONGATION`, is flagged `FLAG_NOT_SOLID` and
//! `reduce::coreless_kind` does not report it. CPU only (no GPU twin yet;
//! `AnalysisParams::cpu_only_stages`).

use crate::analysis::LesionKind;
use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::enclosure::convex_hull;
use super::reduce::coreless_kind;
use super::regions::{FLAG_NOT_SOLID, RegionTable};
use crate::raster::rect::Rect;

/// A lesion is at most this elongated (major over minor axis of its second moments; the broad phantoms'
/// homogeneous lesions reach 1.4, motion blur adds to it).
pub const MAX_ELONGATION: f32 = 2.5;

/// Flags the homogeneous-lesion candidates of `fl` that are not solid and roundish (see the module's doc).
pub fn flag_shapeless(fluo_labels: &Plane<u32>, fl: &mut RegionTable, p: &AnalysisParams) {
    if !(p.homogeneous_min_solidity > 0.0) {
        return;
    }
    for r in 0..fl.labels.len() {
        if coreless_kind(fl, r, p) != Some(LesionKind::Homogeneous) {
            continue; // a diffuse glow's outline is a level line of a blur, ragged in texture
        }
        let (solidity, elongation) = solidity_and_elongation(fluo_labels, fl.labels[r], fl.bbox[r]);
        if solidity < p.homogeneous_min_solidity || elongation > MAX_ELONGATION {
            fl.flags[r] |= FLAG_NOT_SOLID;
        }
    }
}

/// The component's area over its convex hull's (the hull of its pixels' corners), and the ratio of the
/// major to the minor axis of its second moments.
fn solidity_and_elongation(fluo_labels: &Plane<u32>, label: u32, b: Rect) -> (f32, f32) {
    let mut corners = Vec::new();
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for y in b.y0..b.y1 {
        let row = &fluo_labels.row(y)[b.x0..b.x1];
        let (Some(l), Some(r)) = (row.iter().position(|&v| v == label), row.iter().rposition(|&v| v == label)) else { continue };
        let (xl, xr, yf) = ((b.x0 + l) as f32, (b.x0 + r + 1) as f32, y as f32);
        corners.extend([(xl, yf), (xl, yf + 1.0), (xr, yf), (xr, yf + 1.0)]);
        for (x, _) in row.iter().enumerate().skip(l).take(r + 1 - l).filter(|&(_, &v)| v == label) {
            let (fx, fy) = ((b.x0 + x) as f64, y as f64);
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

    /// A disc and a 1.4:1 ellipse are solid and roundish; the half of a ring 6 px wide around a
    /// 30 px core (a rim's stretch) is not solid; a 10×40 px strip (a duct's) is too elongated.
    #[test]
    fn arcs_and_strips_are_not_lesion_shaped() {
        let (disc, b) = plane(100, 100, |x, y| (x - 50.0).hypot(y - 50.0) < 20.0);
        let (s, e) = solidity_and_elongation(&disc, 1, b);
        assert!(s > 0.9 && e < 1.1, "disc: solidity {s}, elongation {e}");
        let (ellipse, b) = plane(100, 100, |x, y| ((x - 50.0) / 24.0).powi(2) + ((y - 50.0) / 17.0).powi(2) < 1.0);
        let (s, e) = solidity_and_elongation(&ellipse, 1, b);
        assert!(s > 0.9 && (1.3..1.5).contains(&e), "ellipse: solidity {s}, elongation {e}");
        let (arc, b) = plane(100, 100, |x, y| {
            let r = (x - 50.0).hypot(y - 50.0);
            r > 30.0 && r < 36.0 && y > 50.0
        });
        let (s, _) = solidity_and_elongation(&arc, 1, b);
        assert!(s < 0.5, "arc: solidity {s}");
        let (strip, b) = plane(100, 100, |x, y| (30.0..70.0).contains(&x) && (45.0..55.0).contains(&y));
        let (s, e) = solidity_and_elongation(&strip, 1, b);
        assert!(s > 0.95 && e > 3.5, "strip: solidity {s}, elongation {e}");
    }
}
