//! The trial's checks after the survey: during the cut (`transection`) any fluorescence in the region of
//! interest above a TBR threshold is flagged; in the wound bed after it (`wound-bed`) the same, plus a
//! tally of the distinct spots seen over the procedure and a verdict that says only what was measured.
//! The flag is steady: raised when two of the last three frames hold a spot, lowered when two of the last
//! three hold none (no flicker from one noisy frame; at most two frames of lag).
//!
//! A spot must stand out from the tissue around it, not only from the frame's background level
//! (`spot_evidence`): its peak reaches `min_tbr` times the local background (the median of a ring around
//! it) and `SPOT_MIN_SIGMAS` local spreads above it, so that the bright grains of textured liver are not
//! spots while residual fluorescence at TBR 1.8 on it is; and it must have the sharp edge of fluorescent
//! tissue on at least half its boundary (`AnalysisParams::homogeneous_edge_gradient_per_mm`): a grain's
//! flank is gentle, and where the grain is coarse the ring holds few grains and the local test alone lets a
//! grain through. Specular glints are not spots: the blurred
//! skirt of a white-light glint (its core is excluded from the mask already; where the skirt joins other
//! fluorescence or a grain, the spot is judged on its pixels beyond the skirt), and a NIR-only glint by its
//! own signature, a speck of optical size (under 2 mm² where the scale is known, `GLINT_OPTICAL_MAX_PX`;
//! `GLINT_MAX_PX` where it is not) that reaches the sensor's clipping level, or
//! clipped pixels at `GLINT_MIN_RATIO` times the background or more, whatever their extent (where such a
//! glint lies inside a larger spot, its own skirt or a grain, the spot is judged on its pixels beyond the
//! glint core's half-width along each axis). Nor is a highlight on an instrument (a shaft's specular
//! line, blurred so that it is white in neither image): a spot whose surroundings lie in an opaque
//! object's shadow, darker than any tissue (`SHADOW_MAX_RATIO`), is dropped.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analysis::LesionKind;
use crate::frame::{NirView, Plane, RgbView};
use crate::measure::figures::Figures;
use crate::measure::tracking::Tracker;
use crate::raster::rect::Rect;
use crate::reference::components::{Component, ComponentRun, Connectivity, component_runs};
use crate::reference::regions::sharp_edge;
use crate::analysis::is_glint;
pub use crate::analysis::{Roi, Spot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Before resection: lesions, kinds, cores and margin contours.
    Survey,
    /// During the cut: fluorescence in the region of interest is flagged at once.
    Transection,
    /// After resection: as transection, with a tally of spots and a verdict.
    WoundBed,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Survey, Mode::Transection, Mode::WoundBed];

    /// As the command line and the metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Survey => "survey",
            Mode::Transection => "transection",
            Mode::WoundBed => "wound-bed",
        }
    }
}

/// A mode by its name (`Mode::name`).
impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Mode::ALL.into_iter().find(|m| m.name() == s.trim()).ok_or_else(|| format!("'{s}' is not one of {}", Mode::ALL.map(Mode::name).join(", ")))
    }
}

/// Fluorescent regions inside the ROI whose peak ratio reaches `min_tbr` and whose area reaches
/// `min_area_px` (pixels outside the ROI do not count). Uses the cleaned fluorescence mask (glints out).
pub fn find_spots(ratio: &Plane<f32>, fluo: &Plane<u8>, roi: Roi, min_tbr: f32, min_area_px: u32) -> Vec<Spot> {
    let (rw, rh) = (roi.w, roi.h);
    if rw == 0 || rh == 0 {
        return Vec::new();
    }
    // The components of the ROI's crop of the mask are the spots' candidates, with their areas and boxes;
    // one pass over their runs adds the centroid sums and the peak ratio of those big enough.
    let mut parent = Vec::new();
    let area = Rect { x0: roi.x, y0: roi.y, x1: roi.x + rw, y1: roi.y + rh };
    let (comps, runs) = component_runs(fluo, area, 1, Connectivity::Eight, &mut parent);
    spots_of_runs(&comps, runs, ratio, area, min_area_px, |_, _| false).into_iter().filter(|(s, _)| s.peak_tbr >= min_tbr).map(|(s, _)| s).collect()
}

/// The spots that the components `comps` of the crop `area` (their runs `runs`, as `component_runs`
/// gives them) of at least `min_area_px` pixels make: area, box, centroid and peak ratio in frame
/// coordinates, each with whether `flag` held for any of its runs (frame row, frame columns).
fn spots_of_runs(comps: &[Component], runs: Vec<ComponentRun>, ratio: &Plane<f32>, area: Rect, min_area_px: u32, mut flag: impl FnMut(usize, std::ops::Range<usize>) -> bool) -> Vec<(Spot, bool)> {
    // One pass over the runs adds the centroid sums and the peak ratio of the components big enough.
    let mut acc: Vec<(f64, f64, f32, bool)> = vec![(0.0, 0.0, 0.0, false); comps.len()];
    for ComponentRun { y, xs, component: k } in runs {
        if comps[k].area < min_area_px {
            continue;
        }
        // Pixel centres (x + 0.5, y + 0.5) in frame coordinates, summed over the run.
        let (y, xs) = (area.y0 + y, area.x0 + xs.start..area.x0 + xs.end);
        let (n, fx0) = (xs.len() as f64, xs.start as f64);
        let a = &mut acc[k];
        a.0 += n * (fx0 + 0.5) + n * (n - 1.0) / 2.0;
        a.1 += n * (y as f64 + 0.5);
        a.2 = ratio.row(y)[xs.clone()].iter().fold(a.2, |m, &v| m.max(v));
        a.3 = a.3 || flag(y, xs);
    }
    comps
        .iter()
        .zip(acc)
        .filter(|(c, _)| c.area >= min_area_px)
        .map(|(c, (sx, sy, peak, flagged))| {
            let spot = Spot {
                id: 0,
                centroid_px: [(sx / c.area as f64) as f32, (sy / c.area as f64) as f32],
                area_px: c.area,
                area_mm2: None,
                peak_tbr: peak,
                bbox: [area.x0 + c.bbox.x0, area.y0 + c.bbox.y0, area.x0 + c.bbox.x1, area.y0 + c.bbox.y1],
            };
            (spot, flagged)
        })
        .collect()
}

/// The least area of a spot, px: specks under 0.5 mm² (4 px without a scale) are noise, not findings.
pub fn min_spot_area_px(mm_per_px: Option<f32>) -> u32 {
    mm_per_px.map_or(4, |s| ((0.5 / (s * s)).ceil() as u32).max(4))
}

/// A spot's peak stands this many local spreads (robust sigmas of the ring around it) above the local
/// background: a 4-sigma excursion, which the grains of textured liver (5-25 %) do not reach.
pub const SPOT_MIN_SIGMAS: f32 = 4.0;

/// A spot's edge is at least this many times as steep (relative gradient) as the steepest tenth of the
/// tissue around it: tuning beds 9300 at skewed texture flagged 42 of 144 clean frames, 6 at 1.5 or 2,
/// every spotted frame still flagged.
pub const SPOT_EDGE_OVER_TEXTURE: f32 = 2.0;

/// Tissue is never darker than this ratio to its background; an opaque instrument is
/// (`AnalysisParams::occluder_max_ratio`'s default). A spot surrounded by such darkness is a reflection
/// on the instrument.
pub const SHADOW_MAX_RATIO: f32 = crate::params::OCCLUDER_MAX_RATIO;

/// How far out from a spot's boundary its surroundings are read: beyond the skirt that optics and motion
/// blur give a bright highlight (2–4 px of it still read 0.3–0.7 on the independent set's shafts).
pub const SHADOW_REACH_PX: std::ops::RangeInclusive<isize> = 5..=8;

/// A NIR-only glint is a speck. A specular highlight's size is optical, whatever the scale: up to about 8 px
/// across its clipped core, as much again with the skirt of optics and blur (`GLINT_OPTICAL_MAX_PX` in all).
/// Where the scale is known, a clipped region of that size is a speck when it is also under
/// `GLINT_MAX_MM2`, the smallest residual spot the check promises to flag (tuning beds 9100 flagged such
/// glints of 150 px at 0.08 mm/px); where it is not, only one of at most `GLINT_MAX_PX` pixels is. In NIR
/// alone, fluorescence that clips under 2 mm² is indistinguishable from a glint and is taken for one.
pub const GLINT_MAX_PX: u32 = 96;
pub const GLINT_OPTICAL_MAX_PX: u32 = 320;
pub const GLINT_MAX_MM2: f32 = 2.0;

/// NIR that clips where clipping means at least this ratio to the background is a reflection (a glint),
/// whatever its size: residual ICG and rims stand 1.5–4 times their background, a specular highlight far
/// over the sensor's range. Where the gain lifts the background so that fluorescence itself clips, the
/// clipped ratio stays under this and the rule does not apply.
pub const GLINT_MIN_RATIO: f32 = 4.0;

/// Pixels within this many of a white-light glint are its skirt (the glint's edge blurred by motion
/// or optics, still bright in the NIR image while no longer white in the white light).
pub const GLINT_SKIRT_PX: usize = 4;

/// The NIR sensor's clipping level: the frame's top code when at least 3 pixels hold it (a clipped
/// sensor repeats its top code; an unclipped frame's maximum is a lone pixel). One pass over the frame,
/// only when a candidate needs it.
pub fn clip_level(nir: NirView<'_>) -> Option<u16> {
    // One read of the frame, blocks in parallel: a block's maximum and how often it occurs, in two
    // branch-free passes over the block while it is in cache (the compiler vectorises both), merged.
    const BLOCK: usize = 1 << 14;
    if nir.data.is_empty() {
        return None;
    }
    let (max, count) = nir
        .data
        .par_chunks(BLOCK)
        .map(|block| {
            let m = block.iter().copied().fold(0, u16::max);
            (m, block.iter().map(|&v| (v == m) as u32).sum::<u32>())
        })
        .reduce(|| (0, 0), |(a, n), (b, k)| match a.cmp(&b) {
            std::cmp::Ordering::Less => (b, k),
            std::cmp::Ordering::Greater => (a, n),
            std::cmp::Ordering::Equal => (a, n + k),
        });
    (count >= 3).then_some(max)
}

/// What a NIR-only glint makes of a fluorescent region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlintCheck {
    /// The region is a glint: a clipped speck, or nothing beyond its glint's clipped core reaches the TBR.
    Glint,
    /// A glint lies inside it: its peak ratio beyond the glint's reach, which decides instead, and how
    /// many of its pixels there reach the TBR (what of it is more than the glint's skirt).
    Beside { peak: f32, area_px: u32 },
    /// No glint in it.
    NoGlint,
}

/// The NIR-only glint test of a fluorescent region (`pixels` lists its pixels; `speck`: it is small
/// enough to be a glint whole) against the frame's clipping level `clip`: a clipped speck is a glint;
/// otherwise the glint's core is its clipped pixels where clipping means `GLINT_MIN_RATIO` times the
/// background (reflection, whatever its size), else a clipped speck of at most `GLINT_MAX_PX`, and the
/// region is judged on its pixels beyond the core's own half-width along each axis (optics and motion
/// spread a glint in proportion to its size, and along a streak), and at least `GLINT_SKIRT_PX`: below
/// `min_tbr` there, it is the glint's skirt.
/// A core that fills less than a quarter of its box is scattered, not a plateau: no glint.
pub fn without_glint<I: Iterator<Item = (usize, usize)>>(nir: NirView<'_>, ratio: &Plane<f32>, clip: Option<u16>, pixels: impl Fn() -> I, speck: bool, min_tbr: f32) -> GlintCheck {
    let Some(c) = clip else { return GlintCheck::NoGlint };
    let clipped: Vec<(usize, usize)> = pixels().filter(|&(x, y)| nir.get(x, y) >= c).collect();
    if clipped.is_empty() {
        return GlintCheck::NoGlint;
    }
    if speck {
        return GlintCheck::Glint;
    }
    let over: Vec<(usize, usize)> = clipped.iter().copied().filter(|&(x, y)| ratio.get(x, y) >= GLINT_MIN_RATIO).collect();
    let core = if !over.is_empty() { over } else if clipped.len() as u32 <= GLINT_MAX_PX { clipped } else { return GlintCheck::NoGlint };
    let (cx0, cy0) = core.iter().fold((usize::MAX, usize::MAX), |(a, b), &(x, y)| (a.min(x), b.min(y)));
    let (cx1, cy1) = core.iter().fold((0, 0), |(a, b), &(x, y)| (a.max(x), b.max(y)));
    if 4 * core.len() < (cx1 + 1 - cx0) * (cy1 + 1 - cy0) {
        // A glint's core is a solid clipped plateau; pixels at the frame's top code scattered over a
        // bright, flat region (a 12-bit frame's maximum repeated by quantisation) are none.
        return GlintCheck::NoGlint;
    }
    // The reach along each axis is the core's own half-width there: an oval or motion-streaked glint's
    // skirt runs as far beyond its long axis as its core does.
    let (reach_x, reach_y) = (GLINT_SKIRT_PX.max((cx1 + 2 - cx0) / 2), GLINT_SKIRT_PX.max((cy1 + 2 - cy0) / 2));
    let away = |x: usize, y: usize| x + reach_x < cx0 || x > cx1 + reach_x || y + reach_y < cy0 || y > cy1 + reach_y;
    let (peak, area_px) = pixels()
        .filter(|&(x, y)| away(x, y))
        .map(|(x, y)| ratio.get(x, y))
        .fold((f32::NEG_INFINITY, 0u32), |(m, n), v| (m.max(v), n + (v >= min_tbr) as u32));
    if peak < min_tbr { GlintCheck::Glint } else { GlintCheck::Beside { peak, area_px } }
}

/// The boundary pixels (indices) of the fluorescence in box `b` (x0, y0, x1, y1): fluorescent pixels at
/// least `margin` (1 or more) from the frame's edge with a 4-neighbour that is not fluorescent.
fn boundary_pixels(fluo: &Plane<u8>, b: [usize; 4], margin: usize) -> impl Iterator<Item = usize> + '_ {
    let (w, h) = (fluo.width, fluo.height);
    let [x0, y0, x1, y1] = b;
    (y0.max(margin)..y1.min(h.saturating_sub(margin)))
        .flat_map(move |y| (x0.max(margin)..x1.min(w.saturating_sub(margin))).map(move |x| y * w + x))
        .filter(move |&i| fluo.data[i] != 0 && [i - 1, i + 1, i - w, i + w].iter().any(|&j| fluo.data[j] == 0))
}

/// Every other pixel (x + y even) of the box `ring` that lies at least `clear` px outside the spot's box
/// `b`: the tissue around a spot.
fn ring_pixels(b: [usize; 4], ring: [usize; 4], clear: usize) -> impl Iterator<Item = (usize, usize)> {
    let ([x0, y0, x1, y1], [rx0, ry0, rx1, ry1]) = (b, ring);
    (ry0..ry1)
        .flat_map(move |y| (rx0..rx1).map(move |x| (x, y)))
        .filter(move |&(x, y)| (x + y) % 2 == 0 && !(x + clear >= x0 && x < x1 + clear && y + clear >= y0 && y < y1 + clear))
}

/// The ratio smoothed by a 3×3 box (the nine values summed in raster order, then divided by 9) over the
/// box `b` (x0, y0, x1, y1), which lies at least 1 px inside the frame: a row at a time, so the sums
/// vectorise, each value what summing the nine around that pixel gives.
struct BoxedRatio {
    x0: usize,
    y0: usize,
    width: usize,
    data: Vec<f32>,
}

impl BoxedRatio {
    fn new(ratio: &Plane<f32>, b: [usize; 4]) -> Self {
        let [x0, y0, x1, y1] = b;
        let (w, n) = (ratio.width, x1 - x0);
        let mut data = Vec::with_capacity(n * (y1 - y0));
        for y in y0..y1 {
            // The nine neighbours of the row's pixels x0..x1 as nine shifted slices.
            let at = |dy: usize, dx: usize| &ratio.data[(y + dy - 1) * w + x0 + dx - 1..][..n];
            let (a, b, c, d, e, f, g, hh, i) = (at(0, 0), at(0, 1), at(0, 2), at(1, 0), at(1, 1), at(1, 2), at(2, 0), at(2, 1), at(2, 2));
            data.extend((0..n).map(|k| (a[k] + b[k] + c[k] + d[k] + e[k] + f[k] + g[k] + hh[k] + i[k]) / 9.0));
        }
        Self { x0, y0, width: n, data }
    }

    #[inline]
    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[(y - self.y0) * self.width + x - self.x0]
    }
}

/// The evidence that decides whether a candidate spot is fluorescence (see the module's doc).
pub struct SpotEvidence<'a> {
    pub ratio: &'a Plane<f32>,
    pub wl: RgbView<'a>,
    pub nir: NirView<'a>,
    /// White-light pixels whose darkest channel reaches this are specular glints.
    pub glint_level: u8,
    pub min_tbr: f32,
    /// The image scale, when known (mm a pixel).
    pub mm_per_px: Option<f32>,
    /// A sharp edge's ratio gradient, per px (`AnalysisParams::homogeneous_edge_gradient_per_mm`).
    pub sharp_per_px: f32,
}

impl SpotEvidence<'_> {
    /// Keeps the spots that stand out from the tissue around them and are not glints; each kept spot's
    /// `peak_tbr` becomes its peak over the local background. `clip` holds the frame's `clip_level` once
    /// measured (by this or another test of the same frame), measured here only when a candidate needs it.
    /// A candidate that fails as a whole is searched for the spots it holds (`peaks_within`).
    pub fn keep(&self, spots: Vec<Spot>, fluo: &Plane<u8>, clip: &OnceCell<Option<u16>>) -> Vec<Spot> {
        let mut scratch = None;
        let mut kept = Vec::new();
        for s in spots {
            match self.judge(s.clone(), fluo, clip) {
                Some(k) => kept.push(k),
                None => kept.extend(self.peaks_within(&s, fluo, clip, &mut scratch)),
            }
        }
        kept
    }

    /// The local background around box `b`: the ring of pixels around it (as wide as the box's larger
    /// side, at least `Spot::RING_MIN_PX`), every other pixel; its median, its robust spread (1.4826 MAD)
    /// and the ring's outer box. `None`: too few pixels around it to judge.
    fn local_background(&self, s: &Spot) -> Option<(f32, f32, [usize; 4])> {
        let (w, h) = (self.ratio.width, self.ratio.height);
        let [x0, y0, x1, y1] = s.bbox;
        let side = s.ring_side();
        let ring_box = [x0.saturating_sub(side), y0.saturating_sub(side), (x1 + side).min(w), (y1 + side).min(h)];
        let mut ring: Vec<f32> = ring_pixels(s.bbox, ring_box, 0).map(|(x, y)| self.ratio.get(x, y)).collect();
        let median = crate::stats::median(&mut ring).filter(|_| ring.len() >= 8)?;
        let mut dev: Vec<f32> = ring.iter().map(|v| (v - median).abs()).collect();
        Some((median, 1.4826 * crate::stats::median(&mut dev).unwrap_or(0.0), ring_box))
    }

    /// The spots inside a candidate that failed as a whole: residual fluorescence on textured tissue joins
    /// the grains around it at the frame's level, and the joined region has the grains' gentle flanks
    /// and their spread. Its parts that reach the bar a spot's peak must clear over the candidate's own
    /// surroundings (`min_tbr` times their median and `SPOT_MIN_SIGMAS` spreads above it) are each
    /// judged as a spot of their own, on the mask of those parts: a spot's sharp edge stands at that
    /// level too, a grain's peak there is still a gentle flank. Parts where the NIR clips are left to
    /// the candidate's glint tests.
    fn peaks_within(&self, s: &Spot, fluo: &Plane<u8>, clip: &OnceCell<Option<u16>>, scratch: &mut Option<Plane<u8>>) -> Vec<Spot> {
        let Some((median, spread, _)) = self.local_background(s) else { return Vec::new() };
        let bar = (self.min_tbr * median).max(median + SPOT_MIN_SIGMAS * spread);
        if s.peak_tbr < bar {
            return Vec::new();
        }
        let (w, h) = (fluo.width, fluo.height);
        let parts = scratch.get_or_insert_with(|| Plane::new(w, h));
        let [x0, y0, x1, y1] = s.bbox;
        for y in y0..y1 {
            let (f, r, m) = (&fluo.row(y)[x0..x1], &self.ratio.row(y)[x0..x1], &mut parts.data[y * w + x0..y * w + x1]);
            for ((m, &f), &r) in m.iter_mut().zip(f).zip(r) {
                *m = (f != 0 && r >= bar) as u8;
            }
        }
        let area = Rect { x0, y0, x1, y1 };
        let (comps, runs) = component_runs(parts, area, 1, Connectivity::Eight, &mut Vec::new());
        // A part where the sensor clips was judged with its candidate by the glint tests (a glint's
        // skirt, blurred, reaches the bar too): only parts that do not clip are judged alone.
        let top = clip.get_or_init(|| clip_level(self.nir)).unwrap_or(u16::MAX);
        let clips = |y: usize, xs: std::ops::Range<usize>| self.nir.data[y * w + xs.start..y * w + xs.end].iter().any(|&v| v >= top);
        let candidates: Vec<Spot> =
            spots_of_runs(&comps, runs, self.ratio, area, min_spot_area_px(self.mm_per_px), clips).into_iter().filter(|(_, clipped)| !clipped).map(|(s, _)| s).collect();
        let kept = candidates.into_iter().filter_map(|c| self.judge(c, parts, clip)).collect();
        for y in y0..y1 {
            parts.data[y * w + x0..y * w + x1].fill(0);
        }
        kept
    }

    /// Most of the spot's surroundings (the non-fluorescent pixels `SHADOW_REACH_PX` out from its boundary
    /// along the axes) are under `SHADOW_MAX_RATIO` of the background: it lies on an opaque object, not
    /// in tissue.
    fn in_shadow(&self, s: &Spot, fluo: &Plane<u8>) -> bool {
        let (w, h) = (fluo.width as isize, fluo.height as isize);
        let (mut n, mut dark) = (0u32, 0u32);
        for i in boundary_pixels(fluo, s.bbox, 1) {
            let (x, y) = ((i % fluo.width) as isize, (i / fluo.width) as isize);
            for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                for d in SHADOW_REACH_PX {
                    let (xx, yy) = (x + d * dx, y + d * dy);
                    if !(0..w).contains(&xx) || !(0..h).contains(&yy) {
                        continue;
                    }
                    let j = (yy * w + xx) as usize;
                    if fluo.data[j] == 0 {
                        n += 1;
                        dark += (self.ratio.data[j] < SHADOW_MAX_RATIO) as u32;
                    }
                }
            }
        }
        2 * dark > n
    }

    /// At least half the spot's boundary pixels (its fluorescent pixels with a 4-neighbour that is not,
    /// off the image's outermost rows and columns) have a ratio gradient of at least `sharp_per_px`.
    fn sharp_edged(&self, s: &Spot, fluo: &Plane<u8>) -> bool {
        let (boundary, sharp) = boundary_pixels(fluo, s.bbox, 1)
            .fold((0u32, 0u32), |(n, k), i| (n + 1, k + sharp_edge(&self.ratio.data, fluo.width, i, self.sharp_per_px) as u32));
        2 * sharp >= boundary
    }

    /// The spot's median boundary gradient, relative (|∇r| / r: a multiplicative texture's slope does not
    /// depend on its level) and on the ratio smoothed by a 3×3 box, reaches `SPOT_EDGE_OVER_TEXTURE` times the 90th percentile of the relative
    /// gradients of the tissue in the ring `ring` (x0, y0, x1, y1) around its box (every other pixel, 3 px
    /// clear of the box, where the smoothed slope no longer sees the spot's own edge).
    fn steeper_than_texture(&self, s: &Spot, fluo: &Plane<u8>, ring: [usize; 4]) -> bool {
        let (w, h) = (fluo.width, fluo.height);
        // Slopes are read at pixels 2 px or more inside the frame, in the ring's box.
        let (sx0, sy0, sx1, sy1) = (ring[0].max(2), ring[1].max(2), ring[2].min(w.saturating_sub(2)), ring[3].min(h.saturating_sub(2)));
        if sx0 >= sx1 || sy0 >= sy1 {
            return true; // no edge and no tissue to compare: the other tests decide
        }
        // On the ratio smoothed by a 3×3 box: pixel noise has steep slopes of its own, a texture's flank and
        // an edge keep theirs. Each smoothed value is taken once (`BoxedRatio`) rather than by each of the
        // up to five slopes that read it.
        let boxed = BoxedRatio::new(self.ratio, [sx0 - 1, sy0 - 1, sx1 + 1, sy1 + 1]);
        let slope = |x: usize, y: usize| {
            let gx = 0.5 * (boxed.at(x + 1, y) - boxed.at(x - 1, y));
            let gy = 0.5 * (boxed.at(x, y + 1) - boxed.at(x, y - 1));
            (gx * gx + gy * gy).sqrt() / boxed.at(x, y).max(1e-3)
        };
        let mut edge: Vec<f32> = boundary_pixels(fluo, s.bbox, 2).map(|i| slope(i % w, i / w)).collect();
        let mut around: Vec<f32> = ring_pixels(s.bbox, ring, 3)
            .filter(|&(x, y)| (2..w.saturating_sub(2)).contains(&x) && (2..h.saturating_sub(2)).contains(&y))
            .map(|(x, y)| slope(x, y))
            .collect();
        match (crate::stats::median(&mut edge), crate::stats::percentile(&mut around, 0.9)) {
            (Some(e), Some(t)) => e >= SPOT_EDGE_OVER_TEXTURE * t,
            _ => true, // no edge or no tissue around to compare: the other tests decide
        }
    }

    fn judge(&self, mut s: Spot, fluo: &Plane<u8>, clip: &OnceCell<Option<u16>>) -> Option<Spot> {
        let (w, h) = (self.ratio.width, self.ratio.height);
        let [x0, y0, x1, y1] = s.bbox;
        // The spot's fluorescent pixels in its box (a neighbour's pixels in the box count too: close).
        let spot_px = || (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| fluo.get(x, y) != 0);
        // A NIR-only glint: a speck that clips, or a clipped core with its own skirt.
        let speck = match self.mm_per_px {
            Some(m) => s.area_px <= GLINT_OPTICAL_MAX_PX && (s.area_px as f32) * m * m < GLINT_MAX_MM2,
            None => s.area_px <= GLINT_MAX_PX,
        };
        let clip = *clip.get_or_init(|| clip_level(self.nir));
        match without_glint(self.nir, self.ratio, clip, spot_px, speck, self.min_tbr) {
            GlintCheck::Glint => return None,
            GlintCheck::Beside { peak, .. } => s.peak_tbr = peak,
            GlintCheck::NoGlint => {}
        }
        // A white-light glint's skirt: most of the spot lies next to glint pixels.
        let glint = |x: usize, y: usize| {
            let i = 3 * (y * w + x);
            is_glint(&self.wl.data[i..i + 3], self.glint_level)
        };
        let r = GLINT_SKIRT_PX;
        let near_glint = |x: usize, y: usize| {
            (y.saturating_sub(r)..(y + r + 1).min(h)).any(|yy| (x.saturating_sub(r)..(x + r + 1).min(w)).any(|xx| glint(xx, yy)))
        };
        // Where a glint lies in the spot (a grain of the texture or a duct touching the skirt), the spot is
        // judged on its pixels beyond the skirt, as for a NIR-only glint: the skirt's own ratio is no
        // evidence of fluorescence.
        let (n, skirt, beyond) = spot_px().fold((0u32, 0u32, f32::NEG_INFINITY), |(n, k, m), (x, y)| {
            if near_glint(x, y) { (n + 1, k + 1, m) } else { (n + 1, k, m.max(self.ratio.get(x, y))) }
        });
        if 2 * skirt >= n || (skirt > 0 && beyond < self.min_tbr) {
            return None;
        }
        if skirt > 0 {
            s.peak_tbr = s.peak_tbr.min(beyond);
        }
        // A reflection on an instrument (a shaft's specular line, white in neither image once blurred):
        // fluorescence lies in tissue, whose NIR stays a sizeable part of the background (a tumour's core
        // at 0.3 of it), while a highlight on an opaque shaft lies in the shaft's shadow.
        if self.in_shadow(&s, fluo) {
            return None;
        }
        // The local background (`local_background`).
        let Some((median, spread, ring_box)) = self.local_background(&s) else {
            return Some(s); // no room around it to judge: kept
        };
        let local_tbr = s.peak_tbr / median.max(1e-3);
        if local_tbr < self.min_tbr || s.peak_tbr - median < SPOT_MIN_SIGMAS * spread {
            return None;
        }
        // Fluorescent tissue has a sharp edge; a grain of the texture a gentle flank (tens of times less
        // steep), and where the grain is coarse the ring holds few grains, so that its spread reads low and
        // a grain can pass the test above.
        if !self.sharp_edged(&s, fluo) {
            return None;
        }
        // And sharper than the tissue around it: a texture skewed to bright grains steepens their flanks
        // with their brightness (a grain at twice the background has twice the slope), so that a bright
        // grain passes the fixed gradient; its flank is still a flank of the texture, while fluorescent
        // tissue's edge is steeper than the texture's steepest tenth by far.
        if !self.steeper_than_texture(&s, fluo, ring_box) {
            return None;
        }
        s.peak_tbr = local_tbr;
        Some(s)
    }
}

/// A spot recorded in the wound-bed tally.
#[derive(Clone, Debug, Serialize)]
pub struct TalliedSpot {
    pub id: u32,
    pub first_frame: u64,
    pub frames: u32,
    pub max_area_mm2: Option<f32>,
    pub max_area_px: u32,
    pub peak_tbr: f32,
}

/// Per-frame state of the transection / wound-bed check.
#[derive(Clone, Debug, Serialize)]
pub struct FrameFindings {
    pub mode: Mode,
    pub flag: bool,
    pub spots: Vec<Spot>,
    /// Spot IDs first confirmed on this frame (a snapshot is due).
    pub new_spots: Vec<u32>,
}

pub struct FindingsTracker {
    pub mode: Mode,
    pub min_tbr: f32,
    history: VecDeque<bool>,
    flag: bool,
    tracker: Tracker,
    frames: u64,
    tally: Vec<TalliedSpot>,
}

impl FindingsTracker {
    pub fn new(mode: Mode, min_tbr: f32, fps: f64) -> Self {
        Self { mode, min_tbr, history: VecDeque::new(), flag: false, tracker: Tracker::new(fps.round().max(1.0) as u32), frames: 0, tally: Vec::new() }
    }

    /// Switch mode (a key press in `live`): the steady flag starts afresh, the tally is kept.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.history.clear();
        self.flag = false;
    }

    pub fn update(&mut self, frame: u64, mut spots: Vec<Spot>, mm_per_px: Option<f32>) -> FrameFindings {
        self.frames += 1;
        self.history.push_back(!spots.is_empty());
        if self.history.len() > 3 {
            self.history.pop_front();
        }
        let present = self.history.iter().filter(|&&b| b).count();
        if present >= 2 {
            self.flag = true;
        } else if self.history.len() - present >= 2 {
            self.flag = false;
        }
        let figs: Vec<Figures> = spots
            .iter()
            .map(|s| Figures {
                label: 0,
                kind: LesionKind::Diffuse,
                partial: false,
                centroid_px: s.centroid_px,
                core_diameter_px: None,
                feret_px: None,
                rim_thickness_px: None,
                min_rim_thickness_px: None,
                rim_coverage: None,
                tbr: s.peak_tbr,
                area_px: s.area_px as f32,
                radius_px: (s.area_px as f32 / std::f32::consts::PI).sqrt(),
            })
            .collect();
        let ids = self.tracker.update(&figs);
        let mut new_spots = Vec::new();
        for (s, id) in spots.iter_mut().zip(ids) {
            s.id = id;
            s.area_mm2 = mm_per_px.map(|m| s.area_px as f32 * m * m);
            match self.tally.iter_mut().find(|t| t.id == id) {
                Some(t) => {
                    t.frames += 1;
                    t.max_area_px = t.max_area_px.max(s.area_px);
                    t.max_area_mm2 = s.area_mm2.map(|a| t.max_area_mm2.unwrap_or(0.0).max(a));
                    t.peak_tbr = t.peak_tbr.max(s.peak_tbr);
                    if t.frames == 2 && self.mode == Mode::WoundBed {
                        new_spots.push(id); // confirmed on a second frame: worth a snapshot
                    }
                }
                None => self.tally.push(TalliedSpot {
                    id,
                    first_frame: frame,
                    frames: 1,
                    max_area_mm2: s.area_mm2,
                    max_area_px: s.area_px,
                    peak_tbr: s.peak_tbr,
                }),
            }
        }
        FrameFindings { mode: self.mode, flag: self.flag, spots, new_spots }
    }

    /// Spots seen on at least two frames (single-frame noise is not a finding).
    pub fn confirmed(&self) -> Vec<&TalliedSpot> {
        self.tally.iter().filter(|t| t.frames >= 2).collect()
    }

    /// What was measured, and nothing more.
    pub fn verdict(&self) -> String {
        let spots = self.confirmed();
        if spots.is_empty() {
            return format!("no fluorescence above TBR {} in {} frames", self.min_tbr, self.frames);
        }
        let peak = spots.iter().map(|t| t.peak_tbr).fold(0.0f32, f32::max);
        let largest = match spots.iter().filter_map(|t| t.max_area_mm2).reduce(f32::max) {
            Some(a) => format!("{a:.0} mm²"),
            None => format!("{} px", spots.iter().map(|t| t.max_area_px).max().unwrap_or(0)),
        };
        let n = spots.len();
        format!("{n} fluorescent spot{}, largest {largest}, peak TBR {peak:.1} in {} frames", if n == 1 { "" } else { "s" }, self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{NirFrame, RgbFrame};

    #[test]
    fn rois_and_modes_parse() {
        let r: Roi = "10,20,30,40".parse().unwrap();
        assert_eq!((r.x, r.y, r.w, r.h), (10, 20, 30, 40));
        assert!(r.in_frame(40, 60).is_ok());
        assert!(r.in_frame(39, 60).is_err());
        assert!("10000,10000,50,50".parse::<Roi>().unwrap().in_frame(640, 480).is_err());
        for bad in ["1,2,3", "1,2,0,4", "a,b,c,d", "1,2,3,4,5"] {
            assert!(bad.parse::<Roi>().is_err(), "{bad}");
        }
        for m in Mode::ALL {
            assert_eq!(m.name().parse(), Ok(m));
        }
        assert!("autopilot".parse::<Mode>().unwrap_err().contains("wound-bed"));
    }

    /// Spots equal a pixel flood fill (8-connected, inside the ROI only) on a random mask: areas,
    /// centroids, boxes, peaks, and which pass the size and TBR limits.
    #[test]
    fn spots_equal_a_flood_fill_of_the_roi() {
        let (w, h) = (90, 70);
        let mut state = 3u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 8
        };
        let fluo = Plane::from_vec(w, h, (0..w * h).map(|_| (next() % 3 == 0) as u8).collect()).unwrap();
        let ratio = Plane::from_vec(w, h, (0..w * h).map(|_| 1.0 + (next() % 1000) as f32 / 400.0).collect()).unwrap();
        let roi = Roi { x: 13, y: 9, w: 61, h: 47 };
        let got = find_spots(&ratio, &fluo, roi, 2.5, 3);
        let mut seen = vec![false; w * h];
        let mut want = Vec::new();
        for y0 in roi.y..roi.y + roi.h {
            for x0 in roi.x..roi.x + roi.w {
                if fluo.get(x0, y0) == 0 || seen[y0 * w + x0] {
                    continue;
                }
                let (mut stack, mut px) = (vec![(x0, y0)], Vec::new());
                seen[y0 * w + x0] = true;
                while let Some((x, y)) = stack.pop() {
                    px.push((x, y));
                    for (dx, dy) in [(-1i64, -1i64), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                        if nx < roi.x as i64 || ny < roi.y as i64 || nx >= (roi.x + roi.w) as i64 || ny >= (roi.y + roi.h) as i64 {
                            continue;
                        }
                        let (nx, ny) = (nx as usize, ny as usize);
                        if fluo.get(nx, ny) != 0 && !seen[ny * w + nx] {
                            seen[ny * w + nx] = true;
                            stack.push((nx, ny));
                        }
                    }
                }
                let n = px.len() as f64;
                let peak = px.iter().map(|&(x, y)| ratio.get(x, y)).fold(0.0f32, f32::max);
                if px.len() >= 3 && peak >= 2.5 {
                    let cx = px.iter().map(|p| p.0 as f64 + 0.5).sum::<f64>() / n;
                    let cy = px.iter().map(|p| p.1 as f64 + 0.5).sum::<f64>() / n;
                    let bbox = [px.iter().map(|p| p.0).min().unwrap(), px.iter().map(|p| p.1).min().unwrap(), px.iter().map(|p| p.0).max().unwrap() + 1, px.iter().map(|p| p.1).max().unwrap() + 1];
                    want.push((px.len() as u32, cx as f32, cy as f32, peak, bbox));
                }
            }
        }
        assert!(want.len() > 5, "too few spots to compare: {}", want.len());
        assert_eq!(got.len(), want.len());
        for (g, (area, cx, cy, peak, bbox)) in got.iter().zip(want) {
            assert_eq!((g.area_px, g.bbox, g.peak_tbr), (area, bbox, peak));
            assert!((g.centroid_px[0] - cx).abs() < 1e-3 && (g.centroid_px[1] - cy).abs() < 1e-3, "{:?} vs {cx},{cy}", g.centroid_px);
        }
    }

    fn spot() -> Spot {
        Spot { id: 0, centroid_px: [50.0, 50.0], area_px: 40, area_mm2: None, peak_tbr: 2.0, bbox: [45, 45, 55, 55] }
    }

    #[test]
    fn the_flag_ignores_a_single_frame_and_follows_within_two() {
        let mut t = FindingsTracker::new(Mode::Transection, 1.5, 30.0);
        let mut flags = Vec::new();
        for present in [false, true, false, false, true, true, true, false, true, false, false] {
            flags.push(t.update(0, if present { vec![spot()] } else { vec![] }, Some(0.1)).flag);
        }
        assert_eq!(flags, [false, false, false, false, false, true, true, true, true, false, false]);
    }

    #[test]
    fn spots_outside_the_roi_do_not_count() {
        let mut fluo = Plane::<u8>::new(100, 100);
        let mut ratio = Plane::<f32>::filled(100, 100, 1.0);
        for y in 10..16 {
            for x in 10..16 {
                fluo.set(x, y, 1); // outside the ROI
                ratio.set(x, y, 3.0);
            }
        }
        for y in 50..56 {
            for x in 50..56 {
                fluo.set(x, y, 1);
                ratio.set(x, y, 2.0);
            }
        }
        let spots = find_spots(&ratio, &fluo, Roi::central(100, 100), 1.5, 10);
        assert_eq!(spots.len(), 1);
        assert_eq!(spots[0].area_px, 36);
        assert!((spots[0].peak_tbr - 2.0).abs() < 1e-6);
    }

    /// The evidence keeps a residual spot standing out of textured tissue and drops a bright grain of
    /// the texture, a clipped NIR-only speck and the blurred skirt of a white-light glint.
    #[test]
    fn spot_evidence_keeps_fluorescence_and_drops_texture_and_glints() {
        let (w, h) = (160usize, 120usize);
        let mut state = 7u32;
        let mut noise = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            // Sum of 4 uniforms: near-Gaussian, sigma 0.1 around 0.
            (0..4).map(|k| ((state.rotate_left(8 * k) >> 8) as f32 / (1u32 << 24) as f32) - 0.5).sum::<f32>() * 0.173
        };
        let mut ratio = Plane::from_vec(w, h, (0..w * h).map(|_| 1.0 + noise()).collect()).unwrap();
        let (mut nir, mut wl) = liver_frames(w, h);
        let mut square = |x0: usize, y0: usize, n: usize, v: f32| {
            for y in y0..y0 + n {
                for x in x0..x0 + n {
                    ratio.data[y * w + x] = v;
                }
            }
        };
        square(20, 20, 8, 2.2); // a residual spot: 12 sigmas over the tissue
        square(70, 20, 5, 1.6); // a bright grain: 6 sigmas here, but see below
        square(120, 20, 4, 6.0); // a NIR-only glint
        square(20, 80, 9, 3.0); // a white-light glint's skirt around its white core
        for y in 20..24 {
            for x in 120..124 {
                nir.data[y * w + x] = 4095;
            }
        }
        for y in 83..86 {
            for x in 23..26 {
                wl.data[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        // Tissue as textured as the grain around the grain only: its spread is 0.3 there.
        for y in 5..45 {
            for x in 55..90 {
                if !(70..75).contains(&x) || !(20..25).contains(&y) {
                    ratio.data[y * w + x] = 1.0 + 3.0 * (ratio.data[y * w + x] - 1.0);
                }
            }
        }
        let fluo = Plane::from_vec(w, h, ratio.data.iter().map(|&v| (v >= 1.5) as u8).collect()).unwrap();
        let roi = Roi { x: 0, y: 0, w, h };
        let candidates: Vec<Spot> = find_spots(&ratio, &fluo, roi, 1.5, 9);
        let at = |s: &Spot| (s.bbox[0], s.bbox[1]);
        assert!(candidates.iter().any(|s| at(s) == (70, 20)) && candidates.iter().any(|s| at(s) == (120, 20)), "{candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.5, mm_per_px: Some(0.1), sharp_per_px: 0.07 };
        let kept = evidence.keep(candidates, &fluo, &OnceCell::new());
        assert_eq!(kept.iter().map(at).collect::<Vec<_>>(), vec![(20, 20)], "{kept:?}");
        assert!((kept[0].peak_tbr - 2.2).abs() < 0.05, "local TBR {}", kept[0].peak_tbr);
    }

    /// Flat frames of `w`×`h`: NIR at 1000 counts, liver in the white light.
    fn liver_frames(w: usize, h: usize) -> (NirFrame, RgbFrame) {
        let mut nir = NirFrame::new(w, h);
        nir.data.iter_mut().for_each(|v| *v = 1000);
        let mut wl = RgbFrame::new(w, h);
        wl.data.chunks_mut(3).for_each(|p| p.copy_from_slice(&[150, 60, 50]));
        (nir, wl)
    }

    /// A NIR frame that does not clip: a real sensor's noise leaves its top code on a lone pixel, while
    /// these noise-free frames repeat it over every plateau (`clip_level` would read that as clipping).
    fn unclipped(mut nir: NirFrame) -> NirFrame {
        let top = nir.data.iter().copied().max().unwrap_or(0);
        nir.data[0] = top + 1;
        nir
    }

    /// The frames a ratio map stands for: NIR at 1000 counts a unit of ratio (no pixel clipped), plain
    /// liver in the white light, and the fluorescence at 1.5.
    fn frames_of(ratio: &Plane<f32>) -> (NirFrame, RgbFrame, Plane<u8>) {
        let (w, h) = (ratio.width, ratio.height);
        let nir = unclipped(NirFrame::from_vec(w, h, ratio.data.iter().map(|&v| (1000.0 * v) as u16).collect()).unwrap());
        let wl = RgbFrame::from_vec(w, h, (0..w * h).flat_map(|_| [150u8, 62, 50]).collect()).unwrap();
        let fluo = Plane::from_vec(w, h, ratio.data.iter().map(|&v| (v >= 1.5) as u8).collect()).unwrap();
        (nir, wl, fluo)
    }

    /// Liver whose texture is skewed to bright grains: a grain at 2.2 times its tissue has a flank as
    /// steep as the fixed edge test asks (its slope grows with its brightness), but no steeper than twice
    /// the texture's steepest tenth around it: no spot. A residual spot (2.0 times the same tissue, a
    /// sharp edge) is one.
    #[test]
    fn a_bright_grain_of_skewed_texture_is_no_spot_and_a_residual_on_it_is() {
        let (w, h) = (200usize, 100usize);
        let tissue = |x: f32, y: f32| (0.22 * (std::f32::consts::TAU * x / 30.0).sin() * (std::f32::consts::TAU * y / 30.0).sin()).exp();
        let ratio = Plane::from_vec(
            w,
            h,
            (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f32, (i / w) as f32);
                    let grain = (0.8 * (-((x - 150.0).powi(2) + (y - 50.0).powi(2)) / 98.0).exp()).exp();
                    let residual = if (x - 50.0).hypot(y - 50.0) < 8.0 { 2.0 } else { 1.0 };
                    tissue(x, y) * grain * residual
                })
                .collect(),
        )
        .unwrap();
        let (nir, wl, fluo) = frames_of(&ratio);
        let candidates = find_spots(&ratio, &fluo, Roi { x: 0, y: 0, w, h }, 1.5, 9);
        assert_eq!(candidates.len(), 2, "{candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.5, mm_per_px: Some(0.1), sharp_per_px: 0.07 };
        let grain = candidates.iter().find(|s| s.centroid_px[0] > 100.0).unwrap();
        assert!(evidence.sharp_edged(grain, &fluo), "the grain's flank passes the fixed edge test: the test shows nothing");
        let kept = evidence.keep(candidates.clone(), &fluo, &OnceCell::new());
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].centroid_px[0] < 100.0, "the residual is kept, not the grain: {kept:?}");
    }

    /// A coarse grain: around a smooth hill peaking at 2.0 the ring is smooth, so the hill passes the
    /// local test, but its flank is gentle and it is no spot; a sharp-edged disc at 1.8 is one.
    #[test]
    fn a_coarse_grain_is_no_spot_and_a_sharp_residual_is() {
        let (w, h) = (200usize, 100usize);
        let mut ratio = Plane::<f32>::filled(w, h, 1.0);
        for y in 0..h {
            for x in 0..w {
                let (gx, gy) = (x as f32 - 50.0, y as f32 - 50.0);
                let (dx, dy) = (x as f32 - 150.0, y as f32 - 50.0);
                let hill = 1.0 + 1.0 * (-(gx * gx + gy * gy) / (2.0 * 12.0 * 12.0)).exp();
                let disc = if dx.hypot(dy) < 8.0 { 1.8 } else { 1.0 };
                // A faint ripple so that the ring's spread is not zero.
                ratio.data[y * w + x] = hill.max(disc) + 0.01 * (((x * 31 + y * 17) % 7) as f32 / 3.0 - 1.0);
            }
        }
        let (nir, wl) = liver_frames(w, h);
        let nir = unclipped(nir);
        let fluo = Plane::from_vec(w, h, ratio.data.iter().map(|&v| (v >= 1.5) as u8).collect()).unwrap();
        let candidates = find_spots(&ratio, &fluo, Roi { x: 0, y: 0, w, h }, 1.5, 9);
        assert_eq!(candidates.len(), 2, "{candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.5, mm_per_px: Some(0.1), sharp_per_px: 0.07 };
        let kept = evidence.keep(candidates.clone(), &fluo, &OnceCell::new());
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].centroid_px[0] > 140.0, "the disc is kept: {kept:?}");
        // Without the fixed edge test (any gradient sharp) the hill still fails the edge test relative to
        // the tissue around it (`steeper_than_texture`): either test alone drops it.
        let blunt = SpotEvidence { sharp_per_px: 0.0, ..evidence };
        assert_eq!(blunt.keep(candidates, &fluo, &OnceCell::new()).len(), 1);
    }

    /// A shaft's specular line, not white in the white light (blurred), bright in the NIR: on the dark
    /// shaft it is no spot; the same line on tissue, and a residual spot beside the shaft (the shaft on
    /// one side of it), are spots.
    #[test]
    fn a_highlight_on_an_instrument_is_no_spot() {
        let (w, h) = (200usize, 120usize);
        let mut ratio = Plane::<f32>::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let shaft = (40..60).contains(&y) && x < 150;
                let line = (48..50).contains(&y) && (20..120).contains(&x) || (98..100).contains(&y) && (20..120).contains(&x);
                let residual = (x as f32 - 170.0).hypot(y as f32 - 50.0) < 7.0;
                let tissue = 1.0 + 0.03 * (((x * 31 + y * 17) % 7) as f32 / 3.0 - 1.0);
                ratio.data[y * w + x] = if line || residual { 2.5 } else if shaft { 0.05 } else { tissue };
            }
        }
        let (nir, wl, fluo) = frames_of(&ratio);
        let candidates = find_spots(&ratio, &fluo, Roi { x: 0, y: 0, w, h }, 1.5, 9);
        assert_eq!(candidates.len(), 3, "{candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.5, mm_per_px: Some(0.1), sharp_per_px: 0.07 };
        let mut kept: Vec<[usize; 2]> = evidence.keep(candidates, &fluo, &OnceCell::new()).iter().map(|s| [s.bbox[0], s.bbox[1]]).collect();
        kept.sort();
        assert_eq!(kept, vec![[20, 98], [164, 44]], "the line on tissue and the residual beside the shaft stay");
    }

    /// A NIR-only glint on a bright grain of tissue: the grain (1.6, under the check's TBR of 1.8) with a
    /// clipped 3×3 speck in it is no spot, though the speck's ratio is 6; a residual spot (2.4) with
    /// the same speck in it stays one, at its own peak.
    #[test]
    fn a_clipped_speck_inside_a_spot_is_judged_apart() {
        let (w, h) = (140usize, 60usize);
        let mut ratio = Plane::from_vec(w, h, (0..w * h).map(|i| 1.0 + 0.05 * (((i * 7919) % 13) as f32 / 6.0 - 1.0)).collect()).unwrap();
        let (mut nir, wl) = liver_frames(w, h);
        // 16×16 px at 0.1 mm/px: 2.56 mm², a spot of the size the check promises to flag.
        for (x0, level) in [(20usize, 1.6f32), (80, 2.4)] {
            for y in 20..36 {
                for x in x0..x0 + 16 {
                    let speck = (x0 + 6..x0 + 9).contains(&x) && (26..29).contains(&y);
                    ratio.data[y * w + x] = if speck { 6.0 } else { level };
                    if speck {
                        nir.data[y * w + x] = 4095;
                    }
                }
            }
        }
        let fluo = Plane::from_vec(w, h, ratio.data.iter().map(|&v| (v >= 1.5) as u8).collect()).unwrap();
        let candidates = find_spots(&ratio, &fluo, Roi { x: 0, y: 0, w, h }, 1.8, 9);
        assert_eq!(candidates.len(), 2, "both reach 1.8 at the speck: {candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.8, mm_per_px: Some(0.1), sharp_per_px: 0.07 };
        let kept = evidence.keep(candidates, &fluo, &OnceCell::new());
        assert_eq!(kept.iter().map(|s| s.bbox[0]).collect::<Vec<_>>(), vec![80], "{kept:?}");
        assert!((kept[0].peak_tbr - 2.4).abs() < 0.1, "local TBR {}", kept[0].peak_tbr);
    }

    /// A white-light glint's skirt joined to a bright grain of tissue (1.6, under the check's TBR of 1.8),
    /// the joined region mostly grain: no spot, though the skirt reads 3.0. A residual spot (2.4) joined
    /// to the same skirt stays one, at its own peak. And a clipped NIR-only glint of 144 px at 0.08 mm/px
    /// (a 10×10 px core in a 12×12 px skirt: 0.92 mm²) is no spot, while fluorescence clipping over 18×18 px
    /// (2.07 mm², the check's promise starts at 2) is judged as fluorescence.
    #[test]
    fn glint_skirts_are_no_evidence_and_glints_are_optical_in_size() {
        let (w, h) = (220usize, 60usize);
        let mut ratio = Plane::from_vec(w, h, (0..w * h).map(|i| 1.0 + 0.05 * (((i * 7919) % 13) as f32 / 6.0 - 1.0)).collect()).unwrap();
        let (mut nir, mut wl) = liver_frames(w, h);
        let fill = |ratio: &mut Plane<f32>, x0: usize, y0: usize, x1: usize, y1: usize, v: f32| {
            for y in y0..y1 {
                for x in x0..x1 {
                    ratio.data[y * w + x] = v;
                }
            }
        };
        for (x0, level) in [(10usize, 1.6f32), (70, 2.4)] {
            // The skirt (9×9 at 3.0, its white core excluded from the mask as the analysis does) and,
            // touching it, a region 16×12 at `level`.
            fill(&mut ratio, x0, 20, x0 + 9, 29, 3.0);
            fill(&mut ratio, x0 + 9, 18, x0 + 25, 30, level);
            for y in 23..26 {
                for x in x0 + 3..x0 + 6 {
                    wl.data[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&[255, 255, 255]);
                    ratio.data[y * w + x] = 1.0;
                }
            }
        }
        // A NIR-only glint: a clipped core 10×10 inside a skirt 12×12 (144 px).
        fill(&mut ratio, 130, 20, 142, 32, 2.5);
        for y in 21..31 {
            for x in 131..141 {
                nir.data[y * w + x] = 4095;
                ratio.data[y * w + x] = 3.5;
            }
        }
        // Fluorescence that clips, 18×18 at 0.08 mm/px: 2.1 mm², with a clipped plateau 14×14.
        fill(&mut ratio, 180, 20, 198, 38, 2.5);
        for y in 22..36 {
            for x in 182..196 {
                nir.data[y * w + x] = 4095;
                ratio.data[y * w + x] = 3.5;
            }
        }
        let fluo = Plane::from_vec(w, h, ratio.data.iter().map(|&v| (v >= 1.5) as u8).collect()).unwrap();
        let candidates = find_spots(&ratio, &fluo, Roi { x: 0, y: 0, w, h }, 1.8, 9);
        assert_eq!(candidates.len(), 4, "each reaches 1.8: {candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.8, mm_per_px: Some(0.08), sharp_per_px: 0.07 };
        let kept = evidence.keep(candidates, &fluo, &OnceCell::new());
        assert_eq!(kept.iter().map(|s| s.bbox[0]).collect::<Vec<_>>(), vec![70, 180], "{kept:?}");
        assert!((kept[0].peak_tbr - 2.4).abs() < 0.1, "local TBR {}", kept[0].peak_tbr);
    }

    /// Residual fluorescence (a disc of 5 px at 3.4-3.5) on the flank of a grain of textured tissue (a
    /// gentle bump peaking at 1.7), joined to it at the frame's level: the joined region has the grain's
    /// gentle flank and is no spot as a whole, but the disc inside it is one; a brighter grain (2.6) alone
    /// holds none.
    #[test]
    fn a_spot_joined_to_a_grain_is_found_inside_it() {
        let (w, h) = (240usize, 90usize);
        let (mut nir, wl) = liver_frames(w, h);
        let bump = |x: usize, y: usize, cx: f32, peak: f32| (peak - 1.0) * (-((x as f32 - cx).powi(2) + (y as f32 - 45.0).powi(2)) / (2.0 * 15.0 * 15.0)).exp();
        let ratio = Plane::from_vec(
            w,
            h,
            (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let tissue = 1.0 + 0.05 * (((i * 7919) % 13) as f32 / 6.0 - 1.0) + bump(x, y, 60.0, 1.7) + bump(x, y, 170.0, 2.6);
                    let d = (x as f32 - 79.0).hypot(y as f32 - 45.0);
                    if d <= 5.0 { 3.4 + 0.02 * (5.0 - d) } else { tissue }
                })
                .collect(),
        )
        .unwrap();
        // The NIR image as the ratio says (unclipped: its maximum is the disc's centre alone).
        nir.data.iter_mut().zip(&ratio.data).for_each(|(n, &r)| *n = (1000.0 * r) as u16);
        let fluo = Plane::from_vec(w, h, ratio.data.iter().map(|&v| (v >= 1.3) as u8).collect()).unwrap();
        let candidates = find_spots(&ratio, &fluo, Roi { x: 0, y: 0, w, h }, 1.5, 9);
        assert_eq!(candidates.len(), 2, "the disc joins its grain: {candidates:?}");
        let evidence = SpotEvidence { ratio: &ratio, wl: wl.view(), nir: nir.view(), glint_level: 235, min_tbr: 1.5, mm_per_px: Some(0.1), sharp_per_px: 0.07 };
        let clip = OnceCell::new();
        assert!(candidates.iter().all(|c| evidence.judge(c.clone(), &fluo, &clip).is_none()), "each fails as a whole");
        let kept = evidence.keep(candidates, &fluo, &clip);
        assert_eq!(kept.len(), 1, "{kept:?}");
        let [cx, cy] = kept[0].centroid_px;
        assert!((cx - 79.5).abs() < 1.0 && (cy - 45.5).abs() < 1.0, "the disc's centre: {kept:?}");
        assert!(kept[0].peak_tbr > 2.0, "local TBR {}", kept[0].peak_tbr);
    }
}
