//! The `live` command: latency first, never a frozen monitor. It is an application of the
//! `nirfmargin` element (`crate::element`, which pairs the frames by running time, runs the fail-safe
//! analysis and draws the badges): one pipeline on one clock (`pipeline::LivePipeline`, from a
//! `pipelines/*.pipeline` description): camera sources → `nirfmargin` → `tee` → the display, with the
//! raw white light and NIR recorded from their own tees before the element and the overlay from the tee
//! after it, each recording behind a leaky queue (`recording`: a slow encoder drops recorded frames,
//! counted, never display frames; and `shedding`: they pass fewer frames while the monitor loses any). Here: the pipeline assembled and run, the element's settings, each
//! frame's metrics line (the element's, with the recordings' drops added) written as it comes, the
//! "REC DROPPING" notice, the mode keys, the statistics (`stats`) and the summary. The analysis policy
//! (`element::failsafe`) and the analysis thread (`element::worker`) are the element's.

pub(crate) mod pipeline;
pub(crate) mod priority;
pub(crate) mod recording;
pub(crate) mod shedding;
pub(crate) mod stats;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::RecvTimeoutError;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::element::NirfMargin;
use crate::frame::{NirFrame, RgbFrame};
use crate::measure::findings::Mode;
use crate::metrics::{FrameMetrics, OverlayState};
use pipeline::{BusState, LivePipeline};
use recording::{QueueCounts, RecBranch};
use shedding::{DisplaySigns, ShedControl, ShedLevel};
use stats::LatencyStats;

pub struct LiveConfig {
    /// Pipeline description (already substituted; the shape of `pipelines/*.pipeline`) and a name for messages.
    pub description: String,
    pub name: String,
    pub looping: bool,
    /// Nominal frame rate (the recordings' key frames, the REC DROPPING notice's second).
    pub fps: u32,
    /// The `nirfmargin` element's properties, as the command line sets them.
    pub element: Vec<(&'static str, gst::glib::SendValue)>,
    pub record_dir: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    pub stats: bool,
    pub duration: Option<Duration>,
    /// Asked before each frame: true ends the run cleanly (a stop signal).
    pub stop: Option<fn() -> bool>,
    /// Frames to feed a pipeline with `wl_feed`/`nir_feed` appsrcs (a phantom as a camera pair).
    pub feed: Vec<(RgbFrame, NirFrame)>,
    /// Frames each recording's leaky queue holds (`recording::QUEUE_FRAMES`).
    pub record_queue: usize,
    /// A drill: every recorded frame waits this long before its encoder (a slow encoder).
    pub record_delay: Option<Duration>,
    /// The nice value of the recording branches' threads (`priority`; 0: the same priority as the
    /// analysis and the display).
    pub record_nice: i32,
    /// Read mode keys (s, t, w + Enter) from standard input.
    pub mode_keys: bool,
}

pub struct LiveSummary {
    pub frames: u64,
    pub overlay_off: u64,
    /// Input frames the queues in front of the element dropped (the analysis behind the cameras).
    pub input_dropped: u64,
    /// Input frames the element skipped because a newer one of the same input was waiting behind them
    /// (its `skipped` property: a frame that would have kept that input a frame behind).
    pub input_skipped: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub longest_gap_ms: f64,
    /// Per recording (file name): frames recorded and frames dropped because it was behind.
    pub recordings: Vec<(String, u64, u64)>,
    /// The display sink's own count, where it keeps one (`stats`): frames rendered, dropped late.
    pub display: Option<(u64, u64)>,
}

/// Panics on the analysis thread are caught and reported as faults; keep the default hook (message and
/// backtrace on stderr) for every other thread.
fn quiet_analysis_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("nirf-analysis") {
            tracing::error!("{info}");
        } else {
            default(info);
        }
    }));
}

/// Read mode keys (s, t, w + Enter) from standard input for as long as it is open: each sets the
/// element's `mode` property (switchable while playing).
fn spawn_mode_keys(element: gst::Element) {
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
            element.set_property("mode", m.name());
        }
    });
}

/// How long the end of a run may take to drain the pipeline (the encoders finishing their queues).
const DRAIN: Duration = Duration::from_secs(10);

pub fn run(cfg: LiveConfig) -> Result<LiveSummary> {
    quiet_analysis_panics();
    let mut description = cfg.description.clone();
    if let Some(dir) = &cfg.record_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("--record {}: cannot create", dir.display()))?;
        for (tee, file, kind) in recording::BRANCHES {
            description.push(' ');
            description.push_str(&recording::branch(tee, &dir.join(file), kind, cfg.fps, cfg.record_queue, cfg.record_delay));
        }
    }
    let mut p = LivePipeline::parse(&description, &cfg.name, cfg.looping)?;
    for (name, value) in &cfg.element {
        p.element.set_property_from_value(name, value);
    }
    let (tx, frames) = crossbeam_channel::unbounded::<FrameMetrics>();
    let element = p.element.clone().downcast::<NirfMargin>().map_err(|_| anyhow::anyhow!("{}: m is not the nirfmargin element", cfg.name))?;
    element.set_frame_channel(Some(tx));
    let shed_level = Arc::new(ShedLevel::default());
    let mut shed = ShedControl::new(shed_level.clone());
    let recs: Vec<RecBranch> = if cfg.record_dir.is_some() {
        let queues = recording::BRANCHES.iter().map(|(tee, _, _)| recording::encoder_queue_name(tee)).collect();
        priority::lower_tasks_of(&p.pipeline, queues, cfg.record_nice)?;
        recording::BRANCHES.iter().map(|(tee, file, _)| RecBranch::attach(&p.pipeline, tee, file, shed_level.clone())).collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    // Input frames dropped in front of the element: the white light's queue (the output follows it).
    let input = p.input_queue("wl").map(|q| QueueCounts::attach(&q)).transpose()?;
    let feeder = if cfg.feed.is_empty() { None } else { p.start_feeder(cfg.feed, cfg.fps)? };
    let mut metrics = match &cfg.metrics {
        Some(path) => Some(BufWriter::new(File::create(path).with_context(|| format!("--metrics {}: cannot create", path.display()))?)),
        None => None,
    };
    p.play()?;
    // Looked up once playing: a bin such as `autovideosink` makes its sink on the way to READY.
    let display_sink = p.display_sink();
    if cfg.mode_keys {
        spawn_mode_keys(p.element.clone());
    }

    let mut stats = LatencyStats::default();
    let started = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_wall: Option<f64> = None;
    let mut longest_gap_ms = 0.0f64;
    let mut rec_dropped_seen = 0u64;
    let mut last_rec_drop: Option<u64> = None;
    let mut notice_on = false;
    let m = p.element.clone();
    let mut ended = false;
    // A line is written once the next one came (or at the end): by then its own overlay frame has gone
    // to the overlay recording, so its `rec_dropped` counts that frame's fate too.
    let mut pending: Option<FrameMetrics> = None;
    let mut line_of = |next: Option<FrameMetrics>, stats: &mut LatencyStats| -> Result<()> {
        let counts = |line: &mut FrameMetrics| {
            if !recs.is_empty() {
                line.rec_dropped = Some(recs.iter().map(|r| (r.name.clone(), r.dropped())).collect());
            }
        };
        let Some(line) = next else {
            // The end: the last line with the final counts.
            if let (Some(mut last), Some(m)) = (pending.take(), metrics.as_mut()) {
                counts(&mut last);
                serde_json::to_writer(&mut *m, &last)?;
                m.write_all(b"\n")?;
                m.flush()?;
            }
            return Ok(());
        };
        if let (Some(prev), Some(w)) = (last_wall, line.wall_ms) {
            longest_gap_ms = longest_gap_ms.max(w - prev);
        }
        last_wall = line.wall_ms.or(last_wall);
        stats.add(line.latency_ms.unwrap_or(0.0), line.overlay == Some(OverlayState::On));
        stats.input_dropped = input.as_ref().map_or(0, |c| c.dropped());
        if !recs.is_empty() {
            // The recordings shed frames while the display shows pressure (`shedding`).
            let signs = DisplaySigns { input_dropped: stats.input_dropped, display_late: display_sink.as_ref().and_then(pipeline::sink_stats).map(|d| d.1) };
            if let Some(level) = shed.observe(signs, Instant::now()) {
                tracing::info!("recording: keeping one frame in {}", 1u32 << level);
            }
            // "REC DROPPING" shows while a recording dropped a frame within the last second.
            let dropped: u64 = recs.iter().map(RecBranch::dropped).sum();
            if dropped > rec_dropped_seen {
                rec_dropped_seen = dropped;
                last_rec_drop = Some(line.frame);
            }
            let on = last_rec_drop.is_some_and(|f| line.frame.saturating_sub(f) < cfg.fps.max(1) as u64);
            if on != notice_on {
                m.set_property("notice", if on { Some("REC DROPPING") } else { None::<&str> });
                notice_on = on;
            }
        }
        if let (Some(mut prev), Some(m)) = (pending.replace(line), metrics.as_mut()) {
            counts(&mut prev);
            serde_json::to_writer(&mut *m, &prev)?;
            m.write_all(b"\n")?;
            m.flush()?;
        }
        if cfg.stats && last_stats.elapsed() >= Duration::from_secs(1) {
            let rec = if recs.is_empty() {
                String::new()
            } else {
                let each: Vec<String> = recs.iter().map(|r| format!("{} {}", r.name, r.dropped())).collect();
                let level = shed_level.get();
                let shedding = if level > 0 { format!(" (shedding: keeping 1 frame in {})", 1u32 << level) } else { String::new() };
                format!("  recorded frames dropped: {}{shedding}", each.join(", "))
            };
            eprintln!("live: {}{rec}", stats.window_line());
            last_stats = Instant::now();
        }
        Ok(())
    };
    loop {
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) || cfg.stop.is_some_and(|f| f()) {
            break;
        }
        if p.poll()? == BusState::Ended {
            // Every frame has left the element: its lines are all in the channel.
            while let Ok(line) = frames.try_recv() {
                line_of(Some(line), &mut stats)?;
            }
            ended = true;
            break;
        }
        match frames.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => line_of(Some(line), &mut stats)?,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(feeder);
    p.finish(DRAIN, ended)?;
    let display = display_sink.as_ref().and_then(pipeline::sink_stats);
    let input_skipped = element.property::<u64>("skipped");
    p.stop()?;
    element.set_frame_channel(None);
    // Lines of the frames that left while the run drained.
    while let Ok(line) = frames.try_recv() {
        line_of(Some(line), &mut stats)?;
    }
    line_of(None, &mut stats)?;
    let recordings = recs.iter().map(|r| (r.name.clone(), r.recorded(), r.dropped())).collect();
    let (p50, p99) = stats.totals();
    Ok(LiveSummary {
        frames: stats.frames,
        overlay_off: stats.overlay_off,
        input_dropped: stats.input_dropped,
        input_skipped,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        longest_gap_ms,
        recordings,
        display,
    })
}
