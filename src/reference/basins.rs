//! Enclosed dark basins of the ratio map: where a rim's fluorescence breaks into arcs under liver
//! texture (a rim dims wherever the texture does), the mask no longer encloses its core, but the ratio
//! still does at a lower level. Seen as a relief, the core is a basin: water poured into it rises to the
//! lowest point of the ring around it (its spill level) before it escapes. Grey-level hole filling (the
//! reconstruction by erosion from the border of the box worked in, Soille, computed here as a priority
//! flood with a bucket queue) gives every cell its spill level; the depth of the water over a cell is
//! its spill level less its ratio. A basin is significant when its water stands `BASIN_SIGMAS`
//! background noise sigmas deep over an area a core's size: the grains of liver texture make basins too, but shallow or
//! small ones. The lake around each significant basin (the water's whole extent), widened by
//! `LAKE_REACH_MM`, says which fluorescent fragments wall it: `enclosure` tries those as one rim.
//!
//! Worked in cells of about `CELL_MM` (the smoothed ratio sampled at each cell's quarter points: the
//! relief at the scale of cores and rims, a few loads a cell). CPU only (the enclosure it serves has no
//! GPU twin yet).

use std::collections::VecDeque;

use rayon::prelude::*;

use crate::analysis::FluoLevel;
use crate::frame::Plane;
use crate::params::{AnalysisParams, min_core_area_px};
use crate::raster::flood;
use crate::raster::rect::Rect;

/// The cell the relief is worked in: about this wide (mm), at least 2 pixels.
pub const CELL_MM: f32 = 0.3;

/// A significant basin's water stands at least this many background noise sigmas deep.
pub const BASIN_SIGMAS: f32 = 2.0;

/// A fragment within this distance (mm) of a lake walls it: the mask's arcs lie on the rim, a little
/// outside the level at which the water spills.
pub const LAKE_REACH_MM: f32 = 1.0;

/// Ratio quantisation of the relief: steps of 1/`LEVELS_PER_UNIT`, up to `MAX_RATIO` (higher is a wall
/// either way).
const LEVELS_PER_UNIT: f32 = 256.0;
const MAX_RATIO: f32 = 8.0;

/// The lakes of a frame's significant basins, at cell resolution, over a box of the frame.
#[derive(Clone, Debug, Default)]
pub struct Lakes {
    /// Cell side in pixels.
    pub cell: usize,
    /// The box's first pixel (its first cell's corner).
    pub x0: usize,
    pub y0: usize,
    /// Grid size in cells.
    pub width: usize,
    pub height: usize,
    /// Per cell: 1 + the index of the lake it lies in or within reach of, 0 for none.
    pub near: Vec<u32>,
    /// Number of lakes.
    pub count: usize,
    /// Per lake: its cells under water (before widening), and the ratio its water spills at.
    pub water: Vec<Vec<usize>>,
    pub spill: Vec<f32>,
}

impl Lakes {
    /// The lake (1-based) pixel (x, y) lies in or within reach of, 0 for none.
    pub fn near_pixel(&self, x: usize, y: usize) -> u32 {
        let (Some(dx), Some(dy)) = (x.checked_sub(self.x0), y.checked_sub(self.y0)) else { return 0 };
        let (cx, cy) = (dx / self.cell, dy / self.cell);
        if cx < self.width && cy < self.height { self.near[cy * self.width + cx] } else { 0 }
    }

    /// The pixels (raster indices in a `frame_w`×`frame_h` frame) of the wall that holds lake `k`'s water
    /// (0-based): the cells beside its water (4-adjacent, not under it), whose ratio is at least its spill
    /// level (the water's neighbours are the wall by the filling's definition). Filled, they close the
    /// lake to a 4-connected flood.
    pub fn wall_pixels(&self, k: usize, frame_w: usize, frame_h: usize) -> Vec<usize> {
        let (w, h) = (self.width, self.height);
        let water = &self.water[k];
        let mut wet = vec![false; w * h];
        for &i in water {
            wet[i] = true;
        }
        let mut ring = vec![false; w * h];
        for &i in water {
            let (x, y) = (i % w, i / w);
            let nbrs = [(x > 0).then(|| i - 1), (x + 1 < w).then(|| i + 1), (y > 0).then(|| i - w), (y + 1 < h).then(|| i + w)];
            for j in nbrs.into_iter().flatten() {
                ring[j] |= !wet[j];
            }
        }
        let mut out = Vec::new();
        for (i, _) in ring.iter().enumerate().filter(|(_, r)| **r) {
            let (px, py) = (self.x0 + (i % w) * self.cell, self.y0 + (i / w) * self.cell);
            for y in py..(py + self.cell).min(frame_h) {
                out.extend((px..(px + self.cell).min(frame_w)).map(|x| y * frame_w + x));
            }
        }
        out
    }
}

/// The relief on the cell grid: each cell's ratio as the mean of four samples at its quarter points
/// (the ratio is smoothed already; a cell is sampled, not summed, so that the relief costs a few loads a
/// cell rather than a pass over the frame), quantised.
fn relief(ratio: &Plane<f32>, b: Rect, cell: usize) -> (Vec<u16>, usize, usize) {
    let (w, h) = (b.x1, b.y1);
    let (cw, ch) = ((b.x1 - b.x0).div_ceil(cell), (b.y1 - b.y0).div_ceil(cell));
    let top = (MAX_RATIO * LEVELS_PER_UNIT) - 1.0;
    let (qa, qb) = (cell / 4, (3 * cell) / 4);
    let q = (0..ch)
        .into_par_iter()
        .flat_map_iter(|cy| {
            let (ya, yb) = ((b.y0 + cy * cell + qa).min(h - 1), (b.y0 + cy * cell + qb).min(h - 1));
            let (ra, rb) = (ratio.row(ya), ratio.row(yb));
            (0..cw).map(move |cx| {
                let (xa, xb) = ((b.x0 + cx * cell + qa).min(w - 1), (b.x0 + cx * cell + qb).min(w - 1));
                let mean = 0.25 * (ra[xa] + ra[xb] + rb[xa] + rb[xb]);
                (mean * LEVELS_PER_UNIT).clamp(0.0, top) as u16
            })
        })
        .collect();
    (q, cw, ch)
}

/// Spill level of every cell: grey-level hole filling by a priority flood from the grid's border
/// (4-connected water, as background components are), in one pass with a bucket queue.
fn spill_levels(q: &[u16], w: usize, h: usize) -> Vec<u16> {
    let levels = (MAX_RATIO * LEVELS_PER_UNIT) as usize;
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); levels];
    let mut fill = vec![u16::MAX; q.len()];
    for y in 0..h {
        for x in 0..w {
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                let i = y * w + x;
                fill[i] = q[i];
                buckets[q[i] as usize].push(i as u32);
            }
        }
    }
    let mut level = 0;
    while level < levels {
        let Some(i) = buckets[level].pop() else {
            level += 1;
            continue;
        };
        let i = i as usize;
        let (x, y) = (i % w, i / w);
        let f = fill[i];
        let mut visit = |j: usize| {
            if fill[j] == u16::MAX {
                let v = q[j].max(f);
                fill[j] = v;
                buckets[v as usize].push(j as u32);
            }
        };
        if x > 0 {
            visit(i - 1);
        }
        if x + 1 < w {
            visit(i + 1);
        }
        if y > 0 {
            visit(i - w);
        }
        if y + 1 < h {
            visit(i + w);
        }
    }
    fill
}

/// One significant basin: its lake (the cells under water, in the grid of `Basins`), the ratio its
/// water spills at (the lowest point of the ring around it) and its floor (its lowest cell's ratio).
#[derive(Clone, Debug)]
pub struct Basin {
    pub lake: Vec<usize>,
    pub spill: f32,
    pub floor: f32,
}

/// The significant basins of the relief over a box of the frame, at cell resolution.
#[derive(Clone, Debug, Default)]
pub struct Basins {
    /// Cell side in pixels.
    pub cell: usize,
    /// The box's first pixel (its first cell's corner).
    pub x0: usize,
    pub y0: usize,
    /// Grid size in cells.
    pub width: usize,
    pub height: usize,
    pub basins: Vec<Basin>,
}

impl Basins {
    /// The cell (index in the grid) of pixel (x, y), if it lies in the grid.
    pub fn cell_of(&self, x: usize, y: usize) -> Option<usize> {
        let (dx, dy) = (x.checked_sub(self.x0)?, y.checked_sub(self.y0)?);
        let (cx, cy) = (dx / self.cell, dy / self.cell);
        (cx < self.width && cy < self.height).then_some(cy * self.width + cx)
    }
}

/// The basins of `ratio` within box `within` (its edge drains: a basin must lie inside it) whose water
/// stands at least `sigmas` background noise sigmas deep over a core's area (see the module's doc);
/// `level` gives the background's noise. Water over a third of the view is no core's (of the view, not
/// of the box: the box may be one large rim's, its core most of it).
pub fn significant_basins(ratio: &Plane<f32>, within: Rect, sigmas: f32, level: &FluoLevel, p: &AnalysisParams) -> Basins {
    let cell = (p.mm_to_px(CELL_MM).round() as usize).max(2);
    let (x0, y0) = (within.x0, within.y0);
    let (q, w, h) = relief(ratio, within, cell);
    let mut out = Basins { cell, x0, y0, width: w, height: h, basins: Vec::new() };
    if w < 3 || h < 3 {
        return out;
    }
    let fill = spill_levels(&q, w, h);
    let deep = ((sigmas * level.noise * LEVELS_PER_UNIT).ceil() as u16).max(1);
    let min_cells = (min_core_area_px(p) / (cell * cell) as f32).max(1.0);
    let depth = |i: usize| fill[i] - q[i];
    // Significant basins: 4-connected runs of deep water a core's size; each names its lake.
    let mut seen = vec![false; w * h];
    let mut lake_seen = vec![false; w * h];
    for s in 0..w * h {
        if seen[s] || depth(s) < deep {
            continue;
        }
        let basin = flood(s, w, h, |j| depth(j) >= deep, &mut seen);
        if (basin.len() as f32) < min_cells || lake_seen[s] {
            continue;
        }
        let lake = flood(s, w, h, |j| depth(j) > 0, &mut lake_seen);
        if 3 * lake.len() * cell * cell > ratio.width * ratio.height {
            continue;
        }
        let floor = lake.iter().map(|&i| q[i]).min().expect("a lake has cells");
        out.basins.push(Basin { spill: fill[s] as f32 / LEVELS_PER_UNIT, floor: floor as f32 / LEVELS_PER_UNIT, lake });
    }
    out
}

/// The lakes of the significant basins of `ratio` within box `within` (`BASIN_SIGMAS` deep, see
/// `significant_basins`), each widened by `LAKE_REACH_MM`.
pub fn enclosed_lakes(ratio: &Plane<f32>, within: Rect, level: &FluoLevel, p: &AnalysisParams) -> Lakes {
    let found = significant_basins(ratio, within, BASIN_SIGMAS, level, p);
    let Basins { cell, x0, y0, width: w, height: h, basins } = found;
    let mut near = vec![0u32; w * h];
    for (k, b) in basins.iter().enumerate() {
        for &i in &b.lake {
            near[i] = k as u32 + 1;
        }
    }
    let count = basins.len() as u32;
    let spill = basins.iter().map(|b| b.spill).collect();
    let water = basins.into_iter().map(|b| b.lake).collect();
    // Widen each lake by its reach (Chebyshev, a breadth-first ring at a time; the first lake to
    // reach a cell keeps it).
    let reach = (p.mm_to_px(LAKE_REACH_MM) / cell as f32).ceil() as usize;
    let mut frontier: VecDeque<(usize, usize)> = (0..w * h).filter(|&i| near[i] != 0).map(|i| (i, 0)).collect();
    while let Some((i, d)) = frontier.pop_front() {
        if d == reach {
            continue;
        }
        let (x, y) = (i % w, i / w);
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if near[j] == 0 {
                    near[j] = near[i];
                    frontier.push_back((j, d + 1));
                }
            }
        }
    }
    Lakes { cell, x0, y0, width: w, height: h, near, count: count as usize, water, spill }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring whose brightness dips to 1.15 on two stretches (a mask at 1.3 would break it into two
    /// arcs) around a core at 0.7 on a background at 1.0: the core is one significant lake, reached from
    /// the arcs; a shallow dimple (0.93) of the same size elsewhere is none.
    #[test]
    fn a_broken_ring_still_encloses_its_core() {
        let (w, h) = (200usize, 120usize);
        let mut ratio = Plane::<f32>::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - 60.0, y as f32 + 0.5 - 60.0);
                let r = dx.hypot(dy);
                let a = dy.atan2(dx).to_degrees();
                let dim = (a > 80.0 && a < 110.0) || (a > -40.0 && a < -10.0);
                let (ex, ey) = (x as f32 + 0.5 - 150.0, y as f32 + 0.5 - 60.0);
                ratio.data[y * w + x] = if r < 25.0 {
                    0.7
                } else if r < 33.0 {
                    if dim { 1.15 } else { 1.8 }
                } else if ex.hypot(ey) < 25.0 {
                    0.93
                } else {
                    1.0
                };
            }
        }
        let p = AnalysisParams { mm_per_px: 0.1, ..AnalysisParams::default() };
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.05, edge_noise: 0.0 };
        let lakes = enclosed_lakes(&ratio, Rect::full(w, h), &level, &p);
        assert_eq!(lakes.count, 1, "the ring's core is the one significant lake");
        assert_eq!(lakes.near_pixel(60, 60), 1, "the core lies in it");
        assert_eq!(lakes.near_pixel(60 + 27, 60), 1, "the bright arc's inner edge is within reach");
        assert_eq!(lakes.near_pixel(150, 60), 0, "the dimple is no lake");
        assert_eq!(lakes.near_pixel(5, 5), 0, "open background is no lake");
    }

    /// Hole filling on a small grid: a pit walled at 5 with a notch at 3 fills to 3; the border does
    /// not fill.
    #[test]
    fn spill_level_is_the_lowest_point_of_the_wall() {
        #[rustfmt::skip]
        let q: Vec<u16> = vec![
            1, 1, 1, 1, 1,
            1, 5, 3, 5, 1,
            1, 5, 0, 5, 1,
            1, 5, 5, 5, 1,
            1, 1, 1, 1, 1,
        ];
        let f = spill_levels(&q, 5, 5);
        assert_eq!(f[12], 3);
        assert_eq!(f[0], 1);
        assert_eq!(f[6], 5);
    }
}
