//! Deep lesions found at their own scale. A metastasis under the liver's surface shows as a broad glow
//! (a Gaussian of 1.5–6 mm sigma at a TBR of 1.5–3): smooth, but at the pixel scale its fluorescence
//! mask is as ragged as the texture that multiplies it, veins cut across it and texture dips inside it
//! are walled like cores, so the component-by-component rules (`reduce::coreless_kind`: compact, no rim)
//! miss it. Here the ratio is averaged over blocks of about `GLOW_BLOCK_MM` and then median-filtered
//! over a square of `AnalysisParams::glow_window_mm`: a median keeps what fills more than half its
//! window (a glow) and drops what fills less (a glint, a duct, a vein, a rim's ring, a texture grain
//! smaller than the window). The filtered map's components over the coreless level
//! (`FluoLevel::coreless_min_tbr`) are the glow candidates. A candidate is a deep lesion when
//! it is compact (`min_diffuse_compactness`), of a lesion's size, clear of the image border, overlaps
//! no lesion already found (or only rim lesions much smaller than itself, or whose core it is not
//! centred on: dips of the glow walled by brighter texture, which are dropped), and, where the map has
//! candidates enough to judge by, stands out of them by mass or mean (`stats::stand_out_of_grains`, as
//! `texture` does at the pixel scale), and stands out of the frame's texture at its own size
//! (`scale_texture`).
//! Its statistics are those of the full-resolution pixels under its blocks. A candidate whose part over
//! half its own level (the median under its blocks over the mode) has an optical edge and is solid and
//! roundish (`sharp_plateau_of`, the test `shape::flag_sharp_plateaus` makes of a component) is a
//! homogeneous lesion whose component was joined to something at the fluorescence level: it is reported
//! homogeneous, with the area and centroid of that part's largest piece, its holes smaller than a core
//! filled (`shape::trim_to_plateau` takes a component's every pixel over half its height instead). CPU
//! only (no GPU twin yet;
//! `AnalysisParams::cpu_only_stages`).

use rayon::prelude::*;

use crate::analysis::{FluoLevel, LesionKind, LesionStats, RATIO_STEPS};
use crate::frame::Plane;
use crate::params::{AnalysisParams, min_coreless_area_px};
use crate::stats::stand_out_of_grains;
use super::components::{Connectivity, label_components};
use super::reduce::ratio_bin;
use super::scale_texture::{ScaleTexture, clipped_code};
use crate::raster::rect::Rect;
use super::shape::{MAX_ELONGATION, sharp_plateau};

/// The blocks the ratio is averaged over are about this wide (mm), and at least 2 px: a glow's sigma
/// is several millimetres, so little of it is lost, and the median works on a map 50–600 times smaller
/// than the frame.
const GLOW_BLOCK_MM: f32 = 1.0;

/// A lesion found before is taken to reach this far (mm) beyond the disc of its area (core and rim).
const LESION_REACH_MM: f32 = 1.0;

/// A rim lesion that a glow candidate overlaps is a dip of the glow, not a lesion of its own that the
/// median kept, when the candidate is at least this many times as large as the rim lesion's core and
/// either as large against its core and rim together (its rim: the fluorescence within
/// `rim_search_mm` of its core, all of it inside a glow) or centred off its core (`OFF_CORE`). The
/// median keeps no more of a lesion alone than its own ring, and a ring's median is centred on its
/// core; a glow's texture dip lies anywhere on it, and in texture the rim's search area is mostly the
/// glow's own fluorescence, so the size alone does not tell.
const DIP_SHARE: f32 = 1.5;

/// A glow candidate is centred off a rim lesion's core when its centroid lies more than this many
/// equivalent core radii from the core's centroid. A gap or a thicker side moves a ring's median by
/// up to about one core radius (1.05 at most on the tuning seeds' rings: small cores in rims thicker
/// than their radius); the glows' dips lay 1.8–7 radii off.
const OFF_CORE: f32 = 1.5;

/// A glow candidate of the filtered map, in blocks.
struct Candidate {
    blocks: Vec<usize>,
    perimeter: u32,
    mass: f32,
    border: bool,
}

/// The side (px) of the blocks this stage averages the ratio over (about `GLOW_BLOCK_MM`, at least 2
/// px); `None` where the stage is off. `normalize::normalize_and_count` takes their means as it makes
/// the map.
pub fn block_px(p: &AnalysisParams) -> Option<usize> {
    (p.glow_window_mm > 0.0).then(|| (p.mm_to_px(GLOW_BLOCK_MM).round() as usize).max(2))
}

/// The deep lesions this stage adds to `lesions` (the frame's lesions found so far, whose rim lesions
/// inside a glow are dropped as its dips), as diffuse lesion statistics. `means`: the ratio's
/// `block_means` at `block_px`, where they were taken already (else they are taken here).
pub fn find_glows(ratio: &Plane<f32>, means: Option<&Plane<f32>>, level: &FluoLevel, scale: Option<&ScaleTexture>, lesions: &mut Vec<LesionStats>, p: &AnalysisParams) {
    let Some(b) = block_px(p) else { return };
    let (w, h) = (ratio.width, ratio.height);
    let (lw, lh) = (w.div_ceil(b), h.div_ceil(b));
    let side = ((p.glow_window_mm / (b as f32 * p.mm_per_px)).round() as usize) | 1;
    if lw < side || lh < side {
        return;
    }
    let taken;
    let means = match means {
        Some(m) => {
            assert_eq!((m.width, m.height), (lw, lh), "block means of another block size");
            m
        }
        None => {
            taken = block_means(ratio, b);
            &taken
        }
    };
    let filtered = median_filter(means, side / 2);
    let bar = level.coreless_min_tbr(p);
    let mask = Plane { width: lw, height: lh, data: filtered.data.iter().map(|&v| u8::from(v >= bar)).collect() };
    let mut labels = Plane { width: lw, height: lh, data: vec![0u32; lw * lh] };
    if label_components(&mask, 1, Connectivity::Eight, &mut Vec::new(), &mut labels).is_empty() {
        return;
    }
    // What a median keeps fills at least half its window: smaller components are the filter's noise.
    let min_blocks = (min_coreless_area_px(p) / (b * b) as f32).max(0.5 * (side * side) as f32);
    let candidates = candidates(&labels, &filtered, level.mode, min_blocks);
    if candidates.is_empty() {
        return;
    }
    let mass: Vec<f32> = candidates.iter().map(|c| c.mass).collect();
    let area: Vec<f32> = candidates.iter().map(|c| c.blocks.len() as f32).collect();
    // Judged against the others only where the texture test is on (`texture_alpha`).
    let stand_out = (p.texture_alpha > 0.0).then(|| stand_out_of_grains(&mass, &area, p.texture_alpha)).flatten().unwrap_or_else(|| vec![true; candidates.len()]);
    let reach = p.mm_to_px(LESION_REACH_MM);
    for (c, out) in candidates.iter().zip(stand_out) {
        let compact = super::blobs::compact(c.blocks.len() as u32, c.perimeter, p) && elongation(&c.blocks, lw) <= MAX_ELONGATION;
        let glow_px = (c.blocks.len() * b * b) as f32;
        let [gx, gy] = c.centre(lw, b);
        if !out || !compact || c.border || scale.is_some_and(|s| !s.stands_out([gx, gy], glow_px, c.bbox(lw, b, w, h), p.texture_alpha)) {
            continue;
        }
        // The lesions found before that this candidate overlaps: a block centre within the disc of a
        // lesion's area, widened by `LESION_REACH_MM`.
        let overlapped: Vec<usize> = (0..lesions.len())
            .filter(|&k| {
                let st = &lesions[k];
                let [cx, cy] = st.centroid();
                let r = ((st.area_px + st.rim_area_px) as f32 / std::f32::consts::PI).sqrt() + reach;
                c.blocks.iter().any(|&i| (((i % lw) * b) as f32 + 0.5 * b as f32 - cx).hypot(((i / lw) * b) as f32 + 0.5 * b as f32 - cy) <= r)
            })
            .collect();
        let dip = |st: &LesionStats| {
            let [cx, cy] = st.centroid();
            let off_core = (gx - cx).hypot(gy - cy) > OFF_CORE * (st.area_px as f32 / std::f32::consts::PI).sqrt();
            st.kind == LesionKind::Rim && DIP_SHARE * st.area_px as f32 <= glow_px && (off_core || DIP_SHARE * (st.area_px + st.rim_area_px) as f32 <= glow_px)
        };
        let dips = overlapped.iter().all(|&k| dip(&lesions[k]));
        if !dips {
            continue;
        }
        for &k in overlapped.iter().rev() {
            lesions.remove(k);
        }
        let mut st = glow_stats(ratio, &labels, c, b);
        if let Some((area, sum_x, sum_y)) = sharp_plateau_of(ratio, level, c, lw, b, side / 2, p) {
            (st.kind, st.area_px, st.sum_x, st.sum_y) = (LesionKind::Homogeneous, area, sum_x, sum_y);
        }
        lesions.push(st);
    }
}

impl Candidate {
    /// The box of its blocks, px (within a `w`×`h` frame).
    fn bbox(&self, lw: usize, b: usize, w: usize, h: usize) -> Rect {
        let r = self.block_box(lw);
        Rect { x0: r.x0 * b, y0: r.y0 * b, x1: (r.x1 * b).min(w), y1: (r.y1 * b).min(h) }
    }

    /// The box of its blocks, in blocks (of a map `lw` blocks wide).
    fn block_box(&self, lw: usize) -> Rect {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for &i in &self.blocks {
            let (bx, by) = (i % lw, i / lw);
            (x0, y0, x1, y1) = (x0.min(bx), y0.min(by), x1.max(bx + 1), y1.max(by + 1));
        }
        Rect { x0, y0, x1, y1 }
    }

    /// The centroid of its blocks' centres, px.
    fn centre(&self, lw: usize, b: usize) -> [f32; 2] {
        let (mx, my) = block_mean(&self.blocks, lw);
        [(mx + 0.5) * b as f32, (my + 0.5) * b as f32]
    }
}

/// The area and pixel sums of a glow candidate's part over half its own level, when that part is bounded
/// by an optical edge and solid and roundish (`shape::sharp_plateau`): a homogeneous lesion whose
/// component something joined at the fluorescence level (texture reaching the image border, a texture
/// pocket taken for a core, a duct), so that `reduce::coreless_kind` did not report it. Its height and
/// the edge's least rise are those `shape::flag_sharp_plateaus` takes of a component (the 90th
/// percentile of the ratio, here under the candidate's blocks, over the background's mode); but the part
/// is cut at half its own level (the median under its blocks over the mode): the median filter keeps of
/// a lesion its inside, so that median is the lesion's level, where texture, which multiplies the
/// lesion's fluorescence too, pulls a high percentile far over it (skewed texture most) and half of that
/// falls on the shoulder of the blurred edge, not on its steep middle (tuning seed 9623: 0.46 of the
/// outline steep enough when cut at half the 90th percentile, 0.89 at half the median). The part is the
/// largest (8-connected) piece at or over that level among the pixels within `reach` blocks (half the
/// median's window: what the median may have eroded of a disc) of the candidate's blocks; where it runs
/// on beyond them (a blotch of texture over the level), that stretch of its outline is no edge.
fn sharp_plateau_of(ratio: &Plane<f32>, level: &FluoLevel, c: &Candidate, lw: usize, b: usize, reach: usize, p: &AnalysisParams) -> Option<(u32, u64, u64)> {
    if !(p.plateau_edge_mm > 0.0) {
        return None;
    }
    let (w, h) = (ratio.width, ratio.height);
    let lh = h.div_ceil(b);
    let mut values: Vec<f32> = Vec::new();
    for &i in &c.blocks {
        let (bx, by) = (i % lw, i / lw);
        for y in by * b..((by + 1) * b).min(h) {
            values.extend_from_slice(&ratio.row(y)[bx * b..((bx + 1) * b).min(w)]);
        }
    }
    let height = crate::stats::percentile(&mut values, 0.9)? - level.mode;
    let half = level.mode + 0.5 * (crate::stats::median(&mut values)? - level.mode);
    if !(height > 0.0 && half > level.mode) {
        return None;
    }
    // The blocks within `reach` of the candidate's, in the box of blocks around them.
    let Rect { x0: bx0, y0: by0, x1: bx1, y1: by1 } = c.block_box(lw).expand(reach, lw, lh);
    let (nw, nh) = (bx1 - bx0, by1 - by0);
    let mut near = vec![false; nw * nh];
    for &i in &c.blocks {
        let (bx, by) = (i % lw - bx0, i / lw - by0);
        for ny in by.saturating_sub(reach)..(by + reach + 1).min(nh) {
            near[ny * nw + bx.saturating_sub(reach)..ny * nw + (bx + reach + 1).min(nw)].fill(true);
        }
    }
    // Pixels over half the height there, in a local frame, and their largest piece.
    let area = Rect { x0: bx0 * b, y0: by0 * b, x1: (bx1 * b).min(w), y1: (by1 * b).min(h) };
    let (aw, ah) = (area.x1 - area.x0, area.y1 - area.y0);
    let mask = Plane {
        width: aw,
        height: ah,
        data: (0..aw * ah)
            .map(|k| {
                let (x, y) = (area.x0 + k % aw, area.y0 + k / aw);
                u8::from(near[(y / b - by0) * nw + x / b - bx0] && ratio.data[y * w + x] >= half)
            })
            .collect(),
    };
    let mut labels = Plane { width: aw, height: ah, data: vec![0u32; aw * ah] };
    let piece = label_components(&mask, 1, Connectivity::Eight, &mut Vec::new(), &mut labels).into_iter().max_by_key(|k| k.area)?;
    if (piece.area as f32) < min_coreless_area_px(p) {
        return None;
    }
    let of_piece = |i: usize| {
        let (x, y) = (i % w, i / w);
        (area.x0..area.x1).contains(&x) && (area.y0..area.y1).contains(&y) && labels.data[(y - area.y0) * aw + x - area.x0] == piece.label
    };
    let bbox = Rect { x0: area.x0 + piece.bbox.x0, y0: area.y0 + piece.bbox.y0, x1: area.x0 + piece.bbox.x1, y1: area.y0 + piece.bbox.y1 };
    sharp_plateau(of_piece, height, bbox, ratio, level.edge_noise, p).map(|part| part.sums())
}

/// The mean column and row of `blocks` (indices into a map `lw` blocks wide).
fn block_mean(blocks: &[usize], lw: usize) -> (f32, f32) {
    let n = blocks.len() as f32;
    let (sx, sy) = blocks.iter().fold((0f32, 0f32), |(sx, sy), &i| (sx + (i % lw) as f32, sy + (i / lw) as f32));
    (sx / n, sy / n)
}

/// The median of each `(2 radius + 1)`² window of `src`, clipped at its edges: the `len / 2`-th
/// smallest of the window's values (the upper middle where a clipped window holds an even count).
/// Windows inside the map go `LANES` at a time through a sorting network (`MedianNetwork`), those the
/// edges clip one at a time by selection; both give the same value. `src` holds no NaN (block means of
/// ratios clipped by `f32::min`, which drops a NaN).
fn median_filter(src: &Plane<f32>, radius: usize) -> Plane<f32> {
    let (w, h) = (src.width, src.height);
    let side = 2 * radius + 1;
    let network = MedianNetwork::new(side * side);
    let mut data = vec![0f32; w * h];
    data.par_chunks_mut(w).enumerate().for_each_init(
        || (Vec::with_capacity(side * side), network.scratch()),
        |(window, lanes), (y, row)| {
            let interior_row = y >= radius && y + radius < h;
            let mut x = 0;
            while x < w {
                if interior_row && x >= radius && x + radius + LANES <= w {
                    // `LANES` windows side by side: element (dy, dx) of lane l is src[y + dy][x + l + dx].
                    for (e, lane) in lanes.iter_mut().take(side * side).enumerate() {
                        let (yy, xx) = (y + e / side - radius, x + e % side - radius);
                        lane.copy_from_slice(&src.row(yy)[xx..xx + LANES]);
                    }
                    row[x..x + LANES].copy_from_slice(&network.median(lanes));
                    x += LANES;
                    continue;
                }
                window.clear();
                for yy in y.saturating_sub(radius)..(y + radius + 1).min(h) {
                    window.extend_from_slice(&src.row(yy)[x.saturating_sub(radius)..(x + radius + 1).min(w)]);
                }
                let mid = window.len() / 2;
                row[x] = *window.select_nth_unstable_by(mid, |a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)).1;
                x += 1;
            }
        },
    );
    Plane { width: w, height: h, data }
}

/// Windows whose medians `MedianNetwork` finds at once (one value of each in a row of lanes).
const LANES: usize = 8;

/// The comparators of Batcher's odd–even merge sort over `n` inputs padded with +∞ to a power of two,
/// less those that cannot move the middle input's final value (`n / 2`, from 0): after them that slot
/// holds the median of the `n` values, for any values without NaN (a comparator puts the smaller of
/// its two slots' values in the first: sorting networks only ever move values, so the result is one of
/// the inputs, exactly).
struct MedianNetwork {
    n: usize,
    padded: usize,
    pairs: Vec<(usize, usize)>,
}

impl MedianNetwork {
    fn new(n: usize) -> Self {
        let padded = n.next_power_of_two();
        let mut pairs = Vec::new();
        let mut p = 1;
        while p < padded {
            let mut k = p;
            while k >= 1 {
                for j in (k % p..padded - k).step_by(2 * k) {
                    for i in 0..k.min(padded - j - k) {
                        if (i + j) / (2 * p) == (i + j + k) / (2 * p) {
                            pairs.push((i + j, i + j + k));
                        }
                    }
                }
                k /= 2;
            }
            p *= 2;
        }
        // Backwards from the output: a comparator matters when it touches a slot that matters later.
        let mut needed = vec![false; padded];
        needed[n / 2] = true;
        let mut kept: Vec<(usize, usize)> = Vec::new();
        for &(a, b) in pairs.iter().rev() {
            if needed[a] || needed[b] {
                needed[a] = true;
                needed[b] = true;
                kept.push((a, b));
            }
        }
        kept.reverse();
        Self { n, padded, pairs: kept }
    }

    /// Slots for `median`.
    fn scratch(&self) -> Vec<[f32; LANES]> {
        vec![[f32::INFINITY; LANES]; self.padded]
    }

    /// The median of each lane's `n` values in the first `n` of `slots` (which it reorders, padding
    /// included).
    fn median(&self, slots: &mut [[f32; LANES]]) -> [f32; LANES] {
        slots[self.n..].fill([f32::INFINITY; LANES]);
        for &(a, b) in &self.pairs {
            let (x, y) = (slots[a], slots[b]);
            for l in 0..LANES {
                let lower = x[l] < y[l];
                slots[a][l] = if lower { x[l] } else { y[l] };
                slots[b][l] = if lower { y[l] } else { x[l] };
            }
        }
        slots[self.n / 2]
    }
}

/// Major over minor axis of the blocks' second moments (a glow is round or oval, the wide stretch of a
/// duct that the median kept is a strip).
fn elongation(blocks: &[usize], lw: usize) -> f32 {
    let (mx, my) = block_mean(blocks, lw);
    let (mut sxx, mut syy, mut sxy) = (0f32, 0f32, 0f32);
    for &i in blocks {
        let (dx, dy) = ((i % lw) as f32 - mx, (i / lw) as f32 - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let (a, d) = (0.5 * (sxx + syy), (0.25 * (sxx - syy).powi(2) + sxy * sxy).sqrt());
    ((a + d) / (a - d).max(1e-6)).sqrt()
}

/// Means of the ratio, clipped at `scale_texture::RATIO_CLIP`, over `b`×`b` blocks (partial ones at the right and
/// bottom edges), a band of block rows a task: the definition. `normalize::normalize_and_count` takes
/// the same means as it makes the map's rows (`BlockSums`).
pub fn block_means(ratio: &Plane<f32>, b: usize) -> Plane<f32> {
    let (lw, lh) = (ratio.width.div_ceil(b), ratio.height.div_ceil(b));
    let data: Vec<f32> = (0..lh)
        .into_par_iter()
        .flat_map_iter(|by| {
            let mut sums = BlockSums::new(ratio.width, b);
            for y in by * b..((by + 1) * b).min(ratio.height) {
                sums.add_row(ratio.row(y));
            }
            sums.means()
        })
        .collect();
    Plane { width: lw, height: lh, data }
}

/// The sums of one band of blocks: each column's clipped codes (`clipped_code`) added row by row, in
/// whole numbers, so that the sums are exact and a row is added in one vectorised pass.
pub struct BlockSums {
    b: usize,
    columns: Vec<u32>,
    rows: usize,
}

impl BlockSums {
    pub fn new(width: usize, b: usize) -> Self {
        Self { b, columns: vec![0; width], rows: 0 }
    }

    /// Adds the band's next row.
    #[inline]
    pub fn add_row(&mut self, row: &[f32]) {
        for (c, &v) in self.columns.iter_mut().zip(row) {
            *c += clipped_code(v);
        }
        self.rows += 1;
    }

    /// The band's block means, left to right (the last block may have fewer than `b` columns): each
    /// block's exact sum over its pixel count, in f64, then rounded to f32.
    pub fn means(self) -> impl Iterator<Item = f32> {
        let rows = self.rows;
        let sums: Vec<(u64, usize)> = self.columns.chunks(self.b).map(|c| (c.iter().map(|&v| v as u64).sum(), c.len())).collect();
        sums.into_iter().map(move |(s, n)| (s as f64 / (RATIO_STEPS as f64 * (n * rows).max(1) as f64)) as f32)
    }
}

/// The filtered map's components of a lesion's size (`min_blocks`), with their perimeter (blocks with a
/// 4-neighbour outside), excess mass over `mode` and whether they reach the map's edge.
fn candidates(labels: &Plane<u32>, filtered: &Plane<f32>, mode: f32, min_blocks: f32) -> Vec<Candidate> {
    let (lw, lh) = (labels.width, labels.height);
    let mut by_label: std::collections::BTreeMap<u32, Candidate> = std::collections::BTreeMap::new();
    for y in 0..lh {
        for x in 0..lw {
            let i = y * lw + x;
            let l = labels.data[i];
            if l == 0 {
                continue;
            }
            let c = by_label.entry(l).or_insert_with(|| Candidate { blocks: Vec::new(), perimeter: 0, mass: 0.0, border: false });
            c.blocks.push(i);
            c.mass += (filtered.data[i] - mode).max(0.0);
            let edge = x == 0 || y == 0 || x + 1 == lw || y + 1 == lh;
            c.border |= edge;
            if edge || labels.data[i - 1] != l || labels.data[i + 1] != l || labels.data[i - lw] != l || labels.data[i + lw] != l {
                c.perimeter += 1;
            }
        }
    }
    by_label.into_values().filter(|c| c.blocks.len() as f32 >= min_blocks).collect()
}

/// A glow's diffuse-lesion statistics from the full-resolution pixels under its blocks.
fn glow_stats(ratio: &Plane<f32>, labels: &Plane<u32>, c: &Candidate, b: usize) -> LesionStats {
    let (w, h, lw) = (ratio.width, ratio.height, labels.width);
    let first = c.blocks[0];
    let mut st = LesionStats::empty(LesionKind::Diffuse, 1 + ((first / lw) * b * w + (first % lw) * b) as u32);
    for &i in &c.blocks {
        let (bx, by) = (i % lw, i / lw);
        for y in by * b..((by + 1) * b).min(h) {
            for x in bx * b..((bx + 1) * b).min(w) {
                st.area_px += 1;
                st.sum_x += x as u64;
                st.sum_y += y as u64;
                if let Some(k) = ratio_bin(ratio.data[y * w + x]) {
                    st.ratio_hist[k] += 1;
                }
            }
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::scale_texture::RATIO_CLIP;

    /// A 480×360 frame at 0.1 mm/px: ragged texture (±20% at a 2 mm grain, and pixel noise) over the
    /// background, with a deep glow (sigma 4 mm, TBR 2) crossed by a dark vein, a saturated 1.5 mm glint
    /// and a 2 mm wide duct at TBR 2.5.
    fn frame() -> Plane<f32> {
        let (w, h) = (480usize, 360usize);
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32, y as f32);
                let texture = texture(x, y);
                let glow = 1.0 + (-((fx - 150.0).powi(2) + (fy - 180.0).powi(2)) / (2.0 * 40.0f32.powi(2))).exp();
                let vein = if (fx - fy + 20.0).abs() < 6.0 { 0.6 } else { 1.0 };
                let mut v = glow * texture * vein;
                if (fx - 380.0).hypot(fy - 80.0) < 8.5 {
                    v = 7.0;
                }
                if (290.0..310.0).contains(&fy) && (60.0..360.0).contains(&fx) {
                    v = 2.5 * texture;
                }
                data[y * w + x] = v;
            }
        }
        Plane { width: w, height: h, data }
    }

    fn rim_at(x: f32, y: f32, core_px: u32) -> LesionStats {
        let mut st = LesionStats { area_px: core_px, rim_area_px: 3 * core_px, ..LesionStats::empty(LesionKind::Rim, 1 + core_px) };
        st.sum_x = (x * core_px as f32) as u64;
        st.sum_y = (y * core_px as f32) as u64;
        st
    }

    /// The test frames' texture at pixel (x, y), at 0.1 mm/px: ±20% in a pattern of period 3.8–4.4 mm,
    /// and ±5% pixel noise.
    fn texture(x: usize, y: usize) -> f32 {
        let hash = ((x * 7919 + y * 104_729) % 1000) as f32 / 1000.0 - 0.5;
        (1.0 + 0.2 * (x as f32 / 6.0).sin() * (y as f32 / 7.0).sin()) * (1.0 + 0.1 * hash)
    }

    /// A 480×360 frame at 0.1 mm/px of `lift` (the fluorescence over the background, by pixel centre)
    /// multiplied by the `texture`: texture multiplies a lesion's fluorescence as the liver's.
    fn textured(lift: impl Fn(f32, f32) -> f32) -> Plane<f32> {
        let (w, h) = (480usize, 360usize);
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                (1.0 + lift(x as f32 + 0.5, y as f32 + 0.5)) * texture(x, y)
            })
            .collect();
        Plane { width: w, height: h, data }
    }

    /// The homogeneous disc of `a_disc_joined_to_the_border_is_homogeneous_and_a_glow_diffuse`: 6 mm
    /// across at (150, 200) px, 2.5 times the background, its edge blurred over 0.2 mm.
    fn disc(x: f32, y: f32) -> f32 {
        1.5 / (1.0 + (((x - 150.0).hypot(y - 200.0) - 30.0) / 0.6).exp())
    }

    /// `clipped_code` is the ratio's code clipped at `RATIO_CLIP` for every value on the map's grid, and
    /// the block means are the exact means of the clipped ratio (f64 sums of a few thousand grid values
    /// are exact), partial blocks at the edges included.
    #[test]
    fn block_means_are_exact_means_of_the_clipped_ratio() {
        for code in 0..=crate::analysis::RATIO_CODE_MAX {
            let v = code as f32 / RATIO_STEPS;
            assert_eq!(clipped_code(v), crate::analysis::ratio_code(v.min(RATIO_CLIP)), "ratio {v}");
        }
        let (w, h, b) = (53usize, 29usize, 12usize);
        let data: Vec<f32> = (0..w * h).map(|i| crate::analysis::quantise_ratio(((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32 * 6.0)).collect();
        let ratio = Plane { width: w, height: h, data };
        let means = block_means(&ratio, b);
        assert_eq!((means.width, means.height), (5, 3));
        for by in 0..3 {
            for bx in 0..5 {
                let px: Vec<f64> = (by * b..((by + 1) * b).min(h)).flat_map(|y| (bx * b..((bx + 1) * b).min(w)).map(move |x| (x, y))).map(|(x, y)| ratio.get(x, y).min(RATIO_CLIP) as f64).collect();
                let want = (px.iter().sum::<f64>() / px.len() as f64) as f32;
                assert_eq!(means.get(bx, by), want, "block ({bx}, {by})");
            }
        }
    }

    /// A homogeneous lesion (a sharp-edged disc) joined by a bright band of texture to the image's top
    /// border, so that its fluorescent component touches the border and is no coreless lesion, is found
    /// by its glow and reported homogeneous, with the disc's centroid and diameter; a deep glow (sigma
    /// 4 mm, twice the background at its peak) in the same frame stays diffuse.
    #[test]
    fn a_disc_joined_to_the_border_is_homogeneous_and_a_glow_diffuse() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let ratio = textured(|x, y| {
            let band = if (140.0..160.0).contains(&x) && y < 200.0 { 0.6 } else { 0.0 };
            let glow = (-((x - 360.0).powi(2) + (y - 200.0).powi(2)) / (2.0 * 40.0f32.powi(2))).exp();
            disc(x, y).max(band) + glow
        });
        let scale = ScaleTexture::of(&ratio, Vec::new(), Vec::new());
        let mut lesions = Vec::new();
        find_glows(&ratio, None, &level, Some(&scale), &mut lesions, &p);
        let found: Vec<(LesionKind, [f32; 2])> = lesions.iter().map(|st| (st.kind, st.centroid())).collect();
        let near = |x: f32, y: f32| lesions.iter().find(|st| (st.centroid()[0] - x).hypot(st.centroid()[1] - y) < 20.0);
        let disc_lesion = near(150.0, 200.0).unwrap_or_else(|| panic!("the disc is found: {found:?}"));
        assert_eq!(disc_lesion.kind, LesionKind::Homogeneous, "{found:?}");
        let [cx, cy] = disc_lesion.centroid();
        assert!((cx - 150.0).hypot(cy - 200.0) < 3.0, "the disc's centroid, not the band's: ({cx}, {cy})");
        let d = 2.0 * (disc_lesion.area_px as f32 / std::f32::consts::PI).sqrt();
        assert!((d - 60.0).abs() < 4.0, "diameter {d} px, the disc's 60");
        assert_eq!(near(360.0, 200.0).map(|st| st.kind), Some(LesionKind::Diffuse), "the deep glow: {found:?}");
        // Without the plateau test (`plateau_edge_mm` 0) the disc is a glow as any other.
        let mut off = Vec::new();
        find_glows(&ratio, None, &level, Some(&scale), &mut off, &AnalysisParams { plateau_edge_mm: 0.0, ..p });
        assert!(off.iter().all(|st| st.kind == LesionKind::Diffuse), "{:?}", off.iter().map(|st| st.kind).collect::<Vec<_>>());
    }

    /// A blotch of textured liver (a broad lift to 1.8 times the background over 1.5 cm, its flank
    /// falling over 2 mm, with the texture's grains on it) is found as a glow, and it is no homogeneous
    /// lesion: its flank at half its height is no optical edge.
    #[test]
    fn a_textured_blotch_is_no_homogeneous_lesion() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let ratio = textured(|x, y| 0.8 / (1.0 + (((x - 240.0).hypot(y - 180.0) - 75.0) / 8.0).exp()));
        let scale = ScaleTexture::of(&ratio, Vec::new(), Vec::new());
        let mut lesions = Vec::new();
        find_glows(&ratio, None, &level, Some(&scale), &mut lesions, &p);
        let found: Vec<(LesionKind, [f32; 2])> = lesions.iter().map(|st| (st.kind, st.centroid())).collect();
        assert!(lesions.iter().any(|st| (st.centroid()[0] - 240.0).hypot(st.centroid()[1] - 180.0) < 20.0), "the blotch is a glow candidate: {found:?}");
        assert!(lesions.iter().all(|st| st.kind == LesionKind::Diffuse), "{found:?}");
    }

    /// The median filter equals a median taken by sorting each window, at the map's edges and inside,
    /// on values with many ties, for several window sizes and maps narrower than a window or the lanes.
    #[test]
    fn median_filter_is_the_sorted_windows_middle() {
        let mut state = 5u32;
        for (w, h, radius) in [(40usize, 23usize, 2usize), (17, 9, 1), (31, 30, 3), (5, 4, 2), (12, 7, 2), (64, 3, 1)] {
            let data = (0..w * h)
                .map(|_| {
                    state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                    ((state >> 24) % 23) as f32 * 0.125
                })
                .collect();
            let src = Plane { width: w, height: h, data };
            let got = median_filter(&src, radius);
            for y in 0..h {
                for x in 0..w {
                    let mut v: Vec<f32> = Vec::new();
                    for yy in y.saturating_sub(radius)..(y + radius + 1).min(h) {
                        for xx in x.saturating_sub(radius)..(x + radius + 1).min(w) {
                            v.push(src.get(xx, yy));
                        }
                    }
                    v.sort_by(f32::total_cmp);
                    assert_eq!(got.get(x, y), v[v.len() / 2], "{w}x{h}, radius {radius}, at ({x}, {y})");
                }
            }
        }
    }

    /// The glow is found where it is, as one diffuse lesion; the glint and the duct are not; a small
    /// rim lesion on the glow's flank (a dip walled by texture) is dropped, also when its rim is most
    /// of the glow, and a rim lesion elsewhere, or one the glow is centred on, is kept. With the stage
    /// off nothing changes.
    #[test]
    fn a_ragged_glow_is_one_deep_lesion_and_a_glint_or_duct_none() {
        let p = AnalysisParams::with_scale(0.1);
        let level = FluoLevel { level: 1.3, mode: 1.0, noise: 0.03, edge_noise: 0.0 };
        let ratio = frame();
        let scale = ScaleTexture::of(&ratio, Vec::new(), Vec::new());
        let mut lesions = vec![rim_at(175.0, 150.0, 300), rim_at(420.0, 200.0, 900)];
        find_glows(&ratio, None, &level, Some(&scale), &mut lesions, &p);
        let glows: Vec<&LesionStats> = lesions.iter().filter(|st| st.kind == LesionKind::Diffuse).collect();
        assert_eq!(glows.len(), 1, "one glow: {:?}", lesions.iter().map(|st| (st.kind, st.centroid())).collect::<Vec<_>>());
        let [cx, cy] = glows[0].centroid();
        assert!((cx - 150.0).hypot(cy - 180.0) < 20.0, "the glow's centroid ({cx}, {cy}) is 2 mm or less from its centre");
        let rims: Vec<[f32; 2]> = lesions.iter().filter(|st| st.kind == LesionKind::Rim).map(|st| st.centroid()).collect();
        assert_eq!(rims.len(), 1, "the dip on the glow's flank is dropped, the other rim lesion kept: {rims:?}");
        assert!((rims[0][0] - 420.0).abs() < 1.0);
        // In texture a rim lesion's rim (all the fluorescence within `rim_search_mm` of its core) can be
        // most of the glow: a dip on the glow's flank is still dropped, while a core the glow is
        // centred on (the median of its own thick ring) is kept and the glow not reported over it.
        let wide_rim = |x, y, core_px| LesionStats { rim_area_px: 12_000, ..rim_at(x, y, core_px) };
        let mut flank = vec![wide_rim(185.0, 150.0, 300)];
        find_glows(&ratio, None, &level, Some(&scale), &mut flank, &p);
        assert_eq!(flank.iter().map(|st| st.kind).collect::<Vec<_>>(), vec![LesionKind::Diffuse], "the dip off the glow's centre is dropped");
        let mut centred = vec![wide_rim(152.0, 178.0, 2000)];
        find_glows(&ratio, None, &level, Some(&scale), &mut centred, &p);
        assert_eq!(centred.iter().map(|st| st.kind).collect::<Vec<_>>(), vec![LesionKind::Rim], "a core the glow is centred on is kept");
        let mut untouched = vec![rim_at(175.0, 150.0, 300)];
        find_glows(&ratio, None, &level, Some(&scale), &mut untouched, &AnalysisParams { glow_window_mm: 0.0, ..p });
        assert_eq!(untouched.len(), 1);
    }
}
