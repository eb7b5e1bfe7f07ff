//! `nirf-margin calibrate`: image scale (mm/px) from a photo of a chessboard of known square size, with
//! the fit's residual, written as JSON for `analyze --calibration`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::frame::Plane;
use crate::measure::calibration::calibrate_chessboard;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Image of the chessboard, held where the tissue will be (PNG or any format `image` reads).
    #[arg(long)]
    pub image: PathBuf,
    /// Side of one square, mm.
    #[arg(long)]
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
        .filter(|&(c, r)| c >= 2 && r >= 2)
        .with_context(|| format!("--pattern {}: expected inner corners as COLSxROWS, e.g. 9x6", a.pattern))?;
    let img = image::open(&a.image).with_context(|| format!("--image {}: cannot read the image", a.image.display()))?.into_luma8();
    let (w, h) = img.dimensions();
    let gray = Plane::from_vec(w as usize, h as usize, img.into_raw())?;
    let mut cal = calibrate_chessboard(&gray, cols, rows, a.square_mm).with_context(|| format!("--image {}", a.image.display()))?;
    cal.image = a.image.display().to_string();
    std::fs::write(&a.out, serde_json::to_string_pretty(&cal)?).with_context(|| format!("--out {}: cannot write", a.out.display()))?;
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
