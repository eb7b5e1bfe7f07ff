//! The metrics file's one schema: a `FrameMetrics` a line (JSON lines), written by `analyze` and `live`
//! and read back by `report` and the tests. Versioned by its `schema` field ([`SCHEMA_VERSION`]); a
//! file written before the field existed reads as schema 0, every field it lacks taking its default.
//! The JSON Schema of a line, generated from these types with `schemars`, is committed at
//! [`SCHEMA_PATH`]; a test keeps it equal to the generated one (`NIRF_UPDATE_SCHEMA=1 cargo test --lib
//! metrics` rewrites it).
//!
//! Figures are rounded as they are written (3 decimals; the scale 6, the noise 4). Knows the processor's
//! result and the checks' findings; nothing of files, GStreamer or the CLI.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::Lesion;
use crate::measure::findings::{FrameFindings, Mode};
use crate::params::AnalysisParams;
use crate::processor::FrameResult;

/// The version written by this build. 0: files from before the field (no `schema`, `margins_mm` or
/// per-lesion `verdict`).
pub const SCHEMA_VERSION: u32 = 1;

/// Where the generated JSON Schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "testdata/schemas/metrics.schema.json";

/// One frame of a run: what `analyze` writes for every frame pair and `live` for every displayed frame.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "nirf-margin metrics line", description = "One JSON object a line of a metrics file (JSONL), one line a frame.")]
pub struct FrameMetrics {
    /// Schema version: 1 for what this version writes; absent (0) in files written before it.
    #[serde(default)]
    pub schema: u32,
    /// Frame index, from 0.
    pub frame: u64,
    /// Presentation time of the white-light frame, ns.
    #[serde(default)]
    pub pts_ns: u64,
    /// Image scale, mm a pixel; null when unknown (figures then in px only).
    #[serde(default)]
    pub mm_per_px: Option<f64>,
    /// Where the scale came from (`--mm-per-px`, `calibration FILE`, `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_source: Option<String>,
    /// The margin contours drawn, mm; the first is the radicality margin each lesion's `verdict` is
    /// against. Empty in schema 0 files.
    #[serde(default)]
    pub margins_mm: Vec<f32>,
    /// Live runs: whether this frame went out with its overlay (`on`) or as plain white light (`off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<OverlayState>,
    /// Live runs: why the overlay is off ("nir lost", "analysis busy", "over time budget", a fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Live runs (the element): added latency, ms: from the earlier of the white light's running time and
    /// the moment the element took the pair, to the moment the frame leaves the element (live: capture to
    /// output on the pipeline clock; a replay, which runs ahead of the clock: the element's time on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Live runs: wall time since the start, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<f64>,
    /// Live runs with `--record`: recorded frames dropped so far, per recording file (`wl.mkv`,
    /// `nir.mov`, `overlay.mkv`), because its encoder was behind; display frames are never dropped for
    /// a recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rec_dropped: Option<IndexMap<String, u64>>,
    /// The lesions of this frame (tracked IDs, figures smoothed over the last three frames).
    #[serde(default)]
    pub lesions: Vec<Lesion>,
    /// The frame held more lesions than the per-frame table (64 cores, 32 coreless lesions): the first
    /// by label (raster order) are reported, on both backends, and the overlay says `LESIONS TRUNCATED`.
    /// Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// What the frame's ratio histogram said (`analyze`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nir: Option<NirStats>,
    /// Wall or GPU time per stage, ms (`analyze`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings_ms: Option<IndexMap<String, f64>>,
    /// The check's mode (transection and wound-bed runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The transection / wound-bed check of this frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<FindingsRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverlayState {
    On,
    Off,
}

/// The frame's fluorescence level and the background it was taken from (ratio units).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NirStats {
    /// The level fluorescence was cut at.
    #[serde(default)]
    pub fluo_level: f64,
    /// The background's mode.
    #[serde(default)]
    pub background_mode: f64,
    /// The background's noise (Gaussian sigma).
    #[serde(default)]
    pub noise_sigma: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FindingsRecord {
    /// The steady flag: fluorescence in the region of interest.
    #[serde(default)]
    pub flag: bool,
    #[serde(default)]
    pub spots: Vec<SpotRecord>,
}

/// A fluorescent spot in the region of interest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpotRecord {
    #[serde(default)]
    pub id: u32,
    #[serde(default)]
    pub centroid_px: [f64; 2],
    #[serde(default)]
    pub area_px: u32,
    #[serde(default)]
    pub area_mm2: Option<f64>,
    #[serde(default)]
    pub peak_tbr: f64,
}

fn r3(v: f32) -> f64 {
    (v as f64 * 1000.0).round() / 1000.0
}

/// `v` rounded to 3 decimals, kept in f32 (written as its shortest decimal, so 9.6 and not 9.6000004).
fn r3f(v: f32) -> f32 {
    r3(v) as f32
}

/// A lesion as the metrics file holds it: every figure rounded to 3 decimals.
pub fn rounded(l: &Lesion) -> Lesion {
    let o = |v: Option<f32>| v.map(r3f);
    Lesion {
        centroid_px: [r3f(l.centroid_px[0]), r3f(l.centroid_px[1])],
        core_diameter_mm: o(l.core_diameter_mm),
        rim_thickness_mm: o(l.rim_thickness_mm),
        min_rim_thickness_mm: o(l.min_rim_thickness_mm),
        rim_coverage: o(l.rim_coverage),
        tbr: r3f(l.tbr),
        area_mm2: o(l.area_mm2),
        feret_min_mm: o(l.feret_min_mm),
        feret_max_mm: o(l.feret_max_mm),
        core_diameter_px: o(l.core_diameter_px),
        rim_thickness_px: o(l.rim_thickness_px),
        min_rim_thickness_px: o(l.min_rim_thickness_px),
        ..l.clone()
    }
}

fn findings_record(f: &FrameFindings) -> FindingsRecord {
    FindingsRecord {
        flag: f.flag,
        spots: f
            .spots
            .iter()
            .map(|s| SpotRecord {
                id: s.id,
                centroid_px: [r3(s.centroid_px[0]), r3(s.centroid_px[1])],
                area_px: s.area_px,
                area_mm2: s.area_mm2.map(r3),
                peak_tbr: r3(s.peak_tbr),
            })
            .collect(),
    }
}

impl FrameMetrics {
    /// A line with the settings every writer records: version, frame, time, scale and margins.
    pub fn new(frame: u64, pts_ns: u64, params: &AnalysisParams) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            frame,
            pts_ns,
            mm_per_px: params.scale_known.then(|| (params.mm_per_px as f64 * 1e6).round() / 1e6),
            scale_source: Some(params.scale_source.clone()),
            margins_mm: params.margins_mm.clone(),
            ..Self::default()
        }
    }

    /// The lesions and the transection / wound-bed check of a processed frame.
    pub fn with_result(mut self, r: &FrameResult) -> Self {
        self.lesions = r.lesions.iter().map(rounded).collect();
        self.truncated = r.truncated;
        if let Some(f) = &r.findings {
            self.mode = Some(f.mode);
            self.findings = Some(findings_record(f));
        }
        self
    }

    /// `analyze`'s line: the result with the NIR level and the stage timings.
    pub fn analysed(frame: u64, pts_ns: u64, params: &AnalysisParams, r: &FrameResult) -> Self {
        let mut m = Self::new(frame, pts_ns, params).with_result(r);
        m.nir = Some(NirStats {
            fluo_level: r3(r.background.level),
            background_mode: r3(r.background.mode),
            noise_sigma: (r.background.noise as f64 * 1e4).round() / 1e4,
        });
        m.timings_ms = Some(r.timings.0.iter().map(|(k, v)| (k.clone(), (v * 1000.0).round() / 1000.0)).collect());
        m
    }

    /// Parse one line; files of every earlier schema read, missing fields taking their defaults.
    pub fn from_json(line: &str) -> serde_json::Result<Self> {
        serde_json::from_str(line)
    }
}

/// The JSON Schema of a metrics line, as committed at [`SCHEMA_PATH`].
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(FrameMetrics);
    serde_json::to_string_pretty(&schema).expect("a schema serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schema_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let generated = json_schema();
        if std::env::var("NIRF_UPDATE_SCHEMA").as_deref() == Ok("1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == generated, "{SCHEMA_PATH} is out of date: run `NIRF_UPDATE_SCHEMA=1 cargo test --lib metrics` and commit it");
    }

    #[test]
    fn schema_0_lines_still_read() {
        // What analyze wrote before the schema field (and a minimal hand-written line).
        let old = r#"{"frame": 3, "pts_ns": 100000000, "mm_per_px": 0.1, "scale_source": "--mm-per-px", "lesions": [{"id": 1, "kind": "rim", "partial": false, "centroid_px": [10.5, 20.25], "core_diameter_mm": 9.6, "rim_thickness_mm": 2.1, "min_rim_thickness_mm": 1.8, "tbr": 3.2, "area_mm2": 72.4, "feret_min_mm": 8.9, "feret_max_mm": 10.4, "core_diameter_px": 96.0, "rim_thickness_px": 21.0, "min_rim_thickness_px": 18.0}], "nir": {"fluo_level": 1.3, "background_mode": 1.002, "noise_sigma": 0.0341}, "timings_ms": {"normalize": 1.5, "threshold": 0.5}, "mode": "wound-bed", "findings": {"flag": true, "spots": [{"id": 1, "centroid_px": [1.0, 2.0], "area_px": 40, "area_mm2": 0.4, "peak_tbr": 2.5}]}}"#;
        let m = FrameMetrics::from_json(old).unwrap();
        assert_eq!((m.schema, m.frame, m.mm_per_px), (0, 3, Some(0.1)));
        assert!(m.margins_mm.is_empty());
        assert_eq!(m.lesions[0].core_diameter_mm, Some(9.6));
        assert_eq!(m.lesions[0].rim_coverage, None);
        assert_eq!(m.mode, Some(Mode::WoundBed));
        assert_eq!(m.timings_ms.unwrap().keys().collect::<Vec<_>>(), ["normalize", "threshold"]);
        let live = r#"{"frame":0,"pts_ns":0,"overlay":"off","reason":"nir lost","latency_ms":1.5,"wall_ms":3.0,"lesions":[]}"#;
        let m = FrameMetrics::from_json(live).unwrap();
        assert_eq!((m.overlay, m.reason.as_deref()), (Some(OverlayState::Off), Some("nir lost")));
        let minimal = r#"{"frame":1,"lesions":[{"id":1,"kind":"rim","tbr":2,"core_diameter_mm":3}]}"#;
        let m = FrameMetrics::from_json(minimal).unwrap();
        assert_eq!(m.lesions[0].tbr, 2.0);
        assert!(FrameMetrics::from_json(r#"{"lesions":[]}"#).is_err(), "a line without a frame");
    }

    #[test]
    fn a_line_round_trips() {
        let params = AnalysisParams::with_scale(0.1);
        let mut m = FrameMetrics::new(7, 233_333_333, &params);
        m.overlay = Some(OverlayState::On);
        m.latency_ms = Some(12.5);
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"mm_per_px\":0.1") && text.contains("\"margins_mm\":[1.0]") && !text.contains("\"reason\""), "{text}");
        assert_eq!(FrameMetrics::from_json(&text).unwrap(), m);
    }
}
