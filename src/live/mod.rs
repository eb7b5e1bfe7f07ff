//! The live path: latency first, never a frozen monitor. For each white-light frame: pair the newest NIR
//! frame by timestamp, run the fail-safe policy (`failsafe`: the analysis within the frame's time
//! budget, else the white light with a badge saying why) and push the result to the display. Raw white
//! light, raw NIR and the overlay are recorded at once; each frame's metrics line
//! (`metrics::FrameMetrics`, with the added latency) is written as it goes. Owns scheduling and
//! pairing; the fail-safe policy is `failsafe`, the pipelines `media::live`, the analysis `worker`.

pub mod analysis;
pub mod failsafe;
pub mod faults;
pub mod recording;
pub mod stats;
pub mod worker;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::annotate::badge_bottom;
use crate::frame::{NirFrame, RgbFrame};
use crate::media::live::{InputEvent, LiveDisplay, LiveInput, Timed};
use crate::media::recorder::Recording;
use crate::metrics::{FrameMetrics, OverlayState};
use crate::params::AnalysisParams;
use recording::{RecFrame, RecorderThread};
use stats::LatencyStats;
use failsafe::FailSafe;
use worker::Factory;

/// A check of the settings against the frame's width and height.
pub type FrameCheck = Box<dyn Fn(usize, usize) -> Result<()>>;

pub struct LiveConfig {
    /// Input pipeline description (already substituted) and a name for messages.
    pub description: String,
    pub name: String,
    pub looping: bool,
    /// Display sink description (`fakesink` when headless).
    pub display: String,
    /// Nominal frame rate (frame period for budgets, pairing and stall detection).
    pub fps: u32,
    /// Longest wait for the analysis of a frame.
    pub budget: Duration,
    /// NIR may be this far from the white light in time and still be paired.
    pub nir_tolerance: Duration,
    pub record_dir: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    /// The analysis settings, recorded on every metrics line (scale, margins).
    pub params: AnalysisParams,
    pub stats: bool,
    pub duration: Option<Duration>,
    /// Asked before each frame: true ends the run cleanly (a stop signal).
    pub stop: Option<fn() -> bool>,
    pub max_frames: Option<u64>,
    /// Frames to feed a pipeline with `wl_feed`/`nir_feed` appsrcs (a phantom as a camera pair).
    pub feed: Vec<(RgbFrame, NirFrame)>,
    /// Checks the settings against the frame size once it is known (e.g. a ROI inside the frame); an
    /// error stops the run before any output is opened.
    pub frame_check: Option<FrameCheck>,
    /// Frames each recording may hold waiting for its encoder (`recording::QUEUE_FRAMES`).
    pub record_queue: usize,
    /// A drill: every recorded frame waits this long in its recorder thread (a slow encoder).
    pub record_delay: Option<Duration>,
}

pub struct LiveSummary {
    pub frames: u64,
    pub overlay_off: u64,
    pub input_dropped: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub longest_gap_ms: f64,
    /// Per recording (file name): frames recorded and frames dropped because it was behind.
    pub recordings: Vec<(String, u64, u64)>,
}

struct Recorders {
    wl: RecorderThread,
    nir: RecorderThread,
    overlay: RecorderThread,
}

impl Recorders {
    fn all(&self) -> [&RecorderThread; 3] {
        [&self.wl, &self.nir, &self.overlay]
    }

    fn dropped(&self) -> u64 {
        self.all().iter().map(|r| r.dropped).sum()
    }
}

fn open_recorders(dir: &std::path::Path, w: usize, h: usize, (fps, q, delay): (u32, usize, Option<Duration>)) -> Result<Recorders> {
    Ok(Recorders {
        wl: RecorderThread::start(&dir.join("wl.mkv"), w, h, fps, Recording::RgbLossless, q, delay)?,
        nir: RecorderThread::start(&dir.join("nir.mkv"), w, h, fps, Recording::Gray16Lossless, q, delay)?,
        overlay: RecorderThread::start(&dir.join("overlay.mkv"), w, h, fps, Recording::OverlayH264, q, delay)?,
    })
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

pub fn run(cfg: LiveConfig, factory: Factory) -> Result<LiveSummary> {
    quiet_analysis_panics();
    // The analysis is built before the input starts, so that no frame waits on its start-up.
    let mut failsafe = FailSafe::start(factory, cfg.budget, Duration::from_secs(30));
    let mut input = LiveInput::open(&cfg.description, &cfg.name, cfg.looping)?;
    let feed_size = cfg.feed.first().map(|(w, _)| (w.width, w.height));
    let _feeder = if cfg.feed.is_empty() { None } else { input.start_feeder(cfg.feed, cfg.fps)? };
    let period = Duration::from_secs_f64(1.0 / cfg.fps.max(1) as f64);
    let period_ns = period.as_nanos() as u64;
    let mut display: Option<LiveDisplay> = None;
    let mut recorders: Option<Recorders> = None;
    // Outputs are started before the first frame flows where its size is known (a replay), so that no
    // frame is dropped while they start; a live capture starts them on its first frame.
    if let Some(d) = &cfg.record_dir {
        std::fs::create_dir_all(d).with_context(|| format!("--record {}: cannot create", d.display()))?;
    }
    let known_size = feed_size.or_else(|| input.preroll_size());
    if let (Some((w, h)), Some(check)) = (known_size, &cfg.frame_check) {
        check(w, h)?;
    }
    if let Some((w, h)) = known_size {
        display = Some(LiveDisplay::open(&cfg.display, w, h, cfg.fps)?);
        if let Some(dir) = &cfg.record_dir {
            recorders = Some(open_recorders(dir, w, h, (cfg.fps, cfg.record_queue, cfg.record_delay))?);
        }
    }
    input.play()?;
    let mut metrics = match &cfg.metrics {
        Some(p) => Some(BufWriter::new(File::create(p).with_context(|| format!("--metrics {}: cannot create", p.display()))?)),
        None => None,
    };
    let mut stats = LatencyStats::default();
    let started = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_out: Option<Instant> = None;
    let mut longest_gap = Duration::ZERO;
    let mut last_pts: Option<u64> = None;
    let mut index = 0u64;
    let mut rec_dropped_seen = 0u64;
    let mut last_rec_drop: Option<u64> = None;
    loop {
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) || cfg.max_frames.is_some_and(|m| index >= m) || cfg.stop.is_some_and(|f| f()) {
            break;
        }
        let tolerance_ns = cfg.nir_tolerance.as_nanos() as u64;
        let (wl, nir) = match input.next(2 * period.as_millis() as u64 + 20, tolerance_ns, cfg.nir_tolerance.as_millis() as u64)? {
            InputEvent::Frame(wl, nir) => (wl, nir),
            InputEvent::Timeout => continue,
            InputEvent::Ended => break,
        };
        if let Some(prev) = last_pts {
            if wl.pts_ns > prev {
                let missed = ((wl.pts_ns - prev) as f64 / period_ns as f64).round() as u64;
                stats.input_dropped += missed.saturating_sub(1);
            }
        }
        last_pts = Some(wl.pts_ns);

        // Pair the NIR frame nearest in time; scale it onto the white-light grid.
        let paired: Option<Arc<NirFrame>> = nir.filter(|n| n.pts_ns.abs_diff(wl.pts_ns) <= cfg.nir_tolerance.as_nanos() as u64).map(
            |Timed { frame, .. }| {
                Arc::new(if (frame.width, frame.height) != (wl.frame.width, wl.frame.height) { frame.resized(wl.frame.width, wl.frame.height) } else { frame })
            },
        );
        // Shared with the analysis thread, not copied.
        let wl_frame = Arc::new(wl.frame);
        let failsafe::Outcome { out, reason, result, .. } = failsafe.frame(index, &wl_frame, paired.clone());

        let (w, h) = (wl_frame.width, wl_frame.height);
        if let (0, Some(check)) = (index, &cfg.frame_check) {
            check(w, h)?;
        }
        // The recordings get the frames without waiting (a recording that is behind loses recorded
        // frames, counted); then the overlay goes to the display. "REC DROPPING" shows while a
        // recording dropped a frame within the last second.
        if let Some(dir) = &cfg.record_dir {
            if recorders.is_none() {
                recorders = Some(open_recorders(dir, w, h, (cfg.fps, cfg.record_queue, cfg.record_delay))?);
            }
        }
        let mut out = out;
        if let Some(r) = &recorders {
            let dropped = r.dropped();
            if dropped > rec_dropped_seen {
                rec_dropped_seen = dropped;
                last_rec_drop = Some(index);
            }
            if last_rec_drop.is_some_and(|f| index - f < cfg.fps.max(1) as u64) {
                badge_bottom(&mut out, "REC DROPPING");
            }
        }
        let out = Arc::new(out);
        if let Some(r) = recorders.as_mut() {
            r.wl.offer(RecFrame::Rgb(wl_frame.clone()), wl.pts_ns);
            if let Some(n) = &paired {
                r.nir.offer(RecFrame::Gray16(n.clone()), wl.pts_ns);
            }
            r.overlay.offer(RecFrame::Rgb(out.clone()), wl.pts_ns);
        }
        if display.is_none() {
            display = Some(LiveDisplay::open(&cfg.display, w, h, cfg.fps)?);
        }
        if let Some(d) = display.as_ref() {
            if let Err(e) = d.push_shared(out, wl.pts_ns) {
                tracing::warn!("{e:#}");
            }
        }
        let now = Instant::now();
        if let Some(prev) = last_out {
            longest_gap = longest_gap.max(now - prev);
        }
        last_out = Some(now);
        let latency_ms = input.running_time_ns().map_or(0.0, |t| t.saturating_sub(wl.pts_ns) as f64 / 1e6);
        stats.add(latency_ms, reason.is_none());

        if let Some(m) = metrics.as_mut() {
            let mut line = FrameMetrics::new(index, wl.pts_ns, &cfg.params);
            if let Some(r) = &result {
                line = line.with_result(r);
            }
            line.overlay = Some(if reason.is_none() { OverlayState::On } else { OverlayState::Off });
            line.reason = reason;
            line.latency_ms = Some((latency_ms * 1000.0).round() / 1000.0);
            line.wall_ms = Some((started.elapsed().as_secs_f64() * 1e6).round() / 1e3);
            if let Some(r) = &recorders {
                line.rec_dropped = Some(r.all().iter().map(|t| (t.name().to_string(), t.dropped)).collect());
            }
            serde_json::to_writer(&mut *m, &line)?;
            m.write_all(b"\n")?;
            m.flush()?;
        }
        if cfg.stats && last_stats.elapsed() >= Duration::from_secs(1) {
            let rec = recorders.as_ref().map_or(String::new(), |r| {
                let each: Vec<String> = r.all().iter().map(|t| format!("{} {}", t.name(), t.dropped)).collect();
                format!("  recorded frames dropped: {}", each.join(", "))
            });
            eprintln!("live: {}{rec}", stats.window_line());
            last_stats = Instant::now();
        }
        index += 1;
    }
    let mut recordings = Vec::new();
    if let Some(r) = recorders.take() {
        for rec in [r.wl, r.nir, r.overlay] {
            recordings.push((rec.name().to_string(), rec.recorded, rec.dropped));
            if let Err(e) = rec.finish() {
                tracing::warn!("{e:#}");
            }
        }
    }
    let (p50, p99) = stats.totals();
    Ok(LiveSummary {
        frames: stats.frames,
        overlay_off: stats.overlay_off,
        input_dropped: stats.input_dropped,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        longest_gap_ms: longest_gap.as_secs_f64() * 1e3,
        recordings,
    })
}
