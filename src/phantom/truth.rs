//! Ground truth of a phantom sequence, as written to `ground_truth.json` and read back by tests,
//! `evaluate` and anyone scoring another tool on the same data.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Classes of the ground-truth class maps (`truth/NNNNN.png`).
pub mod truth_class {
    pub const BACKGROUND: u8 = 0;
    pub const RIM: u8 = 1;
    pub const CORE: u8 = 2;
    /// Fluorescence that is not a rim lesion's rim (ducts, deep-lesion glow): ignored when scoring rims.
    pub const OTHER_FLUORESCENCE: u8 = 3;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InView {
    /// The whole lesion (core and rim) is inside the frame.
    Full,
    /// Cut by the frame's edge.
    Partial,
    /// Outside the frame.
    Out,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthLesion {
    /// Stable across the sequence.
    pub id: u32,
    /// "rim" or "diffuse" (same spelling as the metrics).
    pub kind: crate::analysis::LesionKind,
    pub centroid_px: [f32; 2],
    pub core_diameter_mm: Option<f32>,
    /// Median rim thickness along the core boundary (the distance from the rim's outer curve to the core).
    pub rim_thickness_mm: Option<f32>,
    pub tbr: f32,
    pub in_view: InView,
    /// Thinnest rim: 5th percentile of that distance along the boundary (rim lesions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rim_thickness_mm: Option<f32>,
    /// Fraction of the core's boundary that has rim (1: complete; rim lesions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rim_coverage: Option<f32>,
    /// The core's signal as a fraction of the background (rim lesions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_level: Option<f32>,
    /// Fraction of the rim's excess brightness lost towards its outer edge (broad-family rim lesions
    /// drawn with a profile, `variation::RimProfile`; absent where the rim is even).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rim_fade: Option<f32>,
}

/// Residual fluorescence (a cut-surface or wound-bed spot).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthSpot {
    pub centroid_px: [f32; 2],
    pub area_mm2: f32,
    pub tbr: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthFrame {
    pub frame: u32,
    pub lesions: Vec<TruthLesion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spots: Vec<TruthSpot>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub generator: String,
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub mm_per_px: f32,
    pub fps: f32,
    pub nir_bits: u32,
    /// The broad family's conditions for this sequence (absent for the plain family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variation: Option<super::variation::Variation>,
    pub frames: Vec<TruthFrame>,
}

impl GroundTruth {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading ground truth {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing ground truth {}", path.display()))
    }
}
