//! Outlines of lesions whose own edge is the tumour boundary (homogeneous lesions), from the component
//! label image the backend segmented (8-connected, after any cut from a touching duct): a lesion is the
//! pixels holding its label, wherever its centroid lies and whatever fluorescence touches it. Each gets
//! its boundary line and its margin lines outside it, anti-aliased from its distance field as the
//! composite draws a core's (`lines::line_alpha`); the field is the exact transform the CPU backend's
//! distance stage uses (`raster::distance`), worked in the lesion's box grown by the farthest line.

use super::lines::{blend, line_alpha};
use super::palette;
use rayon::prelude::*;

use crate::frame::{Plane, RgbFrame};
use crate::raster::distance::{LabeledDistance, distance_transform};
use crate::raster::rect::Rect;

/// The bounding boxes [x0, y0, x1, y1) of `wanted` labels in `labels`, in one pass (`None`: not there);
/// bands of rows in parallel, their boxes joined.
fn boxes(labels: &Plane<u32>, wanted: &[u32]) -> Vec<Option<[usize; 4]>> {
    let join = |a: Option<[usize; 4]>, b: Option<[usize; 4]>| match (a, b) {
        (Some(a), Some(b)) => Some([a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]),
        (a, b) => a.or(b),
    };
    (0..labels.height)
        .into_par_iter()
        .fold(
            || vec![None; wanted.len()],
            |mut out: Vec<Option<[usize; 4]>>, y| {
                // A row's labelled pixels come in runs of one label: its place in `wanted` is looked up once a run.
                // Chunks of unlabelled pixels go by in one test.
                let mut last: (u32, Option<usize>) = (0, None);
                for (c, chunk) in labels.row(y).chunks(16).enumerate() {
                    if chunk.iter().fold(0, |a, &l| a | l) == 0 {
                        continue;
                    }
                    for (j, &l) in chunk.iter().enumerate() {
                        if l == 0 {
                            continue;
                        }
                        if l != last.0 {
                            last = (l, wanted.iter().position(|&w| w == l));
                        }
                        if let Some(k) = last.1 {
                            let x = 16 * c + j;
                            out[k] = join(out[k], Some([x, y, x + 1, y + 1]));
                        }
                    }
                }
                out
            },
        )
        .reduce(|| vec![None; wanted.len()], |a, b| a.into_iter().zip(b).map(|(a, b)| join(a, b)).collect())
}

/// Draws the boundary of each lesion in `lesions` (component labels of `labels`) in `color`, and its
/// margin lines at `margins_px` outside it in the margin colour. A label not in the image draws nothing.
pub fn outline_lesions(frame: &mut RgbFrame, labels: &Plane<u32>, lesions: &[u32], margins_px: &[f32], color: [u8; 3]) {
    if lesions.is_empty() || (labels.width, labels.height) != (frame.width, frame.height) {
        return;
    }
    let (w, h) = (labels.width, labels.height);
    // Beyond this distance from the lesion no line has coverage (`line_alpha` is 0 from 1.5 px off).
    let reach = margins_px.iter().fold(1.0f32, |a, &m| a.max(m + 0.5)) + 1.5;
    let grow = reach.ceil() as usize;
    let mut field = LabeledDistance::default();
    for (&label, b) in lesions.iter().zip(boxes(labels, lesions)) {
        let Some([x0, y0, x1, y1]) = b else { continue };
        let crop = Rect { x0, y0, x1, y1 }.expand(grow, w, h);
        let (cw, ch) = (crop.x1 - crop.x0, crop.y1 - crop.y0);
        let mut seeds = Plane::<u32>::new(cw, ch);
        for y in y0..y1 {
            let row = &labels.row(y)[x0..x1];
            for (x, &l) in row.iter().enumerate() {
                if l == label {
                    seeds.set(x0 + x - crop.x0, y - crop.y0, 1);
                }
            }
        }
        let lesion_box = Rect { x0: x0 - crop.x0, y0: y0 - crop.y0, x1: x1 - crop.x0, y1: y1 - crop.y0 };
        distance_transform(&seeds, &[lesion_box], reach, &mut field);
        for y in 0..ch {
            for x in 0..cw {
                let d = field.dist.get(x, y);
                if d == 0.0 || !d.is_finite() {
                    continue; // the lesion itself, or out of reach
                }
                let (mut a, mut c) = (line_alpha(d, 1.0), color);
                for &m in margins_px {
                    let am = line_alpha(d, m + 0.5);
                    if am > a {
                        (a, c) = (am, palette::MARGIN_OK);
                    }
                }
                if a > 0.0 {
                    let i = ((crop.y0 + y) * w + crop.x0 + x) * 3;
                    blend(&mut frame.data[i..i + 3], c, a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: [u8; 3] = [255, 0, 255];

    /// A C-shaped lesion (label 7) whose centroid lies in its opening, with a lower arm joined to the rest
    /// only through a diagonal step (8-connected, not 4-connected), touched on its right by another
    /// component (label 9, a duct) that must stay unoutlined.
    fn scene() -> Plane<u32> {
        let mut l = Plane::<u32>::new(80, 60);
        let mut fill = |x0: usize, y0: usize, x1: usize, y1: usize, v: u32| {
            for y in y0..y1 {
                for x in x0..x1 {
                    l.set(x, y, v);
                }
            }
        };
        fill(10, 10, 40, 16, 7); // top arm
        fill(10, 16, 16, 40, 7); // back
        fill(16, 40, 40, 46, 7); // bottom arm: touches the back at (15, 39)-(16, 40) diagonally only
        fill(40, 10, 70, 14, 9); // a duct touching the top arm's end
        l
    }

    #[test]
    fn an_eight_connected_c_shape_is_outlined_all_round_its_own_pixels_only() {
        let labels = scene();
        // The centroid of the C lies off the lesion (in its opening): a fill from it would draw nothing.
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for y in 0..labels.height {
            for x in 0..labels.width {
                if labels.get(x, y) == 7 {
                    (sx, sy, n) = (sx + x as f32, sy + y as f32, n + 1.0);
                }
            }
        }
        let (cx, cy) = ((sx / n) as usize, (sy / n) as usize);
        assert_eq!(labels.get(cx, cy), 0, "the centroid ({cx}, {cy}) is off the lesion");

        let mut f = RgbFrame::new(80, 60);
        outline_lesions(&mut f, &labels, &[7], &[], MARK);
        let marked = |x: usize, y: usize| f.pixel(x, y)[0] > 100 && f.pixel(x, y)[2] > 100;
        // One pixel outside the lesion, the line is drawn on every side of every arm: above the top arm,
        // left of the back, inside the opening, below the bottom arm (joined diagonally) and at its end.
        for (x, y) in [(25, 9), (9, 25), (16, 25), (25, 16), (25, 39), (25, 46), (40, 43), (15, 40)] {
            assert_eq!(labels.get(x, y), 0);
            assert!(marked(x, y), "no line at ({x}, {y})");
        }
        // Nothing on the lesion, nothing far from it, nothing on or around the duct beyond the lesion's reach
        // (an outline of the fluorescent mask would run around the duct).
        for (x, y) in [(12, 12), (20, 44), (cx, cy), (28, 30), (60, 11), (60, 9), (60, 14), (75, 30)] {
            assert_eq!(f.pixel(x, y), [0, 0, 0], "({x}, {y}) drawn");
        }
        // A label not in the image draws nothing.
        let mut g = RgbFrame::new(80, 60);
        outline_lesions(&mut g, &labels, &[3], &[2.0], MARK);
        assert!(g.data.iter().all(|&v| v == 0));
    }

    #[test]
    fn margin_lines_lie_at_the_margin_outside_the_lesion() {
        let labels = scene();
        let mut f = RgbFrame::new(80, 60);
        outline_lesions(&mut f, &labels, &[7], &[6.0], MARK);
        // Left of the back (x 10): the boundary at 1 px, the margin line at 6.5 px; between them nothing.
        assert!(f.pixel(9, 25)[0] > 100, "boundary");
        assert_eq!(f.pixel(3, 25), palette::MARGIN_OK, "margin line at 6.5 px: {:?}", f.pixel(3, 25));
        assert_eq!(f.pixel(6, 25), [0, 0, 0], "between the lines");
    }
}
