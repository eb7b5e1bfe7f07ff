//! `nirf-margin phantom`: write a synthetic white-light + NIR sequence with its ground truth.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::values;
use crate::phantom::{PhantomConfig, write_sequence};

#[derive(Args, Debug)]
pub struct PhantomArgs {
    /// Output directory (wl/, nir/, truth/, ground_truth.json).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 60, value_parser = values::frame_count)]
    pub frames: u32,
    /// Frame size, WIDTHxHEIGHT (16–8192 a side).
    #[arg(long, default_value = "1280x720", )]
    pub size: crate::frame::FrameSize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Image scale, mm/px (0.005–2).
    #[arg(long, default_value_t = 0.08, value_parser = values::mm_per_px, allow_hyphen_values = true)]
    pub mm_per_px: f32,
    #[arg(long, default_value_t = 30.0, value_parser = values::fps, allow_hyphen_values = true)]
    pub fps: f32,
    /// survey: lesions, ducts, glints; cut: a transection plane or wound bed with residual fluorescent
    /// spots; clean-cut: the same with none.
    #[arg(long, default_value = "survey")]
    pub scene: String,
    /// Multiplies the NIR sensor noise (a higher-gain camera or weaker excitation), 0–100.
    #[arg(long, default_value_t = 1.0, value_parser = values::noise_gain, allow_hyphen_values = true)]
    pub nir_noise_gain: f32,
    /// Draw from the broad family (texture 5-25%, lobulated cores, rim gaps, core levels up to the
    /// background's, scatter halo, veins, instruments, motion blur, haze, gain, NIR-only glints).
    #[arg(long)]
    pub broad: bool,
    /// With --broad: the liver texture as lobules with bright walls.
    #[arg(long, requires = "broad")]
    pub lobular: bool,
}

pub fn run(a: PhantomArgs) -> Result<()> {
    let crate::frame::FrameSize { width, height } = a.size;
    let options = match a.scene.as_str() {
        "survey" => crate::phantom::SceneOptions::default(),
        "cut" => crate::phantom::SceneOptions::cut_surface(1..=3),
        "clean-cut" => crate::phantom::SceneOptions::cut_surface(0..=0),
        s => bail!("--scene {s}: expected survey, cut or clean-cut"),
    };
    let options = crate::phantom::SceneOptions { nir_noise_gain: a.nir_noise_gain, broad: a.broad, lobular: a.lobular, ..options };
    let cfg = PhantomConfig { width, height, frames: a.frames, seed: a.seed, mm_per_px: a.mm_per_px, fps: a.fps, options };
    let bar = ProgressBar::new(a.frames as u64)
        .with_style(ProgressStyle::with_template("phantom {bar:40} {pos}/{len} frames {elapsed}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let truth = write_sequence(&cfg, &a.out, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let lesions = truth.frames.first().map(|f| f.lesions.len()).unwrap_or(0);
    println!(
        "wrote {} frames of {}x{} at {} mm/px ({} lesions) to {}",
        a.frames, width, height, a.mm_per_px, lesions, a.out.display()
    );
    println!(
        "analyse with: nirf-margin analyze --wl {0}/wl/%05d.png --nir {0}/nir/%05d.png --mm-per-px {1}",
        a.out.display(),
        a.mm_per_px
    );
    Ok(())
}
