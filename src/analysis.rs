//! The contract between the per-frame analysis and everything around it: plain result types and the
//! `Analyzer` trait that both backends (CPU reference, wgpu) implement. Nothing here knows GStreamer,
//! files or the CLI.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::frame::{NirView, Plane, RgbFrame, RgbView};

/// Classes written to the mask PNGs.
pub mod class {
    pub const BACKGROUND: u8 = 0;
    /// A rim: fluorescence within the rim search distance of a core.
    pub const RIM: u8 = 1;
    /// A tumour core (non-fluorescent, enclosed by its rim).
    pub const CORE: u8 = 2;
    /// Any other fluorescence (ducts, coreless lesions, glow).
    pub const OTHER: u8 = 3;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LesionKind {
    /// Dark core enclosed by fluorescence.
    Rim,
    /// Compact fluorescence with no visible core and a blurred edge (deep lesion glow): no boundary claimed.
    Diffuse,
    /// Compact fluorescence with no dark core and a sharp edge: its own edge is the tumour boundary.
    Homogeneous,
}

/// Per-lesion sums and histograms in pixels, as a backend's reduction stage produces them. The same
/// layout comes out of the CPU reference and the GPU pass, so the figures derived from it match.
#[derive(Clone, Debug, PartialEq)]
pub struct LesionStats {
    pub kind: LesionKind,
    /// Canonical label: 1 + the raster index of the region's first pixel.
    pub label: u32,
    /// Pixels of the core (rim lesion) or of the fluorescent region (diffuse lesion).
    pub area_px: u32,
    /// Sub-pixel area of the core at its boundary iso-level, px² (rim lesions; 0 for diffuse).
    pub core_area_subpx: f32,
    /// Sums of the integer pixel coordinates over `area_px` pixels.
    pub sum_x: u64,
    pub sum_y: u64,
    pub rim_area_px: u32,
    /// Ratio histogram of the rim (or region): bin i holds ratios in `[1 + i RATIO_BIN, 1 + (i+1) RATIO_BIN)`.
    pub ratio_hist: Vec<u32>,
    /// Histogram of the rim's outer-edge distance to the core, bins of `THICKNESS_BIN` px.
    pub thickness_hist: Vec<u32>,
    /// The core touches the image border, or an occluder touches the lesion (`reference::occluders`):
    /// only part of it is in view.
    pub partial: bool,
    /// Extents of the core's boundary pixels along `FERET_DIRS` directions, as `feret_word` stores them:
    /// word 2k holds `MAX - min` and word 2k+1 the max of the fixed-point projection on direction k.
    pub feret: Vec<u32>,
    /// Direction sectors about the core's centroid that hold its boundary (off the image edge), and
    /// those in which the rim covers it (`reference::reduce::coverage_by_direction`): their ratio is the
    /// rim's coverage. Both 0 where a backend finds enclosed cores only (a core enclosed by its rim is
    /// covered all round by construction).
    pub boundary_sectors: u32,
    pub covered_sectors: u32,
    /// Of those, the sectors in which the rim's own ratio reaches halfway to its TBR (or
    /// `AnalysisParams::rim_min_tbr`, where lower) within `reference::reduce::RING_REACH_MM` beyond the
    /// core: the ring by its own brightness, where `covered_sectors` counts any fluorescence over the
    /// mask's level (0 where the backend does not count).
    pub ringed_sectors: u32,
}

impl LesionStats {
    pub fn empty(kind: LesionKind, label: u32) -> Self {
        Self {
            kind,
            label,
            area_px: 0,
            core_area_subpx: 0.0,
            sum_x: 0,
            sum_y: 0,
            rim_area_px: 0,
            ratio_hist: vec![0; RATIO_BINS],
            thickness_hist: vec![0; THICKNESS_BINS],
            partial: false,
            feret: vec![0; 2 * FERET_DIRS],
            boundary_sectors: 0,
            covered_sectors: 0,
            ringed_sectors: 0,
        }
    }

    /// Fraction of the core's boundary with rim (1 for a core enclosed all round).
    pub fn rim_coverage(&self) -> f32 {
        if self.boundary_sectors == 0 { 1.0 } else { self.covered_sectors as f32 / self.boundary_sectors as f32 }
    }

    /// Minimum and maximum caliper (Feret) widths of the core in px: extents of the boundary pixels'
    /// centres along each direction, plus one pixel.
    pub fn feret_px(&self) -> Option<(f32, f32)> {
        if self.area_px == 0 {
            return None;
        }
        let widths = (0..FERET_DIRS).map(|k| {
            let lo = FERET_OFFSET_MAX - self.feret[2 * k];
            let hi = self.feret[2 * k + 1];
            hi.saturating_sub(lo) as f32 / FERET_FIXED + 1.0
        });
        let (mut mn, mut mx) = (f32::INFINITY, 0.0f32);
        for w in widths {
            mn = mn.min(w);
            mx = mx.max(w);
        }
        Some((mn, mx))
    }

    /// Centroid in pixel coordinates (pixel centres at +0.5).
    pub fn centroid(&self) -> [f32; 2] {
        let n = self.area_px.max(1) as f64;
        [(self.sum_x as f64 / n + 0.5) as f32, (self.sum_y as f64 / n + 0.5) as f32]
    }
}

pub const RATIO_BIN: f32 = 0.05;
pub const RATIO_BINS: usize = 200;
/// Core ratio histogram (for the core's level): bins of 0.01 from 0.
pub const CORE_BIN: f32 = 0.01;
pub const CORE_BINS: usize = 128;
pub const THICKNESS_BIN: f32 = 0.25;
pub const THICKNESS_BINS: usize = 512;
/// Histogram of the background ratio that sets the fluorescence level: bins of 1/256 from 0.5, filled
/// from every other row and column.
pub const LEVEL_BINS: usize = 256;
pub const LEVEL_LO: f32 = 0.5;
pub const LEVEL_SCALE: f32 = 256.0;
/// Fewer samples than this in the level histogram and the level stays at `fluo_ratio` (both backends).
pub const MIN_LEVEL_SAMPLES: u32 = 64;
/// Bins summed around each bin of the level histogram before its peak is looked for (both backends):
/// the argmax of a raw histogram jumps between near-equal bins with a few samples; of the summed one it
/// does not.
pub const LEVEL_SMOOTH: usize = 5;
/// What a frame's ratio histogram says of the background, and the fluorescence level taken from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FluoLevel {
    /// The level fluorescence is cut at (ratio to background).
    pub level: f32,
    /// The background's mode (ratio, near 1 by construction).
    pub mode: f32,
    /// The background's noise, as a Gaussian sigma (ratio units); 0 when too few samples.
    pub noise: f32,
    /// The background's noise at the pixel scale, as the sigma of one component of the ratio's
    /// central-difference gradient (per px): what sensor noise adds to an edge's slope, where texture's
    /// grains (1 mm and more) are smooth. 0 where not measured (`reference::shape::edge_noise`: the CPU
    /// backend's edge tests with `plateau_edge_mm` on).
    #[serde(default)]
    pub edge_noise: f32,
}

impl FluoLevel {
    /// The TBR a coreless lesion must reach: `coreless_min_tbr`, and `coreless_min_sigmas` noise sigmas
    /// above the background's mode.
    pub fn coreless_min_tbr(&self, p: &crate::params::AnalysisParams) -> f32 {
        p.coreless_min_tbr.max(self.mode + p.coreless_min_sigmas * self.noise)
    }
}

/// Rim lesions (cores) and diffuse lesions reported a frame at most.
pub const MAX_CORES: usize = 64;
pub const MAX_DIFFUSE: usize = 32;
/// Caliper directions for the Feret diameters, spread over half a turn, and their fixed-point scale.
pub const FERET_DIRS: usize = 16;
pub const FERET_FIXED: f32 = 16.0;
/// Projections are stored offset by 2^20 so that they are positive; mins as `FERET_OFFSET_MAX - value`.
pub const FERET_OFFSET: i64 = 1 << 20;
pub const FERET_OFFSET_MAX: u32 = u32::MAX;
pub const FERET_COS: [f32; FERET_DIRS] = [1.0, 0.98078528, 0.923879533, 0.831469612, 0.707106781, 0.555570233, 0.382683432, 0.195090322, 0.0, -0.195090322, -0.382683432, -0.555570233, -0.707106781, -0.831469612, -0.923879533, -0.98078528];
pub const FERET_SIN: [f32; FERET_DIRS] = [0.0, 0.195090322, 0.382683432, 0.555570233, 0.707106781, 0.831469612, 0.923879533, 0.98078528, 1.0, 0.98078528, 0.923879533, 0.831469612, 0.707106781, 0.555570233, 0.382683432, 0.195090322];

/// Fixed-point projection of pixel (x, y) on direction k, offset to be positive (shared with the shader).
#[inline]
pub fn feret_word(x: u32, y: u32, k: usize) -> u32 {
    let v = (x as f32 * FERET_COS[k] + y as f32 * FERET_SIN[k]) * FERET_FIXED + 0.5;
    // floor(v) without a library call: truncate, then step down for negative non-integers.
    let t = v as i64;
    let floor = if (t as f32) > v { t - 1 } else { t };
    (floor + FERET_OFFSET) as u32
}

/// The ratio map's 16-bit fixed point, on both backends: a ratio to background is kept as the code
/// `clamp(r, 0, RATIO_MAX) × RATIO_STEPS` rounded to the nearest integer, ties to even (a step of 1/4096, up
/// to just under 16: the rims' histogram ends at 11), so the GPU stores the map two pixels a word, half the
/// bytes of an f32 map, and the CPU rounds its own alike (`reference::normalize`): the backends threshold and
/// sum the same values.
pub const RATIO_STEPS: f32 = 4096.0;
pub const RATIO_CODE_MAX: u32 = 0xffff;
pub const RATIO_MAX: f32 = RATIO_CODE_MAX as f32 / RATIO_STEPS;

/// `r` rounded to the ratio map's fixed point (`ratio_encode` in common.wgsl: WGSL's `round`, ties to
/// even). Adding and taking off 2^23 rounds a value under 2^23 to an integer, ties to even, in plain f32
/// additions: no float-to-integer conversion and no library call, so the CPU's normalize loop stays vector
/// code.
#[inline]
pub fn quantise_ratio(r: f32) -> f32 {
    const ROUND: f32 = 8_388_608.0;
    ((r.clamp(0.0, RATIO_MAX) * RATIO_STEPS + ROUND) - ROUND) * (1.0 / RATIO_STEPS)
}

/// The 16-bit code of ratio `r` (`quantise_ratio`'s value in steps).
#[inline]
pub fn ratio_code(r: f32) -> u32 {
    (quantise_ratio(r) * RATIO_STEPS) as u32
}

/// The ratio a code stands for (exact: RATIO_STEPS is a power of two).
#[inline]
pub fn ratio_value(code: u32) -> f32 {
    code as f32 * (1.0 / RATIO_STEPS)
}

/// Fixed-point scales shared with the shaders (integer atomics): ratio sums and sub-pixel coverage.
pub const RATIO_FIXED: f32 = 256.0;
pub const COVERAGE_FIXED: f32 = 1024.0;

/// One lesion's figures for one frame, in the units of the metrics file (`metrics::FrameMetrics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lesion {
    /// Tracked ID, from 1; kept across frames (and up to a second out of view).
    pub id: u32,
    pub kind: LesionKind,
    #[serde(default)]
    pub centroid_px: [f32; 2],
    /// Equivalent-circle diameter of the core, mm; `None` for a diffuse lesion.
    pub core_diameter_mm: Option<f32>,
    /// Median rim thickness along the core boundary, mm.
    pub rim_thickness_mm: Option<f32>,
    /// Thinnest rim along the core boundary (5th percentile), mm.
    pub min_rim_thickness_mm: Option<f32>,
    /// Fraction of the core's boundary that has rim (rim lesions; under 1 where the rim has a gap, and
    /// then the margin verdict is "rim incomplete" rather than a thickness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rim_coverage: Option<f32>,
    /// Tumour-to-background ratio of the rim (or region) against the local background.
    #[serde(default)]
    pub tbr: f32,
    pub area_mm2: Option<f32>,
    /// Only part of the lesion is in view (its core touches the image border, or an instrument's shaft
    /// hides part of it: `reference::occluders`): no size claim.
    #[serde(default)]
    pub partial: bool,
    /// Smallest and largest caliper diameters of the core, mm.
    pub feret_min_mm: Option<f32>,
    pub feret_max_mm: Option<f32>,
    /// The same figures in pixels (always present; the only ones when no scale is known).
    pub core_diameter_px: Option<f32>,
    pub rim_thickness_px: Option<f32>,
    pub min_rim_thickness_px: Option<f32>,
    /// The margin verdict of a rim lesion, as the processor decided it from the smoothed figures (the
    /// overlay's colour and the report say exactly this); absent for other kinds and in schema 0 files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<MarginVerdict>,
}

/// A rim lesion's margin verdict, decided once a frame by the processor (`processor::margin_verdict`)
/// against the first (radicality) margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarginVerdict {
    /// The thinnest rim (5th percentile) reaches the first margin by more than a pixel's width.
    Ok,
    /// The thinnest rim is under the first margin, or within a pixel's width over it: too near to vouch
    /// for it (`processor::VERDICT_GUARD_PX`; drawn in the warning colour).
    UnderMargin,
    /// The rim covers under `RIM_COMPLETE` of the core's boundary: no thickness vouches for the gap
    /// (drawn in the warning colour).
    RimIncomplete,
    /// No scale is known: no margin in mm to judge against.
    NoScale,
    /// The scale is known but the rim's thickness could not be measured.
    Unmeasured,
}

impl MarginVerdict {
    /// Drawn in the warning colour.
    pub fn warns(self) -> bool {
        matches!(self, MarginVerdict::UnderMargin | MarginVerdict::RimIncomplete)
    }

    /// As the metrics file spells it.
    pub fn name(self) -> &'static str {
        match self {
            MarginVerdict::Ok => "ok",
            MarginVerdict::UnderMargin => "under_margin",
            MarginVerdict::RimIncomplete => "rim_incomplete",
            MarginVerdict::NoScale => "no_scale",
            MarginVerdict::Unmeasured => "unmeasured",
        }
    }
}

/// Wall time a stage took, ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings(pub Vec<(String, f64)>);

impl StageTimings {
    pub fn push(&mut self, stage: &str, ms: f64) {
        self.0.push((stage.to_string(), ms));
    }
    pub fn total(&self) -> f64 {
        self.0.iter().map(|(_, v)| v).sum()
    }
}

/// What `Analyzer::segment` found: the lesions' raw statistics. The backend keeps the per-pixel maps
/// for `composite`.
#[derive(Clone, Debug, Default)]
pub struct Segmentation {
    pub lesions: Vec<LesionStats>,
    /// More cores than `MAX_CORES` or coreless lesions than `MAX_DIFFUSE` were found: the first by label
    /// (raster order of their first pixel) were kept, on both backends.
    pub truncated: bool,
    /// The fluorescence level this frame was cut at, and the background mode and noise it came from.
    pub background: FluoLevel,
    pub timings: StageTimings,
}

/// The words of the per-lesion style table both composites read (one a core, keyed by its label on
/// the CPU, by its slot on the GPU); mirrored as `STYLE_*` in `shaders/common.wgsl`.
pub mod style {
    /// The lesion was styled by the processor: draw its boundary and margin contours.
    pub const DRAWN: u32 = 1;
    /// Its first margin contour (and label) in the warning colour.
    pub const WARN: u32 = 2;
}

/// What the composite stage is told about each lesion so that it can colour and label it: made once
/// a frame by the processor, from its margin verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct LesionStyle {
    pub label: u32,
    pub kind: LesionKind,
    /// The verdict warns (rim under the radicality margin, or incomplete): the warning colour.
    pub warn: bool,
    /// Text drawn beside the lesion.
    pub text: String,
    pub anchor_px: [f32; 2],
}

impl LesionStyle {
    /// This lesion's word in the style table.
    pub fn word(&self) -> u32 {
        style::DRAWN | if self.warn { style::WARN } else { 0 }
    }
}

#[derive(Clone, Debug)]
pub struct Composite {
    pub overlay: RgbFrame,
    pub classes: Option<Plane<u8>>,
    pub timings: StageTimings,
}

/// Region of interest in px: x, y, width, height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Roi {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Roi {
    /// The central 60% of the view.
    pub fn central(width: usize, height: usize) -> Self {
        Self { x: width / 5, y: height / 5, w: width * 3 / 5, h: height * 3 / 5 }
    }

    /// The ROI lies wholly inside a `width`×`height` frame: an error otherwise (never a verdict on a
    /// region that is not in the picture).
    pub fn in_frame(&self, width: usize, height: usize) -> anyhow::Result<()> {
        if self.x + self.w > width || self.y + self.h > height {
            anyhow::bail!(
                "--roi {},{},{},{} reaches outside the {width}x{height} frame (x+w must be at most {width}, y+h at most {height})",
                self.x, self.y, self.w, self.h
            );
        }
        Ok(())
    }

    pub fn clamp_to(self, width: usize, height: usize) -> Self {
        let x = self.x.min(width.saturating_sub(1));
        let y = self.y.min(height.saturating_sub(1));
        Self { x, y, w: self.w.min(width - x), h: self.h.min(height - y) }
    }

    pub fn contains(&self, x: usize, y: usize) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }
}

/// A region of interest `x,y,w,h` in px; whether it lies in the frame is checked once the frame size is
/// known (`in_frame`).
impl std::str::FromStr for Roi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v: Vec<usize> = s.split(',').map(|p| p.trim().parse()).collect::<Result<_, _>>().map_err(|_| format!("'{s}': expected x,y,w,h in whole px"))?;
        match *v.as_slice() {
            // Bounded only against overflow here: whether it lies in the frame is checked with the frame.
            [x, y, w, h] if w > 0 && h > 0 && [x, y, w, h].iter().all(|&v| v <= 1_000_000) => Ok(Roi { x, y, w, h }),
            [_, _, _, _] => Err(format!("'{s}': expected x,y,w,h in px with a positive size, each at most 1000000")),
            _ => Err(format!("'{s}': expected four numbers x,y,w,h")),
        }
    }
}

/// A candidate spot of the transection / wound-bed check (`measure::findings::find_spots`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spot {
    pub id: u32,
    pub centroid_px: [f32; 2],
    pub area_px: u32,
    pub area_mm2: Option<f32>,
    pub peak_tbr: f32,
    /// Bounding box x0, y0, x1, y1 (exclusive), px.
    pub bbox: [usize; 4],
}

impl Spot {
    /// The least side of the ring around a spot's box (`ring_side`).
    pub const RING_MIN_PX: usize = 8;

    /// How far around its box the check looks for the local background: the box's larger side, at
    /// least `RING_MIN_PX` (`SpotEvidence::judge`'s ring; `SpotQuery::reach`).
    pub fn ring_side(&self) -> usize {
        let [x0, y0, x1, y1] = self.bbox;
        (x1 - x0).max(y1 - y0).max(Self::RING_MIN_PX)
    }
}

/// Is a white-light pixel (R, G, B) a specular glint: its darkest channel at least `glint_level`
/// (speculars are white, liver is red)? The one definition both backends' glint tests follow.
#[inline]
pub fn is_glint(rgb: &[u8], glint_level: u8) -> bool {
    rgb[0].min(rgb[1]).min(rgb[2]) >= glint_level
}

/// What the transection / wound-bed check asks of a frame: the fluorescent regions in `roi` (within the
/// frame) whose peak ratio reaches `min_tbr` and whose area reaches `min_area` (`find_spots`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpotQuery {
    pub roi: Roi,
    pub min_tbr: f32,
    pub min_area: u32,
}

impl SpotQuery {
    /// How far beyond the ring the check reads (`reach`): the 3×3 box and the central differences taken
    /// on the ring's and the boundary's pixels.
    pub const REACH_BEYOND_RING_PX: usize = 3;

    /// The box of a `width`×`height` frame whose maps the check reads for `spot` (`SpotEvidence::judge`:
    /// the ring around the spot's box, as wide as the box's larger side and at least `Spot::RING_MIN_PX`,
    /// and `REACH_BEYOND_RING_PX` more): x0, y0, x1, y1 (exclusive). The GPU's twin is spot_rows.wgsl's
    /// `spot_copy_rows`.
    pub fn reach(spot: &Spot, width: usize, height: usize) -> [usize; 4] {
        let [x0, y0, x1, y1] = spot.bbox;
        let side = spot.ring_side() + Self::REACH_BEYOND_RING_PX;
        [x0.saturating_sub(side), y0.saturating_sub(side), (x1 + side).min(width), (y1 + side).min(height)]
    }
}

/// A frame's background ratio and cleaned fluorescence mask, shared with the backend that made them.
pub type PixelMaps = (std::sync::Arc<Plane<f32>>, std::sync::Arc<Plane<u8>>);

/// A frame's analysis called off by its caller: the live path sets it when the frame's time budget
/// has passed (its result would be dropped), so that the analysis stops at its next stage boundary and
/// the CPU goes to the next frame (and the recordings) instead of a result nobody shows. Shared with
/// the thread that sets it; cheap to check.
#[derive(Clone, Debug, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

/// The error of an analysis stopped by its `Cancel`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("analysis called off (its frame's time budget had passed)")]
pub struct Cancelled;

impl Cancel {
    /// Call the analysis off.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once called off: a stage boundary's `?`.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() { Err(Cancelled) } else { Ok(()) }
    }
}

/// Is `e` (or what it wraps) an analysis stopped by its `Cancel`?
pub fn is_cancelled(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<Cancelled>().is_some())
}

/// A per-frame analysis backend. Call `segment` then `composite` for the same frame (the same `wl`):
/// `segment` finds the lesions; `composite` draws the fluorescence, cores and contours from the
/// processor's style table (`LesionStyle`, one a lesion; nothing is decided there) in the colours of
/// `overlay::palette`. Text and every other mark are drawn after, on the CPU, by `overlay`.
pub trait Analyzer: Send {
    /// Backend and device, e.g. "cpu" or "gpu: llvmpipe (Vulkan)".
    fn describe(&self) -> String;
    /// `want_classes`: also produce the class map for this frame.
    fn segment(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool) -> anyhow::Result<Segmentation>;
    fn composite(&mut self, wl: RgbView<'_>, styles: &[LesionStyle]) -> anyhow::Result<Composite>;
    /// The last segmented frame's background ratio and cleaned fluorescence mask, whole (the coreless
    /// lesions' glint test; the spots where `spots` has none), shared rather than copied: drop them before the next
    /// `segment`, or that frame pays for a copy.
    fn pixel_maps(&mut self) -> anyhow::Result<PixelMaps>;
    /// The last segmented frame's fluorescent component labels (8-connected, after any cut; 0 off
    /// fluorescence): a coreless lesion is the pixels holding its `label`. The overlay outlines
    /// homogeneous lesions from them. Shared as `pixel_maps`' are: drop them before the next `segment`.
    fn fluo_labels(&mut self) -> anyhow::Result<std::sync::Arc<Plane<u32>>>;
    /// What the next `segment`s are to find for the transection / wound-bed check (`None`: nothing, the
    /// survey). A backend may find the spots with the segmentation (the GPU, so that the check reads back
    /// a table instead of the maps); the default finds them when `spots` is called.
    fn set_spot_query(&mut self, _query: Option<SpotQuery>) {}
    /// The last segmented frame's candidate spots of `query` where the backend found them with the
    /// segmentation (the same spots in the same order as `measure::findings::find_spots` on the maps),
    /// and its maps, which hold the frame's values at least within `SpotQuery::reach` of each candidate
    /// (what `SpotEvidence::keep` reads), shared as `pixel_maps`' are. `None` (the default, and a GPU
    /// frame whose query or table did not serve): the caller finds them on `pixel_maps`.
    fn spots(&mut self, _query: &SpotQuery) -> anyhow::Result<Option<(Vec<Spot>, PixelMaps)>> {
        Ok(None)
    }
    /// The last frame's device-memory traffic by stage (GPU backends; `None` on the CPU).
    fn traffic(&self) -> Option<Traffic> {
        None
    }
    /// A fault drill: destroy the device the analysis runs on, as a driver reset would; false where
    /// there is none (the CPU).
    fn destroy_device(&mut self) -> bool {
        false
    }
    /// Watch `cancel` during the next calls (`None`: stop watching): a backend that honours it stops
    /// `segment` at a stage boundary with `Cancelled` once it is set. The default ignores it (a GPU
    /// frame's work is submitted at once and short).
    fn set_cancel(&mut self, _cancel: Option<Cancel>) {}
}

/// Device-memory traffic of one frame, per stage, counted from the buffers each dispatch binds and its
/// entry point's code uses (naga's reflection, calls followed): an upper bound, each such buffer counted
/// whole, read once, and written once more where the binding is writable; plus uploads, clears, copies
/// and readbacks at their sizes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traffic(pub Vec<StageTraffic>);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTraffic {
    pub stage: String,
    pub bytes: u64,
    pub dispatches: u32,
}

impl Traffic {
    /// Adds to `stage` (appended the first time it is seen).
    pub fn add(&mut self, stage: &str, bytes: u64, dispatches: u32) {
        match self.0.iter_mut().find(|s| s.stage == stage) {
            Some(s) => {
                s.bytes += bytes;
                s.dispatches += dispatches;
            }
            None => self.0.push(StageTraffic { stage: stage.to_string(), bytes, dispatches }),
        }
    }

    pub fn bytes(&self) -> u64 {
        self.0.iter().map(|s| s.bytes).sum()
    }

    pub fn dispatches(&self) -> u32 {
        self.0.iter().map(|s| s.dispatches).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feret_word_floors_like_the_shader() {
        for y in (0..2200u32).step_by(7) {
            for x in (0..4000u32).step_by(13) {
                for k in 0..FERET_DIRS {
                    let v = (x as f32 * FERET_COS[k] + y as f32 * FERET_SIN[k]) * FERET_FIXED + 0.5;
                    assert_eq!(feret_word(x, y, k), (v.floor() as i64 + FERET_OFFSET) as u32, "({x},{y}) k {k}");
                }
            }
        }
    }
}
