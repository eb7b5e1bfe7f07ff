//! CPU twin of `shaders/components.wgsl`: connected-component labelling. Every pixel of the selected
//! value gets the label `1 + (raster index of its component's first pixel)`, others 0. Canonical labels
//! make the CPU and GPU partitions comparable label for label. The CPU labels runs (maximal horizontal
//! segments) rather than pixels: union-find over runs, then each run is filled with its root's label.
//! The same union-find keeps, without labelling, the components that hold a marked pixel
//! (`retain_components`: the hysteresis's CPU side, the twin of `shaders/hysteresis.wgsl`).

use rayon::prelude::*;

use crate::frame::Plane;
use crate::raster::rect::Rect;

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

/// Does any byte of the 8-byte word `c` equal `value`? (The classic zero-byte test on `c ^ value`s.)
#[inline]
fn has_byte(c: u64, value: u8) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let v = c ^ u64::from_ne_bytes([value; 8]);
    v.wrapping_sub(LO) & !v & HI != 0
}

/// From `x`, the first position in `row` where `keep` fails: eight bytes at a time while `keep8` holds
/// for the whole word, then byte by byte. Masks are mostly long runs of one value, so most of a row goes
/// by in words.
#[inline]
pub(super) fn skip(row: &[u8], mut x: usize, keep8: impl Fn(u64) -> bool, keep: impl Fn(u8) -> bool) -> usize {
    while x + 8 <= row.len() && keep8(u64::from_ne_bytes(row[x..x + 8].try_into().expect("8 bytes"))) {
        x += 8;
    }
    while x < row.len() && keep(row[x]) {
        x += 1;
    }
    x
}

/// A horizontal run of selected pixels: row, start and end (exclusive) columns.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

/// What the runs tell of a component without another look at its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    pub label: u32,
    pub area: u32,
    pub bbox: Rect,
    /// Touches the image's outermost rows or columns.
    pub border: bool,
}

/// The runs of pixels equal to `value` in raster order, and where each row's runs begin (`row_start[y]`, with
/// `row_start[h]` = the number of runs), joined into components: `parent` (union-find over run indices)
/// leads each run to its component's first run.
struct JoinedRuns {
    runs: Vec<Run>,
    row_start: Vec<usize>,
}

/// Over the box `area` of `mask` (run coordinates relative to it, as if the box were the mask).
fn join_runs(mask: &Plane<u8>, area: Rect, value: u8, conn: Connectivity, parent: &mut Vec<u32>) -> JoinedRuns {
    let (w, h) = (area.x1 - area.x0, area.y1 - area.y0);
    // The runs, bands of rows in parallel, in raster order.
    let row_runs: Vec<Vec<Run>> = (0..h)
        .into_par_iter()
        .with_min_len(16)
        .map(|y| {
            let row = &mask.row(area.y0 + y)[area.x0..area.x1];
            let mut runs = Vec::new();
            let mut x = 0;
            loop {
                x = skip(row, x, |c| !has_byte(c, value), |v| v != value);
                if x >= w {
                    break;
                }
                let x0 = x;
                x = skip(row, x, |c| c == u64::from_ne_bytes([value; 8]), |v| v == value);
                runs.push(Run { y: y as u32, x0: x0 as u32, x1: x as u32 });
            }
            runs
        })
        .collect();
    let mut runs: Vec<Run> = Vec::with_capacity(row_runs.iter().map(Vec::len).sum());
    let mut row_start = vec![0usize; h + 1];
    for (y, r) in row_runs.iter().enumerate() {
        row_start[y] = runs.len();
        runs.extend_from_slice(r);
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
    JoinedRuns { runs, row_start }
}

/// Keeps the components of pixels equal to `value` of which some run (row `y`, columns `xs`) passes
/// `keep`, and sets the others' pixels to 0 (`value` must not be 0). The components are those
/// `label_components` finds, but no label is written: `keep` looks at runs in parallel, a component's
/// first run gathers its runs' answers, and only the runs of components cleared are written.
pub fn retain_components(mask: &mut Plane<u8>, value: u8, conn: Connectivity, parent: &mut Vec<u32>, keep: impl Fn(usize, std::ops::Range<usize>) -> bool + Sync) {
    debug_assert_ne!(value, 0);
    let JoinedRuns { runs, .. } = join_runs(mask, Rect::full(mask.width, mask.height), value, conn, parent);
    let passed: Vec<bool> = runs.par_iter().with_min_len(256).map(|r| keep(r.y as usize, r.x0 as usize..r.x1 as usize)).collect();
    // A root is its component's first run (root <= i): after one pass in run order each root holds
    // its component's answer.
    let roots: Vec<u32> = (0..runs.len() as u32).map(|i| find(parent, i)).collect();
    let mut kept = passed;
    for (i, &root) in roots.iter().enumerate() {
        if kept[i] {
            kept[root as usize] = true;
        }
    }
    let w = mask.width;
    for (r, &root) in runs.iter().zip(&roots) {
        if !kept[root as usize] {
            let row = r.y as usize * w;
            mask.data[row + r.x0 as usize..row + r.x1 as usize].fill(0);
        }
    }
}

/// The components of the joined runs of a `w`×`h` mask in ascending label order, and each run's index
/// among them. A root is its component's first run: roots first, then every run adds itself to its
/// root's entry.
fn components_of(runs: &[Run], parent: &mut [u32], w: usize, h: usize) -> (Vec<Component>, Vec<u32>) {
    let mut components: Vec<Component> = Vec::new();
    let mut slot = vec![0u32; runs.len()];
    for i in 0..runs.len() {
        let root = find(parent, i as u32) as usize;
        if root == i {
            let r = runs[i];
            slot[i] = components.len() as u32;
            components.push(Component { label: r.y * w as u32 + r.x0 + 1, area: 0, bbox: Rect::EMPTY, border: false });
        } else {
            slot[i] = slot[root]; // root < i: already set
        }
        let r = runs[i];
        let c = &mut components[slot[i] as usize];
        c.area += r.x1 - r.x0;
        c.bbox.include_span(r.y as usize, r.x0 as usize, r.x1 as usize);
        c.border |= r.y == 0 || r.y as usize + 1 == h || r.x0 == 0 || r.x1 as usize == w;
    }
    (components, slot)
}

/// Label the components of pixels equal to `value`; returns the components in ascending label order.
/// `parent` is scratch reused between frames.
pub fn label_components(mask: &Plane<u8>, value: u8, conn: Connectivity, parent: &mut Vec<u32>, out: &mut Plane<u32>) -> Vec<Component> {
    let (w, h) = (mask.width, mask.height);
    let JoinedRuns { runs, row_start } = join_runs(mask, Rect::full(w, h), value, conn, parent);
    out.ensure_size(w, h);
    let (components, slot) = components_of(&runs, parent, w, h);
    // Each row written once: its runs with their labels, the gaps between them with 0 (rows in parallel).
    let (runs, slot, components_ref) = (&runs, &slot, &components);
    out.data.par_chunks_mut(w.max(1)).with_min_len(16).enumerate().for_each(|(y, row)| {
        let components = components_ref;
        let mut x = 0;
        for i in row_start[y]..row_start[y + 1] {
            let r = runs[i];
            row[x..r.x0 as usize].fill(0);
            row[r.x0 as usize..r.x1 as usize].fill(components[slot[i] as usize].label);
            x = r.x1 as usize;
        }
        row[x..].fill(0);
    });
    components
}

/// A run of a component (`component_runs`): row, columns, the component's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRun {
    pub y: usize,
    pub xs: std::ops::Range<usize>,
    pub component: usize,
}

/// The components `label_components` finds on the crop `area` of `mask` (labels, boxes and border
/// relative to the crop), and their runs in raster order, each with its component's index: what a
/// labelling of the crop tells, without copying the crop or writing a label plane.
pub fn component_runs(mask: &Plane<u8>, area: Rect, value: u8, conn: Connectivity, parent: &mut Vec<u32>) -> (Vec<Component>, Vec<ComponentRun>) {
    let (w, h) = (area.x1 - area.x0, area.y1 - area.y0);
    let JoinedRuns { runs, .. } = join_runs(mask, area, value, conn, parent);
    let (components, slot) = components_of(&runs, parent, w, h);
    let runs = runs.iter().zip(slot).map(|(r, k)| ComponentRun { y: r.y as usize, xs: r.x0 as usize..r.x1 as usize, component: k as usize }).collect();
    (components, runs)
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

    /// A `w`×`h` mask, three quarters of it 1, from a linear congruential generator at `state`.
    fn random_mask(w: usize, h: usize, mut state: u32) -> Plane<u8> {
        let data = (0..w * h)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                (state >> 30 != 0) as u8
            })
            .collect();
        Plane::from_vec(w, h, data).unwrap()
    }

    /// A crop's components and runs (`component_runs`) are those of labelling a copy of the crop: the same
    /// components in the same order, and the runs cover exactly the labelled pixels, each with its label.
    #[test]
    fn component_runs_of_a_crop_are_the_labelling_of_its_copy() {
        let (w, h) = (53, 37);
        let m = random_mask(w, h, 11);
        for (area, conn) in [(Rect { x0: 7, y0: 5, x1: 40, y1: 30 }, Connectivity::Eight), (Rect { x0: 0, y0: 3, x1: 53, y1: 37 }, Connectivity::Four), (Rect::full(w, h), Connectivity::Eight)] {
            let (cw, ch) = (area.x1 - area.x0, area.y1 - area.y0);
            let crop = Plane::from_vec(cw, ch, (area.y0..area.y1).flat_map(|y| m.row(y)[area.x0..area.x1].to_vec()).collect()).unwrap();
            let (mut p, mut labels) = (Vec::new(), Plane::new(0, 0));
            let expected = label_components(&crop, 1, conn, &mut p, &mut labels);
            let (comps, runs) = component_runs(&m, area, 1, conn, &mut p);
            assert_eq!(comps, expected, "{area:?}");
            let mut painted = vec![0u32; cw * ch];
            for r in &runs {
                painted[r.y * cw + r.xs.start..r.y * cw + r.xs.end].fill(comps[r.component].label);
            }
            assert_eq!(painted, labels.data, "{area:?}");
        }
    }

    /// Labels equal those of a plain pixel flood fill on random masks, both connectivities.
    #[test]
    fn runs_match_a_pixel_flood_fill() {
        let (w, h) = (41, 29);
        let m = random_mask(w, h, 7);
        for (value, conn) in [(0u8, Connectivity::Four), (1, Connectivity::Eight), (1, Connectivity::Four)] {
            let (mut p, mut l) = (Vec::new(), Plane::filled(3, 3, 9u32)); // stale contents must go
            let comps = label_components(&m, value, conn, &mut p, &mut l);
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
            // Each component's summary from its runs equals a count over its pixels.
            let mut labels: Vec<u32> = flood.iter().copied().filter(|&v| v != 0).collect();
            labels.sort_unstable();
            labels.dedup();
            assert_eq!(comps.iter().map(|c| c.label).collect::<Vec<_>>(), labels);
            for c in &comps {
                let mut bbox = Rect::EMPTY;
                let (mut area, mut border) = (0, false);
                for (i, _) in flood.iter().enumerate().filter(|&(_, &v)| v == c.label) {
                    let (x, y) = (i % w, i / w);
                    area += 1;
                    bbox.include_span(y, x, x + 1);
                    border |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
                }
                assert_eq!((c.area, c.bbox, c.border), (area, bbox, border), "component {}", c.label);
            }
        }
    }

    /// `retain_components` keeps exactly the components (as `label_components` finds them) holding a
    /// marked pixel, on random masks, both connectivities.
    #[test]
    fn retained_components_are_those_holding_a_marked_pixel() {
        let (w, h) = (53, 37);
        let mut state = 11u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 24
        };
        let mask = Plane::from_vec(w, h, (0..w * h).map(|_| (next() % 5 < 2) as u8).collect()).unwrap();
        let marked: Vec<bool> = (0..w * h).map(|_| next() % 40 == 0).collect();
        for conn in [Connectivity::Four, Connectivity::Eight] {
            let (mut p, mut labels) = (Vec::new(), Plane::new(0, 0));
            label_components(&mask, 1, conn, &mut p, &mut labels);
            let holding: Vec<u32> = (0..w * h).filter(|&i| marked[i] && labels.data[i] != 0).map(|i| labels.data[i]).collect();
            let want: Vec<u8> = labels.data.iter().map(|l| (*l != 0 && holding.contains(l)) as u8).collect();
            let mut got = mask.clone();
            retain_components(&mut got, 1, conn, &mut p, |y, xs| xs.into_iter().any(|x| marked[y * w + x]));
            assert_eq!(got.data, want, "{conn:?}");
            assert!(want.iter().any(|&v| v == 1) && want.iter().zip(&mask.data).any(|(a, b)| a != b), "the case keeps some and clears some");
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
