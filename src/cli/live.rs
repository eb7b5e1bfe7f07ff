//! `nirf-margin live`: run a live pipeline from `pipelines/` (two cameras, a side-by-side capture, or a
//! replay at real rate) through the fail-safe analysis to a display, recording as it goes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use crate::backend::BackendChoice;
use crate::live::analysis::{GPU_WAIT_BUDGETS, LiveAnalysis, ModeCell};
use crate::live::faults::FaultPlan;
use crate::live::{LiveConfig, run};
use crate::media::live::{read_description, replay_source};
use crate::cli::options::{CheckArgs, ScaleArgs};
use crate::cli::paths::{PathGuard, RECORDINGS, refuse_existing};
use crate::values;
use crate::media::source::{Channel, SourceSpec};
use crate::measure::findings::Mode;

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Pipeline description (pipelines/*.pipeline).
    #[arg(long, default_value = "pipelines/replay.pipeline")]
    pub pipeline: PathBuf,
    /// White-light source: a device for capture pipelines, a file or image pattern for replay.
    #[arg(long)]
    pub wl: Option<String>,
    /// NIR source, likewise.
    #[arg(long)]
    pub nir: Option<String>,
    #[command(flatten)]
    pub scale: ScaleArgs,
    /// Frame rate of the input (and of image-sequence replays).
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Display sink (any GStreamer sink description); `fakesink` for none.
    #[arg(long, default_value = "autovideosink sync=false")]
    pub display: String,
    /// Full screen on the monitor (Wayland; use --display kmssink on a bare console).
    #[arg(long)]
    pub fullscreen: bool,
    /// Record raw white light, raw NIR and the overlay (Matroska) in this directory.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Replace recordings (wl.mkv, nir.mkv, overlay.mkv) already in the --record folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Per-frame metrics (JSON lines), including the added latency.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Print latency p50/p99 and drops every second.
    #[arg(long)]
    pub stats: bool,
    /// Stop after this many seconds.
    #[arg(long, value_parser = values::seconds, allow_hyphen_values = true)]
    pub duration: Option<f64>,
    /// Replay in a loop.
    #[arg(long = "loop")]
    pub looping: bool,
    /// Longest wait for a frame's analysis, ms (default: 0.8 of a frame period).
    #[arg(long, value_parser = values::budget_ms, allow_hyphen_values = true)]
    pub budget_ms: Option<f64>,
    #[arg(long, value_parser = crate::cli::options::backend_parser(), default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Feed a phantom of this size (WxH), rendered into memory, as a live camera pair (implies
    /// --pipeline pipelines/phantom-live.pipeline and --loop).
    #[arg(long)]
    pub phantom: Option<crate::frame::FrameSize>,
    /// The checks' settings; the mode switches while running by typing s, t or w and Enter.
    #[command(flatten)]
    pub checks: CheckArgs,
    /// Fault drill: KIND@FRAME,... with KIND panic, error, slow, lost (simulated) or destroy (the real GPU device).
    #[arg(long)]
    pub inject_fault: Option<FaultPlan>,
    /// Frames each recording may hold waiting for its encoder; when it is full, recorded frames are
    /// dropped (counted), never display frames.
    #[arg(long, default_value_t = crate::live::recording::QUEUE_FRAMES)]
    pub record_queue: usize,
    /// Recording drill: every recorded frame waits this many ms in its recorder thread (a slow encoder).
    #[arg(long, hide = true)]
    pub inject_record_delay_ms: Option<u64>,
}

/// Read mode keys (s, t, w + Enter) from standard input for as long as it is open.
fn spawn_mode_keys(mode: ModeCell) {
    let _ = std::thread::Builder::new().name("nirf-keys".into()).spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            let m = match line.trim() {
                "s" | "survey" => Mode::Survey,
                "t" | "transection" => Mode::Transection,
                "w" | "wound-bed" => Mode::WoundBed,
                _ => continue,
            };
            tracing::info!("mode: {}", m.name());
            mode.set(m);
        }
    });
}

pub fn run_cli(a: LiveArgs) -> Result<()> {
    if a.fps == 0 || a.fps > 240 {
        bail!("--fps must be between 1 and 240, got {}", a.fps);
    }
    let params = a.scale.params()?;
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut guard = PathGuard::new();
    guard.input_file("--pipeline", &a.pipeline);
    if let Some(c) = &a.scale.calibration {
        guard.input_file("--calibration", c);
    }
    for (arg, channel) in [(&a.wl, Channel::WhiteLight), (&a.nir, Channel::Nir)] {
        let Some(arg) = arg else { continue };
        let flag = channel.flag();
        let keys: &[&str] = if channel == Channel::WhiteLight { &["WL_DEVICE", "SBS_DEVICE"] } else { &["NIR_DEVICE"] };
        for k in keys {
            vars.insert(k.to_string(), arg.clone());
        }
        let src_key = if channel == Channel::WhiteLight { "WL_SRC" } else { "NIR_SRC" };
        if arg.starts_with("/dev/") && !arg.contains('%') {
            vars.insert(src_key.into(), format!("filesrc location=\"{}\" ! decodebin", arg.replace('"', "\\\"")));
            guard.input_file(flag, std::path::Path::new(arg));
        } else {
            let spec = SourceSpec::parse(arg, channel)?;
            spec.check_png_signatures(channel)?;
            vars.insert(src_key.into(), replay_source(&spec, a.fps, a.looping));
            guard.source(flag, &spec);
        }
    }
    if let Some(m) = &a.metrics {
        guard.output_file("--metrics", m);
    }
    if let Some(r) = &a.record {
        guard.output_folder("--record", r, |n| RECORDINGS.contains(&n));
    }
    guard.check()?;
    if let Some(r) = &a.record {
        refuse_existing("--record", r, |n| RECORDINGS.contains(&n), a.overwrite)?;
    }
    let (pipeline, feed) = match a.phantom {
        Some(crate::frame::FrameSize { width: w, height: h }) => {
            let cfg = crate::phantom::PhantomConfig {
                width: w,
                height: h,
                frames: 60,
                seed: 7,
                mm_per_px: params.mm_per_px,
                fps: a.fps as f32,
                ..Default::default()
            };
            let scene = cfg.scene();
            let frames = (0..cfg.frames).map(|f| crate::phantom::render(&scene, f)).map(|r| (r.wl, r.nir)).collect();
            let p = if a.pipeline == std::path::Path::new("pipelines/replay.pipeline") { PathBuf::from("pipelines/phantom-live.pipeline") } else { a.pipeline.clone() };
            (p, frames)
        }
        None => (a.pipeline.clone(), Vec::new()),
    };
    let description = read_description(&pipeline, &vars)?;
    let plan = a.inject_fault.clone().unwrap_or_default();
    let period_ms = 1000.0 / a.fps as f64;
    // Below one period: a frame waits for its analysis at most this long, so two outputs are never more
    // than two frame periods apart.
    let budget = Duration::from_secs_f64(a.budget_ms.unwrap_or(0.8 * period_ms) / 1000.0);
    let roi = a.checks.roi;
    let checks = a.checks.settings()?;
    let mode = ModeCell::new(checks.mode);
    spawn_mode_keys(mode.clone());
    let analysis = LiveAnalysis { backend: a.backend, params: params.clone(), checks, plan, slow: budget * 3, gpu_wait: budget * GPU_WAIT_BUDGETS, fps: a.fps as f64 };
    let factory = analysis.factory(mode);
    // Ctrl-C or SIGTERM ends the run as --duration does: recordings and metrics closed, summary printed.
    super::catch_stop_signals();
    let display = if a.fullscreen { "waylandsink fullscreen=true".to_string() } else { a.display.clone() };
    let summary = run(
        LiveConfig {
            description,
            name: pipeline.display().to_string(),
            looping: a.looping,
            display,
            fps: a.fps,
            budget,
            nir_tolerance: Duration::from_secs_f64(period_ms * 0.5 / 1000.0),
            record_dir: a.record.clone(),
            metrics: a.metrics.clone(),
            params: params.clone(),
            stats: a.stats,
            duration: a.duration.map(Duration::from_secs_f64),
            stop: Some(|| super::stop_requested().is_some()),
            max_frames: None,
            feed,
            frame_check: roi.map(|r| Box::new(move |w, h| values::roi_in_frame(&r, w, h)) as crate::live::FrameCheck),
            record_queue: a.record_queue,
            record_delay: a.inject_record_delay_ms.map(Duration::from_millis),
        },
        factory,
    )?;
    println!(
        "{} frames; added latency p50 {:.1} ms, p99 {:.1} ms; overlay off on {} frames; {} input frames dropped; longest gap between output frames {:.1} ms",
        summary.frames, summary.latency_p50_ms, summary.latency_p99_ms, summary.overlay_off, summary.input_dropped, summary.longest_gap_ms
    );
    for (name, recorded, dropped) in &summary.recordings {
        println!("recording {name}: {recorded} frames recorded, {dropped} dropped (encoder behind)");
    }
    Ok(())
}
