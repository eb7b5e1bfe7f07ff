//! CPU twin of `shaders/components.wgsl`: connected-component labelling. Every pixel of the selected
//! value gets the label `1 + (raster index of its component's first pixel)`, others 0. Canonical labels
//! make the CPU and GPU partitions comparable label for label. The CPU labels runs (maximal horizontal
//! segments) rather than pixels: union-find over runs, then each run is filled with its root's label.

use crate::frame::Plane;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connectivity {
    Four,
    Eight,
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize]; // path halving
        i = p;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // Link to the smaller run index: runs are numbered in raster order, so the root is the
        // component's first run and its first pixel is the component's first pixel.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

/// A horizontal run of selected pixels: row, start and end (exclusive) columns.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

/// Label the components of pixels equal to `value`; returns the components' labels in ascending order.
/// `parent` is scratch reused between frames.
pub fn label_components(mask: &Plane<u8>, value: u8, conn: Connectivity, parent: &mut Vec<u32>, out: &mut Plane<u32>) -> Vec<u32> {
    let (w, h) = (mask.width, mask.height);
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = vec![0usize; h + 1];
    for y in 0..h {
        row_start[y] = runs.len();
        let row = mask.row(y);
        let mut x = 0;
        while x < w {
            if row[x] != value {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < w && row[x] == value {
                x += 1;
            }
            runs.push(Run { y: y as u32, x0: x0 as u32, x1: x as u32 });
        }
    }
    row_start[h] = runs.len();
    parent.clear();
    parent.extend(0..runs.len() as u32);
    // Runs overlap the previous row's when they share a column (4-connected) or touch diagonally (8).
    let reach = if conn == Connectivity::Eight { 1 } else { 0 };
    for y in 1..h {
        let (prev, cur) = (row_start[y - 1]..row_start[y], row_start[y]..row_start[y + 1]);
        let mut j = prev.start;
        for i in cur {
            let r = runs[i];
            while j < prev.end && runs[j].x1 + reach <= r.x0 {
                j += 1;
            }
            let mut k = j;
            while k < prev.end && runs[k].x0 < r.x1 + reach {
                union(parent, i as u32, k as u32);
                k += 1;
            }
        }
    }
    out.resize(w, h);
    out.data.fill(0);
    let mut labels = Vec::new();
    for i in 0..runs.len() {
        let root = runs[find(parent, i as u32) as usize];
        let label = root.y * w as u32 + root.x0 + 1;
        let r = runs[i];
        let base = r.y as usize * w;
        out.data[base + r.x0 as usize..base + r.x1 as usize].fill(label);
        if parent[i] == i as u32 {
            labels.push(label); // a root: runs are in raster order, so labels come out ascending
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_pixels_join_only_with_eight_connectivity() {
        let m = Plane::from_vec(3, 3, vec![1, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
        let (mut p, mut l) = (Vec::new(), Plane::new(0, 0));
        label_components(&m, 1, Connectivity::Four, &mut p, &mut l);
        assert_eq!(l.data, vec![1, 0, 0, 0, 5, 0, 0, 0, 9]);
        label_components(&m, 1, Connectivity::Eight, &mut p, &mut l);
        assert_eq!(l.data, vec![1, 0, 0, 0, 1, 0, 0, 0, 1]);
    }

    /// Labels equal those of a plain pixel flood fill on random masks, both connectivities.
    #[test]
    fn runs_match_a_pixel_flood_fill() {
        let (w, h) = (41, 29);
        let mut state = 7u32;
        let data: Vec<u8> = (0..w * h)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                (state >> 30 != 0) as u8
            })
            .collect();
        let m = Plane::from_vec(w, h, data).unwrap();
        for (value, conn) in [(0u8, Connectivity::Four), (1, Connectivity::Eight), (1, Connectivity::Four)] {
            let (mut p, mut l) = (Vec::new(), Plane::new(0, 0));
            label_components(&m, value, conn, &mut p, &mut l);
            let mut flood = vec![0u32; w * h];
            for start in 0..w * h {
                if m.data[start] != value || flood[start] != 0 {
                    continue;
                }
                let mut stack = vec![start];
                flood[start] = start as u32 + 1;
                while let Some(i) = stack.pop() {
                    let (x, y) = ((i % w) as i64, (i / w) as i64);
                    for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)] {
                        if conn == Connectivity::Four && dx != 0 && dy != 0 {
                            continue;
                        }
                        let (nx, ny) = (x + dx, y + dy);
                        if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                            continue;
                        }
                        let j = ny as usize * w + nx as usize;
                        if m.data[j] == value && flood[j] == 0 {
                            flood[j] = start as u32 + 1;
                            stack.push(j);
                        }
                    }
                }
            }
            assert_eq!(l.data, flood, "value {value} {conn:?}");
        }
    }

    #[test]
    fn u_shape_gets_the_label_of_its_first_pixel() {
        // Two arms meet only at the bottom row: the right arm's first pixel is not the component's root.
        let m = Plane::from_vec(3, 3, vec![1, 0, 1, 1, 0, 1, 1, 1, 1]).unwrap();
        let (mut p, mut l) = (Vec::new(), Plane::new(0, 0));
        label_components(&m, 1, Connectivity::Four, &mut p, &mut l);
        assert!(l.data.iter().enumerate().all(|(i, &v)| (v == 1) == (m.data[i] == 1)));
    }
}
