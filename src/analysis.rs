//! The contract between the per-frame analysis and everything around it: plain result types and the
//! `Analyzer` trait that both backends (CPU reference, wgpu) implement. Nothing here knows GStreamer,
//! files or the CLI.

use serde::{Deserialize, Serialize};

use crate::frame::{NirFrame, Plane, RgbFrame};

/// Classes written to the mask PNGs.
pub mod class {
    pub const BACKGROUND: u8 = 0;
    /// Fluorescent tissue (the rim of a lesion, or any other fluorescence).
    pub const FLUORESCENT: u8 = 1;
    /// Enclosed non-fluorescent tumour core.
    pub const CORE: u8 = 2;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LesionKind {
    /// Dark core enclosed by fluorescence.
    Rim,
    /// Compact fluorescence with no visible core (deep lesion glow).
    Diffuse,
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
    /// Sub-pixel area of the core from partial-volume unmixing at its boundary, px² (rim lesions).
    pub core_area_subpx: f32,
    pub sum_x: f64,
    pub sum_y: f64,
    pub rim_area_px: u32,
    /// Histogram of the fluorescence ratio over the rim (or region): bin i holds ratios in
    /// `[1 + i * RATIO_BIN, 1 + (i + 1) * RATIO_BIN)`.
    pub ratio_hist: Vec<u32>,
    /// Histogram of the rim's outer-edge distance to the core, bins of `THICKNESS_BIN` px.
    pub thickness_hist: Vec<u32>,
    pub touches_border: bool,
}

pub const RATIO_BIN: f32 = 0.05;
pub const RATIO_BINS: usize = 200;
pub const THICKNESS_BIN: f32 = 0.25;

/// One lesion's figures for one frame, in the units of the metrics file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lesion {
    pub id: u32,
    pub kind: LesionKind,
    pub centroid_px: [f32; 2],
    /// Equivalent-circle diameter of the core, mm; `None` for a diffuse lesion.
    pub core_diameter_mm: Option<f32>,
    /// Median rim thickness along the core boundary, mm.
    pub rim_thickness_mm: Option<f32>,
    /// Thinnest rim along the core boundary (5th percentile), mm.
    pub min_rim_thickness_mm: Option<f32>,
    /// Tumour-to-background ratio of the rim (or region) against the local background.
    pub tbr: f32,
    pub area_mm2: f32,
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
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.0 {
            m.insert(k.clone(), serde_json::json!((v * 1000.0).round() / 1000.0));
        }
        serde_json::Value::Object(m)
    }
}

/// What `Analyzer::segment` found: the lesions' raw statistics. The backend keeps the per-pixel maps
/// for `composite`.
#[derive(Clone, Debug, Default)]
pub struct Segmentation {
    pub lesions: Vec<LesionStats>,
    pub timings: StageTimings,
}

/// What the composite stage is told about each lesion so that it can colour and label it.
#[derive(Clone, Debug, PartialEq)]
pub struct LesionStyle {
    pub label: u32,
    pub kind: LesionKind,
    /// The rim is thinner than the radicality margin (drawn in the warning colour).
    pub warn: bool,
    /// Text drawn beside the lesion.
    pub text: String,
    pub anchor_px: [f32; 2],
}

/// Text drawn in the frame's corners (scale, mode, state badges).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Banner {
    pub top_left: Vec<String>,
    pub bottom_left: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Composite {
    pub overlay: RgbFrame,
    pub classes: Option<Plane<u8>>,
    pub timings: StageTimings,
}

/// A per-frame analysis backend. Call `segment` then `composite` for the same frame.
pub trait Analyzer: Send {
    /// Backend and device, e.g. "cpu" or "gpu: llvmpipe (Vulkan)".
    fn describe(&self) -> String;
    fn segment(&mut self, wl: &RgbFrame, nir: &NirFrame) -> anyhow::Result<Segmentation>;
    fn composite(&mut self, styles: &[LesionStyle], banner: &Banner, want_classes: bool) -> anyhow::Result<Composite>;
}
