//! The element's internals: properties (`Settings`, raw as set, validated into a `Config` when the
//! element starts), streaming state (`State`, built on start and caps, cleared on stop), caps (the src
//! pad takes the white light's), and one frame: lend the inputs to the analysis as they are (packed RGB,
//! GRAY16_LE of the white light's size) or convert them, call the fail-safe analysis, write the output,
//! post the message and the metrics line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_base as gst_base;
use gstreamer_video as gst_video;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::AggregateFramesToken;
use gst_video::subclass::prelude::*;
use gst_video::{VideoFormat, VideoFrameRef};

use crate::backend::BackendChoice;
use crate::measure::calibration::ScaleSettings;
use crate::paths::PathGuard;
use crate::values;
use crate::frame::{LendNir, LendRgb, NirFrame, NirView, PlaneView, RgbFrame, RgbView};
use crate::measure::findings::{Mode, Roi};
use crate::metrics::{FrameMetrics, OverlayState};
use crate::params::AnalysisParams;
use crate::processor::CheckSettings;
use crate::overlay::badge_bottom;
use crossbeam_channel::Sender;
use super::analysis::{GPU_WAIT_BUDGETS, LiveAnalysis, ModeCell};
use super::failsafe::{FailSafe, Outcome, passthrough};
use super::faults::FaultPlan;

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("nirfmargin", gst::DebugColorFlags::empty(), Some("NIR-fluorescence margin overlay")));

const WL_FORMATS: [VideoFormat; 3] = [VideoFormat::Rgb, VideoFormat::Rgbx, VideoFormat::Rgba];
const NIR_FORMATS: [VideoFormat; 3] = [VideoFormat::Gray8, VideoFormat::Gray16Le, VideoFormat::Gray16Be];
/// The element's own work on a frame besides waiting for its analysis (hand-over, output, message; the
/// inputs are lent, not copied, when packed: README), with room for a loaded machine; part of the
/// reported latency.
const OWN_WORK: Duration = Duration::from_millis(5);
/// The frame rate assumed until the white light's caps give one, and kept for caps of `0/1` (variable rate).
const DEFAULT_FPS: f64 = 30.0;

/// The properties as set; validated (each error naming its property) when the element starts.
#[derive(Clone, Debug)]
struct Settings {
    mm_per_px: f64,
    calibration: Option<String>,
    margins_mm: String,
    fluo_noise_sigmas: f64,
    backend: String,
    mode: String,
    roi: Option<String>,
    tbr: f64,
    budget_ms: f64,
    metrics_location: Option<String>,
    inject_fault: Option<String>,
    notice: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mm_per_px: 0.0,
            calibration: None,
            margins_mm: "1".into(),
            fluo_noise_sigmas: AnalysisParams::default().fluo_noise_sigmas as f64,
            backend: "auto".into(),
            mode: Mode::Survey.name().into(),
            roi: None,
            tbr: CheckSettings::default().min_tbr as f64,
            budget_ms: 0.0,
            metrics_location: None,
            inject_fault: None,
            notice: None,
        }
    }
}

/// The settings, checked with the command line's own value parsers.
struct Config {
    params: AnalysisParams,
    backend: BackendChoice,
    checks: CheckSettings,
    plan: FaultPlan,
    /// `None`: 0.8 of the white light's frame period.
    budget: Option<Duration>,
    metrics: Option<PathBuf>,
}

impl Settings {
    fn config(&self) -> Result<Config, String> {
        fn prop(name: &'static str) -> impl Fn(String) -> String {
            move |e| format!("property {name}: {e}")
        }
        let mm_per_px = match self.mm_per_px {
            0.0 => None,
            v => Some(values::mm_per_px(&v.to_string()).map_err(prop("mm-per-px"))?),
        };
        if mm_per_px.is_some() && self.calibration.is_some() {
            return Err("properties mm-per-px and calibration exclude each other: set one".into());
        }
        let margins_mm = self
            .margins_mm
            .split(',')
            .map(|m| values::margin_mm(m).map_err(prop("margins-mm")))
            .collect::<Result<Vec<_>, _>>()?;
        let scale = ScaleSettings {
            mm_per_px,
            calibration: self.calibration.as_ref().map(PathBuf::from),
            margins_mm,
            fluo_noise_sigmas: values::noise_sigmas(&self.fluo_noise_sigmas.to_string()).map_err(prop("fluo-noise-sigmas"))?,
        };
        let params = scale.params().map_err(|e| format!("property calibration / mm-per-px / margins-mm: {e:#}"))?;
        let backend: BackendChoice = self.backend.parse().map_err(prop("backend"))?;
        let roi: Option<Roi> = self.roi.as_deref().map(str::parse).transpose().map_err(prop("roi"))?;
        let checks = CheckSettings {
            mode: self.mode.parse().map_err(prop("mode"))?,
            roi,
            min_tbr: values::tbr(&self.tbr.to_string()).map_err(prop("tbr"))?,
        };
        let budget = match self.budget_ms {
            0.0 => None,
            v => Some(Duration::from_secs_f64(values::budget_ms(&v.to_string()).map_err(prop("budget-ms"))? / 1e3)),
        };
        let plan: FaultPlan = self.inject_fault.as_deref().unwrap_or("").parse().map_err(prop("inject-fault"))?;
        let metrics = self.metrics_location.as_ref().map(PathBuf::from);
        // The metrics file never overwrites the calibration it reads (the element knows no other input).
        let mut guard = PathGuard::new();
        if let Some(c) = &self.calibration {
            guard.input_file("property calibration", std::path::Path::new(c));
        }
        if let Some(m) = &metrics {
            guard.output_file("property metrics-location", m);
        }
        guard.check().map_err(|e| format!("{e:#}"))?;
        Ok(Config { params, backend, checks, plan, budget, metrics })
    }
}

/// Built when the element starts, cleared when it stops.
struct State {
    failsafe: FailSafe,
    /// What the analysis thread is built from; rebuilt for the white light's frame rate once negotiated.
    analysis: LiveAnalysis,
    /// The budget property; `None`: 0.8 of the frame period.
    budget: Option<Duration>,
    params: AnalysisParams,
    roi: Option<Roi>,
    /// The src pad's video info (the white light's), once negotiated.
    out_info: Option<gst_video::VideoInfo>,
    /// The white light's frame period (`DEFAULT_FPS` until negotiated, and for a variable rate); the
    /// analysis thread runs at this rate (`analysis.fps`).
    period: Duration,
    index: u64,
    metrics: Option<(PathBuf, BufWriter<File>)>,
    /// When the element started (the metrics lines' `wall_ms`).
    started: Instant,
    /// The last pair's frames, handed back by the analysis, refilled with the next pair (a fresh 1080p
    /// frame costs its page faults on every frame).
    spare: (Option<RgbFrame>, Option<NirFrame>),
    /// A NIR of another size than the white light, read before it is scaled (kept for the next frame).
    nir_native: NirFrame,
}

#[derive(Default)]
pub struct NirfMargin {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Shared with the analysis thread: the `mode` property switches it while playing.
    mode: ModeCell,
    /// An application linked with the library gets each frame's metrics line here as well (`live`).
    frames: Mutex<Option<Sender<FrameMetrics>>>,
    /// The running time (ns, plus one: 0 is none yet) of the newest buffer that reached each sink pad,
    /// `wl` then `nir`, set by a probe as it arrives (`skip_stale_heads`).
    newest: Arc<[AtomicU64; 2]>,
    /// Input frames skipped live because a newer one of the same pad was already waiting (`skipped`).
    skipped: AtomicU64,
}

impl NirfMargin {
    pub(super) fn set_frame_channel(&self, tx: Option<Sender<FrameMetrics>>) {
        *self.frames.lock().unwrap() = tx;
    }

    /// A live aggregator takes one buffer a pad per output frame. Once a pad holds one frame more than
    /// the other (a frame that came in just after an output slot's end, a late analysis), it stays a
    /// frame behind for good: the inputs arrive at the rate the output goes, and an output is made as
    /// soon as every pad has a buffer, which the pad behind always has. The white light a frame behind
    /// adds a whole frame period to every frame's latency (measured: 53 instead of 20 ms p50 for a whole
    /// 5-minute 720p run); the NIR a frame behind pairs each white light with the NIR of the frame before.
    /// So, live, a head that a newer frame of its pad is already waiting behind is dropped (and counted)
    /// where that newer frame starts within the output frame being made (else the aggregator would keep
    /// it for a later output and repeat an old one now): the white light's; the NIR's too where the newer
    /// NIR frame is not past the white light's head by more than half a frame (it is the better partner).
    /// True when a pad was left empty.
    fn skip_stale_heads(&self, period_ns: u64) -> bool {
        let obj = self.obj();
        let pad = |name: &str| obj.static_pad(name).and_then(|p| p.downcast::<gst_base::AggregatorPad>().ok());
        let (Some(wl), Some(nir)) = (pad("wl"), pad("nir")) else { return false };
        // The output frame being made starts where the last one ended (the src segment's position).
        let Some(slot_end) = obj.src_pad().segment().downcast::<gst::ClockTime>().ok().and_then(|seg| {
            let at = seg.position().filter(|p| *p >= seg.start().unwrap_or(gst::ClockTime::ZERO)).or(seg.start())?;
            seg.to_running_time(at).map(|t| t.nseconds() + period_ns)
        }) else {
            return false;
        };
        let head = |p: &gst_base::AggregatorPad| {
            let b = p.peek_buffer()?;
            p.segment().downcast::<gst::ClockTime>().ok()?.to_running_time(b.pts()?).map(|t| t.nseconds())
        };
        let newer = |i: usize, head: Option<u64>| {
            let n = self.newest[i].load(Ordering::Relaxed).checked_sub(1)?;
            (n > head? && n < slot_end).then_some(n)
        };
        let mut emptied = false;
        let mut drop_head = |p: &gst_base::AggregatorPad| {
            p.drop_buffer();
            self.skipped.fetch_add(1, Ordering::Relaxed);
            emptied |= !p.has_buffer();
        };
        let wl_head = head(&wl);
        let wl_head = match newer(0, wl_head) {
            Some(n) => {
                drop_head(&wl);
                Some(n)
            }
            None => wl_head,
        };
        if let (Some(n), Some(w)) = (newer(1, head(&nir)), wl_head) {
            if n <= w + period_ns / 2 {
                drop_head(&nir);
            }
        }
        emptied
    }

    /// A new stream (start, flush): no frame has arrived yet.
    fn forget_newest(&self) {
        self.newest.iter().for_each(|n| n.store(0, Ordering::Relaxed));
    }
}

#[glib::object_subclass]
impl ObjectSubclass for NirfMargin {
    const NAME: &'static str = "GstNirfMargin";
    type Type = super::NirfMargin;
    type ParentType = gst_video::VideoAggregator;
}

impl ObjectImpl for NirfMargin {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecDouble::builder("mm-per-px")
                    .nick("Image scale")
                    .blurb("Millimetres a pixel (0.005-2); 0: no scale (figures in px, no margin contour). Excludes calibration")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(d.mm_per_px)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("calibration")
                    .nick("Calibration file")
                    .blurb("The scale from `nirf-margin calibrate` (JSON file). Excludes mm-per-px")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("margins-mm")
                    .nick("Margins")
                    .blurb("Margin contours in mm (each 0.1-50), comma-separated; the first is the radicality margin")
                    .default_value(Some(d.margins_mm.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("fluo-noise-sigmas")
                    .nick("Fluorescence level noise sigmas")
                    .blurb("Raise the fluorescence level above its ratio of 1.3 to the background mode plus this many noise sigmas (0-20; 0: off)")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(d.fluo_noise_sigmas)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("backend")
                    .nick("Analysis backend")
                    .blurb("auto (a hardware GPU when there is one, else the CPU), gpu (any adapter) or cpu")
                    .default_value(Some(d.backend.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mode")
                    .nick("Mode")
                    .blurb("survey (lesions and margins), transection (flag fluorescence in the ROI) or wound-bed (also tally it); switchable while playing")
                    .default_value(Some(d.mode.as_str()))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("roi")
                    .nick("Region of interest")
                    .blurb("x,y,w,h in px inside the white-light frame, for transection / wound-bed (unset: the central 60%)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("tbr")
                    .nick("Check TBR")
                    .blurb("Fluorescence in the ROI counts from this tumour-to-background ratio on (above 1)")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(d.tbr)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("budget-ms")
                    .nick("Time budget")
                    .blurb("Longest wait for a frame's analysis, ms (0-10000; 0: 0.8 of the white light's frame period); over it the white light passes with a badge. Also the element's latency")
                    .minimum(0.0)
                    .maximum(10_000.0)
                    .default_value(d.budget_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("metrics-location")
                    .nick("Metrics file")
                    .blurb("Write each frame's metrics line (JSON lines, the nirf-margin metrics schema) to this file")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("notice")
                    .nick("Notice")
                    .blurb("A line drawn at the bottom of every output frame while set (an application's state, e.g. REC DROPPING); switchable while playing")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("skipped")
                    .nick("Frames skipped")
                    .blurb("Input frames (white light and NIR) skipped live because a newer frame of the same input was already waiting behind them (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("inject-fault")
                    .nick("Fault drill")
                    .blurb("KIND@FRAME,... with KIND panic, error, slow or lost: the analysis fails at those frames (a drill of the fail-safe path)")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let text = || value.get::<Option<String>>().ok().flatten().filter(|v| !v.is_empty());
        match pspec.name() {
            "mm-per-px" => s.mm_per_px = value.get().unwrap_or(0.0),
            "calibration" => s.calibration = text(),
            "margins-mm" => s.margins_mm = text().unwrap_or_else(|| Settings::default().margins_mm),
            "fluo-noise-sigmas" => s.fluo_noise_sigmas = value.get().unwrap_or(0.0),
            "backend" => s.backend = text().unwrap_or_else(|| Settings::default().backend),
            "mode" => {
                s.mode = text().unwrap_or_else(|| Settings::default().mode);
                match s.mode.parse::<Mode>() {
                    Ok(m) => self.mode.set(m),
                    // Refused when the element starts; while playing the mode stays as it was.
                    Err(e) => gst::error!(CAT, imp = self, "property mode: {e}"),
                }
            }
            "roi" => s.roi = text(),
            "tbr" => s.tbr = value.get().unwrap_or(0.0),
            "budget-ms" => s.budget_ms = value.get().unwrap_or(0.0),
            "metrics-location" => s.metrics_location = text(),
            "inject-fault" => s.inject_fault = text(),
            "notice" => s.notice = text(),
            other => gst::error!(CAT, imp = self, "no property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "mm-per-px" => s.mm_per_px.to_value(),
            "calibration" => s.calibration.to_value(),
            "margins-mm" => s.margins_mm.to_value(),
            "fluo-noise-sigmas" => s.fluo_noise_sigmas.to_value(),
            "backend" => s.backend.to_value(),
            "mode" => s.mode.to_value(),
            "roi" => s.roi.to_value(),
            "tbr" => s.tbr.to_value(),
            "budget-ms" => s.budget_ms.to_value(),
            "metrics-location" => s.metrics_location.to_value(),
            "inject-fault" => s.inject_fault.to_value(),
            "notice" => s.notice.to_value(),
            "skipped" => self.skipped.load(Ordering::Relaxed).to_value(),
            _ => None::<String>.to_value(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        for name in ["wl", "nir"] {
            let templ = obj.pad_template(name).expect("pad template declared below");
            let pad = gst::PadBuilder::<gst_video::VideoAggregatorPad>::from_template(&templ).name(name).build();
            if name == "nir" {
                // The NIR's last frame stays after its EOS, so that the white light's last frames pair with
                // it while it is recent (the staleness rule of `aggregate_frames`): when both inputs end, or
                // a run is stopped by an EOS into each source, the NIR's EOS arriving first gives no
                // spurious "NIR LOST" frame at the end; a NIR that ended long before still gives it.
                pad.set_property("repeat-after-eos", true);
            }
            let (newest, i) = (self.newest.clone(), usize::from(name == "nir"));
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let rt = info.buffer().and_then(|b| {
                    let ev = pad.sticky_event::<gst::event::Segment>(0)?;
                    ev.segment().downcast_ref::<gst::ClockTime>()?.to_running_time(b.pts()?)
                });
                if let Some(rt) = rt {
                    newest[i].fetch_max(rt.nseconds() + 1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
            obj.add_pad(&pad).expect("a new pad name");
        }
    }
}

impl GstObjectImpl for NirfMargin {}

impl ElementImpl for NirfMargin {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "NIR-fluorescence margin overlay",
                "Filter/Analyzer/Video",
                "Pairs white light (pad wl) with NIR fluorescence (pad nir) by running time and draws the lesions, \
                 their margins and the checks on the white light; posts a nirf-margin/frame element message a frame. \
                 Decision support, validated on synthetic phantoms only",
                "nirf-margin",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let wl = gst_video::VideoCapsBuilder::new().format_list(WL_FORMATS).build();
            let nir = gst_video::VideoCapsBuilder::new().format_list(NIR_FORMATS).build();
            let pad = gst_video::VideoAggregatorPad::static_type();
            vec![
                gst::PadTemplate::with_gtype("wl", gst::PadDirection::Sink, gst::PadPresence::Always, &wl, pad).unwrap(),
                gst::PadTemplate::with_gtype("nir", gst::PadDirection::Sink, gst::PadPresence::Always, &nir, pad).unwrap(),
                gst::PadTemplate::with_gtype("src", gst::PadDirection::Src, gst::PadPresence::Always, &wl, gst_base::AggregatorPad::static_type())
                    .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

/// A frame at running time `rt`, lasting `duration` (at least a frame period), is stale at running time
/// `now` when `now` is more than half a frame period past its end.
fn stale(rt: Option<u64>, duration: Option<gst::ClockTime>, now: Option<u64>, period_ns: u64) -> bool {
    let dur = duration.map_or(period_ns, |d| d.nseconds().max(period_ns));
    matches!((rt, now), (Some(t), Some(n)) if t + dur + period_ns / 2 < n)
}

/// The frame rate of negotiated caps; `DEFAULT_FPS` for `0/1` (a variable rate).
fn frame_rate(info: &gst_video::VideoInfo) -> f64 {
    let fps = info.fps();
    if fps.numer() > 0 && fps.denom() > 0 { fps.numer() as f64 / fps.denom() as f64 } else { DEFAULT_FPS }
}

impl NirfMargin {
    /// The analysis thread for `fps` (its lesion tracker keeps an unseen lesion's ID for one second of
    /// frames; a GPU wait longer than `GPU_WAIT_BUDGETS` budgets counts as a lost device), ready to take
    /// a frame (a backend's start-up waited for, up to 30 s).
    fn start_analysis(&self, template: &LiveAnalysis, budget: Option<Duration>, fps: f64) -> FailSafe {
        let budget = budget.unwrap_or(Duration::from_secs_f64(0.8 / fps));
        let analysis = LiveAnalysis { fps, gpu_wait: budget * GPU_WAIT_BUDGETS, ..template.clone() };
        gst::info!(CAT, imp = self, "analysis at {fps} frames/s, budget {budget:?}");
        FailSafe::start(analysis.factory(self.mode.clone()), budget, Duration::from_secs(30))
    }
}

impl AggregatorImpl for NirfMargin {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let config = self.settings.lock().unwrap().config().map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
        let metrics = match &config.metrics {
            Some(p) => Some((
                p.clone(),
                BufWriter::new(File::create(p).map_err(|e| {
                    gst::error_msg!(gst::ResourceError::OpenWrite, ("property metrics-location {}: cannot create: {}", p.display(), e))
                })?),
            )),
            None => None,
        };
        self.mode.set(config.checks.mode);
        let analysis = LiveAnalysis {
            backend: config.backend,
            params: config.params.clone(),
            checks: config.checks.clone(),
            plan: config.plan,
            // A drilled `slow` frame overruns any budget the frame rate allows.
            slow: config.budget.map_or(Duration::from_millis(200), |b| b * 3),
            // Both set by `start_analysis` for the rate it builds for.
            gpu_wait: Duration::ZERO,
            fps: DEFAULT_FPS,
        };
        // Built now, at the usual rate, so that no frame waits on its start-up; rebuilt when the white
        // light's caps give another rate.
        let failsafe = self.start_analysis(&analysis, config.budget, DEFAULT_FPS);
        *self.state.lock().unwrap() = Some(State {
            failsafe,
            analysis,
            budget: config.budget,
            params: config.params,
            roi: config.checks.roi,
            out_info: None,
            period: Duration::from_secs_f64(1.0 / DEFAULT_FPS),
            index: 0,
            metrics,
            spare: (None, None),
            nir_native: NirFrame::default(),
            started: Instant::now(),
        });
        self.forget_newest();
        gst::info!(CAT, imp = self, "started");
        Ok(())
    }

    /// Live, a pad's head that a newer frame of its pad is waiting behind is skipped first
    /// (`skip_stale_heads`); a timeout makes its frame from what there is.
    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        if !timeout && self.obj().latency().is_some() {
            let period_ns = self.state.lock().unwrap().as_ref().map_or(0, |s| s.period.as_nanos() as u64);
            if self.skip_stale_heads(period_ns) {
                return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
            }
        }
        self.parent_aggregate(timeout)
    }

    fn flush(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.forget_newest();
        self.parent_flush()
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = self.state.lock().unwrap().take() {
            if let Some((p, m)) = state.metrics.as_mut() {
                if let Err(e) = m.flush() {
                    gst::element_imp_warning!(self, gst::ResourceError::Write, ("metrics-location {}: {}", p.display(), e));
                }
            }
        }
        Ok(())
    }

    /// Caps: the white light takes what downstream takes (the output is in its format, size and rate);
    /// the NIR takes any size in its three formats, whatever downstream takes (it is never output).
    fn sink_query(&self, pad: &gst_base::AggregatorPad, query: &mut gst::QueryRef) -> bool {
        let allowed = || {
            let templ = pad.pad_template_caps();
            if pad.name() == "wl" { self.obj().src_pad().peer_query_caps(Some(&templ)) } else { templ }
        };
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = allowed();
                let caps = match q.filter() {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = q.caps().can_intersect(&allowed());
                q.set_result(ok);
                true
            }
            _ => self.parent_sink_query(pad, query),
        }
    }

    /// The src pad takes the white light's caps (format, size, frame rate); until they are known there is
    /// nothing to decide. A variable rate (`0/1`) is fixed at `DEFAULT_FPS`, as GStreamer's own
    /// aggregators fix it (`VideoAggregator`'s default fixation takes 25/1): the aggregator produces its
    /// output on the output rate's grid and derives its latency from that rate, which must not be zero.
    fn update_src_caps(&self, caps: &gst::Caps) -> Result<gst::Caps, gst::FlowError> {
        let Some(mut wl) = self.obj().static_pad("wl").and_then(|p| p.current_caps()) else {
            return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
        };
        let variable = wl.structure(0).and_then(|s| s.get::<gst::Fraction>("framerate").ok()).is_some_and(|f| f.numer() <= 0);
        if variable {
            wl.make_mut().set("framerate", gst::Fraction::new(DEFAULT_FPS as i32, 1));
        }
        if !wl.can_intersect(caps) {
            gst::error!(CAT, imp = self, "downstream ({caps:?}) does not take the white light's caps ({wl:?})");
            return Err(gst::FlowError::NotNegotiated);
        }
        Ok(wl)
    }

    fn negotiated_src_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.parent_negotiated_src_caps(caps)?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::loggable_error!(CAT, "src caps {caps:?} are not video"))?;
        let budget = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else { return Ok(()) };
            if let Some(roi) = &state.roi {
                if let Err(e) = roi.in_frame(info.width() as usize, info.height() as usize) {
                    let e = format!("{e:#}").replace("--roi", "property roi");
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", e));
                    return Err(gst::loggable_error!(CAT, "{e}"));
                }
            }
            let fps = frame_rate(&info);
            state.period = Duration::from_secs_f64(1.0 / fps);
            if fps != state.analysis.fps {
                // Before the first frame (caps come first): nothing analysed is lost; mid-stream the
                // lesion IDs start afresh.
                state.failsafe = self.start_analysis(&state.analysis, state.budget, fps);
                state.analysis.fps = fps;
            }
            state.out_info = Some(info);
            state.failsafe.budget
        };
        // A frame leaves at most one budget (the wait for its analysis) plus the element's own work after
        // both its inputs arrived.
        let latency = gst::ClockTime::from_nseconds((budget + OWN_WORK).as_nanos() as u64);
        self.obj().set_latency(latency, Some(latency));
        Ok(())
    }
}

/// An input buffer lent to the analysis as it is, mapped (a reference: upstream's other branches, such
/// as the raw recordings, read the same buffer): its first plane is packed rows in one memory.
struct Lent {
    map: gst::MappedBuffer<gst::buffer::Readable>,
    offset: usize,
    width: usize,
    height: usize,
}

impl Lent {
    /// The buffer of `f` when its first plane is packed rows of `bpp` bytes a pixel in a single memory
    /// (what the analysis reads as it is), else `None` (it is converted: `wl_frame`, `nir_frame`).
    fn packed(f: &VideoFrameRef<&gst::BufferRef>, bpp: usize) -> Option<Self> {
        let (width, height) = (f.width() as usize, f.height() as usize);
        if f.plane_stride()[0] as usize != width * bpp || f.buffer().n_memory() != 1 {
            return None;
        }
        let offset = f.info().offset()[0];
        let map = f.buffer().to_owned().into_mapped_buffer_readable().ok()?;
        (map.len() >= offset + width * height * bpp).then_some(Self { map, offset, width, height })
    }

    fn bytes(&self, bpp: usize) -> &[u8] {
        &self.map[self.offset..self.offset + self.width * self.height * bpp]
    }
}

/// The white light's buffer lent as packed RGB.
struct LentWl(Lent);

impl LendRgb for LentWl {
    fn view(&self) -> RgbView<'_> {
        RgbView { width: self.0.width, height: self.0.height, data: self.0.bytes(3) }
    }
}

/// The NIR's buffer lent as 16-bit samples: GRAY16_LE on a little-endian machine, with 2-byte aligned
/// samples (checked when lent).
struct LentNir(Lent);

impl LendNir for LentNir {
    fn view(&self) -> NirView<'_> {
        PlaneView { width: self.0.width, height: self.0.height, data: bytemuck::cast_slice(self.0.bytes(2)) }
    }
}

/// The white light for the analysis: its buffer lent as it is where it is packed RGB (no copy), else
/// converted into the element's frame `spare` (a frame the analysis handed back: no fresh pages); the
/// converted frame is also returned, to be taken back when the analysis is done with it.
fn wl_input(f: &VideoFrameRef<&gst::BufferRef>, spare: Option<RgbFrame>) -> anyhow::Result<(Arc<dyn LendRgb>, Option<Arc<RgbFrame>>)> {
    if f.format() == VideoFormat::Rgb {
        if let Some(lent) = Lent::packed(f, 3) {
            return Ok((Arc::new(LentWl(lent)), None));
        }
    }
    let own = Arc::new(wl_frame(f, spare)?);
    Ok((own.clone(), Some(own)))
}

/// The NIR for the analysis, on the white light's grid: lent as it is where it is GRAY16_LE of the white
/// light's size on a little-endian machine (no copy), else converted as `wl_input` does.
fn nir_input(
    f: &VideoFrameRef<&gst::BufferRef>,
    size: (usize, usize),
    spare: Option<NirFrame>,
    native: &mut NirFrame,
) -> anyhow::Result<(Arc<dyn LendNir>, Option<Arc<NirFrame>>)> {
    if f.format() == VideoFormat::Gray16Le && cfg!(target_endian = "little") && (f.width() as usize, f.height() as usize) == size {
        if let Some(lent) = Lent::packed(f, 2).filter(|l| bytemuck::try_cast_slice::<u8, u16>(l.bytes(2)).is_ok()) {
            return Ok((Arc::new(LentNir(lent)), None));
        }
    }
    let own = Arc::new(nir_frame(f, size, spare, native)?);
    Ok((own.clone(), Some(own)))
}

/// The white light as the library's packed RGB frame, filled into `into` (a frame the analysis handed
/// back) where it has the size.
fn wl_frame(f: &VideoFrameRef<&gst::BufferRef>, into: Option<RgbFrame>) -> anyhow::Result<RgbFrame> {
    let mut out = into.unwrap_or_default();
    let bpp = f.format_info().pixel_stride()[0] as usize;
    out.fill_from_strided(f.width() as usize, f.height() as usize, f.plane_data(0)?, f.plane_stride()[0] as usize, bpp)?;
    Ok(out)
}

/// The NIR frame as 16-bit samples (GRAY8 spread over the 16 bits), on the white light's grid, filled
/// into `into` (a frame the analysis handed back); a NIR of another size is read into `native` first
/// and scaled from there (both allocations kept from frame to frame).
fn nir_frame(
    f: &VideoFrameRef<&gst::BufferRef>,
    (width, height): (usize, usize),
    into: Option<NirFrame>,
    native: &mut NirFrame,
) -> anyhow::Result<NirFrame> {
    let (w, h, stride) = (f.width() as usize, f.height() as usize, f.plane_stride()[0] as usize);
    let data = f.plane_data(0)?;
    let mut out = into.unwrap_or_default();
    // A NIR of another size is read into `native` (kept from frame to frame), then scaled into `out`.
    let nir = if (w, h) == (width, height) { &mut out } else { &mut *native };
    match f.format() {
        VideoFormat::Gray16Le => nir.fill_from_strided_u16le(w, h, data, stride)?,
        VideoFormat::Gray8 | VideoFormat::Gray16Be => {
            let bytes = if f.format() == VideoFormat::Gray8 { 1 } else { 2 };
            anyhow::ensure!(data.len() >= stride * (h.max(1) - 1) + w * bytes, "NIR buffer too small for {w}x{h}");
            nir.ensure_size(w, h);
            for y in 0..h {
                let row = &data[y * stride..y * stride + w * bytes];
                let dst = &mut nir.data[y * w..(y + 1) * w];
                if bytes == 1 {
                    dst.iter_mut().zip(row).for_each(|(d, &s)| *d = s as u16 * 257);
                } else {
                    dst.iter_mut().zip(row.chunks_exact(2)).for_each(|(d, s)| *d = u16::from_be_bytes([s[0], s[1]]));
                }
            }
        }
        other => anyhow::bail!("NIR format {other:?} is not GRAY8, GRAY16_LE or GRAY16_BE"),
    };
    if (w, h) != (width, height) {
        native.resize_into(width, height, &mut out);
    }
    Ok(out)
}

/// Whether an output of `info` is laid out as the library's packed RGB (rows of `3 × width` bytes).
fn packed_rgb(info: &gst_video::VideoInfo) -> bool {
    info.format() == VideoFormat::Rgb && info.stride()[0] as usize == info.width() as usize * 3 && info.offset()[0] == 0
}

/// Put a packed RGB frame into the output buffer laid out as `info` (RGB, RGBx or RGBA): where the
/// layouts agree the frame's own bytes become the buffer's memory (the buffer came empty,
/// `create_output_buffer`), no copy; else the rows are copied to the buffer's stride.
fn write_out(out: RgbFrame, outbuf: &mut gst::BufferRef, info: &gst_video::VideoInfo) -> anyhow::Result<()> {
    let (w, h) = (info.width() as usize, info.height() as usize);
    anyhow::ensure!((out.width, out.height) == (w, h), "frame of {}x{} for output of {w}x{h}", out.width, out.height);
    if packed_rgb(info) && outbuf.size() == 0 {
        outbuf.append_memory(gst::Memory::from_mut_slice(out.data));
        return Ok(());
    }
    let mut f = VideoFrameRef::from_buffer_ref_writable(outbuf, info).map_err(|_| anyhow::anyhow!("cannot map the output buffer"))?;
    let (stride, bpp) = (f.plane_stride()[0] as usize, f.format_info().pixel_stride()[0] as usize);
    let data = f.plane_data_mut(0)?;
    for y in 0..h {
        let src = &out.data[y * w * 3..(y + 1) * w * 3];
        let dst = &mut data[y * stride..y * stride + w * bpp];
        if bpp == 3 {
            dst.copy_from_slice(src);
        } else {
            for (d, s) in dst.chunks_exact_mut(bpp).zip(src.chunks_exact(3)) {
                d[..3].copy_from_slice(s);
                d[3] = 255;
            }
        }
    }
    Ok(())
}

/// A buffer's start as running time on its pad, ns.
fn running_time(pad: &gst_video::VideoAggregatorPad, buffer: &gst::BufferRef) -> Option<u64> {
    let segment = pad.segment().downcast::<gst::ClockTime>().ok()?;
    segment.to_running_time(buffer.pts()?).map(|t| t.nseconds())
}

impl VideoAggregatorImpl for NirfMargin {
    /// An empty buffer where the overlay's own bytes can become its memory (packed RGB), else the pool's.
    fn create_output_buffer(&self) -> Result<Option<gst::Buffer>, gst::FlowError> {
        let packed = self.state.lock().unwrap().as_ref().and_then(|s| s.out_info.as_ref()).is_some_and(packed_rgb);
        if packed { Ok(Some(gst::Buffer::new())) } else { self.parent_create_output_buffer() }
    }

    fn aggregate_frames(&self, token: &AggregateFramesToken, outbuf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let obj = self.obj();
        let pad = |name: &str| obj.static_pad(name).and_then(|p| p.downcast::<gst_video::VideoAggregatorPad>().ok()).ok_or(gst::FlowError::Error);
        let (wl_pad, nir_pad) = (pad("wl")?, pad("nir")?);
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.out_info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let (width, height) = (info.width() as usize, info.height() as usize);

        let (wl, wl_rt, wl_duration) = match wl_pad.prepared_frame(token) {
            Some(f) => {
                let rt = running_time(&wl_pad, f.buffer());
                let duration = f.buffer().duration();
                let input = wl_input(&f, state.spare.0.take()).map_err(|e| {
                    gst::element_imp_error!(self, gst::StreamError::Format, ("white light (pad wl): {e:#}"));
                    gst::FlowError::Error
                })?;
                (Some(input), rt, duration)
            }
            // The white light ended: so does the overlay.
            None if wl_pad.is_eos() => return Err(gst::FlowError::Eos),
            // A live white light late past the aggregator's timeout: a black frame says so (nothing to
            // analyse).
            None => (None, None, None),
        };
        // The NIR frame the aggregator paired by running time, unless it is older than this white light
        // by more than a frame (a NIR camera that fell silent).
        let period_ns = state.period.as_nanos() as u64;
        let nir = nir_pad.prepared_frame(token).and_then(|f| {
            let rt = running_time(&nir_pad, f.buffer());
            (!stale(rt, f.buffer().duration(), wl_rt, period_ns)).then_some(f)
        });
        // A white light that stopped delivering (a frozen grabber) while the output goes on: the
        // aggregator repeats its last frame (the `wl` pad's `max-last-buffer-repeat`); from half a frame
        // past that frame's end it is frozen.
        let out_rt = outbuf.pts().and_then(|t| obj.src_pad().segment().downcast_ref::<gst::ClockTime>()?.to_running_time(t)).map(|t| t.nseconds());
        let wl_frozen = stale(wl_rt, wl_duration, out_rt, period_ns);
        let spare_nir = state.spare.1.take();
        let (nir, nir_own) = match nir.map(|f| nir_input(&f, (width, height), spare_nir, &mut state.nir_native)).transpose() {
            Ok(n) => n.map_or((None, None), |(lent, own)| (Some(lent), own)),
            Err(e) => {
                gst::element_imp_error!(self, gst::StreamError::Format, ("NIR (pad nir): {e:#}"));
                return Err(gst::FlowError::Error);
            }
        };
        let index = state.index;
        state.index += 1;
        let Outcome { out, reason, result, process_ms } = match wl {
            // An old picture under a new NIR would put the margins where the tissue no longer is:
            // nothing is analysed, the frozen picture says so.
            Some((wl, _)) if wl_frozen => Outcome {
                out: passthrough(wl.view(), "WHITE LIGHT FROZEN"),
                reason: Some("white light frozen".into()),
                result: None,
                process_ms: None,
            },
            Some((wl, wl_own)) => {
                let outcome = state.failsafe.frame(index, &wl, nir);
                drop(wl);
                // The analysis is done with converted frames (unless it overran): they take the next pair.
                state.spare = (wl_own.and_then(|f| Arc::try_unwrap(f).ok()), nir_own.and_then(|n| Arc::try_unwrap(n).ok()));
                outcome
            }
            None => Outcome {
                out: passthrough(&RgbFrame::new(width, height), "NO WHITE LIGHT"),
                reason: Some("white light lost".into()),
                result: None,
                process_ms: None,
            },
        };
        let mut out = out;
        if let Some(n) = self.settings.lock().unwrap().notice.as_deref() {
            badge_bottom(&mut out, n);
        }
        write_out(out, outbuf, &info).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("output: {e:#}"));
            gst::FlowError::Error
        })?;

        let mut line = FrameMetrics::new(index, outbuf.pts().map_or(0, |t| t.nseconds()), &state.params);
        if let Some(r) = &result {
            line = line.with_result(r);
        }
        line.overlay = Some(if reason.is_none() { OverlayState::On } else { OverlayState::Off });
        line.reason = reason;
        // Added latency: from the earlier of the white light's running time (when it was due) and the
        // moment the element took the pair, to the moment the frame leaves. Live, a frame is due before
        // the element takes it: its running time on the pipeline clock to leaving (capture, transit,
        // pairing, analysis). A replay runs ahead of the clock (it is paced after the element), so a frame
        // is taken before it is due: the element's own time on it, input to output.
        if wl_rt.is_some() {
            let since_due = match (obj.current_running_time(), wl_rt) {
                (Some(now), Some(rt)) => Duration::from_nanos(now.nseconds().saturating_sub(rt)),
                _ => Duration::ZERO,
            };
            let ms = since_due.max(started.elapsed()).as_secs_f64() * 1e3;
            line.latency_ms = Some((ms * 1e3).round() / 1e3);
        }
        line.wall_ms = Some((state.started.elapsed().as_secs_f64() * 1e6).round() / 1e3);
        if let Some((p, m)) = state.metrics.as_mut() {
            // A line a frame, flushed: a run cut short keeps every frame it showed.
            let written = serde_json::to_writer(&mut *m, &line).map_err(std::io::Error::from).and_then(|_| m.write_all(b"\n")).and_then(|_| m.flush());
            if let Err(e) = written {
                gst::element_imp_warning!(self, gst::ResourceError::Write, ("metrics-location {}: {}; metrics off", p.display(), e));
                state.metrics = None;
            }
        }
        drop(guard);
        if let Some(tx) = self.frames.lock().unwrap().as_ref() {
            let _ = tx.send(line.clone());
        }
        let mut s = super::message::frame_structure(&line);
        s.set("element-ms", started.elapsed().as_secs_f64() * 1e3);
        if let Some(ms) = process_ms {
            s.set("process-ms", ms);
        }
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
        Ok(gst::FlowSuccess::Ok)
    }
}
