//! A coreless lesion that a duct or vessel touches, separated from it by an opening. Fluorescence that
//! touches is one component, and a blob with a bile duct through it is not compact, so
//! `reduce::coreless_kind` would report neither. The opening by a disc of radius `blob_opening_mm`
//! keeps what such a disc fits in (a lesion at least twice that wide) and drops what it does not (a
//! duct narrower than the disc). When it leaves exactly one compact piece of a lesion's size, cut from
//! the rest on at most `MAX_CUT_SHARE` of its outline, that piece becomes a fluorescent component of its
//! own with its own area, box, boundary and sharp-edge counts, and the rest keeps the old label. Several
//! pieces are the thick stretches of a rim whose core was not found, a piece cut on most of its outline
//! the crossing of two ducts: nothing is cut then. Only components that no core touches and that are
//! not compact are tried, so a lesion alone is unchanged. CPU only: the GPU backend has no twin of this
//! yet (`AnalysisParams::cpu_only_stages`).

use crate::frame::Plane;
use crate::params::AnalysisParams;
use super::components::{Connectivity, label_components};
use crate::raster::distance::{LabeledDistance, distance_transform};
use super::regions::{FLAG_BORDER, FLAG_HAS_RIM, RegionTable, sharp_bar, sharp_edge};
use crate::raster::rect::Rect;

/// At most this share of a piece's outline may be cut from the rest of its component (a 3 mm lesion
/// crossed by a 1.4 mm duct: 0.3; the junction of two crossing ducts: most of its outline).
const MAX_CUT_SHARE: f32 = 0.4;

/// Is a component of `area` pixels and `boundary` boundary pixels compact enough for a lesion?
pub fn compact(area: u32, boundary: u32, p: &AnalysisParams) -> bool {
    let b = boundary.max(1) as f32;
    4.0 * std::f32::consts::PI * area as f32 >= p.min_diffuse_compactness * b * b
}

pub use crate::params::min_coreless_area_px;

/// Cuts the one compact piece that an opening leaves of a non-compact fluorescent component without a
/// rim off into a component of its own (in `fluo_labels` and the table, kept in label order; sharp edges
/// counted at the frame's `edge_noise`, as `regions::region_stats` counts them).
pub fn split_blobs(fluo_labels: &mut Plane<u32>, fl: &mut RegionTable, ratio: &Plane<f32>, p: &AnalysisParams, edge_noise: f32) {
    if !(p.blob_opening_mm > 0.0) {
        return;
    }
    let radius = p.mm_to_px(p.blob_opening_mm);
    let min_area = min_coreless_area_px(p);
    let candidates: Vec<(u32, Rect)> = (0..fl.labels.len())
        .filter(|&r| {
            // A duct often leaves the view: a component on the image border is tried too (each piece is
            // flagged by its own border contact).
            fl.flags[r] & FLAG_HAS_RIM == 0 && fl.area[r] as f32 >= min_area && !compact(fl.area[r], fl.aux[r], p)
        })
        .map(|r| (fl.labels[r], fl.bbox[r]))
        .collect();
    let mut scratch = Scratch::default();
    for (label, b) in candidates {
        if !square_fits(fluo_labels, label, b, radius) {
            continue; // no disc fits (a thin duct or vessel alone): one pass instead of the opening
        }
        let Ok([piece]) = <[Vec<usize>; 1]>::try_from(compact_pieces(fluo_labels, label, b, radius, min_area, p, &mut scratch)) else {
            continue; // none, or several: nothing is cut
        };
        let new = relabel(fluo_labels, label, &piece);
        let at = fl.labels.partition_point(|&x| x < new);
        debug_assert_ne!(fl.labels.get(at), Some(&new), "a split blob's label is no other component's");
        fl.labels.insert(at, new);
        for v in [&mut fl.area, &mut fl.aux, &mut fl.flags, &mut fl.sharp] {
            v.insert(at, 0);
        }
        fl.bbox.insert(at, Rect::EMPTY);
        for l in [label, new] {
            recount(fluo_labels, fl, l, b, ratio, p, edge_noise);
        }
    }
}

/// Does component `label` (box `b`) hold an axis-aligned square inscribed in a disc of `radius` (side
/// radius·√2, less a pixel for the discs' digitisation)? Needed for the disc to fit, found in one pass over
/// the box (the largest square ending at each pixel, from its row's and the row above's), where the
/// opening takes two distance transforms.
fn square_fits(fluo_labels: &Plane<u32>, label: u32, b: Rect, radius: f32) -> bool {
    let need = ((radius * std::f32::consts::SQRT_2) as u32).saturating_sub(1).max(1);
    let bw = b.x1 - b.x0;
    let (mut above, mut here) = (vec![0u32; bw], vec![0u32; bw]);
    for y in b.y0..b.y1 {
        let row = &fluo_labels.row(y)[b.x0..b.x1];
        for x in 0..bw {
            here[x] = if row[x] != label {
                0
            } else if x == 0 {
                1
            } else {
                above[x].min(above[x - 1]).min(here[x - 1]) + 1
            };
            if here[x] >= need {
                return true;
            }
        }
        std::mem::swap(&mut above, &mut here);
    }
    false
}

/// Buffers reused between openings.
#[derive(Default)]
pub struct Scratch {
    seeds: Plane<u32>,
    dist: LabeledDistance,
    /// What `opening` leaves: 1 where opened.
    pub opened: Plane<u8>,
    parent: Vec<u32>,
    pieces: Plane<u32>,
}

/// The opening by a disc of `radius` of the set of pixels of a `lw`×`lh` frame for which `inside` holds
/// (the frame's edge counts as outside): every pixel of the set within `radius` of a centre farther than
/// `radius` from every pixel outside it. Leaves 1 in `s.opened` where opened, 0 elsewhere; false when
/// no disc fits.
pub fn opening(lw: usize, lh: usize, inside: impl Fn(usize, usize) -> bool, radius: f32, s: &mut Scratch) -> bool {
    let whole = [Rect::full(lw, lh)];
    s.seeds.resize(lw, lh);
    for ly in 0..lh {
        for lx in 0..lw {
            let edge = lx == 0 || ly == 0 || lx + 1 == lw || ly + 1 == lh;
            s.seeds.data[ly * lw + lx] = (edge || !inside(lx, ly)) as u32;
        }
    }
    distance_transform(&s.seeds, &whole, radius + 1.0, &mut s.dist);
    let mut any = false;
    for (seed, &d) in s.seeds.data.iter_mut().zip(&s.dist.dist.data) {
        *seed = (d > radius) as u32;
        any |= *seed != 0;
    }
    s.opened.resize(lw, lh);
    if !any {
        return false;
    }
    distance_transform(&s.seeds, &whole, radius, &mut s.dist);
    for ly in 0..lh {
        for lx in 0..lw {
            let j = ly * lw + lx;
            let edge = lx == 0 || ly == 0 || lx + 1 == lw || ly + 1 == lh;
            s.opened.data[j] = (!edge && s.dist.dist.data[j] <= radius && inside(lx, ly)) as u8;
        }
    }
    true
}

/// Pixels (raster indices of the frame) of each compact piece of at least `min_area` that the opening
/// of component `label` (box `b`) by a disc of `radius` leaves.
fn compact_pieces(fluo_labels: &Plane<u32>, label: u32, b: Rect, radius: f32, min_area: f32, p: &AnalysisParams, s: &mut Scratch) -> Vec<Vec<usize>> {
    let w = fluo_labels.width;
    // A local frame one pixel wider on each side, so that the component never touches its edge.
    let (lw, lh) = (b.x1 - b.x0 + 2, b.y1 - b.y0 + 2);
    let inside = |lx: usize, ly: usize| {
        lx >= 1 && ly >= 1 && lx <= b.x1 - b.x0 && ly <= b.y1 - b.y0 && fluo_labels.data[(b.y0 + ly - 1) * w + b.x0 + lx - 1] == label
    };
    if !opening(lw, lh, inside, radius, s) {
        return Vec::new();
    }
    let pieces = label_components(&s.opened, 1, Connectivity::Eight, &mut s.parent, &mut s.pieces);
    let mut out = Vec::new();
    for c in pieces.iter().filter(|c| c.area as f32 >= min_area) {
        let mut pixels = Vec::with_capacity(c.area as usize);
        let (mut boundary, mut cut) = (0u32, 0u32);
        for ly in c.bbox.y0..c.bbox.y1 {
            for lx in c.bbox.x0..c.bbox.x1 {
                let j = ly * lw + lx;
                if s.pieces.data[j] != c.label {
                    continue;
                }
                // The local frame's edge is outside the component, so every neighbour exists.
                let l = c.label;
                let nbrs = [j - 1, j + 1, j - lw, j + lw];
                if nbrs.iter().any(|&n| s.pieces.data[n] != l) {
                    boundary += 1;
                    // Against the rest of the component: where the opening cut.
                                cut += nbrs.iter().any(|&n| s.pieces.data[n] != l && inside(n % lw, n / lw)) as u32;
                }
                pixels.push((b.y0 + ly - 1) * w + b.x0 + lx - 1);
            }
        }
        // A lesion on a duct is cut where the duct enters and leaves it: a small share of its outline.
        // The crossing of two ducts is cut on most of its outline.
        if compact(c.area, boundary, p) && (cut as f32) <= MAX_CUT_SHARE * boundary as f32 {
            out.push(pixels);
        }
    }
    out
}

/// Gives a piece of component `old` a label of its own: 1 + its first pixel's raster index, or its
/// last's when its first pixel is the component's first (whose label the rest keeps).
fn relabel(fluo_labels: &mut Plane<u32>, old: u32, pixels: &[usize]) -> u32 {
    let first = pixels[0]; // raster order
    let label = if first as u32 + 1 == old { pixels[pixels.len() - 1] as u32 + 1 } else { first as u32 + 1 };
    for &i in pixels {
        fluo_labels.data[i] = label;
    }
    label
}

/// Area, box, boundary and sharp-edge counts of component `label` within `b`, as `regions::region_stats`
/// counts them (a boundary pixel has a 4-neighbour in the image with another label).
fn recount(fluo_labels: &Plane<u32>, fl: &mut RegionTable, label: u32, b: Rect, ratio: &Plane<f32>, p: &AnalysisParams, edge_noise: f32) {
    let (w, h) = (fluo_labels.width, fluo_labels.height);
    let sharp_per_px = sharp_bar(p, edge_noise);
    let (mut area, mut boundary, mut sharp, mut bbox, mut border) = (0u32, 0u32, 0u32, Rect::EMPTY, false);
    let l = &fluo_labels.data;
    for y in b.y0..b.y1 {
        for x in b.x0..b.x1 {
            let i = y * w + x;
            if l[i] != label {
                continue;
            }
            area += 1;
            bbox.include_span(y, x, x + 1);
            border |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            let edge = (x > 0 && l[i - 1] != label) || (x + 1 < w && l[i + 1] != label) || (y > 0 && l[i - w] != label) || (y + 1 < h && l[i + w] != label);
            if edge {
                boundary += 1;
                if x > 0 && y > 0 && x + 1 < w && y + 1 < h && sharp_edge(&ratio.data, w, i, sharp_per_px) {
                    sharp += 1;
                }
            }
        }
    }
    let r = fl.index(label);
    fl.area[r] = area;
    fl.aux[r] = boundary;
    fl.sharp[r] = sharp;
    fl.flags[r] = (fl.flags[r] & !FLAG_BORDER) | if border { FLAG_BORDER } else { 0 };
    fl.bbox[r] = if area > 0 { bbox } else { b };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::components::Connectivity;
    use crate::reference::reduce::coreless_kind;
    use crate::reference::regions::region_stats;

    /// A 160×200 frame at 0.1 mm/px with a disc of radius 25 px (5 mm across) at (80, 100), and a
    /// straight duct `duct_px` wide through it, leaving the view at the top and the bottom (none when 0).
    /// Ratio 2 on fluorescence, 1 elsewhere: every edge is sharp.
    fn scene(duct_px: usize) -> (Plane<u8>, Plane<f32>) {
        let (w, h) = (160, 200);
        let mut fluo = Plane::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let disc = (x as f32 - 80.0).hypot(y as f32 - 100.0) <= 25.0;
                let duct = duct_px > 0 && (x as i32 - 95).unsigned_abs() as usize * 2 < duct_px;
                fluo.data[y * w + x] = (disc || duct) as u8;
            }
        }
        let ratio = Plane::from_vec(w, h, fluo.data.iter().map(|&f| 1.0 + f as f32).collect()).unwrap();
        (fluo, ratio)
    }

    fn lesions(duct_px: usize, opening_mm: f32) -> Vec<(u32, Rect)> {
        let p = AnalysisParams { blob_opening_mm: opening_mm, ..AnalysisParams::with_scale(0.1) };
        let (fluo, ratio) = scene(duct_px);
        let (mut bg_l, mut fl_l, mut par) = (Plane::new(0, 0), Plane::new(0, 0), Vec::new());
        let bgc = label_components(&fluo, 0, Connectivity::Four, &mut par, &mut bg_l);
        let flc = label_components(&fluo, 1, Connectivity::Eight, &mut par, &mut fl_l);
        let (mut bg, mut fl) = (RegionTable::default(), RegionTable::default());
        region_stats(&bg_l, &bgc, &fl_l, &flc, &fluo, &ratio, &p, 0.0, &mut bg, &mut fl);
        split_blobs(&mut fl_l, &mut fl, &ratio, &p, 0.0);
        assert!(fl.labels.windows(2).all(|l| l[0] < l[1]), "the table stays in label order");
        (0..fl.labels.len()).filter(|&r| coreless_kind(&fl, r, &p).is_some()).map(|r| (fl.area[r], fl.bbox[r])).collect()
    }

    #[test]
    fn a_blob_crossed_by_a_duct_is_split_from_it() {
        let alone = lesions(0, 1.0);
        assert_eq!(alone.len(), 1, "a lone disc is a lesion");
        assert!(lesions(10, 0.0).is_empty(), "without the opening the disc and its duct are one non-compact component");
        let split = lesions(10, 1.0);
        assert_eq!(split.len(), 1, "{split:?}");
        let (area, b) = split[0];
        // The disc's own area within a few percent (the opening rounds off only the duct's stubs).
        let disc = alone[0].0 as f32;
        assert!((area as f32 - disc).abs() < 0.06 * disc, "area {area} against the disc's {disc}");
        assert!(b.y0 >= 100 - 27 && b.y1 <= 100 + 28, "the duct is left out: box {b:?}");
    }
}
