//! Recorded inputs: a white-light and a NIR source, each a video file GStreamer can decode or an image
//! sequence (a path holding a printf field such as `%05d`, read with `multifilesrc`), played in one
//! pipeline as fast as it decodes and paired frame by frame. Owns input validation (clear errors that
//! name the input), the pipeline and the conversion of samples into plain frames.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::frame::{NirFrame, RgbFrame};

/// Which of the two inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    WhiteLight,
    Nir,
}

impl Channel {
    pub fn flag(self) -> &'static str {
        match self {
            Channel::WhiteLight => "--wl",
            Channel::Nir => "--nir",
        }
    }
    fn element_prefix(self) -> &'static str {
        match self {
            Channel::WhiteLight => "wl",
            Channel::Nir => "nir",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// `pattern` holds one printf integer field; the first file has index `start`.
    ImageSequence { pattern: String, start: u32, count: u32 },
    VideoFile(PathBuf),
}

/// Expand a printf-style integer field (`%d`, `%05d`) with `i`.
fn expand_pattern(pattern: &str, i: u32) -> Option<String> {
    let start = pattern.find('%')?;
    let rest = &pattern[start + 1..];
    let end = rest.find('d')?;
    let spec = &rest[..end];
    if !spec.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let width: usize = if spec.is_empty() { 0 } else { spec.parse().ok()? };
    Some(format!("{}{:0width$}{}", &pattern[..start], i, &rest[end + 1..], width = width))
}

impl SourceSpec {
    /// Classify and check a command-line source, naming it in any error.
    pub fn parse(arg: &str, channel: Channel) -> Result<Self> {
        let flag = channel.flag();
        if arg.contains('%') {
            let first = expand_pattern(arg, 0).ok_or_else(|| {
                anyhow!("{flag} {arg}: an image-sequence pattern needs one integer field such as %05d")
            })?;
            let start = if Path::new(&first).is_file() {
                0
            } else if expand_pattern(arg, 1).is_some_and(|p| Path::new(&p).is_file()) {
                1
            } else {
                let dir = Path::new(arg).parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                if !dir.is_dir() {
                    bail!("{flag} {arg}: directory {} does not exist", dir.display());
                }
                bail!("{flag} {arg}: the pattern matches no file (looked for {first} and index 1)");
            };
            let mut count = 0;
            while expand_pattern(arg, start + count).is_some_and(|p| Path::new(&p).is_file()) {
                count += 1;
            }
            Ok(SourceSpec::ImageSequence { pattern: arg.to_string(), start, count })
        } else {
            let p = PathBuf::from(arg);
            if !p.exists() {
                bail!("{flag} {arg}: no such file");
            }
            if !p.is_file() {
                bail!("{flag} {arg}: not a file (for an image sequence give a pattern such as dir/%05d.png)");
            }
            let len = std::fs::metadata(&p).with_context(|| format!("{flag} {arg}: cannot read"))?.len();
            if len == 0 {
                bail!("{flag} {arg}: the file is empty");
            }
            Ok(SourceSpec::VideoFile(p))
        }
    }

    /// Frames the source holds, where known before playing.
    pub fn known_frames(&self) -> Option<u32> {
        match self {
            SourceSpec::ImageSequence { count, .. } => Some(*count),
            SourceSpec::VideoFile(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            SourceSpec::ImageSequence { pattern, .. } => pattern.clone(),
            SourceSpec::VideoFile(p) => p.display().to_string(),
        }
    }
}

/// A decoded pair of frames.
pub struct FramePair {
    pub index: u64,
    pub pts_ns: u64,
    pub wl: RgbFrame,
    pub nir: NirFrame,
}

pub fn make_element(factory: &str, name: Option<&str>) -> Result<gst::Element> {
    let mut b = gst::ElementFactory::make(factory);
    if let Some(n) = name {
        b = b.name(n);
    }
    b.build().map_err(|_| {
        let hint = match factory {
            "x264enc" => " (Debian package gstreamer1.0-plugins-ugly)",
            "matroskamux" | "matroskademux" | "pngdec" | "pngenc" | "multifilesrc" => " (Debian package gstreamer1.0-plugins-good)",
            "avdec_h264" | "avenc_ffv1" => " (Debian package gstreamer1.0-libav)",
            _ => " (Debian packages gstreamer1.0-plugins-base/good/bad)",
        };
        anyhow!("GStreamer element '{factory}' is not installed{hint}; run scripts/install-deps.sh")
    })
}

/// Add `src → … → videoconvert → appsink(format)` for one input to the pipeline.
fn add_branch(pipeline: &gst::Pipeline, spec: &SourceSpec, channel: Channel, fps: u32) -> Result<gst_app::AppSink> {
    let pre = channel.element_prefix();
    let format = match channel {
        Channel::WhiteLight => gst_video::VideoFormat::Rgb,
        Channel::Nir => gst_video::VideoFormat::Gray16Le,
    };
    let convert = make_element("videoconvert", Some(&format!("{pre}_convert")))?;
    let caps = gst_video::VideoCapsBuilder::new().format(format).build();
    let sink = gst_app::AppSink::builder().caps(&caps).sync(false).max_buffers(4).drop(false).build();
    sink.set_property("name", format!("{pre}_sink"));
    pipeline.add_many([&convert, sink.upcast_ref()])?;
    convert.link(&sink)?;
    match spec {
        SourceSpec::ImageSequence { pattern, start, .. } => {
            let src = make_element("multifilesrc", Some(&format!("{pre}_src")))?;
            src.set_property("location", pattern);
            src.set_property("index", *start as i32);
            src.set_property("start-index", *start as i32);
            let png_caps = gst::Caps::builder("image/png").field("framerate", gst::Fraction::new(fps as i32, 1)).build();
            src.set_property("caps", &png_caps);
            let dec = make_element("pngdec", Some(&format!("{pre}_decode")))?;
            pipeline.add_many([&src, &dec])?;
            gst::Element::link_many([&src, &dec, &convert])?;
        }
        SourceSpec::VideoFile(path) => {
            let src = make_element("filesrc", Some(&format!("{pre}_src")))?;
            src.set_property("location", path.to_string_lossy().as_ref());
            let dec = make_element("decodebin", Some(&format!("{pre}_decode")))?;
            pipeline.add_many([&src, &dec])?;
            src.link(&dec)?;
            let convert_weak = convert.downgrade();
            dec.connect_pad_added(move |_, pad| {
                let Some(convert) = convert_weak.upgrade() else { return };
                let is_video = pad
                    .current_caps()
                    .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                    .unwrap_or(false);
                if let Some(sinkpad) = convert.static_pad("sink") {
                    if is_video && !sinkpad.is_linked() {
                        let _ = pad.link(&sinkpad);
                    }
                }
            });
        }
    }
    Ok(sink)
}

/// Plays both inputs and hands out frame pairs in order.
pub struct PairSource {
    pipeline: gst::Pipeline,
    wl_sink: gst_app::AppSink,
    nir_sink: gst_app::AppSink,
    wl_name: String,
    nir_name: String,
    wl_spec: SourceSpec,
    nir_spec: SourceSpec,
    next_index: u64,
}

enum Pulled {
    Sample(gst::Sample),
    Eos,
}

impl PairSource {
    pub fn open(wl: &SourceSpec, nir: &SourceSpec, fps: u32) -> Result<Self> {
        crate::media::init()?;
        let pipeline = gst::Pipeline::new();
        let wl_sink = add_branch(&pipeline, wl, Channel::WhiteLight, fps)?;
        let nir_sink = add_branch(&pipeline, nir, Channel::Nir, fps)?;
        let me = Self {
            pipeline,
            wl_sink,
            nir_sink,
            wl_name: wl.describe(),
            nir_name: nir.describe(),
            wl_spec: wl.clone(),
            nir_spec: nir.clone(),
            next_index: 0,
        };
        if me.pipeline.set_state(gst::State::Playing).is_err() {
            return Err(me.bus_error().unwrap_or_else(|| anyhow!("could not start the input pipeline")));
        }
        Ok(me)
    }

    /// The first error on the bus, naming the input whose element posted it.
    fn bus_error(&self) -> Option<anyhow::Error> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                let src = msg.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                let input = if src.contains("nir_") {
                    format!("--nir {}", self.nir_name)
                } else if src.contains("wl_") {
                    format!("--wl {}", self.wl_name)
                } else {
                    "input".to_string()
                };
                let dbg = err.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                return Some(anyhow!("{input}: {}{dbg}", err.error()));
            }
        }
        None
    }

    fn pull(&self, sink: &gst_app::AppSink) -> Result<Pulled> {
        loop {
            if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
                return Ok(Pulled::Sample(s));
            }
            if let Some(e) = self.bus_error() {
                return Err(e);
            }
            if sink.is_eos() {
                return Ok(Pulled::Eos);
            }
        }
    }

    /// The next pair, `None` at the end of either input.
    pub fn next_pair(&mut self) -> Result<Option<FramePair>> {
        let wl = self.pull(&self.wl_sink)?;
        let nir = self.pull(&self.nir_sink)?;
        let (wl, nir) = match (wl, nir) {
            (Pulled::Sample(a), Pulled::Sample(b)) => (a, b),
            (w, n) => {
                // pngdec ends the stream quietly on a corrupt file: an image sequence that stops before
                // its last file has an undecodable frame.
                for (ended, spec, ch) in [(matches!(w, Pulled::Eos), &self.wl_spec, Channel::WhiteLight), (matches!(n, Pulled::Eos), &self.nir_spec, Channel::Nir)] {
                    if let (true, SourceSpec::ImageSequence { pattern, start, count }) = (ended, spec) {
                        if self.next_index < *count as u64 {
                            let file = expand_pattern(pattern, start + self.next_index as u32).unwrap_or_default();
                            bail!("{} {pattern}: frame {} ({file}) could not be decoded", ch.flag(), self.next_index);
                        }
                    }
                }
                return Ok(None);
            }
        };
        let pts_ns = wl.buffer().and_then(|b| b.pts()).map(|t| t.nseconds()).unwrap_or(0);
        let wl_frame = sample_to_rgb(&wl).with_context(|| format!("--wl {} frame {}", self.wl_name, self.next_index))?;
        let nir_frame = sample_to_nir(&nir).with_context(|| format!("--nir {} frame {}", self.nir_name, self.next_index))?;
        if wl_frame.width != nir_frame.width || wl_frame.height != nir_frame.height {
            bail!(
                "--wl {} is {}x{} but --nir {} is {}x{}: white light and NIR must be co-registered at one size",
                self.wl_name, wl_frame.width, wl_frame.height, self.nir_name, nir_frame.width, nir_frame.height
            );
        }
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(FramePair { index, pts_ns, wl: wl_frame, nir: nir_frame }))
    }
}

impl Drop for PairSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn mapped_frame(sample: &gst::Sample) -> Result<(gst_video::VideoInfo, gst::Buffer)> {
    let caps = sample.caps().context("sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).context("caps are not raw video")?;
    let buffer = sample.buffer_owned().context("sample without buffer")?;
    Ok((info, buffer))
}

pub fn sample_to_rgb(sample: &gst::Sample) -> Result<RgbFrame> {
    let (info, buffer) = mapped_frame(sample)?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info)?;
    let stride = frame.plane_stride()[0] as usize;
    RgbFrame::from_strided(info.width() as usize, info.height() as usize, frame.plane_data(0)?, stride, 3)
}

pub fn sample_to_nir(sample: &gst::Sample) -> Result<NirFrame> {
    let (info, buffer) = mapped_frame(sample)?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info)?;
    let stride = frame.plane_stride()[0] as usize;
    NirFrame::from_strided_u16le(info.width() as usize, info.height() as usize, frame.plane_data(0)?, stride)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_fields_expand() {
        assert_eq!(expand_pattern("a/%05d.png", 7).as_deref(), Some("a/00007.png"));
        assert_eq!(expand_pattern("f%d.png", 12).as_deref(), Some("f12.png"));
        assert_eq!(expand_pattern("f%s.png", 1), None);
    }
}
