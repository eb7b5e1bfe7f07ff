//! Image scale from a chessboard of known square size, with OpenCV: corners found and refined to
//! sub-pixel (`findChessboardCorners`, `cornerSubPix`), then a similarity transform (rotation, uniform
//! scale, shift) fitted from the board to the image (`estimateAffinePartial2D`). Its scale is the image's
//! px/mm at the board's distance; the RMS distance between the fitted and found corners is the residual.
//! One fronto-parallel view: it assumes the board lies where the tissue will be and that lens
//! distortion is small across the board. `ScaleSettings`: the scale a command, a manifest line or the
//! element is given (a figure, a calibration file or none), turned into analysis parameters.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use opencv::core::{Mat, Point2f, Size, TermCriteria, TermCriteria_COUNT, TermCriteria_EPS, Vector};
use opencv::prelude::*;
use opencv::{calib3d, imgproc};
use serde::{Deserialize, Serialize};

use crate::frame::Plane;
use crate::params::AnalysisParams;
use crate::values;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub mm_per_px: f32,
    /// RMS distance between the corners found and the fitted board, px and mm.
    pub residual_px: f32,
    pub residual_mm: f32,
    /// Inner corners of the board (columns, rows) and its square size.
    pub pattern: [u32; 2],
    pub square_mm: f32,
    pub corners: u32,
    pub image: String,
}

impl Calibration {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("--calibration {}: cannot read", path.display()))?;
        let c: Calibration = serde_json::from_str(&text).with_context(|| format!("--calibration {}: not a calibration file", path.display()))?;
        if !(c.mm_per_px.is_finite() && c.mm_per_px > 0.0) {
            bail!("--calibration {}: mm_per_px {} is not a positive scale", path.display(), c.mm_per_px);
        }
        Ok(c)
    }
}

/// The image scale as given, with the margins and the fluorescence level's noise sigmas: the
/// `--mm-per-px`/`--calibration`/`--margins-mm`/`--fluo-noise-sigmas` flags (`cli::options::ScaleArgs`),
/// a manifest line's settings or the element's properties.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleSettings {
    /// mm a pixel (checked against `values::MM_PER_PX`); excludes `calibration`.
    pub mm_per_px: Option<f32>,
    /// A file written by `nirf-margin calibrate`.
    pub calibration: Option<PathBuf>,
    pub margins_mm: Vec<f32>,
    pub fluo_noise_sigmas: f32,
}

impl ScaleSettings {
    /// Analysis parameters with the scale given (or none), validated; a calibration file is read and
    /// its scale held to the same range as a figure given directly.
    pub fn params(&self) -> Result<AnalysisParams> {
        let base = match (&self.mm_per_px, &self.calibration) {
            (Some(s), _) => AnalysisParams::with_scale(*s),
            (None, Some(path)) => {
                let cal = Calibration::load(path)?;
                if values::mm_per_px(&cal.mm_per_px.to_string()).is_err() {
                    let (lo, hi) = values::MM_PER_PX;
                    bail!("--calibration {}: field mm_per_px is {}, outside {lo}–{hi} mm/px", path.display(), cal.mm_per_px);
                }
                AnalysisParams { scale_source: format!("calibration {}", path.display()), ..AnalysisParams::with_scale(cal.mm_per_px) }
            }
            (None, None) => {
                tracing::warn!("no --mm-per-px or --calibration: figures are in px and no margin contour is drawn");
                AnalysisParams::without_scale()
            }
        };
        let params = AnalysisParams { margins_mm: self.margins_mm.clone(), fluo_noise_sigmas: self.fluo_noise_sigmas, ..base };
        params.validate()?;
        Ok(params)
    }
}

/// Find a `cols`×`rows` inner-corner chessboard in `gray` and measure the scale.
pub fn calibrate_chessboard(gray: &Plane<u8>, cols: u32, rows: u32, square_mm: f32) -> Result<Calibration> {
    if !(square_mm > 0.0) {
        bail!("--square-mm must be positive, got {square_mm}");
    }
    let mat = Mat::new_rows_cols_with_data(gray.height as i32, gray.width as i32, &gray.data)?;
    let pattern = Size::new(cols as i32, rows as i32);
    let mut corners: Vector<Point2f> = Vector::new();
    let flags = calib3d::CALIB_CB_ADAPTIVE_THRESH + calib3d::CALIB_CB_NORMALIZE_IMAGE;
    if !calib3d::find_chessboard_corners(&mat, pattern, &mut corners, flags)? {
        bail!("no {cols}x{rows} chessboard (inner corners) found");
    }
    let criteria = TermCriteria::new(TermCriteria_COUNT + TermCriteria_EPS, 40, 0.001)?;
    imgproc::corner_sub_pix(&mat, &mut corners, Size::new(5, 5), Size::new(-1, -1), criteria)?;
    // Board coordinates in mm, in OpenCV's corner order (row by row).
    let board: Vector<Point2f> =
        (0..rows).flat_map(|r| (0..cols).map(move |c| Point2f::new(c as f32 * square_mm, r as f32 * square_mm))).collect();
    let mut inliers = Mat::default();
    let m = calib3d::estimate_affine_partial_2d(&board, &corners, &mut inliers, calib3d::LMEDS, 3.0, 2000, 0.99, 10)?;
    if m.empty() {
        bail!("the chessboard corners fit no similarity transform");
    }
    let at = |r: i32, c: i32| -> Result<f64> { Ok(*m.at_2d::<f64>(r, c)?) };
    let (a, b, tx, ty) = (at(0, 0)?, at(1, 0)?, at(0, 2)?, at(1, 2)?);
    let px_per_mm = (a * a + b * b).sqrt();
    if !(px_per_mm.is_finite() && px_per_mm > 0.0) {
        return Err(anyhow!("degenerate chessboard fit"));
    }
    let mut sq = 0.0;
    for (p, q) in board.iter().zip(corners.iter()) {
        let (x, y) = (p.x as f64, p.y as f64);
        let (fx, fy) = (a * x - b * y + tx, b * x + a * y + ty);
        sq += (fx - q.x as f64).powi(2) + (fy - q.y as f64).powi(2);
    }
    let residual_px = (sq / corners.len() as f64).sqrt() as f32;
    let mm_per_px = (1.0 / px_per_mm) as f32;
    Ok(Calibration {
        mm_per_px,
        residual_px,
        residual_mm: residual_px * mm_per_px,
        pattern: [cols, rows],
        square_mm,
        corners: corners.len() as u32,
        image: String::new(),
    })
}

/// A synthetic chessboard image (for tests and demos): `cols`×`rows` inner corners, squares of `square_px`,
/// rotated by `angle` radians about the image centre, anti-aliased by 4×4 supersampling.
pub fn render_chessboard(width: usize, height: usize, cols: u32, rows: u32, square_px: f32, angle: f32) -> Plane<u8> {
    let (c, s) = (angle.cos(), angle.sin());
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let (bw, bh) = ((cols + 1) as f32 * square_px, (rows + 1) as f32 * square_px);
    let mut out = Plane::<u8>::filled(width, height, 255);
    for y in 0..height {
        for x in 0..width {
            let mut acc = 0.0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let px = x as f32 + (sx as f32 + 0.5) / 4.0 - cx;
                    let py = y as f32 + (sy as f32 + 0.5) / 4.0 - cy;
                    // Into board coordinates (origin at the board's top-left square corner).
                    let u = c * px + s * py + bw / 2.0;
                    let v = -s * px + c * py + bh / 2.0;
                    let inside = u >= 0.0 && v >= 0.0 && u < bw && v < bh;
                    let dark = inside && ((u / square_px).floor() as i64 + (v / square_px).floor() as i64) % 2 == 0;
                    acc += if dark { 20.0 } else { 235.0 };
                }
            }
            out.set(x, y, (acc / 16.0) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_scale_of_a_rotated_board() {
        // 9x6 inner corners, 38.5 px squares of 2.5 mm: 0.0649 mm/px.
        let img = render_chessboard(640, 480, 9, 6, 38.5, 0.12);
        let cal = calibrate_chessboard(&img, 9, 6, 2.5).unwrap();
        let truth = 2.5 / 38.5;
        assert!((cal.mm_per_px - truth).abs() / truth < 0.005, "{} vs {truth}", cal.mm_per_px);
        assert!(cal.residual_px < 0.2, "residual {}", cal.residual_px);
        assert_eq!(cal.corners, 54);
    }

    #[test]
    fn an_image_without_a_board_is_an_error() {
        let img = Plane::<u8>::filled(320, 240, 128);
        assert!(calibrate_chessboard(&img, 9, 6, 2.5).is_err());
    }
}
