//! Option groups shared by `analyze` and `live`: the image scale (the flags of `ScaleSettings`) and the
//! transection / wound-bed checks.
//! Every value is checked when parsed (`values`), each error naming its flag; the named choices (`--mode`,
//! `--backend`) are parsed by their types' `FromStr`, clap listing the possible values.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::values;
use crate::measure::calibration::ScaleSettings;
use crate::measure::findings::{Mode, Roi};
use crate::params::AnalysisParams;
use crate::processor::{CheckSettings, DEFAULT_MIN_TBR};

#[derive(Args, Debug, Clone)]
pub struct ScaleArgs {
    /// Image scale in millimetres a pixel (0.005–2). Without it (or --calibration) figures are in px.
    #[arg(long, conflicts_with = "calibration", value_parser = values::mm_per_px, allow_hyphen_values = true)]
    pub mm_per_px: Option<f32>,
    /// Scale from `nirf-margin calibrate` (JSON).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Margin contours in mm (each 0.1–50), comma-separated; the first is the radicality margin.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = values::margin_mm, allow_hyphen_values = true)]
    pub margins_mm: Vec<f32>,
    /// Raise the fluorescence level above its ratio of 1.3 to the background mode plus this many noise
    /// sigmas of the frame (its texture and sensor noise; 0-20; 0: off; see README, "Fluorescence level").
    #[arg(long, default_value_t = AnalysisParams::default().fluo_noise_sigmas, value_parser = values::noise_sigmas, allow_hyphen_values = true)]
    pub fluo_noise_sigmas: f32,
}

impl ScaleArgs {
    /// The scale these flags give.
    pub fn settings(&self) -> ScaleSettings {
        ScaleSettings {
            mm_per_px: self.mm_per_px,
            calibration: self.calibration.clone(),
            margins_mm: self.margins_mm.clone(),
            fluo_noise_sigmas: self.fluo_noise_sigmas,
        }
    }

    /// Analysis parameters with the scale given (or none), validated.
    pub fn params(&self) -> Result<AnalysisParams> {
        self.settings().params()
    }
}

/// `--backend`: one of `BackendChoice::ALL` by name (clap lists them in the help and in its error).
pub fn backend_parser() -> impl clap::builder::TypedValueParser<Value = crate::backend::BackendChoice> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(crate::backend::BackendChoice::ALL.map(crate::backend::BackendChoice::name)).try_map(|s| s.parse::<crate::backend::BackendChoice>())
}

/// `--mode`: one of `Mode::ALL` by name (clap lists them in the help and in its error).
fn mode_parser() -> impl clap::builder::TypedValueParser<Value = Mode> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Mode::ALL.map(Mode::name)).try_map(|s| s.parse::<Mode>())
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// survey (lesions and margins), transection (flag fluorescence in the ROI) or wound-bed (also tally it).
    #[arg(long, value_parser = mode_parser(), default_value = "survey")]
    pub mode: Mode,
    /// Region of interest for transection / wound-bed, x,y,w,h in px, inside the frame (default: the
    /// central 60%).
    #[arg(long)]
    pub roi: Option<Roi>,
    /// Fluorescence in the ROI counts from this TBR on (a ratio above 1).
    #[arg(long, default_value_t = DEFAULT_MIN_TBR, value_parser = values::tbr, allow_hyphen_values = true)]
    pub tbr: f32,
}

impl CheckArgs {
    pub fn settings(&self) -> Result<CheckSettings> {
        Ok(CheckSettings { mode: self.mode, roi: self.roi, min_tbr: self.tbr })
    }
}
