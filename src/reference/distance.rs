//! CPU twin of `shaders/distance.wgsl`: exact Euclidean distance transform that carries labels. For each
//! pixel: the distance (px, centre to centre) to the nearest seed pixel (label != 0) and that seed's
//! label, or `f32::INFINITY` and 0 beyond `bound`. Separable: a column pass finds the nearest seed in
//! each column, a row pass takes the lower envelope of parabolas (Felzenszwalb & Huttenlocher 2012).

use rayon::prelude::*;

use crate::frame::Plane;

/// Distance field with the label of the nearest seed.
#[derive(Clone, Debug, Default)]
pub struct LabeledDistance {
    pub dist: Plane<f32>,
    pub nearest: Plane<u32>,
    /// Column-pass results, stored a block of `COL_BLOCK` columns at a time (reused between frames).
    col_dy: Vec<Vec<u32>>,
    col_label: Vec<Vec<u32>>,
}

const COL_BLOCK: usize = 64;

const NONE: u32 = u32::MAX;

pub fn distance_transform(seeds: &Plane<u32>, bound: f32, out: &mut LabeledDistance) {
    let (w, h) = (seeds.width, seeds.height);
    let bound_i = bound.ceil() as u32;
    // Column pass, blocks of columns in parallel, each as two sweeps over rows (cache-friendly): for each
    // pixel the vertical offset to the nearest seed in its column within the bound, and that seed's
    // label. Ties go to the seed above.
    let blocks = w.div_ceil(COL_BLOCK);
    out.col_dy.resize_with(blocks, Vec::new);
    out.col_label.resize_with(blocks, Vec::new);
    out.col_dy.par_iter_mut().zip(out.col_label.par_iter_mut()).enumerate().for_each(|(b, (dy, lab))| {
        let x0 = b * COL_BLOCK;
        let bw = COL_BLOCK.min(w - x0);
        dy.clear();
        dy.resize(bw * h, NONE);
        lab.clear();
        lab.resize(bw * h, 0);
        let mut last = [NONE; COL_BLOCK]; // row of the last seed seen in each column
        for y in 0..h {
            let srow = &seeds.row(y)[x0..x0 + bw];
            for x in 0..bw {
                if srow[x] != 0 {
                    last[x] = y as u32;
                }
                if last[x] != NONE && y as u32 - last[x] <= bound_i {
                    dy[y * bw + x] = y as u32 - last[x];
                    lab[y * bw + x] = seeds.data[last[x] as usize * w + x0 + x];
                }
            }
        }
        last.fill(NONE);
        for y in (0..h).rev() {
            let srow = &seeds.row(y)[x0..x0 + bw];
            for x in 0..bw {
                if srow[x] != 0 {
                    last[x] = y as u32;
                }
                if last[x] != NONE {
                    let d = last[x] - y as u32;
                    if d < dy[y * bw + x] && d <= bound_i {
                        dy[y * bw + x] = d;
                        lab[y * bw + x] = seeds.data[last[x] as usize * w + x0 + x];
                    }
                }
            }
        }
    });
    let (col_dy, col_label) = (&out.col_dy, &out.col_label);

    out.dist.ensure_size(w, h);
    out.nearest.ensure_size(w, h);
    let bound2 = bound * bound;
    out.dist
        .data
        .par_chunks_mut(w)
        .zip(out.nearest.data.par_chunks_mut(w))
        .enumerate()
        .for_each_init(
            || (Vec::<usize>::new(), Vec::<f32>::new(), Vec::<u32>::new(), Vec::<u32>::new()),
            |(v, z, g, labels), (y, (drow, lrow))| {
                // This row of the column pass, gathered from the blocks.
                g.clear();
                labels.clear();
                for (b, (dy, lab)) in col_dy.iter().zip(col_label.iter()).enumerate() {
                    let bw = COL_BLOCK.min(w - b * COL_BLOCK);
                    g.extend_from_slice(&dy[y * bw..(y + 1) * bw]);
                    labels.extend_from_slice(&lab[y * bw..(y + 1) * bw]);
                }
                if g.iter().all(|&d| d == NONE) {
                    drow.fill(f32::INFINITY);
                    lrow.fill(0);
                    return;
                }
                // Lower envelope of parabolas f(q) = (x - q)^2 + g(q)^2 over columns q with a seed.
                v.clear();
                z.clear();
                let f = |q: usize| (g[q] as f32) * (g[q] as f32);
                for q in 0..w {
                    if g[q] == NONE {
                        continue;
                    }
                    loop {
                        match v.last() {
                            None => {
                                v.push(q);
                                z.push(f32::NEG_INFINITY);
                                break;
                            }
                            Some(&p) => {
                                let s = ((f(q) + (q * q) as f32) - (f(p) + (p * p) as f32)) / (2.0 * (q as f32 - p as f32));
                                if s <= *z.last().unwrap() {
                                    v.pop();
                                    z.pop();
                                } else {
                                    v.push(q);
                                    z.push(s);
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
                let mut k = 0;
                for x in 0..w {
                    while k + 1 < v.len() && z[k + 1] < x as f32 {
                        k += 1;
                    }
                    let q = v[k];
                    let dx = x as f32 - q as f32;
                    let d2 = dx * dx + f(q);
                    if d2 <= bound2 {
                        drow[x] = d2.sqrt();
                        lrow[x] = labels[q];
                    } else {
                        drow[x] = f32::INFINITY;
                        lrow[x] = 0;
                    }
                }
            },
        );
}

#[cfg(test)]
mod tests {
    use super::*;

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
        distance_transform(&seeds, 9.5, &mut out);
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
}
