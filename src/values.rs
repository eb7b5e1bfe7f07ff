//! Settings given as text, parsed and checked once for every front end: the command line (each function
//! is a clap value parser there, so clap adds "invalid value 'X' for '--flag'"), `batch`'s manifest
//! columns and the GStreamer element's properties, each naming its flag, column or property around the
//! plain message returned here. The scalar settings' plausible ranges (which also keep the analysis and
//! the phantom generator bounded in time and memory), and `FromStr` for the region of interest and the
//! mode (`measure::findings`' types); frame sizes (`frame::FrameSize`), the side-by-side layout
//! (`frame::NirSide`) and fault drills (`live::faults::FaultPlan`) parse themselves beside their types.
//! No clap here.

use std::str::FromStr;

use crate::measure::findings::{Mode, Roi};

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

/// A region of interest `x,y,w,h` in px; whether it lies in the frame is checked once the frame size is
/// known (`roi_in_frame`).
impl FromStr for Roi {
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

/// A mode by its name (`Mode::name`).
impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Mode::ALL.into_iter().find(|m| m.name() == s.trim()).ok_or_else(|| format!("'{s}' is not one of {}", Mode::ALL.map(Mode::name).join(", ")))
    }
}

/// The ROI lies wholly inside a `width`×`height` frame: an error otherwise (never a verdict on a region
/// that is not in the picture).
pub fn roi_in_frame(roi: &Roi, width: usize, height: usize) -> anyhow::Result<()> {
    if roi.x + roi.w > width || roi.y + roi.h > height {
        anyhow::bail!(
            "--roi {},{},{},{} reaches outside the {width}x{height} frame (x+w must be at most {width}, y+h at most {height})",
            roi.x, roi.y, roi.w, roi.h
        );
    }
    Ok(())
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
    fn rois_and_modes_parse() {
        assert_eq!(rim_lesions("64"), Ok(64));
        assert!(rim_lesions("18446744073709551615").is_err());
        let r: Roi = "10,20,30,40".parse().unwrap();
        assert_eq!((r.x, r.y, r.w, r.h), (10, 20, 30, 40));
        assert!(roi_in_frame(&r, 40, 60).is_ok());
        assert!(roi_in_frame(&r, 39, 60).is_err());
        assert!(roi_in_frame(&"10000,10000,50,50".parse().unwrap(), 640, 480).is_err());
        for bad in ["1,2,3", "1,2,0,4", "a,b,c,d", "1,2,3,4,5"] {
            assert!(bad.parse::<Roi>().is_err(), "{bad}");
        }
        for m in Mode::ALL {
            assert_eq!(m.name().parse(), Ok(m));
        }
        assert!("autopilot".parse::<Mode>().unwrap_err().contains("wound-bed"));
    }
}
