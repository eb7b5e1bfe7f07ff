//! `nirf-margin evaluate`: generate phantoms, analyse them, and print the accuracy against their ground
//! truth (sensitivity, precision, figure errors in mm, Dice of the masks, centroid jitter).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::cli::backend::{BackendChoice, make_analyzer};
use crate::measure::accuracy::Score;
use crate::params::AnalysisParams;
use crate::phantom::{PhantomConfig, SceneOptions, render};
use crate::processor::FrameProcessor;

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[arg(long, default_value_t = 10)]
    pub scenes: u32,
    #[arg(long, default_value_t = 1000)]
    pub seed: u64,
    #[arg(long, default_value = "1280x720")]
    pub size: String,
    /// Frames analysed a scene.
    #[arg(long, default_value_t = 4)]
    pub frames: u32,
    /// Write the figures as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Multiplies the phantoms' NIR sensor noise.
    #[arg(long, default_value_t = 1.0)]
    pub nir_noise_gain: f32,
    /// Analysis option: raise the fluorescence level with the frame's noise (see `analyze`).
    #[arg(long, default_value_t = 0.0)]
    pub fluo_noise_sigmas: f32,
}

/// Analyse `frames` frames of a phantom and add them to `score`.
pub fn score_phantom(cfg: &PhantomConfig, backend: BackendChoice, score: &mut Score) -> Result<()> {
    score_phantom_with(cfg, backend, AnalysisParams::with_scale(cfg.mm_per_px), score)
}

/// `score_phantom` with the analysis parameters given.
pub fn score_phantom_with(cfg: &PhantomConfig, backend: BackendChoice, params: AnalysisParams, score: &mut Score) -> Result<()> {
    let scene = cfg.scene();
    let mut proc = FrameProcessor::new(make_analyzer(backend, &params)?, params, cfg.fps as f64);
    for f in 0..cfg.frames {
        let r = render(&scene, f);
        let res = proc.process(&r.wl, &r.nir, true)?;
        score.add_lesions(&res.lesions, &r.truth, cfg.mm_per_px);
        score.add_masks(res.classes.as_ref().context("classes requested")?, &r.classes);
    }
    Ok(())
}

/// Centroid jitter on a static scene (no camera motion; noise and glints still change every frame): the
/// largest RMS deviation of a rim lesion's centroid from its mean over `cfg.frames` frames, px.
pub fn static_jitter(cfg: &PhantomConfig, backend: BackendChoice) -> Result<f32> {
    let cfg = PhantomConfig { options: SceneOptions { camera_motion: false, ..cfg.options.clone() }, ..cfg.clone() };
    let scene = cfg.scene();
    let params = AnalysisParams::with_scale(cfg.mm_per_px);
    let mut proc = FrameProcessor::new(make_analyzer(backend, &params)?, params, cfg.fps as f64);
    let mut tracks: std::collections::BTreeMap<u32, Vec<[f32; 2]>> = Default::default();
    for f in 0..cfg.frames {
        let r = render(&scene, f);
        for l in proc.process(&r.wl, &r.nir, false)?.lesions {
            if l.kind == crate::analysis::LesionKind::Rim && !l.partial {
                tracks.entry(l.id).or_default().push(l.centroid_px);
            }
        }
    }
    let mut worst = 0.0f32;
    for c in tracks.values().filter(|c| c.len() as u32 == cfg.frames) {
        let n = c.len() as f32;
        let (mx, my) = (c.iter().map(|p| p[0]).sum::<f32>() / n, c.iter().map(|p| p[1]).sum::<f32>() / n);
        let rms = (c.iter().map(|p| (p[0] - mx).powi(2) + (p[1] - my).powi(2)).sum::<f32>() / n).sqrt();
        worst = worst.max(rms);
    }
    Ok(worst)
}

pub fn run(a: EvaluateArgs) -> Result<()> {
    let (width, height) = super::parse_size(&a.size)?;
    if a.scenes == 0 || a.frames == 0 {
        bail!("--scenes and --frames must be at least 1");
    }
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(a.seed);
    let mut score = Score::default();
    let bar = ProgressBar::new(a.scenes as u64);
    for s in 0..a.scenes {
        let cfg = PhantomConfig {
            width,
            height,
            frames: a.frames,
            seed: a.seed.wrapping_add(s as u64),
            mm_per_px: rng.random_range(0.05..0.11),
            fps: 30.0,
            options: SceneOptions { nir_noise_gain: a.nir_noise_gain, ..SceneOptions::default() },
        };
        let params = AnalysisParams { fluo_noise_sigmas: a.fluo_noise_sigmas, ..AnalysisParams::with_scale(cfg.mm_per_px) };
        params.validate()?;
        score_phantom_with(&cfg, a.backend, params, &mut score)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let jitter_cfg = PhantomConfig {
        width,
        height,
        frames: 10,
        seed: a.seed.wrapping_add(a.scenes as u64),
        mm_per_px: 0.08,
        fps: 30.0,
        options: SceneOptions::default(),
    };
    let jitter = static_jitter(&jitter_cfg, a.backend)?;
    let report = json!({
        "scenes": a.scenes, "frames_per_scene": a.frames, "width": width, "height": height, "seed": a.seed,
        "sensitivity": score.sensitivity(), "precision": score.precision(),
        "true_positives": score.true_positives, "false_positives": score.false_positives, "false_negatives": score.false_negatives,
        "core_diameter_mae_mm": score.diameter_mae_mm(), "rim_thickness_mae_mm": score.thickness_mae_mm(),
        "dice_core": score.dice_core(), "dice_rim": score.dice_rim(),
        "centroid_jitter_px": jitter,
    });
    println!("rim-lesion sensitivity   {:.3}  ({} found, {} missed)", score.sensitivity(), score.true_positives, score.false_negatives);
    println!("rim-lesion precision     {:.3}  ({} false detections)", score.precision(), score.false_positives);
    println!("core diameter MAE        {} mm", score.diameter_mae_mm().map_or("-".into(), |v| format!("{v:.3}")));
    println!("rim thickness MAE        {} mm", score.thickness_mae_mm().map_or("-".into(), |v| format!("{v:.3}")));
    println!("Dice core                {:.3}", score.dice_core());
    println!("Dice rim                 {:.3}", score.dice_rim());
    println!("centroid jitter (static) {jitter:.3} px");
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
