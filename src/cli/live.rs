//! `nirf-margin live`: run a live pipeline from `pipelines/` (two cameras, a side-by-side capture, or a
//! replay at real rate) through the fail-safe analysis to a display, recording as it goes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use crate::backend::BackendChoice;
use crate::element::faults::FaultPlan;
use crate::live::{LiveConfig, run};
use crate::live::pipeline::{read_description, replay_source};
use crate::cli::options::{CheckArgs, ScaleArgs};
use crate::paths::{PathGuard, RECORDINGS, refuse_existing};
use crate::values;
use crate::media::source::{Channel, SourceSpec};

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
    /// Display sink (any GStreamer sink description); `fakesink` for none. It syncs on the pipeline's
    /// clock by default (frames shown at their time, late ones dropped by the sink's QoS).
    #[arg(long, default_value = "autovideosink")]
    pub display: String,
    /// Full screen on the monitor (Wayland; use --display kmssink on a bare console).
    #[arg(long)]
    pub fullscreen: bool,
    /// Record raw white light (wl.mkv), raw NIR (nir.mov) and the overlay (overlay.mkv) in this directory.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Replace recordings (wl.mkv, nir.mov, overlay.mkv) already in the --record folder.
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
    #[arg(long, value_parser = fault_spec)]
    pub inject_fault: Option<String>,
    /// Frames each recording's leaky queue holds waiting for its encoder; when it is full, recorded
    /// frames are dropped (counted), never display frames.
    #[arg(long, default_value_t = crate::live::recording::QUEUE_FRAMES)]
    pub record_queue: usize,
    /// Nice value (0-19) of the recording branches' threads (encoders, muxers, file writers): at 19 they
    /// get what the analysis and the display leave of the cores, so a recording drops frames (counted)
    /// before the monitor is slowed; 0 (the default: measured, the recordings keep their frames and the
    /// overlay loses little) runs them at the analysis's priority.
    #[arg(long, default_value_t = crate::live::priority::RECORD_NICE, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub record_nice: i32,
    /// Recording drill: every recorded frame waits this many ms before its encoder (a slow encoder).
    #[arg(long, hide = true)]
    pub inject_record_delay_ms: Option<u64>,
}

/// `--inject-fault`: checked under its flag, kept as text for the element's `inject-fault`.
fn fault_spec(s: &str) -> std::result::Result<String, String> {
    s.parse::<FaultPlan>().map(|_| s.to_string())
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
    let display = if a.fullscreen { "waylandsink fullscreen=true".to_string() } else { a.display.clone() };
    vars.insert("DISPLAY".into(), display);
    let description = read_description(&pipeline, &vars)?;
    let period_ms = 1000.0 / a.fps as f64;
    // Below one period: a frame waits for its analysis at most this long, so two outputs are never more
    // than two frame periods apart.
    let budget_ms = a.budget_ms.unwrap_or(0.8 * period_ms);
    a.checks.settings()?;
    let element = element_properties(&a, budget_ms);
    // Ctrl-C or SIGTERM ends the run as --duration does: recordings and metrics closed, summary printed.
    super::signals::catch_stop_signals();
    let summary = run(LiveConfig {
        description,
        name: pipeline.display().to_string(),
        looping: a.looping,
        fps: a.fps,
        element,
        record_dir: a.record.clone(),
        metrics: a.metrics.clone(),
        stats: a.stats,
        duration: a.duration.map(Duration::from_secs_f64),
        stop: Some(|| super::signals::stop_requested().is_some()),
        feed,
        record_queue: a.record_queue,
        record_delay: a.inject_record_delay_ms.map(Duration::from_millis),
        record_nice: a.record_nice,
        mode_keys: true,
    })?;
    println!(
        "{} frames; added latency p50 {:.1} ms, p99 {:.1} ms; overlay off on {} frames; {} input frames dropped, {} skipped as stale; longest gap between output frames {:.1} ms",
        summary.frames, summary.latency_p50_ms, summary.latency_p99_ms, summary.overlay_off, summary.input_dropped, summary.input_skipped, summary.longest_gap_ms
    );
    for (name, recorded, dropped) in &summary.recordings {
        println!("recording {name}: {recorded} frames recorded, {dropped} dropped (encoder behind, or shed while the display lost frames)");
    }
    if let Some((rendered, late)) = summary.display {
        println!("display: {rendered} frames rendered, {late} dropped late by the sink");
    }
    Ok(())
}

/// The `nirfmargin` properties of the command line's settings (each already checked under its flag).
fn element_properties(a: &LiveArgs, budget_ms: f64) -> Vec<(&'static str, gstreamer::glib::SendValue)> {
    use gstreamer::prelude::ToSendValue;
    let num = |v: f32| v.to_string().parse::<f64>().unwrap_or(v as f64);
    let mut props = vec![
        ("mm-per-px", a.scale.mm_per_px.map_or(0.0, num).to_send_value()),
        ("margins-mm", a.scale.margins_mm.iter().map(f32::to_string).collect::<Vec<_>>().join(",").to_send_value()),
        ("fluo-noise-sigmas", num(a.scale.fluo_noise_sigmas).to_send_value()),
        ("backend", a.backend.name().to_send_value()),
        ("mode", a.checks.mode.name().to_send_value()),
        ("tbr", num(a.checks.tbr).to_send_value()),
        ("budget-ms", budget_ms.to_send_value()),
    ];
    if let Some(c) = &a.scale.calibration {
        props.push(("calibration", c.to_string_lossy().to_string().to_send_value()));
    }
    if let Some(r) = &a.checks.roi {
        props.push(("roi", format!("{},{},{},{}", r.x, r.y, r.w, r.h).to_send_value()));
    }
    if let Some(f) = &a.inject_fault {
        props.push(("inject-fault", f.to_send_value()));
    }
    props
}
