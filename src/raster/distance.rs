//! CPU twin of `shaders/distance.wgsl`: exact Euclidean distance transform that carries labels. For each
//! pixel: the distance (px, centre to centre) to the nearest seed pixel (label != 0) and that seed's
//! label, or `f32::INFINITY` and 0 beyond `bound`. Separable: a column pass finds the nearest seed in
//! each column, a row pass takes the lower envelope of parabolas (Felzenszwalb & Huttenlocher 2012).
//! The CPU backend's distance stage (`reference`), and the field the overlay draws a homogeneous
//! lesion's outline and margins from (`overlay::outline`).
//!
//! The CPU works only inside rectangles around the seeds (their boxes grown by the bound, overlapping
//! ones merged, see `rect`): no pixel outside them is within the bound of a seed, and inside one the
//! nearest seed within the bound is always one of the rectangle's own, so the answer is the same as
//! over the whole frame. Every pixel of the rectangles is written; those of the last frame's that this
//! frame's do not cover are reset; the rest are never touched.

use rayon::prelude::*;

use crate::frame::Plane;
use super::rect::{Rect, disjoint_cover, row_spans};

/// Distance field with the label of the nearest seed.
#[derive(Clone, Debug, Default)]
pub struct LabeledDistance {
    pub dist: Plane<f32>,
    pub nearest: Plane<u32>,
    /// The disjoint rectangles outside which `dist` is infinite and `nearest` 0.
    pub rects: Vec<Rect>,
    /// Column-pass results, stored a block of `COL_BLOCK` columns at a time (reused between frames).
    col_dy: Vec<Vec<u32>>,
    col_label: Vec<Vec<u32>>,
}

const COL_BLOCK: usize = 64;

const NONE: u32 = u32::MAX;

/// `seed_boxes`: rectangles holding every seed pixel (e.g. the cores' bounding boxes).
pub fn distance_transform(seeds: &Plane<u32>, seed_boxes: &[Rect], bound: f32, out: &mut LabeledDistance) {
    let (w, h) = (seeds.width, seeds.height);
    let bound_i = bound.ceil() as u32;
    let grown: Vec<Rect> = seed_boxes.iter().map(|b| b.expand(bound_i as usize, w, h)).collect();
    let rects = disjoint_cover(&grown);
    if out.dist.width != w || out.dist.height != h || out.nearest.width != w || out.nearest.height != h {
        out.dist = Plane::filled(w, h, f32::INFINITY);
        out.nearest = Plane::new(w, h);
    } else if !out.rects.is_empty() {
        // The last frame's rectangles are reset where this frame's do not cover them (the row pass
        // writes every pixel of this frame's), rows in parallel.
        let (old, new) = (&out.rects, &rects);
        out.dist.data.par_chunks_mut(w).zip(out.nearest.data.par_chunks_mut(w)).enumerate().for_each(|(y, (drow, lrow))| {
            let covered: Vec<(usize, usize)> = row_spans(new, y).collect();
            for (a, b) in row_spans(old, y) {
                let mut x = a;
                for &(c, d) in covered.iter().filter(|&&(c, d)| d > a && c < b) {
                    if c > x {
                        drow[x..c].fill(f32::INFINITY);
                        lrow[x..c].fill(0);
                    }
                    x = x.max(d);
                }
                if x < b {
                    drow[x..b].fill(f32::INFINITY);
                    lrow[x..b].fill(0);
                }
            }
        });
    }
    out.rects = rects;
    for i in 0..out.rects.len() {
        let rect = out.rects[i];
        transform_rect(seeds, rect, bound, bound_i, out);
    }
}

fn transform_rect(seeds: &Plane<u32>, rect: Rect, bound: f32, bound_i: u32, out: &mut LabeledDistance) {
    let w = seeds.width;
    let (rw, rh) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
    // Column pass, blocks of columns in parallel, each as two sweeps over rows (cache-friendly): for each
    // pixel the vertical offset to the nearest seed in its column within the bound, and that seed's
    // label. Ties go to the seed above.
    let blocks = rw.div_ceil(COL_BLOCK);
    if out.col_dy.len() < blocks {
        out.col_dy.resize_with(blocks, Vec::new);
        out.col_label.resize_with(blocks, Vec::new);
    }
    out.col_dy[..blocks].par_iter_mut().zip(out.col_label[..blocks].par_iter_mut()).enumerate().for_each(|(b, (dy, lab))| {
        let x0 = rect.x0 + b * COL_BLOCK;
        let bw = COL_BLOCK.min(rect.x1 - x0);
        dy.clear();
        dy.resize(bw * rh, NONE);
        lab.clear();
        lab.resize(bw * rh, 0);
        // Row (within the rectangle) and label of the last seed seen in each column.
        let (mut last, mut last_label) = ([NONE; COL_BLOCK], [0u32; COL_BLOCK]);
        for y in 0..rh {
            let srow = &seeds.row(rect.y0 + y)[x0..x0 + bw];
            let (dy, lab) = (&mut dy[y * bw..(y + 1) * bw], &mut lab[y * bw..(y + 1) * bw]);
            for x in 0..bw {
                if srow[x] != 0 {
                    (last[x], last_label[x]) = (y as u32, srow[x]);
                }
                if last[x] != NONE && y as u32 - last[x] <= bound_i {
                    (dy[x], lab[x]) = (y as u32 - last[x], last_label[x]);
                }
            }
        }
        last.fill(NONE);
        for y in (0..rh).rev() {
            let srow = &seeds.row(rect.y0 + y)[x0..x0 + bw];
            let (dy, lab) = (&mut dy[y * bw..(y + 1) * bw], &mut lab[y * bw..(y + 1) * bw]);
            for x in 0..bw {
                if srow[x] != 0 {
                    (last[x], last_label[x]) = (y as u32, srow[x]);
                }
                if last[x] != NONE {
                    let d = last[x] - y as u32;
                    if d < dy[x] && d <= bound_i {
                        (dy[x], lab[x]) = (d, last_label[x]);
                    }
                }
            }
        }
    });
    let (col_dy, col_label) = (&out.col_dy[..blocks], &out.col_label[..blocks]);

    // Row pass over the rectangle's rows, in image coordinates (the arithmetic of a whole-frame pass).
    let bound2 = bound * bound;
    let rows = rect.y0 * w..rect.y1 * w;
    out.dist.data[rows.clone()]
        .par_chunks_mut(w)
        .zip(out.nearest.data[rows].par_chunks_mut(w))
        .enumerate()
        .for_each_init(
            || (Vec::<usize>::new(), Vec::<(i64, i64)>::new(), Vec::<u32>::new(), Vec::<u32>::new()),
            |(v, z, g, labels), (y, (drow, lrow))| {
                let (drow, lrow) = (&mut drow[rect.x0..rect.x1], &mut lrow[rect.x0..rect.x1]);
                // This row of the column pass, gathered from the blocks.
                g.clear();
                labels.clear();
                for (b, (dy, lab)) in col_dy.iter().zip(col_label.iter()).enumerate() {
                    let bw = COL_BLOCK.min(rw - b * COL_BLOCK);
                    g.extend_from_slice(&dy[y * bw..(y + 1) * bw]);
                    labels.extend_from_slice(&lab[y * bw..(y + 1) * bw]);
                }
                // Lower envelope of parabolas f(q) = (x - q)^2 + g(q)^2 over columns q with a seed. All
                // terms are integers, so each breakpoint is kept as an exact fraction num / den (den > 0)
                // and compared by cross-multiplying: no division, no rounding.
                v.clear();
                z.clear();
                let f = |k: usize| g[k] as i64 * g[k] as i64;
                // A seed with seeds either side on its row (inside a core) is nearest only to itself: its
                // neighbours are strictly nearer to every other pixel. It is left out of the envelope,
                // and every seed pixel takes distance 0 and its own label after.
                let inner = |k: usize| g[k] == 0 && k > 0 && k + 1 < rw && g[k - 1] == 0 && g[k + 1] == 0;
                for k in 0..rw {
                    if g[k] == NONE || inner(k) {
                        continue;
                    }
                    let q = (rect.x0 + k) as i64;
                    loop {
                        match v.last() {
                            None => {
                                v.push(k);
                                z.push((-(1i64 << 40), 1)); // -infinity
                                break;
                            }
                            Some(&j) => {
                                let p = (rect.x0 + j) as i64;
                                let (num, den) = ((f(k) + q * q) - (f(j) + p * p), 2 * (q - p));
                                let &(zn, zd) = z.last().unwrap();
                                if num * zd <= zn * den {
                                    v.pop();
                                    z.pop();
                                } else {
                                    v.push(k);
                                    z.push((num, den));
                                    break;
                                }
                            }
                        }
                    }
                }
                if v.is_empty() {
                    drow.fill(f32::INFINITY);
                    lrow.fill(0);
                    return;
                }
                // The envelope segment by segment: parabola `v[e]` is the lowest on the run of pixels up to
                // its right breakpoint, each run filled in one loop the compiler vectorises.
                let exact_f32 = exact_in_f32(rw, bound_i);
                let (mut k, mut e) = (0, 0);
                while k < rw {
                    let x = (rect.x0 + k) as i64;
                    while e + 1 < v.len() && z[e + 1].0 < x * z[e + 1].1 {
                        e += 1;
                    }
                    // The first pixel past the breakpoint num / den (den > 0): x > num / den.
                    let end = match z.get(e + 1) {
                        Some(&(zn, zd)) => (zn.div_euclid(zd) + 1 - rect.x0 as i64).clamp(k as i64 + 1, rw as i64) as usize,
                        None => rw,
                    };
                    let j = v[e];
                    fill_run(&mut drow[k..end], &mut lrow[k..end], k as i64 - j as i64, f(j), labels[j], bound2, exact_f32);
                    k = end;
                }
                for ((d, l), (&gk, &label)) in drow.iter_mut().zip(lrow.iter_mut()).zip(g.iter().zip(labels.iter())) {
                    if gk == 0 {
                        (*d, *l) = (0.0, label);
                    }
                }
            },
        );
}

/// Whether every squared distance of a rectangle `rw` wide with column offsets up to `bound_i` is an
/// integer below 2^24, so that f32 arithmetic on it is exact (the same value as the integer's).
fn exact_in_f32(rw: usize, bound_i: u32) -> bool {
    let (dx, g) = (rw as u64, bound_i as u64);
    dx * dx + g * g < 1 << 24
}

/// One run of a row from one parabola: pixel `k` of the run is `dx0 + k` columns from the seed column
/// whose squared vertical offset is `g2`; distance and `label` within `bound2` (squared), else none.
/// With `exact_f32` the squared distance is worked in f32 (vectorised), else as an integer; the values
/// are the same.
#[inline]
fn fill_run(drow: &mut [f32], lrow: &mut [u32], dx0: i64, g2: i64, label: u32, bound2: f32, exact_f32: bool) {
    if exact_f32 {
        let (dx0, g2) = (dx0 as f32, g2 as f32);
        for (k, d) in drow.iter_mut().enumerate() {
            let dx = dx0 + k as f32;
            let d2 = dx * dx + g2;
            *d = if d2 <= bound2 { d2.sqrt() } else { f32::INFINITY };
        }
    } else {
        for (k, d) in drow.iter_mut().enumerate() {
            let dx = dx0 + k as i64;
            let d2 = (dx * dx + g2) as f32;
            *d = if d2 <= bound2 { d2.sqrt() } else { f32::INFINITY };
        }
    }
    for (l, &d) in lrow.iter_mut().zip(drow.iter()) {
        *l = if d.is_finite() { label } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boxes of the seeds in `seeds` with each label (what a region table gives the analysis).
    fn seed_boxes(seeds: &Plane<u32>) -> Vec<Rect> {
        let mut boxes: Vec<(u32, Rect)> = Vec::new();
        for y in 0..seeds.height {
            for (x, &l) in seeds.row(y).iter().enumerate() {
                if l == 0 {
                    continue;
                }
                let k = match boxes.iter().position(|b| b.0 == l) {
                    Some(k) => k,
                    None => {
                        boxes.push((l, Rect::EMPTY));
                        boxes.len() - 1
                    }
                };
                boxes[k].1.include_span(y, x, x + 1);
            }
        }
        boxes.into_iter().map(|b| b.1).collect()
    }

    #[test]
    fn matches_brute_force_on_random_seeds() {
        let (w, h) = (37, 23);
        let mut seeds = Plane::<u32>::new(w, h);
        let mut state = 12345u32;
        for i in 0..w * h {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            if state >> 28 == 0 {
                seeds.data[i] = 1 + (state >> 20) % 3;
            }
        }
        let mut out = LabeledDistance::default();
        // A first frame with seeds elsewhere leaves nothing behind.
        let mut other = Plane::<u32>::new(w, h);
        other.set(3, 20, 7);
        distance_transform(&other, &seed_boxes(&other), 9.5, &mut out);
        distance_transform(&seeds, &seed_boxes(&seeds), 9.5, &mut out);
        for y in 0..h {
            for x in 0..w {
                let mut best = f32::INFINITY;
                let mut labels = Vec::new();
                for sy in 0..h {
                    for sx in 0..w {
                        let l = seeds.get(sx, sy);
                        if l == 0 {
                            continue;
                        }
                        let d = (((sx as f32 - x as f32).powi(2)) + ((sy as f32 - y as f32).powi(2))).sqrt();
                        if d < best - 1e-4 {
                            best = d;
                            labels = vec![l];
                        } else if (d - best).abs() <= 1e-4 {
                            labels.push(l);
                        }
                    }
                }
                let got = out.dist.get(x, y);
                if best <= 9.5 {
                    assert!((got - best).abs() < 1e-4, "({x},{y}) {got} vs {best}");
                    assert!(labels.contains(&out.nearest.get(x, y)));
                } else {
                    assert!(got.is_infinite());
                    assert_eq!(out.nearest.get(x, y), 0);
                }
            }
        }
    }

    /// A frame after one whose rectangles the new ones only partly cover (a lesion that moved): the
    /// same field as on a fresh start, nothing left of the frame before in or out of the new rectangles.
    #[test]
    fn a_moved_lesion_leaves_nothing_behind() {
        let (w, h) = (120, 90);
        let disc = |cx: f32, cy: f32, r: f32, label: u32| {
            let mut s = Plane::<u32>::new(w, h);
            for y in 0..h {
                for x in 0..w {
                    if (x as f32 - cx).hypot(y as f32 - cy) <= r {
                        s.set(x, y, label);
                    }
                }
            }
            s
        };
        let (before, after) = (disc(40.0, 40.0, 8.0, 3), disc(55.0, 48.0, 6.0, 5));
        let mut reused = LabeledDistance::default();
        distance_transform(&before, &seed_boxes(&before), 20.0, &mut reused);
        let old = reused.rects.clone();
        distance_transform(&after, &seed_boxes(&after), 20.0, &mut reused);
        assert!(old.iter().any(|o| reused.rects.iter().any(|n| n.overlaps(o) && !n.contains(o))), "{old:?} vs {:?}", reused.rects);
        let mut fresh = LabeledDistance::default();
        distance_transform(&after, &seed_boxes(&after), 20.0, &mut fresh);
        assert_eq!(reused.dist, fresh.dist);
        assert_eq!(reused.nearest, fresh.nearest);
    }

    /// Several separate clusters of seeds, worked in their own rectangles: the same field as one
    /// whole-frame pass, and nothing left over from the frame before.
    #[test]
    fn rectangles_give_the_whole_frame_answer() {
        let (w, h) = (230, 140);
        let mut seeds = Plane::<u32>::new(w, h);
        for (label, cx, cy, r) in [(5u32, 30.0f32, 30.0f32, 9.0f32), (9, 60.0, 40.0, 6.0), (12, 180.0, 100.0, 14.0), (20, 120.0, 128.0, 5.0)] {
            for y in 0..h {
                for x in 0..w {
                    if (x as f32 - cx).hypot(y as f32 - cy) <= r {
                        seeds.set(x, y, label);
                    }
                }
            }
        }
        let mut whole = LabeledDistance::default();
        distance_transform(&seeds, &[Rect::full(w, h)], 17.3, &mut whole);
        let mut parts = LabeledDistance::default();
        let mut other = Plane::<u32>::new(w, h);
        other.set(150, 30, 3); // a seed only the frame before has: its field must go
        distance_transform(&other, &seed_boxes(&other), 17.3, &mut parts);
        let boxes = seed_boxes(&seeds);
        distance_transform(&seeds, &boxes, 17.3, &mut parts);
        assert!(parts.rects.len() >= 2, "clusters merged into {:?}", parts.rects);
        assert_eq!(parts.dist, whole.dist);
        assert_eq!(parts.nearest, whole.nearest);
    }
}
