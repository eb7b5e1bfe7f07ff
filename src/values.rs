//! Settings given as text, parsed and checked once for every front end: the command line (each function
//! is a clap value parser there, so clap adds "invalid value 'X' for '--flag'"), `batch`'s manifest
//! columns and the GStreamer element's properties, each naming its flag, column or property around the
//! plain message returned here. The scalar settings' plausible ranges (which also keep the analysis and
//! the phantom generator bounded in time and memory). Named and structured settings parse themselves
//! beside their types (`FromStr`): frame sizes (`frame::FrameSize`), the side-by-side layout
//! (`frame::NirSide`), the region of interest and the mode (`measure::findings::{Roi, Mode}`), the
//! backend (`backend::BackendChoice`) and fault drills (`element::faults::FaultPlan`). No clap here, and
//! nothing of the crate: every layer may use it.

/// Plausible image scales, mm a pixel: 5 µm/px (microscopy) to 2 mm/px (a wide view).
pub const MM_PER_PX: (f64, f64) = (0.005, 2.0);
/// Margin contours, mm.
pub const MARGIN_MM: (f64, f64) = (0.1, 50.0);
/// Rim lesions in a bench phantom.
pub const MAX_RIM_LESIONS: usize = 64;

fn number(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().map_err(|_| format!("'{s}' is not a number"))
}

fn finite(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if !v.is_finite() {
        return Err(format!("must be a finite number, got {s}"));
    }
    Ok(v)
}

fn within(s: &str, lo: f64, hi: f64, unit: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("must be within {lo}–{hi}{unit}, got {s}"));
    }
    Ok(v)
}

/// Image scale, mm/px.
pub fn mm_per_px(s: &str) -> Result<f32, String> {
    within(s, MM_PER_PX.0, MM_PER_PX.1, " mm/px").map(|v| v as f32)
}

/// One margin, mm.
pub fn margin_mm(s: &str) -> Result<f32, String> {
    within(s, MARGIN_MM.0, MARGIN_MM.1, " mm").map(|v| v as f32)
}

/// Tumour-to-background ratio from which fluorescence counts: finite and above 1 (at most 1000).
pub fn tbr(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if !(v > 1.0 && v <= 1000.0) {
        return Err(format!("must be a ratio above 1 (at most 1000), got {s}"));
    }
    Ok(v as f32)
}

/// Noise sigmas added to the fluorescence level (0 off).
pub fn noise_sigmas(s: &str) -> Result<f32, String> {
    within(s, 0.0, 20.0, "").map(|v| v as f32)
}

/// Gain on the phantom's NIR sensor noise (0: noise-free).
pub fn noise_gain(s: &str) -> Result<f32, String> {
    within(s, 0.0, 100.0, "").map(|v| v as f32)
}

/// Side of a chessboard square, mm.
pub fn square_mm(s: &str) -> Result<f32, String> {
    within(s, 0.01, 1000.0, " mm").map(|v| v as f32)
}

/// A run's length, seconds: positive and at most a year.
pub fn seconds(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if !(v > 0.0 && v <= 365.0 * 86400.0) {
        return Err(format!("must be a positive number of seconds (at most a year), got {s}"));
    }
    Ok(v)
}

/// A time budget, ms: positive and at most 10 s.
pub fn budget_ms(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if !(v > 0.0 && v <= 10_000.0) {
        return Err(format!("must be a positive number of ms (at most 10000), got {s}"));
    }
    Ok(v)
}

/// A frame rate given as a real number (the phantom's).
pub fn fps(s: &str) -> Result<f32, String> {
    within(s, 1.0, 1000.0, " frames/s").map(|v| v as f32)
}

/// Frames to generate or time.
pub fn frame_count(s: &str) -> Result<u32, String> {
    let v: u32 = s.trim().parse().map_err(|_| format!("'{s}' is not a whole number of frames"))?;
    if !(1..=100_000).contains(&v) {
        return Err(format!("must be within 1–100000 frames, got {s}"));
    }
    Ok(v)
}

pub fn rim_lesions(s: &str) -> Result<usize, String> {
    let v: usize = s.trim().parse().map_err(|_| format!("'{s}' is not a whole number"))?;
    if v > MAX_RIM_LESIONS {
        return Err(format!("must be at most {MAX_RIM_LESIONS}, got {s}"));
    }
    Ok(v)
}

/// `bench --tolerance`: a percentage, 0–1000.
pub fn tolerance_pct(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..=1000.0).contains(&v) {
        return Err(format!("must be a percentage from 0 to 1000, got {s}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_ratios_are_bounded_and_finite() {
        for bad in ["nan", "inf", "-inf", "0", "-1", "1e-9", "3", "1e308", "abc", ""] {
            assert!(mm_per_px(bad).is_err(), "{bad}");
        }
        assert_eq!(mm_per_px("0.1"), Ok(0.1));
        for bad in ["nan", "inf", "1", "0.5", "-2"] {
            assert!(tbr(bad).is_err(), "{bad}");
        }
        assert!(tbr("1.5").is_ok());
        for bad in ["0", "0.05", "51", "nan"] {
            assert!(margin_mm(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-1", "nan", "inf", "1e300"] {
            assert!(seconds(bad).is_err(), "{bad}");
            assert!(budget_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_are_bounded() {
        assert_eq!(rim_lesions("64"), Ok(64));
        assert!(rim_lesions("18446744073709551615").is_err());
    }
}
