//! Analysis parameters: what a user can tune, with defaults that suit 0.05–0.11 mm/px laparoscopic NIR video.
//! Owns the values and their validation; the GPU uniform mirroring them lives in `gpu::uniforms`
//! (keep in sync with `shaders/common.wgsl`).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Margin contours a frame draws at most (`--margins-mm`); the GPU's uniform holds this many.
pub const MAX_MARGINS: usize = 4;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AnalysisParams {
    /// Scale of the image: millimetres a pixel (co-registered WL and NIR share it). Where no scale is
    /// known this is a nominal one, used only for the size limits of the analysis.
    pub mm_per_px: f32,
    /// Whether `mm_per_px` was given (or calibrated): without it figures are in px and no margin is drawn.
    pub scale_known: bool,
    /// Where the scale came from ("--mm-per-px", "calibration FILE"), for the overlay and the metrics.
    pub scale_source: String,
    /// A pixel is fluorescent when its NIR signal is at least this ratio of the local background.
    pub fluo_ratio: f32,
    /// On a textured or noisy frame the fluorescence level rises above `fluo_ratio` to the background's
    /// mode plus this many noise sigmas (measured on the frame's ratio histogram: liver texture and sensor
    /// noise); 0 keeps it at `fluo_ratio`. Fluorescence must be significant against the frame's own
    /// texture: at 2.5 the broad phantom family's false lesions fell from 2.9 to 0.18 a frame with no rim
    /// lost (tuning seeds, README "Accuracy"); on the plain family it stays at 1.3.
    pub fluo_noise_sigmas: f32,
    /// Hysteresis: fluorescence connected to a pixel at the level counts down to the larger of this ratio
    /// and the mode plus `fluo_low_sigmas` noise sigmas (a rim dipping below the level along its length
    /// stays whole). At or above `fluo_ratio`: off (the cut is the level alone). Both backends.
    pub fluo_low_ratio: f32,
    pub fluo_low_sigmas: f32,
    /// An enclosed non-fluorescent region is a tumour core only if its mean ratio is below this. By the
    /// time of surgery the liver has cleared most of its own ICG, so a core can be as bright as the liver
    /// around it: the enclosure by fluorescence is the signature, not the darkness (1.1: any level under
    /// the fluorescence floor).
    pub core_max_ratio: f32,
    /// A region cut by the image border is closed by the border, not by fluorescence: only a dark one
    /// (mean ratio below this) is taken for the partial core of a lesion leaving the view.
    pub partial_core_max_ratio: f32,
    /// A non-fluorescent region bordered by one fluorescent component on at least this fraction of its
    /// boundary, and open only through a gap narrower than itself, is a core (a rim with a gap); a rim
    /// lesion's ring is judged direction by direction (`reduce::drop_dim_rings`, and a peak of rim in
    /// each sector its coverage counts, `reduce::SECTOR_PEAK_SHARE`). Above 1: off, as on the GPU
    /// backend, which has no twin of these yet.
    pub min_rim_coverage: f32,
    /// Smallest core (equivalent-circle diameter) reported, mm.
    pub min_core_diameter_mm: f32,
    /// How far from a core its rim is searched, mm.
    pub rim_search_mm: f32,
    /// A coreless (homogeneous or diffuse) lesion is reported only when its TBR stands this many noise
    /// sigmas of the frame (texture and sensor noise) above the background's mode: a blob of textured
    /// liver is not a lesion. Nor below `coreless_min_tbr`: a faint patch at the fluorescence level
    /// (the transection check's default TBR, 1.5).
    pub coreless_min_sigmas: f32,
    pub coreless_min_tbr: f32,
    /// A rim lesion is reported only when its rim's TBR reaches this: the enclosure vouches for it, but
    /// a dark pocket of textured liver ringed by brighter grains is enclosed too, at TBR 1.3–1.5 (an
    /// independent phantom set: 39 of 110 false rims under 1.5, no true rim).
    #[serde(default = "default_rim_min_tbr")]
    pub rim_min_tbr: f32,
    /// Smallest diffuse (coreless) fluorescent lesion reported, equivalent-circle diameter in mm.
    pub min_diffuse_diameter_mm: f32,
    /// Compactness (4π area / boundary²) below which fluorescence is duct-like, not a lesion.
    pub min_diffuse_compactness: f32,
    /// Radius of the disc whose opening separates a coreless lesion from a duct or vessel that touches
    /// it, mm (`reference::blobs`): a duct narrower than twice this is cut off, a lesion wider than twice
    /// this is kept. 0: off, as on the GPU backend, which has no twin of this stage yet.
    pub blob_opening_mm: f32,
    /// The core's edge is located direction by direction, halfway between the core's level and the
    /// rim's local peak, where the rim rises at least this many noise sigmas above the core
    /// (`reference::edges`: liver texture dims a rim in stretches, and one level for the whole core put
    /// its edge out in them). With it the rim's thickness is taken direction by direction too, one
    /// median a sector (`reduce::RIM_DIRECTIONS`: a duct joined to the rim holds a few sectors, where
    /// its long edges outnumber the ring's pixel by pixel). 0: off (one level for the whole core, the
    /// thickness from every outer-edge pixel), as on the GPU backend, which has no twin of this stage
    /// yet.
    #[serde(default = "default_core_edge_rise_sigmas")]
    pub core_edge_rise_sigmas: f32,
    /// A rim is the fluorescence that touches its core (the fluorescent components bordering it), not
    /// all fluorescence within `rim_search_mm`: specks of textured liver and ducts apart from the ring
    /// inflated the median thickness (+0.5 mm on an independent phantom set). False: any fluorescence
    /// within reach, as on the GPU backend, which has no twin of this yet.
    #[serde(default = "default_rim_touches_core")]
    pub rim_touches_core: bool,
    /// When a frame holds more cores than the table (`MAX_CORES`), the largest are kept
    /// (`regions::select_cores`), not the first in raster order: liver whose lobule walls fluoresce is
    /// enclosed pockets from edge to edge, hundreds of a core's size, and the first rows of them filled
    /// the table before a tumour lower in the view was reached. False: the first by label, as on the
    /// GPU backend, which has no twin of this yet.
    #[serde(default = "default_largest_cores_first")]
    pub largest_cores_first: bool,
    /// A basin of the ratio inside fluorescence is a core that scatter, haze or blur lifted above the
    /// level (`reference::filled`) when its water stands this many noise sigmas deep over a core's area
    /// and its floor lies at least halfway down from its rim to the background. 0: off, as on the GPU
    /// backend, which has no twin of this stage yet.
    #[serde(default = "default_filled_core_sigmas")]
    pub filled_core_sigmas: f32,
    /// A homogeneous lesion fills at least this share of its convex hull and is at most
    /// `reference::shape::MAX_ELONGATION` times as long as wide: an arc is a rim's stretch whose core was
    /// not found, a strip a duct's widest stretch, neither a lesion. 0: off, as on the GPU backend, which
    /// has no twin of this stage yet.
    #[serde(default = "default_homogeneous_min_solidity")]
    pub homogeneous_min_solidity: f32,
    /// A coreless candidate whose outline is mostly gentle is a homogeneous lesion still when, at half its
    /// own height over the background, its edge rises over at most this width (mm): an optical edge
    /// blurred by the optics and motion, where a deep glow's flank is as wide as its diffusion
    /// (`reference::shape::flag_sharp_plateaus`). 0: off, as on the GPU backend, which has no twin of
    /// this stage yet.
    #[serde(default = "default_plateau_edge_mm")]
    pub plateau_edge_mm: f32,
    /// A coreless lesion is reported only when it stands out among the frame's own texture blobs: when
    /// textured liver this frame would make one as large and bright with a probability under this
    /// (`reference::texture`). 0: off, as on the GPU backend, which has no twin of this stage yet.
    #[serde(default = "default_texture_alpha")]
    pub texture_alpha: f32,
    /// Where the texture is judged (`texture_alpha` above 0), a rim lesion's core must be no smaller than
    /// the frame's typical grain, less this many robust sigmas of the grains' log area, unless its rim
    /// stands out of the grains (`reference::texture::drop_texture_pockets`): the pockets between
    /// grains are smaller than the grains that wall them.
    #[serde(default = "default_texture_pocket_sigmas")]
    pub texture_pocket_sigmas: f32,
    /// Deep lesions are also looked for on the ratio median-filtered over a square this wide, mm
    /// (`reference::glow`): at the pixel scale a broad glow is as ragged as the texture over it, and the
    /// median drops glints, ducts and rings narrower than half of it. 0: off, as on the GPU backend,
    /// which has no twin of this stage yet.
    #[serde(default = "default_glow_window_mm")]
    pub glow_window_mm: f32,
    /// Tissue is never darker than this ratio to its background (a tumour's core keeps 0.3 of it); an
    /// opaque instrument, lit by stray light only, is (0.05–0.24 on this project's phantoms, 0.10–0.27
    /// on an independent set; haze lifts it to 0.35). A wound-bed spot surrounded by such darkness is a
    /// reflection on the instrument (`measure::findings`); a region from the image border this dark
    /// (`reference::occluders::OCCLUDER_HAZE_ALLOWANCE` more, where the white light is grey) is an
    /// instrument's shaft and hides what lies behind it (`reference::occluders`). 0: no occluders, as on
    /// the GPU backend, which has no twin of that stage yet.
    #[serde(default = "default_occluder_max_ratio")]
    pub occluder_max_ratio: f32,
    /// A coreless fluorescent lesion is homogeneous (a sharp tumour edge) when at least half its boundary
    /// pixels have a ratio gradient of at least this, per mm; else it is the blurred glow of a deep,
    /// diffuse lesion. A count, not a mean, so that a glint on the edge does not decide.
    pub homogeneous_edge_gradient_per_mm: f32,
    /// Margin contours drawn around each core, mm (the first is the radicality margin); at most
    /// `MAX_MARGINS`, on both backends.
    pub margins_mm: Vec<f32>,
    /// Side of the square blocks whose medians feed the background fit, px.
    pub background_block_px: u32,
    /// White-light pixels whose darkest channel reaches this are specular glints, excluded from the NIR analysis.
    pub glint_level: u8,
}

fn default_core_edge_rise_sigmas() -> f32 {
    2.0
}

fn default_rim_min_tbr() -> f32 {
    1.5
}

fn default_rim_touches_core() -> bool {
    true
}

fn default_filled_core_sigmas() -> f32 {
    4.0
}

fn default_texture_alpha() -> f32 {
    0.05
}

fn default_texture_pocket_sigmas() -> f32 {
    1.0
}

fn default_glow_window_mm() -> f32 {
    5.0
}

/// `AnalysisParams::occluder_max_ratio`.
pub const OCCLUDER_MAX_RATIO: f32 = 0.3;

fn default_occluder_max_ratio() -> f32 {
    OCCLUDER_MAX_RATIO
}

fn default_homogeneous_min_solidity() -> f32 {
    0.7
}

fn default_plateau_edge_mm() -> f32 {
    1.2
}

fn default_largest_cores_first() -> bool {
    true
}

impl Default for AnalysisParams {
    fn default() -> Self {
        Self {
            mm_per_px: 0.08,
            scale_known: true,
            scale_source: "default".into(),
            fluo_ratio: 1.3,
            fluo_noise_sigmas: 2.5,
            fluo_low_ratio: 1.2,
            fluo_low_sigmas: 2.5,
            coreless_min_sigmas: 4.0,
            coreless_min_tbr: 1.5,
            rim_min_tbr: default_rim_min_tbr(),
            core_max_ratio: 1.3,
            partial_core_max_ratio: 0.85,
            min_rim_coverage: 0.5,
            min_core_diameter_mm: 1.5,
            rim_search_mm: 6.0,
            min_diffuse_diameter_mm: 3.0,
            min_diffuse_compactness: 0.4,
            blob_opening_mm: 1.0,
            core_edge_rise_sigmas: default_core_edge_rise_sigmas(),
            filled_core_sigmas: default_filled_core_sigmas(),
            rim_touches_core: default_rim_touches_core(),
            largest_cores_first: default_largest_cores_first(),
            homogeneous_min_solidity: default_homogeneous_min_solidity(),
            plateau_edge_mm: default_plateau_edge_mm(),
            texture_alpha: default_texture_alpha(),
            texture_pocket_sigmas: default_texture_pocket_sigmas(),
            glow_window_mm: default_glow_window_mm(),
            occluder_max_ratio: default_occluder_max_ratio(),
            homogeneous_edge_gradient_per_mm: 0.7,
            margins_mm: vec![1.0],
            background_block_px: 32,
            glint_level: 235,
        }
    }
}

impl AnalysisParams {
    pub fn with_scale(mm_per_px: f32) -> Self {
        Self { mm_per_px, scale_source: "--mm-per-px".into(), ..Self::default() }
    }

    /// No scale known: figures in px, size limits at a nominal 0.08 mm/px.
    pub fn without_scale() -> Self {
        Self { scale_known: false, scale_source: "none".into(), ..Self::default() }
    }

    /// Margin contours to draw, px (none without a scale).
    pub fn margins_px(&self) -> Vec<f32> {
        if self.scale_known { self.margins_mm.iter().map(|&m| self.mm_to_px(m)).collect() } else { Vec::new() }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.mm_per_px.is_finite() && self.mm_per_px > 0.0 && self.mm_per_px < 10.0) {
            bail!("--mm-per-px must be a positive scale below 10 mm/px, got {}", self.mm_per_px);
        }
        if !(self.fluo_ratio > 1.0) {
            bail!("fluorescence ratio must be above 1, got {}", self.fluo_ratio);
        }
        if !(self.fluo_noise_sigmas >= 0.0 && self.fluo_noise_sigmas <= 20.0) {
            bail!("fluorescence noise sigmas must be within 0-20, got {}", self.fluo_noise_sigmas);
        }
        if self.margins_mm.is_empty() || self.margins_mm.iter().any(|m| !(m.is_finite() && *m > 0.0)) {
            bail!("margins must be positive millimetres, got {:?}", self.margins_mm);
        }
        if self.margins_mm.len() > MAX_MARGINS {
            bail!("--margins-mm: at most {MAX_MARGINS} margin contours, got {}", self.margins_mm.len());
        }
        if !(self.blob_opening_mm >= 0.0 && self.blob_opening_mm.is_finite()) {
            bail!("blob opening must be a radius of 0 mm (off) or more, got {}", self.blob_opening_mm);
        }
        if !(self.core_edge_rise_sigmas >= 0.0 && self.core_edge_rise_sigmas.is_finite()) {
            bail!("core edge rise must be 0 sigmas (off) or more, got {}", self.core_edge_rise_sigmas);
        }
        if !(self.filled_core_sigmas >= 0.0 && self.filled_core_sigmas.is_finite()) {
            bail!("filled core depth must be 0 sigmas (off) or more, got {}", self.filled_core_sigmas);
        }
        if !(self.glow_window_mm.is_finite() && (0.0..=30.0).contains(&self.glow_window_mm)) {
            bail!("glow window must be within 0 (off) and 30 mm, got {}", self.glow_window_mm);
        }
        if !(self.occluder_max_ratio.is_finite() && (0.0..1.0).contains(&self.occluder_max_ratio)) {
            bail!("occluder ratio must be within 0 (off) and 1 (tissue's level), got {}", self.occluder_max_ratio);
        }
        if !(self.texture_pocket_sigmas.is_finite() && self.texture_pocket_sigmas >= 0.0) {
            bail!("texture pocket sigmas must be a finite number of sigmas, 0 or more, got {}", self.texture_pocket_sigmas);
        }
        if !(0.0..1.0).contains(&self.texture_alpha) {
            bail!("texture alpha (a probability) must be within 0 (off) and 1, got {}", self.texture_alpha);
        }
        if !(0.0..=1.0).contains(&self.homogeneous_min_solidity) {
            bail!("homogeneous lesion solidity must be within 0 (off) and 1, got {}", self.homogeneous_min_solidity);
        }
        if !(self.plateau_edge_mm.is_finite() && (0.0..=10.0).contains(&self.plateau_edge_mm)) {
            bail!("plateau edge width must be within 0 (off) and 10 mm, got {}", self.plateau_edge_mm);
        }
        if !(self.rim_min_tbr >= 1.0 && self.rim_min_tbr.is_finite()) {
            bail!("rim lesions' least TBR must be 1 or more, got {}", self.rim_min_tbr);
        }
        if self.background_block_px < 8 {
            bail!("background block must be at least 8 px, got {}", self.background_block_px);
        }
        Ok(())
    }

    pub fn mm_to_px(&self, mm: f32) -> f32 {
        mm / self.mm_per_px
    }

    /// The stages these settings turn on that only the CPU backend has: the GPU backend has no twin of
    /// them yet and analyses without them. Empty when both backends analyse alike.
    pub fn cpu_only_stages(&self) -> Vec<&'static str> {
        let mut stages = Vec::new();
        if self.min_rim_coverage <= 1.0 {
            stages.push("rims with a gap, and rims judged by their own ring direction by direction, a peak of rim in each sector covered (min_rim_coverage)");
        }
        if self.blob_opening_mm > 0.0 {
            stages.push("lesions cut from a touching duct (blob_opening_mm)");
        }
        if self.rim_touches_core {
            stages.push("rims as the fluorescence touching the core (rim_touches_core)");
        }
        if self.largest_cores_first {
            stages.push("the largest cores kept where more than the table holds (largest_cores_first)");
        }
        if self.filled_core_sigmas > 0.0 {
            stages.push("cores filled above the level (filled_core_sigmas)");
        }
        if self.texture_alpha > 0.0 {
            stages.push("coreless lesions and small rim cores tested against the frame's texture (texture_alpha)");
        }
        if self.glow_window_mm > 0.0 {
            stages.push("deep lesions found on the median-filtered ratio (glow_window_mm)");
        }
        if self.occluder_max_ratio > 0.0 {
            stages.push("what an instrument's shaft hides is not in view: cores it cuts off are partial, lesions it touches partial (occluder_max_ratio)");
        }
        if self.homogeneous_min_solidity > 0.0 {
            stages.push("arcs and strips are no homogeneous lesions (homogeneous_min_solidity)");
        }
        if self.plateau_edge_mm > 0.0 {
            stages.push("homogeneous lesions' edges judged at half their height (plateau_edge_mm)");
        }
        if self.core_edge_rise_sigmas > 0.0 {
            stages.push("core edges, rim thickness and the class map's rim located direction by direction (core_edge_rise_sigmas)");
        }
        stages
    }

    /// These settings with the CPU-only stages off: what both backends analyse alike.
    pub fn without_cpu_only_stages(self) -> Self {
        Self { min_rim_coverage: f32::INFINITY, blob_opening_mm: 0.0, core_edge_rise_sigmas: 0.0, filled_core_sigmas: 0.0, rim_touches_core: false, largest_cores_first: false, homogeneous_min_solidity: 0.0, plateau_edge_mm: 0.0, texture_alpha: 0.0, glow_window_mm: 0.0, occluder_max_ratio: 0.0, ..self }
    }

    /// Is the threshold's hysteresis on (`fluo_low_ratio` under `fluo_ratio`)?
    pub fn hysteresis(&self) -> bool {
        self.fluo_low_ratio < self.fluo_ratio
    }

    /// The largest distance (px) the distance field must cover: rim search or the widest margin.
    pub fn distance_bound_px(&self) -> f32 {
        let widest = self.margins_mm.iter().cloned().fold(self.rim_search_mm, f32::max);
        self.mm_to_px(widest) + 2.0
    }
}

/// The smallest core, px²: a disc of `min_core_diameter_mm` (both backends).
pub fn min_core_area_px(p: &AnalysisParams) -> f32 {
    std::f32::consts::FRAC_PI_4 * p.mm_to_px(p.min_core_diameter_mm).powi(2)
}

/// The smallest coreless lesion, px²: a disc of `min_diffuse_diameter_mm`.
pub fn min_coreless_area_px(p: &AnalysisParams) -> f32 {
    std::f32::consts::FRAC_PI_4 * p.mm_to_px(p.min_diffuse_diameter_mm).powi(2)
}
