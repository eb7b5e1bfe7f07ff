//! Live GStreamer plumbing: the input pipeline from a `pipelines/*.pipeline` description (gst-launch
//! syntax, `${VAR}` and `${VAR:-default}` filled in), whose appsinks keep only the newest frame
//! (`max-buffers=1 drop=true`: stale frames are dropped, never queued), and the display output
//! (`appsrc ! videoconvert ! DISPLAY`). Frames cross as plain `RgbFrame`/`NirFrame` with their
//! timestamps; nothing here knows about the analysis.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::frame::{NirFrame, NirSide, RgbFrame, split_side_by_side};
use crate::media::source::{sample_to_nir, sample_to_rgb};

/// Fill `${VAR}` and `${VAR:-default}` from `vars`; an unknown variable without default is an error.
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| anyhow!("unclosed ${{ in pipeline description"))? + start;
        let inner = &rest[start + 2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (vars.get(name), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => bail!("pipeline variable ${{{name}}} is not set"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The pipelines shipped in `pipelines/`, built into the binary so that `live` runs from any folder.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("replay.pipeline", include_str!("../../pipelines/replay.pipeline")),
    ("phantom-live.pipeline", include_str!("../../pipelines/phantom-live.pipeline")),
    ("side-by-side.pipeline", include_str!("../../pipelines/side-by-side.pipeline")),
    ("v4l2-pair.pipeline", include_str!("../../pipelines/v4l2-pair.pipeline")),
];

/// The text of a pipeline file: the path as given (relative to the working folder); failing that, for a
/// bare name or a `pipelines/NAME` path, beside the executable, in an installed share folder, or the
/// copy built into the binary.
fn pipeline_text(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => return Ok(t),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(anyhow!("--pipeline {}: cannot read: {e}", path.display())),
        Err(_) => {}
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let shipped = path.parent().is_none_or(|p| p.as_os_str().is_empty() || p == Path::new("pipelines"));
    if shipped {
        if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
            for dir in [exe_dir.join("pipelines"), exe_dir.join("../share/nirf-margin/pipelines")] {
                if let Ok(t) = std::fs::read_to_string(dir.join(name)) {
                    return Ok(t);
                }
            }
        }
        if let Some((_, t)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            return Ok(t.to_string());
        }
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    bail!("--pipeline {}: no such file (built in: {})", path.display(), names.join(", "))
}

/// The flag that fills a pipeline variable.
fn flag_of(var: &str) -> Option<&'static str> {
    match var {
        "WL_SRC" | "WL_DEVICE" | "SBS_DEVICE" => Some("--wl"),
        "NIR_SRC" | "NIR_DEVICE" => Some("--nir"),
        _ => None,
    }
}

/// The description in a pipeline file: comment lines dropped, lines joined (one pipeline, several branches).
pub fn read_description(path: &Path, vars: &HashMap<String, String>) -> Result<String> {
    let text = pipeline_text(path)?;
    let body: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let body = body.join(" ");
    // A variable a flag fills, left unset and without a default: name the flag.
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        let inner = &rest[start + 2..];
        let end = inner.find('}').unwrap_or(inner.len());
        let var = &inner[..end];
        if let (false, Some(flag)) = (vars.contains_key(var), flag_of(var)) {
            bail!("--pipeline {}: {flag} is required (the pipeline reads it as ${{{var}}})", path.display());
        }
        rest = &inner[end..];
    }
    substitute(&body, vars).with_context(|| format!("--pipeline {}", path.display()))
}

/// Quote a path for a gst-launch description.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A source branch for `--wl`/`--nir` in the replay pipeline: an image sequence (looping by itself
/// when `looping`) or a decodable file (looped by seeking back at its end).
pub fn replay_source(spec: &crate::media::source::SourceSpec, fps: u32, looping: bool) -> String {
    use crate::media::source::SourceSpec;
    match spec {
        SourceSpec::ImageSequence { pattern, start, .. } => format!(
            "multifilesrc location={} index={start} start-index={start} loop={looping} caps=\"image/png,framerate={fps}/1\" ! pngdec",
            quote(pattern)
        ),
        SourceSpec::VideoFile(p) => format!("filesrc location={} ! decodebin", quote(&p.to_string_lossy())),
    }
}

/// A frame with its presentation time on the pipeline's running-time axis.
pub struct Timed<T> {
    pub frame: T,
    pub pts_ns: u64,
}

pub enum InputEvent {
    Frame(Timed<RgbFrame>, Option<Timed<NirFrame>>),
    /// No white-light frame within the wait.
    Timeout,
    /// The input ended (a replay without --loop).
    Ended,
}

pub struct LiveInput {
    pipeline: gst::Pipeline,
    wl: Option<gst_app::AppSink>,
    nir: Option<gst_app::AppSink>,
    sbs: Option<gst_app::AppSink>,
    latest_nir: Option<Timed<NirFrame>>,
    looping: bool,
    name: String,
    /// Names of the elements upstream of the NIR appsink: their errors cost the NIR, not the video.
    nir_branch: Vec<String>,
    nir_failed: Option<String>,
}

/// Names of `sink` and every element upstream of it.
fn upstream_names(sink: &gst::Element) -> Vec<String> {
    let mut names = Vec::new();
    let mut todo = vec![sink.clone()];
    while let Some(e) = todo.pop() {
        if names.contains(&e.name().to_string()) {
            continue;
        }
        names.push(e.name().to_string());
        for pad in e.sink_pads() {
            if let Some(peer) = pad.peer().and_then(|p| p.parent_element()) {
                todo.push(peer);
            }
        }
    }
    names
}

impl LiveInput {
    pub fn open(description: &str, name: &str, looping: bool) -> Result<Self> {
        crate::media::init()?;
        let mut ctx = gst::ParseContext::new();
        let element = gst::parse::launch_full(description, Some(&mut ctx), gst::ParseFlags::FATAL_ERRORS).map_err(|e| {
            let missing = ctx.missing_elements();
            if missing.is_empty() {
                anyhow!("{name}: the pipeline does not parse: {e}")
            } else {
                anyhow!(
                    "{name}: the pipeline does not parse: {e} (no element named {}: misspelt, or not installed; scripts/install-deps.sh installs the usual ones)",
                    missing.join(", ")
                )
            }
        })?;
        let pipeline = element.downcast::<gst::Pipeline>().map_err(|_| anyhow!("{name}: not a pipeline"))?;
        let sink = |n: &str| pipeline.by_name(n).and_then(|e| e.downcast::<gst_app::AppSink>().ok());
        let (wl, nir, sbs) = (sink("wl_sink"), sink("nir_sink"), sink("sbs_sink"));
        if sbs.is_none() && wl.is_none() {
            bail!("{name}: the pipeline has neither an appsink named wl_sink nor one named sbs_sink");
        }
        let nir_branch = nir.as_ref().map(|n| upstream_names(n.upcast_ref())).unwrap_or_default();
        let mut me = Self { pipeline, wl, nir, sbs, latest_nir: None, looping, name: name.to_string(), nir_branch, nir_failed: None };
        let started = me.pipeline.set_state(gst::State::Paused).map_err(|_| me.bus_error().unwrap_or_else(|| anyhow!("{name}: could not start")))?;
        if started != gst::StateChangeSuccess::NoPreroll {
            // Wait for the first frames (a replay prerolls; live capture does not).
            let (res, _, _) = me.pipeline.state(gst::ClockTime::from_seconds(10));
            if res.is_err() {
                return Err(me.bus_error().unwrap_or_else(|| anyhow!("{name}: the input did not start")));
            }
        }
        Ok(me)
    }

    /// Frame size of the white light, where known before playing (from the prerolled frame).
    pub fn preroll_size(&self) -> Option<(usize, usize)> {
        let main = self.sbs.as_ref().or(self.wl.as_ref())?;
        let sample = main.pull_preroll().ok()?;
        let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        let w = info.width() as usize;
        Some(if self.sbs.is_some() { (w / 2, info.height() as usize) } else { (w, info.height() as usize) })
    }

    pub fn play(&mut self) -> Result<()> {
        self.pipeline.set_state(gst::State::Playing).map_err(|_| self.bus_error().unwrap_or_else(|| anyhow!("{}: could not play", self.name)))?;
        Ok(())
    }

    /// The first error on the bus that stops the video. An error of the NIR branch is recorded
    /// instead (`nir_failure`): the white light goes on without it.
    fn bus_error(&mut self) -> Option<anyhow::Error> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                if self.nir_branch.contains(&src) {
                    if self.nir_failed.is_none() {
                        tracing::error!("{} ({src}): NIR input failed: {}; white light goes on", self.name, e.error());
                    }
                    self.nir_failed = Some(e.error().to_string());
                    continue;
                }
                return Some(anyhow!("{} ({src}): {}", self.name, e.error()));
            }
        }
        None
    }

    /// Why the NIR input stopped, if it did.
    pub fn nir_failure(&self) -> Option<&str> {
        self.nir_failed.as_deref()
    }

    /// Current running time of the pipeline (the axis of the frames' timestamps).
    pub fn running_time_ns(&self) -> Option<u64> {
        let clock = self.pipeline.clock()?;
        let base = self.pipeline.base_time()?;
        Some(clock.time().checked_sub(base)?.nseconds())
    }

    fn restart(&mut self) -> Result<()> {
        self.pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, gst::ClockTime::ZERO)
            .map_err(|_| anyhow!("{}: could not loop the replay", self.name))
    }

    /// The newest white-light frame (waiting up to `wait_ms`) and the newest NIR frame, waiting up to
    /// `pair_wait_ms` for one not older than the white light by more than `pair_tolerance_ns`.
    pub fn next(&mut self, wait_ms: u64, pair_tolerance_ns: u64, pair_wait_ms: u64) -> Result<InputEvent> {
        if let Some(e) = self.bus_error() {
            return Err(e);
        }
        let main = self.sbs.as_ref().or(self.wl.as_ref()).expect("checked at open");
        let Some(sample) = main.try_pull_sample(gst::ClockTime::from_mseconds(wait_ms)) else {
            if main.is_eos() {
                if self.looping {
                    self.restart()?;
                    return Ok(InputEvent::Timeout);
                }
                return Ok(InputEvent::Ended);
            }
            return Ok(InputEvent::Timeout);
        };
        let pts_ns = sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds()).unwrap_or(0);
        if self.sbs.is_some() {
            let (wl, nir) = split_side_by_side(&sample_to_rgb(&sample).context("side-by-side frame")?, NirSide::Right).context("side-by-side frame")?;
            return Ok(InputEvent::Frame(Timed { frame: wl, pts_ns }, Some(Timed { frame: nir, pts_ns })));
        }
        let wl = sample_to_rgb(&sample).with_context(|| format!("{}: white-light frame", self.name))?;
        if let Some(nir_sink) = &self.nir {
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(pair_wait_ms);
            loop {
                let fresh = self.latest_nir.as_ref().is_some_and(|n| n.pts_ns + pair_tolerance_ns >= pts_ns);
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                // Take what is there; wait (briefly) only while the NIR is behind the white light.
                let wait = if fresh { gst::ClockTime::ZERO } else { gst::ClockTime::from_nseconds(left.as_nanos() as u64) };
                let Some(s) = nir_sink.try_pull_sample(wait) else { break };
                let pts = s.buffer().and_then(|b| b.pts()).map(|t| t.nseconds()).unwrap_or(0);
                if let Ok(frame) = sample_to_nir(&s) {
                    self.latest_nir = Some(Timed { frame, pts_ns: pts });
                }
                if left.is_zero() && !fresh {
                    break;
                }
            }
        }
        let nir = self.latest_nir.as_ref().map(|n| Timed { frame: n.frame.clone(), pts_ns: n.pts_ns });
        Ok(InputEvent::Frame(Timed { frame: wl, pts_ns }, nir))
    }
}

/// Feeds frames held in memory into the pipeline's `wl_feed`/`nir_feed` appsrcs at `fps`, looping, as
/// a camera pair would deliver them. Stops when dropped.
pub struct Feeder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl LiveInput {
    /// Start feeding `frames` if the pipeline has feed appsrcs; `None` if it has none.
    pub fn start_feeder(&self, frames: Vec<(RgbFrame, NirFrame)>, fps: u32) -> Result<Option<Feeder>> {
        let src = |n: &str| self.pipeline.by_name(n).and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
        let (Some(wl_src), Some(nir_src)) = (src("wl_feed"), src("nir_feed")) else { return Ok(None) };
        let Some((w0, n0)) = frames.first() else { bail!("{}: nothing to feed", self.name) };
        let wl_info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w0.width as u32, w0.height as u32)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()?;
        let nir_info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray16Le, n0.width as u32, n0.height as u32)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()?;
        wl_src.set_caps(Some(&wl_info.to_caps()?));
        nir_src.set_caps(Some(&nir_info.to_caps()?));
        // Each frame's bytes once, shared by every buffer that carries it (no copy a push).
        // Rows laid out at the caps' stride (padded to 4 bytes), once a frame.
        let frames: Vec<(SharedBytes, SharedBytes)> = frames
            .into_iter()
            .map(|(wl, nir)| -> Result<_> {
                let nir_bytes: Vec<u8> = nir.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                Ok((
                    SharedBytes(std::sync::Arc::new(crate::media::packed_to_layout(&wl_info, wl.data)?)),
                    SharedBytes(std::sync::Arc::new(crate::media::packed_to_layout(&nir_info, nir_bytes)?)),
                ))
            })
            .collect::<Result<_>>()
            .with_context(|| format!("{}: feeding frames", self.name))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let period = std::time::Duration::from_secs_f64(1.0 / fps.max(1) as f64);
        let handle = std::thread::Builder::new().name("nirf-feeder".into()).spawn(move || {
            let start = std::time::Instant::now();
            let mut k: u64 = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let (wl, nir) = &frames[(k as usize) % frames.len()];
                if wl_src.push_buffer(gst::Buffer::from_slice(wl.clone())).is_err() || nir_src.push_buffer(gst::Buffer::from_slice(nir.clone())).is_err() {
                    break;
                }
                k += 1;
                let next = start + period * k as u32;
                std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
            }
        })?;
        Ok(Some(Feeder { stop, handle: Some(handle) }))
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for LiveInput {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The monitor: `appsrc ! videoconvert ! DISPLAY` (any sink description, e.g. `autovideosink`,
/// `waylandsink fullscreen=true`, `kmssink`, or `fakesink` headless).
/// Frame bytes shared between the buffers that carry them (GRAY16_LE is the NIR's in-memory layout on
/// the little-endian machines this runs on).
#[derive(Clone)]
struct SharedBytes(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

pub struct LiveDisplay {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    info: gst_video::VideoInfo,
    size: (usize, usize),
}

impl LiveDisplay {
    pub fn open(display: &str, width: usize, height: usize, fps: u32) -> Result<Self> {
        let desc = format!(
            "appsrc name=out is-live=true format=time do-timestamp=false ! videoconvert ! queue max-size-buffers=2 leaky=downstream ! {display}"
        );
        let mut ctx = gst::ParseContext::new();
        let pipeline = gst::parse::launch_full(&desc, Some(&mut ctx), gst::ParseFlags::empty())
            .map_err(|e| anyhow!("--display {display}: {e} {:?}", ctx.missing_elements()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("--display {display}: not a pipeline"))?;
        let src = pipeline.by_name("out").and_then(|e| e.downcast::<gst_app::AppSrc>().ok()).context("display appsrc")?;
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width as u32, height as u32)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()?;
        src.set_caps(Some(&info.to_caps()?));
        pipeline.set_state(gst::State::Playing).map_err(|_| anyhow!("--display {display}: could not start"))?;
        Ok(Self { pipeline, src, info, size: (width, height) })
    }

    /// Hands the frame to the display (its bytes become the buffer's: no copy where the rows need no
    /// padding).
    pub fn push(&self, frame: RgbFrame, pts_ns: u64) -> Result<()> {
        if (frame.width, frame.height) != self.size {
            bail!("display: frame of {}x{} in a {}x{} stream", frame.width, frame.height, self.size.0, self.size.1);
        }
        let mut buffer = gst::Buffer::from_mut_slice(crate::media::packed_to_layout(&self.info, frame.data).context("display")?);
        buffer.get_mut().expect("new buffer").set_pts(gst::ClockTime::from_nseconds(pts_ns));
        self.src.push_buffer(buffer).map_err(|e| anyhow!("display: {e:?}"))?;
        Ok(())
    }

    /// Hands a frame shared with the recordings to the display: the buffer borrows its bytes (no copy)
    /// where the rows need no padding, and copies them once where they do.
    pub fn push_shared(&self, frame: std::sync::Arc<RgbFrame>, pts_ns: u64) -> Result<()> {
        if (frame.width, frame.height) != self.size {
            bail!("display: frame of {}x{} in a {}x{} stream", frame.width, frame.height, self.size.0, self.size.1);
        }
        let packed = self.info.stride()[0] as usize == frame.width * 3 && self.info.offset()[0] == 0 && self.info.size() == frame.data.len();
        let mut buffer = if packed {
            gst::Buffer::from_slice(SharedFrame(frame))
        } else {
            gst::Buffer::from_mut_slice(crate::media::packed_to_layout(&self.info, frame.data.clone()).context("display")?)
        };
        buffer.get_mut().expect("new buffer").set_pts(gst::ClockTime::from_nseconds(pts_ns));
        self.src.push_buffer(buffer).map_err(|e| anyhow!("display: {e:?}"))?;
        Ok(())
    }
}

/// An RGB frame's bytes lent to a buffer.
struct SharedFrame(std::sync::Arc<RgbFrame>);

impl AsRef<[u8]> for SharedFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0.data
    }
}

impl Drop for LiveDisplay {
    fn drop(&mut self) {
        let _ = self.src.end_of_stream();
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_defaults_are_filled() {
        let vars: HashMap<String, String> = [("A".to_string(), "x".to_string())].into();
        assert_eq!(substitute("a=${A} b=${B:-/dev/video2}", &vars).unwrap(), "a=x b=/dev/video2");
        assert!(substitute("${C}", &vars).is_err());
    }
}
