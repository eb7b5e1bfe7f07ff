//! `nirf-margin calibrate`: image scale (mm/px) from a photo of a chessboard of known square size, with
//! the fit's residual, written as JSON for `analyze --calibration`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::paths::{PathGuard, write_atomic};
use crate::values;
use crate::frame::Plane;
use crate::measure::calibration::calibrate_chessboard;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Image of the chessboard, held where the tissue will be (PNG or any format `image` reads).
    #[arg(long)]
    pub image: PathBuf,
    /// Side of one square, mm.
    #[arg(long, value_parser = values::square_mm, allow_hyphen_values = true)]
    pub square_mm: f32,
    /// Inner corners of the board, COLSxROWS.
    #[arg(long, default_value = "9x6")]
    pub pattern: String,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: CalibrateArgs) -> Result<()> {
    let (cols, rows) = a
        .pattern
        .split_once(['x', 'X'])
        .and_then(|(c, r)| Some((c.trim().parse::<u32>().ok()?, r.trim().parse::<u32>().ok()?)))
        .filter(|&(c, r)| (2..=100).contains(&c) && (2..=100).contains(&r))
        .with_context(|| format!("--pattern {}: expected inner corners as COLSxROWS, each 2–100, e.g. 9x6", a.pattern))?;
    let mut guard = PathGuard::new();
    guard.input_file("--image", &a.image).output_file("--out", &a.out);
    guard.check()?;
    let img = image::ImageReader::open(&a.image)
        .and_then(|r| r.with_guessed_format())
        .map_err(anyhow::Error::from)
        .and_then(|r| Ok(r.decode()?))
        .with_context(|| format!("--image {}: cannot read the image", a.image.display()))?
        .into_luma8();
    let (w, h) = img.dimensions();
    // The board's squares need some pixels each: check before OpenCV sees the image.
    if w < 16 || h < 16 || w > 16384 || h > 16384 {
        bail!("--image {}: {w}x{h} px is outside the sizes calibrated (16x16 to 16384x16384)", a.image.display());
    }
    if (w as u64) < 4 * (cols as u64 + 1) || (h as u64) < 4 * (rows as u64 + 1) {
        bail!("--image {}: {w}x{h} px is too small to hold a {cols}x{rows} board (at least 4 px a square)", a.image.display());
    }
    let gray = Plane::from_vec(w as usize, h as usize, img.into_raw())?;
    let mut cal = calibrate_chessboard(&gray, cols, rows, a.square_mm).with_context(|| format!("--image {}", a.image.display()))?;
    cal.image = a.image.display().to_string();
    write_atomic("--out", &a.out, serde_json::to_string_pretty(&cal)?.as_bytes())?;
    println!(
        "{:.5} mm/px from {} corners; residual {:.3} px ({:.4} mm); written to {}",
        cal.mm_per_px,
        cal.corners,
        cal.residual_px,
        cal.residual_mm,
        a.out.display()
    );
    Ok(())
}
