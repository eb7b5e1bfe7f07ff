//! `nirf-margin evaluate`: generate phantoms, analyse them, and print the accuracy against their ground
//! truth (sensitivity, precision, figure errors in mm, Dice of the masks, centroid jitter).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::backend::{BackendChoice, make_analyzer};
use crate::measure::accuracy::Score;
use crate::measure::conditions::{ConditionScores, scene_buckets};
use crate::measure::findings::Mode;
use crate::params::AnalysisParams;
use crate::phantom::{PhantomConfig, SceneOptions, render};
use crate::evaluation::static_jitter;
use crate::processor::{CheckSettings, FrameProcessor};

/// Which phantom family `evaluate` draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// The plain family only (the conditions this project was first tuned on).
    Plain,
    /// The broad family (texture, shapes, gaps, core levels, halo, veins, instruments, blur, haze, gain,
    /// NIR-only glints; 720p and 1080p at 0.04-0.15 mm/px), with one scene in five from the plain family.
    Broad,
    /// The broad family with every broad scene's liver texture as lobules with bright walls (the same
    /// draws otherwise): measured apart while the method does not hold on it (README, "Accuracy").
    Lobular,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[arg(long, default_value_t = 10)]
    pub scenes: u32,
    #[arg(long, default_value_t = 1000)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Family::Broad)]
    pub family: Family,
    /// Frame size of every scene; default: 1280x720 for the plain family, 1280x720 or 1920x1080 drawn per
    /// scene for the broad one.
    #[arg(long)]
    pub size: Option<crate::frame::FrameSize>,
    /// Frames analysed a scene.
    #[arg(long, default_value_t = 4)]
    pub frames: u32,
    /// Wound beds analysed besides (broad family, textured; half clean, half with residual spots), 8
    /// frames each.
    #[arg(long, default_value_t = 0)]
    pub beds: u32,
    /// Write the figures as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write each missed lesion, each false detection, each rim lesion found with a figure far off (core
    /// diameter off by more than 0.4 mm, the thinnest rim by more than 0.8 mm, or a complete rim read
    /// incomplete), each clean wound-bed frame flagged (`bed_flagged`) and each frame with residual spots
    /// left unflagged (`bed_missed`) here (JSON lines, with its scene's seed, scale and conditions): where
    /// to look when a figure falls short.
    #[arg(long)]
    pub misses: Option<PathBuf>,
    #[arg(long, value_parser = crate::cli::options::backend_parser(), default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Multiplies the phantoms' NIR sensor noise (0-100).
    #[arg(long, default_value_t = 1.0, value_parser = crate::values::noise_gain, allow_hyphen_values = true)]
    pub nir_noise_gain: f32,
    /// Analysis option: raise the fluorescence level with the frame's noise (see `analyze`).
    #[arg(long, default_value_t = AnalysisParams::default().fluo_noise_sigmas, value_parser = crate::values::noise_sigmas, allow_hyphen_values = true)]
    pub fluo_noise_sigmas: f32,
    /// Any other analysis parameter, by its name in `AnalysisParams` (the metrics' `params`), as
    /// NAME=VALUE (a JSON value); repeatable. For tuning on seeds that no test and no README figure use.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Analyse only the scenes with these seeds (comma-separated; a `--misses` file names them), drawn
    /// exactly as in the whole run: re-checks what a run found wrong, quickly. The scenes' figures are the
    /// subset's (the static jitter and the wound beds are measured as in a whole run).
    #[arg(long, value_delimiter = ',', value_name = "SEEDS")]
    pub only: Vec<u64>,
}

/// `params` with each NAME=VALUE of `overrides` set (names and values checked against `AnalysisParams`).
fn with_overrides(params: AnalysisParams, overrides: &[String]) -> Result<AnalysisParams> {
    let mut v = serde_json::to_value(&params)?;
    for o in overrides {
        let (name, value) = o.split_once('=').with_context(|| format!("--param {o}: expected NAME=VALUE"))?;
        let slot = v.get_mut(name).with_context(|| format!("--param {o}: no analysis parameter named {name:?}"))?;
        *slot = serde_json::from_str(value).with_context(|| format!("--param {o}: {value:?} is not a JSON value"))?;
    }
    let out: AnalysisParams = serde_json::from_value(v).with_context(|| format!("--param {overrides:?}"))?;
    out.validate()?;
    Ok(out)
}

/// The phantom of scene `s` of an evaluation: its size, scale and family drawn from `rng`.
fn scene_config(a: &EvaluateArgs, s: u32, size: Option<(usize, usize)>, rng: &mut impl Rng) -> PhantomConfig {
    let wide = a.family != Family::Plain;
    let broad = wide && s % 5 != 4;
    let (width, height) = size.unwrap_or(if wide && rng.random_bool(0.5) { (1920, 1080) } else { (1280, 720) });
    let mm_per_px = if wide { rng.random_range(0.04..0.15) } else { rng.random_range(0.05..0.11) };
    PhantomConfig {
        width,
        height,
        frames: a.frames,
        seed: a.seed.wrapping_add(s as u64),
        mm_per_px,
        fps: 30.0,
        options: SceneOptions { nir_noise_gain: a.nir_noise_gain, broad, lobular: a.family == Family::Lobular, ..SceneOptions::default() },
    }
}

/// Wound beds: (frames of clean beds flagged, frames of clean beds, frames with residual spots flagged,
/// frames with residual spots), the first two frames of each bed aside (the steady flag needs two).
/// Each clean bed frame flagged, and each frame with residual spots not flagged, is added to `misses` (its
/// scene, the true residual spots and the spots seen).
pub fn wound_beds(a: &EvaluateArgs, params_for: impl Fn(f32) -> AnalysisParams, misses: &mut Vec<serde_json::Value>) -> Result<[u32; 4]> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(a.seed ^ 0xbed5);
    let mut out = [0u32; 4];
    for b in 0..a.beds {
        let spots = b % 2 == 1;
        let options = SceneOptions { broad: true, ..SceneOptions::cut_surface(if spots { 1..=3 } else { 0..=0 }) };
        let cfg = PhantomConfig { width: 1280, height: 720, frames: 8, seed: a.seed.wrapping_add(50_000 + b as u64), mm_per_px: rng.random_range(0.04..0.15), fps: 30.0, options };
        let scene = cfg.scene();
        if spots && scene.residuals.is_empty() {
            continue;
        }
        let params = params_for(cfg.mm_per_px);
        let mut proc = FrameProcessor::new(make_analyzer(a.backend, &params)?, params, cfg.fps as f64);
        proc.set_checks(CheckSettings { mode: Mode::WoundBed, ..CheckSettings::default() });
        for f in 0..cfg.frames {
            let r = render(&scene, f);
            let res = proc.process(&r.wl, &r.nir, false)?;
            if f >= 2 {
                let flag = res.findings.as_ref().is_some_and(|x| x.flag) as u32;
                if flag == 1 && !spots {
                    let seen = res.findings.as_ref().map(|x| &x.spots);
                    misses.push(json!({"bed_flagged": {"seed": cfg.seed, "frame": f, "size": [cfg.width, cfg.height], "mm_per_px": cfg.mm_per_px,
                        "variation": &scene.variation, "spots": seen}}));
                }
                if flag == 0 && spots {
                    let truth: Vec<_> = scene.residuals.iter().map(|r| json!({"center_mm": r.center, "radius_mm": r.radius_mm, "arc": r.arc, "tbr": r.tbr})).collect();
                    let seen = res.findings.as_ref().map(|x| &x.spots);
                    misses.push(json!({"bed_missed": {"seed": cfg.seed, "frame": f, "size": [cfg.width, cfg.height], "mm_per_px": cfg.mm_per_px,
                        "variation": &scene.variation, "residuals": truth, "spots": seen}}));
                }
                let k = if spots { 2 } else { 0 };
                out[k] += flag;
                out[k + 1] += 1;
            }
        }
    }
    Ok(out)
}

fn opt(v: Option<f32>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// One row of the per-condition table (markdown).
fn row(c: &str, v: &str, s: &Score, lesion_only: bool) -> String {
    let rims = s.true_positives + s.false_negatives;
    let (fp, homog, diffuse, dice) = if lesion_only {
        ("-".into(), "-".into(), "-".into(), "- | -".into())
    } else {
        (
            format!("{:.2}", s.false_lesions_per_frame()),
            opt(s.coreless_sensitivity(0), 2),
            opt(s.coreless_sensitivity(1), 2),
            format!("{:.3} | {:.3}", s.dice_core(), s.dice_rim()),
        )
    };
    format!(
        "| {c} | {v} | {}/{rims} | {:.3} | {} | {fp} | {} | {} | {} | {} | {}/{} | {dice} | {homog} | {diffuse} |",
        s.true_positives,
        s.sensitivity(),
        if lesion_only { "-".into() } else { format!("{:.3}", s.precision()) },
        opt(s.diameter_mae_mm(), 3),
        opt(s.thickness_mae_mm(), 3),
        opt(s.min_thickness_mae_mm(), 3),
        opt(s.coverage_mae(), 3),
        s.complete_read_incomplete,
        s.complete_found,
    )
}

pub fn run(a: EvaluateArgs) -> Result<()> {
    let size = a.size.map(|s| (s.width, s.height));
    if a.scenes == 0 || a.frames == 0 {
        bail!("--scenes and --frames must be at least 1");
    }
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(a.seed);
    with_overrides(AnalysisParams::default(), &a.params)?; // bad names and values fail before any work
    let params_for = |mm: f32| {
        with_overrides(AnalysisParams { fluo_noise_sigmas: a.fluo_noise_sigmas, ..AnalysisParams::with_scale(mm) }, &a.params).expect("checked above")
    };
    let mut scores = ConditionScores::default();
    let mut misses = Vec::new();
    let bar = ProgressBar::new(a.scenes as u64);
    for s in 0..a.scenes {
        let cfg = scene_config(&a, s, size, &mut rng);
        if !a.only.is_empty() && !a.only.contains(&cfg.seed) {
            bar.inc(1);
            continue;
        }
        let params = params_for(cfg.mm_per_px);
        params.validate()?;
        let scene = cfg.scene();
        let buckets = scene_buckets(cfg.options.broad.then_some(&scene.variation), cfg.width, cfg.height, cfg.mm_per_px);
        let mut proc = FrameProcessor::new(make_analyzer(a.backend, &params)?, params, cfg.fps as f64);
        for f in 0..cfg.frames {
            let r = render(&scene, f);
            let res = proc.process(&r.wl, &r.nir, true)?;
            scores.add_frame(&buckets, &res.lesions, &r.truth, res.classes.as_ref().context("classes requested")?, &r.classes, cfg.mm_per_px);
            if a.misses.is_some() {
                let mut s = Score::default();
                s.add_lesions(&res.lesions, &r.truth, cfg.mm_per_px);
                s.add_any_kind(&res.lesions, &r.truth, cfg.mm_per_px);
                let scene_info = json!({"seed": cfg.seed, "frame": f, "size": [cfg.width, cfg.height], "mm_per_px": cfg.mm_per_px,
                    "variation": cfg.options.broad.then_some(&scene.variation), "level": res.background});
                misses.extend(s.missed.iter().map(|t| json!({"missed": t, "scene": scene_info})));
                misses.extend(s.false_detections.iter().map(|l| json!({"false": l, "scene": scene_info})));
                misses.extend(s.large_errors.iter().map(|(t, l)| json!({"error": {"truth": t, "found": l}, "scene": scene_info})));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !a.only.is_empty() && scores.all().frames == 0 {
        bail!("--only {:?}: no scene of this run (--seed {}, --scenes {}) has any of these seeds", a.only, a.seed, a.scenes);
    }
    let beds = wound_beds(&a, params_for, &mut misses)?;
    let jitter_cfg = PhantomConfig {
        width: 1280,
        height: 720,
        frames: 10,
        seed: a.seed.wrapping_add(a.scenes as u64),
        mm_per_px: 0.08,
        fps: 30.0,
        options: SceneOptions::default(),
    };
    let jitter = static_jitter(&jitter_cfg, a.backend)?;
    let score = scores.all();
    println!("rim-lesion sensitivity   {:.3}  ({} found, {} missed)", score.sensitivity(), score.true_positives, score.false_negatives);
    println!("rim-lesion precision     {:.3}  ({} false detections)", score.precision(), score.false_positives);
    println!("false lesions a frame    {:.3}  ({} in {} frames, any kind)", score.false_lesions_per_frame(), score.false_lesions, score.frames);
    println!("homogeneous found        {}", opt(score.coreless_sensitivity(0), 3));
    println!("diffuse found            {}", opt(score.coreless_sensitivity(1), 3));
    println!("core diameter MAE        {} mm", opt(score.diameter_mae_mm(), 3));
    println!("rim thickness MAE        {} mm", opt(score.thickness_mae_mm(), 3));
    println!("thinnest rim MAE         {} mm", opt(score.min_thickness_mae_mm(), 3));
    println!("rim coverage MAE         {} (rims with a gap)", opt(score.coverage_mae(), 3));
    println!("complete rims read incomplete {}/{}", score.complete_read_incomplete, score.complete_found);
    println!("Dice core                {:.3}", score.dice_core());
    println!("Dice rim                 {:.3}", score.dice_rim());
    println!("centroid jitter (static) {jitter:.3} px");
    if a.beds > 0 {
        println!("wound beds: clean frames flagged {}/{}, frames with residual spots flagged {}/{}", beds[0], beds[1], beds[2], beds[3]);
    }
    println!();
    println!("| condition | band | rims found | sensitivity | precision | false lesions/frame | core MAE mm | thickness MAE mm | thinnest MAE mm | coverage MAE | complete read incomplete | Dice core | Dice rim | homogeneous found | diffuse found |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (c, bands) in &scores.scene {
        for (v, s) in bands {
            println!("{}", row(c, v, s, false));
        }
    }
    for (c, bands) in &scores.lesion {
        for (v, s) in bands {
            println!("{}", row(c, v, s, true));
        }
    }
    if let Some(p) = &a.misses {
        let text: String = misses.iter().map(|m| format!("{m}\n")).collect();
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.json {
        let report = json!({
            "scenes": a.scenes, "frames_per_scene": a.frames, "seed": a.seed, "param_overrides": a.params, "family": format!("{:?}", a.family).to_lowercase(),
            "sensitivity": score.sensitivity(), "precision": score.precision(),
            "true_positives": score.true_positives, "false_positives": score.false_positives, "false_negatives": score.false_negatives,
            "false_lesions_per_frame": score.false_lesions_per_frame(),
            "homogeneous_found": score.coreless_sensitivity(0), "diffuse_found": score.coreless_sensitivity(1),
            "core_diameter_mae_mm": score.diameter_mae_mm(), "rim_thickness_mae_mm": score.thickness_mae_mm(),
            "min_rim_thickness_mae_mm": score.min_thickness_mae_mm(),
            "rim_coverage_mae": score.coverage_mae(), "complete_rims_read_incomplete": score.complete_read_incomplete, "complete_rims_found": score.complete_found,
            "dice_core": score.dice_core(), "dice_rim": score.dice_rim(),
            "centroid_jitter_px": jitter,
            "wound_beds": {"clean_flagged": beds[0], "clean_frames": beds[1], "spots_flagged": beds[2], "spot_frames": beds[3]},
            "conditions": scores,
        });
        std::fs::write(p, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
