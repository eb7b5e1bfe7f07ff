//! The frame's texture at a candidate's own scale. A coreless candidate (a homogeneous lesion, a deep
//! glow) is fluorescence only where it is brighter than the liver around it is anywhere in the frame at
//! its own size: the ratio's mean over a square of the candidate's area, centred on it, must be an
//! outlier among the means of such squares laid over the whole frame (`stats::clipped_upper_outlier_bar`
//! at `AnalysisParams::texture_alpha`, as many tries as squares laid: a candidate's square sits where the
//! fluorescence is brightest, so every place a square could take is a try; the squares that reach the bar
//! are set aside and it is drawn again, since a frame's ducts and lesions can fill much of the upper half).
//! Unlike the grain test (`texture`), which needs `stats::MIN_GRAINS` fluorescent components of a
//! lesion's size to judge by, this needs none: coarse texture at a fine scale makes a few large bright
//! patches and no crowd of grains (tuning seed 9700: 5 grains, two of them reported as diffuse lesions
//! at TBR 1.5–1.7). Skewed (log-normal) texture has a long bright tail, so the squares' spread is taken
//! from the upper half of their means, which is what a bright patch is drawn from. Squares' means are
//! read from a summed-area table of the ratio's fixed-point codes, clipped at `RATIO_CLIP` so that a
//! glint's few saturated pixels do not make a square bright.
//! A rim lesion is held to the texture at its scale too (`ring_stands_out`): its ring, a square ring
//! inside the annulus of its core and rim, against such rings laid over the frame. A pocket of skewed texture is
//! walled by bright grains, but no brighter than the texture's brightest rings (tuning seed 9700: 7 of
//! its 14 false lesions in 120 frames, all pockets at TBR 1.5–2.4, went and no rim was lost; on seed
//! 9600 one of 5 went and one faint rim in 22% texture was lost). CPU only
//! (`AnalysisParams::cpu_only_stages`).

use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use crate::analysis::RATIO_STEPS;
use crate::frame::Plane;
use crate::raster::rect::Rect;
use crate::stats::clipped_upper_outlier_bar;

/// Ratios are clipped here before a window's or a block's mean (a saturated glint reads 7× and more):
/// the windows here and the glow's blocks (`glow`), so that a glint's few pixels make neither bright.
pub(super) const RATIO_CLIP: f32 = 4.0;

/// The largest `clipped_code`.
const MAX_CLIPPED_CODE: u64 = (RATIO_CLIP * RATIO_STEPS) as u64;

/// The ratio's fixed-point code (`analysis::ratio_code`), clipped at `RATIO_CLIP`: on the map's grid
/// (multiples of 1/`RATIO_STEPS`, `analysis::quantise_ratio`) `v · RATIO_STEPS` is a whole number
/// under 2^23, which adding 2^23 moves into the float's low mantissa bits, exactly and in a form that
/// vectorises (a float-to-integer cast does not: it saturates). Off the grid, rounded to it. Sums of
/// codes are whole numbers, exact whichever way they are added up.
#[inline]
pub(super) fn clipped_code(v: f32) -> u32 {
    (v.min(RATIO_CLIP) * RATIO_STEPS + 8_388_608.0).to_bits() - 0x4B00_0000
}

/// Fewer squares than this clear of the candidate: the frame is not judged at that scale.
const MIN_SQUARES: usize = 16;

/// A rim lesion whose square ring (`ScaleTexture::ring_window`) is narrower than this (px) is not judged.
const MIN_RING_PX: usize = 2;

/// The squares laid over the frame step by this fraction of their side (a square's mean changes
/// little over a shorter step).
const STEP_FRACTION: usize = 2;

/// The frame's ratio and its summed-area table, made at the first question (a frame with no coreless
/// candidate and no rim thick enough to judge makes none). The table is made in one parallel pass, in
/// a buffer kept from frame to frame (`of`, `into_buffer`): at 1080p it is 8 MB, and writing it is
/// what it costs.
pub struct ScaleTexture<'a> {
    ratio: &'a Plane<f32>,
    /// Boxes of the lesions found with a core (each grown by its rim's reach): squares meeting them are
    /// no sample of the texture (several large rim lesions in a frame would be much of it).
    lesions: Vec<Rect>,
    width: usize,
    height: usize,
    table: OnceLock<Table>,
    /// The buffer the table is made in (the last frame's, so that 8 MB are not allocated and zeroed
    /// each frame at 1080p), until it is.
    spare: Mutex<Vec<u32>>,
}

/// A summed-area table of the clipped ratio's codes (`clipped_code`), (width + 1) × (height + 1)
/// entries (row 0 and column 0 zero), kept in bands of `BAND_ROWS` rows: each band sums from its own
/// top (so that the bands are made in parallel, in one pass), and `bases` holds, for each band, the
/// sums of the rows above it. An entry is its band's value plus its band's base. Entries are sums modulo
/// 2^32 (4 bytes an entry, half an f64's traffic): a rectangle's sum from four of them is exact when it
/// is under 2^32, which holds for rectangles under `MAX_EXACT_AREA` pixels; larger ones are summed in
/// strips (`ScaleTexture::codes`).
struct Table {
    local: Vec<u32>,
    /// One row of (width + 1) a band; band 0's is zero.
    bases: Vec<u32>,
    stride: usize,
}

/// Rectangles of fewer pixels than this have sums of clipped codes under 2^32.
const MAX_EXACT_AREA: usize = (u32::MAX as u64 / MAX_CLIPPED_CODE) as usize;

/// Rows a band of the summed-area table (`Table`).
const BAND_ROWS: usize = 64;

impl Table {
    fn of(ratio: &Plane<f32>, mut local: Vec<u32>) -> Self {
        let (w, h) = (ratio.width, ratio.height);
        let stride = w + 1;
        // Every entry is written below: the buffer is not cleared, only sized.
        local.resize(stride * (h + 1), 0);
        local[..stride].fill(0);
        // Table row y (from 1) is image row y - 1; band b holds table rows 1 + 64 b ... 64 (b + 1).
        local[stride..].par_chunks_mut(stride * BAND_ROWS).enumerate().for_each(|(b, band)| {
            let rows = band.len() / stride;
            let mut k = 0;
            while k < rows {
                let (above, here) = band.split_at_mut(k * stride);
                let above = (k > 0).then(|| &above[(k - 1) * stride..]);
                let y = b * BAND_ROWS + k;
                match rows - k {
                    1 => sum_rows::<1>(above, &mut here[..stride], [ratio.row(y)], stride),
                    2 => sum_rows::<2>(above, &mut here[..2 * stride], [ratio.row(y), ratio.row(y + 1)], stride),
                    3 => sum_rows::<3>(above, &mut here[..3 * stride], [ratio.row(y), ratio.row(y + 1), ratio.row(y + 2)], stride),
                    _ => sum_rows::<4>(above, &mut here[..4 * stride], [ratio.row(y), ratio.row(y + 1), ratio.row(y + 2), ratio.row(y + 3)], stride),
                }
                k += 4;
            }
        });
        let n_bands = h.div_ceil(BAND_ROWS).max(1);
        let mut bases = vec![0u32; n_bands * stride];
        for b in 1..n_bands {
            let (done, next) = bases.split_at_mut(b * stride);
            let last = &local[stride * b * BAND_ROWS..][..stride]; // band b - 1's last row
            for ((n, &d), &l) in next[..stride].iter_mut().zip(&done[(b - 1) * stride..]).zip(last) {
                *n = d.wrapping_add(l);
            }
        }
        Self { local, bases, stride }
    }

    /// The sum of the clipped codes over image rows below `y` and columns below `x`, modulo 2^32.
    fn at(&self, x: usize, y: usize) -> u32 {
        let band = y.saturating_sub(1) / BAND_ROWS;
        self.local[y * self.stride + x].wrapping_add(self.bases[band * self.stride + x])
    }
}

/// `G` rows of a band's table (`out`, `G` × `stride`): each entry the running sum of its image row's
/// clipped codes (`values`) plus the entry above (`above`, the band's row before; none at its top),
/// modulo 2^32. The G rows' running sums are G independent chains of adds, advanced together, so that
/// the adds overlap instead of each waiting for the one before.
fn sum_rows<const G: usize>(above: Option<&[u32]>, out: &mut [u32], values: [&[f32]; G], stride: usize) {
    assert!(out.len() == G * stride && values.iter().all(|v| v.len() + 1 == stride) && above.is_none_or(|a| a.len() >= stride));
    let mut run = [0u32; G];
    for x in 1..stride {
        let mut acc = above.map_or(0, |a| a[x]);
        for j in 0..G {
            run[j] = run[j].wrapping_add(clipped_code(values[j][x - 1]));
            acc = acc.wrapping_add(run[j]);
            out[j * stride + x] = acc;
        }
    }
    for j in 0..G {
        out[j * stride] = 0;
    }
}

impl<'a> ScaleTexture<'a> {
    /// The texture of `ratio`, the lesions found with a core in `lesions`; `buffer` is where the table
    /// will be made (any contents; `into_buffer` gives it back).
    pub fn of(ratio: &'a Plane<f32>, lesions: Vec<Rect>, buffer: Vec<u32>) -> Self {
        Self { ratio, lesions, width: ratio.width, height: ratio.height, table: OnceLock::new(), spare: Mutex::new(buffer) }
    }

    /// The table's buffer, for the next frame's `of`.
    pub fn into_buffer(self) -> Vec<u32> {
        match self.table.into_inner() {
            Some(t) => t.local,
            None => self.spare.into_inner().unwrap_or_else(|e| e.into_inner()),
        }
    }

    fn table(&self) -> &Table {
        self.table.get_or_init(|| Table::of(self.ratio, std::mem::take(&mut *self.spare.lock().unwrap_or_else(|e| e.into_inner()))))
    }

    /// The sum of the clipped codes over the `w` × `h` rectangle whose top-left corner is (x0, y0):
    /// exact, in strips of rows under `MAX_EXACT_AREA` pixels each.
    fn codes(&self, x0: usize, y0: usize, w: usize, h: usize) -> u64 {
        let t = self.table();
        let x1 = x0 + w;
        let strip = (MAX_EXACT_AREA / w.max(1)).max(1);
        (y0..y0 + h)
            .step_by(strip)
            .map(|ya| {
                let yb = (ya + strip).min(y0 + h);
                t.at(x1, yb).wrapping_sub(t.at(x0, yb)).wrapping_sub(t.at(x1, ya)).wrapping_add(t.at(x0, ya)) as u64
            })
            .sum()
    }

    /// The sum of the clipped ratio over the `w` × `h` rectangle whose top-left corner is (x0, y0):
    /// its codes' sum over `RATIO_STEPS`, exact in an f64.
    fn sum(&self, x0: usize, y0: usize, w: usize, h: usize) -> f64 {
        self.codes(x0, y0, w, h) as f64 / RATIO_STEPS as f64
    }

    /// The value of window `win` whose bounding square's top-left corner is (x0, y0) (inside the
    /// frame): a square's mean ratio; for a ring, the dimmest of its three brightest strips, so that one
    /// bright strip (a neighbour's rim that walls a pocket) does not make a ring bright, and one dim strip
    /// (a rim's gap) does not make it dim.
    fn value(&self, x0: usize, y0: usize, win: Window) -> f32 {
        let mean = |x: usize, y: usize, w: usize, h: usize| (self.sum(x, y, w, h) / (w * h) as f64) as f32;
        match win {
            Window::Square { side } => mean(x0, y0, side, side),
            Window::Ring { side, hole } => {
                let t = (side - hole) / 2; // the ring's width
                let mut strips = [
                    mean(x0, y0, side, t),
                    mean(x0, y0 + t + hole, side, t),
                    mean(x0, y0 + t, t, hole),
                    mean(x0 + t + hole, y0 + t, t, hole),
                ];
                strips.sort_by(f32::total_cmp);
                strips[1]
            }
        }
    }

    /// Whether the frame holds at least three windows of `side` px across and down (else it is too small
    /// to judge by at that scale).
    fn fits(&self, side: usize) -> bool {
        side > 0 && self.width / side >= 3 && self.height / side >= 3
    }

    /// The side (px) of the square of `area_px`, within the frame; `None` if the frame holds too few
    /// such squares to judge by.
    fn side(&self, area_px: f32) -> Option<usize> {
        let side = (area_px.max(1.0).sqrt().round() as usize).max(2);
        self.fits(side).then_some(side)
    }

    /// Does a candidate of `area_px` centred at `centre`, lying in box `own`, stand out of the frame's
    /// texture at its own scale (see the module's doc)? The squares meeting `own` are left out of the
    /// texture's sample (a large lesion in a small frame would otherwise be much of it), and so are those
    /// meeting the lesions found with a core. `true` where the frame is too small to judge by.
    pub fn stands_out(&self, centre: [f32; 2], area_px: f32, own: Rect, alpha: f32) -> bool {
        let Some(side) = self.side(area_px) else { return true };
        self.window_stands_out(centre, Window::Square { side }, own, alpha)
    }

    /// Does a rim lesion's ring (its core's area `core_px` and its rim's `rim_px`, centred at `centre`,
    /// lying in box `own`) stand out of the frame's texture at its own scale (`ring_window`), against such
    /// rings laid over the frame? A true rim's ring is its fluorescence; a pocket of the texture is walled
    /// by grains no brighter than the texture's brightest rings. The rings meeting `own` or the lesions
    /// found with a core are left out of the sample. `true` where the ring cannot be judged.
    pub fn ring_stands_out(&self, centre: [f32; 2], core_px: f32, rim_px: f32, own: Rect, alpha: f32) -> bool {
        let Some(win) = self.ring_window(core_px, rim_px) else { return true };
        self.window_stands_out(centre, win, own, alpha)
    }

    /// The square ring that lies within the annulus of a round core of `core_px` and its rim of `rim_px`
    /// (radii r and R): its hole holds the core's disc (side 2r), its outer square lies in the rim's outer
    /// circle (side √2 R), so that it averages rim only. `None` where no such ring of at least
    /// `MIN_RING_PX` a side exists (a rim thinner than about 0.4 of the core's radius: a square cannot
    /// follow it) or the frame is too small to judge by.
    fn ring_window(&self, core_px: f32, rim_px: f32) -> Option<Window> {
        let pi = std::f32::consts::PI;
        let (r, outer) = ((core_px.max(0.0) / pi).sqrt(), ((core_px + rim_px).max(0.0) / pi).sqrt());
        let side = (std::f32::consts::SQRT_2 * outer).floor() as usize;
        let hole = (2.0 * r).ceil() as usize;
        let hole = hole + (side - hole.min(side)) % 2; // centred on whole pixels
        (side >= hole + 2 * MIN_RING_PX && self.fits(side)).then_some(Window::Ring { side, hole })
    }

    /// Does window `win` centred at `centre` stand out among such windows over the frame, those meeting
    /// `own` or the lesions found with a core left out?
    fn window_stands_out(&self, centre: [f32; 2], win: Window, own: Rect, alpha: f32) -> bool {
        let side = win.side();
        let step = (side / STEP_FRACTION).max(1);
        self.table(); // made before the rows are read in parallel
        let rows: Vec<usize> = (0..=self.height - side).step_by(step).collect();
        let samples: Vec<f32> = rows
            .into_par_iter()
            .flat_map_iter(|y| (0..=self.width - side).step_by(step).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let square = Rect { x0: x, y0: y, x1: x + side, y1: y + side };
                !own.overlaps(&square) && !self.lesions.iter().any(|l| l.overlaps(&square))
            })
            .map(|(x, y)| self.value(x, y, win))
            .collect();
        if samples.len() < MIN_SQUARES {
            return true;
        }
        let Some(bar) = clipped_upper_outlier_bar(&samples, alpha) else { return true };
        let clamp = |c: f32, n: usize| ((c - 0.5 * side as f32).round().max(0.0) as usize).min(n - side);
        self.value(clamp(centre[0], self.width), clamp(centre[1], self.height), win) >= bar
    }
}

/// What a window averages.
#[derive(Clone, Copy, Debug)]
enum Window {
    Square { side: usize },
    /// A square of `side` px less the centred square of `hole` px, cut into four strips: a top and a
    /// bottom one of the full width, a left and a right one between them.
    Ring { side: usize, hole: usize },
}

impl Window {
    /// The side of the window's bounding square (px).
    fn side(self) -> usize {
        match self {
            Window::Square { side } | Window::Ring { side, .. } => side,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 400×300 frame of log-normal texture (a 12 px grain, 20% spread): lattice values bilinearly
    /// interpolated.
    fn skewed_texture() -> (usize, usize, Vec<f32>) {
        let (w, h) = (400usize, 300usize);
        let hash = |a: usize, b: usize| {
            let mut x = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
            x ^= x >> 31;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 29;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let g = 12usize;
        let lattice = |i: usize, j: usize| {
            let z = crate::stats::normal_quantile(hash(i, j).clamp(1e-6, 1.0 - 1e-6)) as f32;
            (0.2 * z).exp()
        };
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (i, j, fx, fy) = (x / g, y / g, (x % g) as f32 / g as f32, (y % g) as f32 / g as f32);
                data[y * w + x] = lattice(i, j) * (1.0 - fx) * (1.0 - fy) + lattice(i + 1, j) * fx * (1.0 - fy) + lattice(i, j + 1) * (1.0 - fx) * fy + lattice(i + 1, j + 1) * fx * fy;
            }
        }
        (w, h, data)
    }

    /// The brightest window `win` of `t` with its left edge at `x_from` or beyond: its mean and centre.
    fn brightest(t: &ScaleTexture, win: Window, x_from: usize) -> (f32, [f32; 2], Rect) {
        let side = win.side();
        let (mean, x, y) = (0..t.height - side)
            .flat_map(|y| (x_from..t.width - side).map(move |x| (x, y)))
            .map(|(x, y)| (t.value(x, y, win), x, y))
            .fold((0f32, 0, 0), |a, b| if b.0 > a.0 { b } else { a });
        let half = 0.5 * side as f32;
        (mean, [x as f32 + half, y as f32 + half], Rect { x0: x, y0: y, x1: x + side, y1: y + side })
    }

    /// The table, made in bands of rows four at a time, gives every rectangle's sum exactly as a plain
    /// sum of its clipped pixels does: a frame whose height is no multiple of the band or of four, with
    /// values on the ratio map's grid, some over the clip.
    #[test]
    fn the_banded_table_sums_every_rectangle_exactly() {
        let (w, h) = (37usize, 2 * BAND_ROWS + 7);
        let data: Vec<f32> = (0..w * h).map(|i| crate::analysis::quantise_ratio(((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32 * 5.0)).collect();
        let ratio = Plane { width: w, height: h, data };
        let t = ScaleTexture::of(&ratio, Vec::new(), vec![7; 3]); // a buffer of the wrong size and contents
        for (x0, y0, rw, rh) in [(0, 0, w, h), (0, 0, 1, 1), (3, 60, 5, 9), (0, 63, w, 2), (10, BAND_ROWS * 2, 20, 7), (36, 0, 1, h)] {
            let plain: f64 = (y0..y0 + rh).flat_map(|y| (x0..x0 + rw).map(move |x| (x, y))).map(|(x, y)| ratio.data[y * w + x].min(RATIO_CLIP) as f64).sum();
            assert_eq!(t.sum(x0, y0, rw, rh), plain, "{rw}x{rh} at ({x0}, {y0})");
        }
        assert_eq!(t.into_buffer().len(), (w + 1) * (h + 1), "the buffer comes back for the next frame");
    }

    /// Rectangles whose sums pass 2^32 codes (a frame over `MAX_EXACT_AREA` pixels, most of it at the
    /// clip) are summed exactly all the same, in strips.
    #[test]
    fn rectangles_past_32_bits_are_summed_exactly() {
        let (w, h) = (601usize, 503usize);
        assert!(w * h > MAX_EXACT_AREA);
        let data: Vec<f32> = (0..w * h).map(|i| if i % 97 == 0 { 1.25 } else { 9.0 }).collect();
        let ratio = Plane { width: w, height: h, data };
        let t = ScaleTexture::of(&ratio, Vec::new(), Vec::new());
        for (x0, y0, rw, rh) in [(0, 0, w, h), (1, 2, w - 1, h - 2), (0, 0, 601, 460), (5, 100, 300, 400)] {
            let plain: f64 = (y0..y0 + rh).flat_map(|y| (x0..x0 + rw).map(move |x| (x, y))).map(|(x, y)| ratio.data[y * w + x].min(RATIO_CLIP) as f64).sum();
            assert!(plain * RATIO_STEPS as f64 > u32::MAX as f64 || rw * rh < MAX_EXACT_AREA);
            assert_eq!(t.sum(x0, y0, rw, rh), plain, "{rw}x{rh} at ({x0}, {y0})");
        }
    }

    /// Skewed texture with one disc of 15 px radius at 1.8 times the background: the disc stands out at
    /// its scale; the texture's brightest square of the disc's area, away from the disc, does not.
    #[test]
    fn a_lesion_stands_out_of_skewed_texture_and_its_brightest_patch_does_not() {
        let (w, h, mut data) = skewed_texture();
        for y in 0..h {
            for x in 0..w {
                if ((x as f32 - 120.0).powi(2) + (y as f32 - 180.0).powi(2)).sqrt() <= 15.0 {
                    data[y * w + x] = 1.8 * data[y * w + x].max(1.0);
                }
            }
        }
        let ratio = Plane { width: w, height: h, data };
        let t = ScaleTexture::of(&ratio, Vec::new(), Vec::new());
        let disc_area = std::f32::consts::PI * 15.0 * 15.0;
        let disc_box = Rect { x0: 105, y0: 165, x1: 136, y1: 196 };
        assert!(t.stands_out([120.0, 180.0], disc_area, disc_box, 0.05), "the lesion at 1.8");
        let side = disc_area.sqrt().round() as usize;
        let (mean, centre, patch) = brightest(&t, Window::Square { side }, 160);
        assert!(mean > 1.2, "the texture has bright patches ({mean})");
        assert!(!t.stands_out(centre, disc_area, patch, 0.05), "the texture's brightest square at {centre:?}, mean {mean}");
    }

    /// A ring's value is the dimmest of its three brightest strips: one bright strip (a neighbour's rim
    /// walling a pocket) leaves it at the liver's level, one dim strip (a rim's gap) leaves it at the rim's.
    #[test]
    fn one_strip_neither_makes_nor_breaks_a_ring() {
        let win = Window::Ring { side: 32, hole: 20 };
        let (w, h, c) = (100usize, 100usize, 50i32);
        let paint = |strips: [f32; 4]| {
            let mut data = vec![1.0f32; w * h];
            for dy in -16..16 {
                for dx in -16..16 {
                    let k = match () {
                        _ if dy < -10 => 0,
                        _ if dy >= 10 => 1,
                        _ if dx < -10 => 2,
                        _ if dx >= 10 => 3,
                        _ => continue, // the hole
                    };
                    data[(c + dy) as usize * w + (c + dx) as usize] = strips[k];
                }
            }
            Plane { width: w, height: h, data }
        };
        let value = |strips| {
            let ratio = paint(strips);
            ScaleTexture::of(&ratio, Vec::new(), Vec::new()).value(34, 34, win)
        };
        assert_eq!(value([2.0; 4]), 2.0, "a complete rim");
        assert_eq!(value([2.0, 2.0, 1.0, 2.0]), 2.0, "a rim with a gap on one side");
        assert_eq!(value([1.0, 3.0, 1.0, 1.0]), 1.0, "a pocket walled on one side by a neighbour's rim");
    }

    /// Skewed texture with one rim lesion (a core of 12 px radius at 0.8, a rim to 20 px at 1.6): its
    /// ring stands out; the texture's brightest ring of the same size, away from it, does not.
    #[test]
    fn a_rim_stands_out_of_skewed_texture_and_its_brightest_ring_does_not() {
        let (w, h, mut data) = skewed_texture();
        for y in 0..h {
            for x in 0..w {
                let r = ((x as f32 - 120.0).powi(2) + (y as f32 - 150.0).powi(2)).sqrt();
                if r <= 12.0 {
                    data[y * w + x] = 0.8;
                } else if r <= 20.0 {
                    data[y * w + x] = 1.6 * data[y * w + x].max(1.0);
                }
            }
        }
        let ratio = Plane { width: w, height: h, data };
        let t = ScaleTexture::of(&ratio, Vec::new(), Vec::new());
        let pi = std::f32::consts::PI;
        let (core, rim) = (pi * 12.0 * 12.0, pi * (20.0 * 20.0 - 12.0 * 12.0));
        let core_box = Rect { x0: 108, y0: 138, x1: 133, y1: 163 };
        assert!(t.ring_stands_out([120.0, 150.0], core, rim, core_box, 0.05), "the rim at 1.6");
        let (mean, centre, ring) = brightest(&t, t.ring_window(core, rim).unwrap(), 180);
        assert!(mean > 1.15, "the texture has bright rings ({mean})");
        assert!(!t.ring_stands_out(centre, core, rim, ring, 0.05), "the texture's brightest ring at {centre:?}, mean {mean}");
    }
}
