//! Scoring a phantom run against its ground truth, the engine of `evaluate` and of the accuracy tests:
//! a phantom analysed frame by frame through the processor on a chosen backend, its lesions and masks
//! added to a `measure::accuracy::Score`, and the centroid jitter of a static scene. No clap, no files.

use anyhow::{Context, Result};

use crate::analysis::LesionKind;
use crate::backend::{BackendChoice, make_analyzer};
use crate::measure::accuracy::Score;
use crate::params::AnalysisParams;
use crate::phantom::{PhantomConfig, SceneOptions, render};
use crate::processor::FrameProcessor;

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
            if l.kind == LesionKind::Rim && !l.partial {
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
