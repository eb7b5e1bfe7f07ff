//! Live GStreamer plumbing: the one live pipeline from a `pipelines/*.pipeline` description (gst-launch
//! syntax, `${VAR}` and `${VAR:-default}` filled in): camera sources into tees `wl` and `nir`, through
//! leaky queues into the `nirfmargin` element `m` (registered in-process), its overlay into tee `overlay`
//! and the display; `live` appends the recording branches. One pipeline, one clock: the element pairs by
//! running time and the display sink syncs on the same clock. Here: parsing, the bus (errors, the end, a
//! NIR branch that fails), looping a replay, feeding a phantom, and the end of the run.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::frame::{NirFrame, RgbFrame};

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
pub fn quote(s: &str) -> String {
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

/// Names of `element` and every element upstream of it.
fn upstream_names(element: &gst::Element) -> Vec<String> {
    let mut names = Vec::new();
    let mut todo = vec![element.clone()];
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

/// The element upstream of `element`'s sink pad `pad`.
fn feeding(element: &gst::Element, pad: &str) -> Option<gst::Element> {
    element.static_pad(pad)?.peer()?.parent_element()
}

/// The running pipeline and the state of its bus.
pub struct LivePipeline {
    pub pipeline: gst::Pipeline,
    /// The `nirfmargin` element (named `m`).
    pub element: gst::Element,
    looping: bool,
    name: String,
    /// Elements feeding only the NIR: their errors cost the NIR, not the video.
    nir_branch: Vec<String>,
    nir_failed: Option<String>,
}

/// What the bus said since the last look.
#[derive(Debug, PartialEq, Eq)]
pub enum BusState {
    Running,
    /// The input ended (a replay without --loop): every frame has left the pipeline.
    Ended,
}

impl LivePipeline {
    /// Parse the description (the element registered in-process first) and check its shape.
    pub fn parse(description: &str, name: &str, looping: bool) -> Result<Self> {
        crate::media::init()?;
        crate::element::register_once()?;
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
        let m = pipeline
            .by_name("m")
            .filter(|e| e.factory().is_some_and(|f| f.name() == "nirfmargin"))
            .ok_or_else(|| anyhow!("{name}: the pipeline has no nirfmargin element named m (see pipelines/phantom-live.pipeline)"))?;
        for tee in ["wl", "nir", "overlay"] {
            if pipeline.by_name(tee).is_none() {
                bail!("{name}: the pipeline has no element named {tee} (a tee; see pipelines/phantom-live.pipeline)");
            }
        }
        let wl_side = feeding(&m, "wl").map(|e| upstream_names(&e)).unwrap_or_default();
        let nir_branch = feeding(&m, "nir").map(|e| upstream_names(&e)).unwrap_or_default().into_iter().filter(|n| !wl_side.contains(n)).collect();
        Ok(Self { pipeline, element: m, looping, name: name.to_string(), nir_branch, nir_failed: None })
    }

    /// The leaky queue in front of the element's pad `pad`, where there is one (a replay's queues do not
    /// leak: a full one waits, and its `overrun` is no drop).
    pub fn input_queue(&self, pad: &str) -> Option<gst::Element> {
        feeding(&self.element, pad).filter(|e| {
            e.factory().is_some_and(|f| f.name() == "queue")
                && gst::glib::EnumValue::from_value(&e.property_value("leaky")).is_some_and(|(_, v)| v.value() != 0)
        })
    }

    pub fn play(&mut self) -> Result<()> {
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            return Err(self.bus_error().unwrap_or_else(|| anyhow!("{}: could not start", self.name)));
        }
        Ok(())
    }

    /// An error's text, in the command line's words where it names an element property.
    fn error_text(&self, msg: &gst::MessageRef, e: &gst::message::Error) -> anyhow::Error {
        let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
        let text = e.error().to_string();
        if src == self.element.name() {
            // The element's settings are the command line's: say --roi, not property roi.
            return anyhow!("{}: {}", self.name, text.replace("property ", "--"));
        }
        anyhow!("{} ({src}): {text}", self.name)
    }

    /// An error that stops the video, or `None` for one of the NIR branch: that ends the NIR input
    /// instead (EOS into its tee: the element passes the white light with NIR LOST, the NIR recording
    /// closes); the white light goes on.
    fn on_error(&mut self, msg: &gst::MessageRef, e: &gst::message::Error) -> Option<anyhow::Error> {
        let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
        if self.nir_branch.contains(&src) {
            if self.nir_failed.is_none() {
                tracing::error!("{} ({src}): NIR input failed: {}; white light goes on", self.name, e.error());
                self.end_nir();
            }
            self.nir_failed = Some(e.error().to_string());
            return None;
        }
        Some(self.error_text(msg, e))
    }

    /// The first error on the bus that stops the video (other messages are let go: `pop_filtered`
    /// would drop them too, and with them an EOS).
    fn bus_error(&mut self) -> Option<anyhow::Error> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                if let Some(err) = self.on_error(&msg, e) {
                    return Some(err);
                }
            }
        }
        None
    }

    fn end_nir(&self) {
        let pad = self.pipeline.by_name("nir").and_then(|t| t.static_pad("sink")).or_else(|| self.element.static_pad("nir"));
        if let Some(p) = pad {
            p.send_event(gst::event::Eos::new());
        }
    }

    /// Look at the bus: an error ends the run (but the NIR branch's, see `bus_error`); the end of a
    /// replay loops it (`--loop`) or ends the run.
    pub fn poll(&mut self) -> Result<BusState> {
        let bus = self.pipeline.bus().context("pipeline without bus")?;
        // Every message is taken (the element's per-frame messages too, so that none pile up).
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    if let Some(err) = self.on_error(&msg, e) {
                        return Err(err);
                    }
                }
                gst::MessageView::Eos(_) => {
                    if !self.looping {
                        return Ok(BusState::Ended);
                    }
                    self.pipeline
                        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, gst::ClockTime::ZERO)
                        .map_err(|_| anyhow!("{}: could not loop the replay", self.name))?;
                }
                _ => {}
            }
        }
        Ok(BusState::Running)
    }

    /// End the run: EOS from every source, wait (at most `wait`) until it has reached every sink, so
    /// that the recordings are closed (`ended`: it already has).
    pub fn finish(&mut self, wait: std::time::Duration, ended: bool) -> Result<()> {
        if !ended {
            for e in self.pipeline.iterate_sources().into_iter().flatten() {
                e.send_event(gst::event::Eos::new());
            }
            if self.nir_failed.is_some() {
                self.end_nir();
            }
            let bus = self.pipeline.bus().context("pipeline without bus")?;
            let got = bus.timed_pop_filtered(gst::ClockTime::from_nseconds(wait.as_nanos() as u64), &[gst::MessageType::Eos, gst::MessageType::Error]);
            if got.is_none() {
                tracing::warn!("{}: the pipeline did not drain within {} s; recordings closed as they are", self.name, wait.as_secs());
            }
        }
        Ok(())
    }

    pub fn stop(&mut self) -> Result<()> {
        self.pipeline.set_state(gst::State::Null).map_err(|_| anyhow!("{}: could not stop", self.name))?;
        Ok(())
    }

    /// The display's sink that keeps a count (`stats`: `sink_stats`), found from the overlay's tee past
    /// everything but the recordings. A bin's sink exists from READY on.
    pub fn display_sink(&self) -> Option<gst::Element> {
        let overlay = self.pipeline.by_name("overlay")?;
        let mut todo = vec![overlay];
        while let Some(e) = todo.pop() {
            if e.name().starts_with("rec_") {
                continue;
            }
            let is_sink = e.src_pads().is_empty();
            if is_sink && e.find_property("stats").is_some() {
                return Some(e);
            }
            if let Ok(bin) = e.clone().downcast::<gst::Bin>() {
                todo.extend(bin.iterate_sinks().into_iter().flatten());
            }
            for pad in e.src_pads() {
                if let Some(next) = pad.peer().and_then(|p| p.parent_element()) {
                    todo.push(next);
                }
            }
        }
        None
    }
}

/// A sink's own count (its `stats` property): frames rendered, frames dropped late.
pub fn sink_stats(sink: &gst::Element) -> Option<(u64, u64)> {
    let s = sink.property::<gst::Structure>("stats");
    Some((s.get::<u64>("rendered").ok()?, s.get::<u64>("dropped").ok()?))
}

/// Feeds frames held in memory into the pipeline's `wl_feed`/`nir_feed` appsrcs at `fps`, looping, as
/// a camera pair would deliver them. Stops when dropped.
pub struct Feeder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl LivePipeline {
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
                // A duration as a camera's buffers carry: the element can use a frame as soon as it
                // arrives (without one, an aggregator waits for the next frame to know where it ends).
                let timed = |bytes: &SharedBytes| {
                    let mut b = gst::Buffer::from_slice(bytes.clone());
                    b.get_mut().expect("new buffer").set_duration(gst::ClockTime::from_nseconds(period.as_nanos() as u64));
                    b
                };
                if wl_src.push_buffer(timed(wl)).is_err() || nir_src.push_buffer(timed(nir)).is_err() {
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

impl Drop for LivePipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Frame bytes shared between the buffers that carry them (GRAY16_LE is the NIR's in-memory layout on
/// the little-endian machines this runs on).
#[derive(Clone)]
struct SharedBytes(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
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
