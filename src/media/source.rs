//! Recorded inputs (`Inputs`): a white-light and a NIR source, or one side-by-side source carrying both
//! (split by `frame::split_side_by_side`), each a video file GStreamer can decode (played in one
//! pipeline as fast as it decodes) or an image sequence (a file name holding one printf integer field
//! such as `%05d`, decoded file by file on a reader thread), paired frame by frame. Owns input
//! validation (clear errors that name the input and, for a sequence, the file and its index), the
//! pipeline and the conversion of samples into plain frames.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::frame::{FrameSize, NirFrame, NirSide, RgbFrame, split_side_by_side};

/// Which input: white light, NIR, or one side-by-side source carrying both (decoded as RGB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    WhiteLight,
    Nir,
    SideBySide,
}

impl Channel {
    pub fn flag(self) -> &'static str {
        match self {
            Channel::WhiteLight => "--wl",
            Channel::Nir => "--nir",
            Channel::SideBySide => "--side-by-side",
        }
    }
    fn element_prefix(self) -> &'static str {
        match self {
            Channel::WhiteLight => "wl",
            Channel::Nir => "nir",
            Channel::SideBySide => "sbs",
        }
    }
}

/// What a recording is read from: a co-registered white-light and NIR pair, or one side-by-side source
/// whose `nir_side` half is the NIR. `Inputs<String>` is as given (command line, manifest), `parse`
/// checks it into `Inputs<SourceSpec>`, which `PairSource::open` plays.
#[derive(Clone, Debug, PartialEq)]
pub enum Inputs<S = SourceSpec> {
    Pair { wl: S, nir: S },
    SideBySide { source: S, nir_side: NirSide },
}

impl<S> Inputs<S> {
    /// Each source with its channel, in the order they are read.
    pub fn sources(&self) -> Vec<(Channel, &S)> {
        match self {
            Inputs::Pair { wl, nir } => vec![(Channel::WhiteLight, wl), (Channel::Nir, nir)],
            Inputs::SideBySide { source, .. } => vec![(Channel::SideBySide, source)],
        }
    }

    pub fn nir_side(&self) -> Option<NirSide> {
        match self {
            Inputs::Pair { .. } => None,
            Inputs::SideBySide { nir_side, .. } => Some(*nir_side),
        }
    }
}

impl Inputs<String> {
    /// Classify and check each source (`SourceSpec::parse`), naming it in any error.
    pub fn parse(&self) -> Result<Inputs<SourceSpec>> {
        Ok(match self {
            Inputs::Pair { wl, nir } => Inputs::Pair { wl: SourceSpec::parse(wl, Channel::WhiteLight)?, nir: SourceSpec::parse(nir, Channel::Nir)? },
            Inputs::SideBySide { source, nir_side } => Inputs::SideBySide { source: SourceSpec::parse(source, Channel::SideBySide)?, nir_side: *nir_side },
        })
    }
}

impl Inputs<SourceSpec> {
    /// Frame pairs the inputs hold, where known before decoding (image sequences).
    pub fn known_frames(&self) -> Option<u32> {
        self.sources().into_iter().map(|(_, s)| s.known_frames()).try_fold(u32::MAX, |n, k| k.map(|k| n.min(k)))
    }

    /// The inputs as flags, for messages: `--wl A and --nir B`, `--side-by-side C (NIR right)`.
    pub fn describe(&self) -> String {
        match self {
            Inputs::Pair { wl, nir } => format!("--wl {} and --nir {}", wl.describe(), nir.describe()),
            Inputs::SideBySide { source, nir_side } => format!("--side-by-side {} (NIR {})", source.describe(), nir_side.name()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// `pattern` holds one printf integer field; the first file has index `start`.
    ImageSequence { pattern: String, start: u32, count: u32 },
    VideoFile(PathBuf),
}

/// An image-sequence pattern: exactly one printf integer field (`%d` or `%0Nd`) in the file name, `%%`
/// for a literal `%`. Anything else (`%s`, two fields, a field in a folder name) is refused here, before
/// GStreamer's `multifilesrc` would format it.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqPattern {
    /// Text before and after the field, `%%` already turned into `%`.
    pub prefix: String,
    pub suffix: String,
    width: usize,
}

impl SeqPattern {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let mut prefix = String::new();
        let mut suffix = String::new();
        let mut width = None;
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '%' {
                if width.is_some() { suffix.push(c) } else { prefix.push(c) }
                continue;
            }
            if chars.peek().map(|&(_, c)| c) == Some('%') {
                chars.next();
                if width.is_some() { suffix.push('%') } else { prefix.push('%') }
                continue;
            }
            let mut spec = String::new();
            let conv = loop {
                match chars.next() {
                    Some((_, c)) if c.is_ascii_digit() => spec.push(c),
                    Some((_, c)) => break Some(c),
                    None => break None,
                }
            };
            let field = &s[i..(i + 1 + spec.len() + conv.map_or(0, char::len_utf8)).min(s.len())];
            if conv != Some('d') {
                return Err(format!("'{field}' is not an integer field: an image-sequence pattern takes one field such as %05d or %d"));
            }
            if !(spec.is_empty() || (spec.starts_with('0') && spec.len() <= 3)) {
                return Err(format!("'{field}': the field must be %d or zero-padded such as %05d"));
            }
            if width.is_some() {
                return Err("the pattern holds two integer fields: it takes exactly one, such as %05d".into());
            }
            width = Some(spec.parse::<usize>().unwrap_or(0).min(20));
        }
        let Some(width) = width else { return Err("no integer field such as %05d (write %% for a literal %)".into()) };
        if suffix.contains('/') {
            return Err("the integer field must be in the file name, not in a folder name".into());
        }
        Ok(Self { prefix, suffix, width })
    }

    pub fn expand(&self, i: u32) -> String {
        format!("{}{:0w$}{}", self.prefix, i, self.suffix, w = self.width)
    }

    /// The folder of the files.
    pub fn folder(&self) -> PathBuf {
        Path::new(&format!("{}0", self.prefix)).parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
    }

    /// The part of the prefix in the file name.
    pub fn name_prefix(&self) -> &str {
        self.prefix.rsplit_once('/').map_or(self.prefix.as_str(), |(_, n)| n)
    }

    /// The index a file name holds, if the pattern matches it.
    pub fn index_of(&self, name: &str) -> Option<u64> {
        let pre = self.name_prefix();
        let digits = name.strip_prefix(pre)?.strip_suffix(self.suffix.as_str())?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

/// Expand a printf-style integer field (`%d`, `%05d`) with `i`; `None` if `pattern` is not a valid one.
pub fn expand_pattern(pattern: &str, i: u32) -> Option<String> {
    SeqPattern::parse(pattern).ok().map(|p| p.expand(i))
}

impl SourceSpec {
    /// Classify and check a command-line source, naming it in any error. An existing file is a video
    /// whatever its name holds; a path with `%` that is no file is an image-sequence pattern.
    pub fn parse(arg: &str, channel: Channel) -> Result<Self> {
        let flag = channel.flag();
        if arg.is_empty() {
            bail!("{flag}: the path is empty");
        }
        if arg.contains('%') && !Path::new(arg).is_file() {
            let pat = SeqPattern::parse(arg).map_err(|e| anyhow!("{flag} {arg}: no such file, and not an image-sequence pattern: {e}"))?;
            let first = pat.expand(0);
            let start = if Path::new(&first).is_file() {
                0
            } else if Path::new(&pat.expand(1)).is_file() {
                1
            } else {
                let dir = pat.folder();
                if !dir.is_dir() {
                    bail!("{flag} {arg}: directory {} does not exist", dir.display());
                }
                bail!("{flag} {arg}: the pattern matches no file (looked for {first} and index 1)");
            };
            let mut count: u32 = 0;
            while count < u32::MAX - start && Path::new(&pat.expand(start + count)).is_file() {
                count += 1;
            }
            // Files numbered past the first gap are not read: say so.
            let last = (start + count) as u64; // the first missing index
            if let Ok(entries) = std::fs::read_dir(pat.folder()) {
                let later: Vec<u64> =
                    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter_map(|n| pat.index_of(&n)).filter(|&i| i > last).collect();
                if let Some(next) = later.iter().min() {
                    tracing::warn!(
                        "{flag} {arg}: the numbering has a gap: {} is missing, so only {count} frames ({} to {}) are read and {} later file(s) from {} on are not",
                        pat.expand(last as u32),
                        pat.expand(start),
                        pat.expand(start + count - 1),
                        later.len(),
                        pat.expand(*next as u32)
                    );
                }
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

    /// For an image sequence played by GStreamer (`live` replays): every file must at least start as a
    /// PNG. `pngdec` skips a file that does not and takes the next one in its place, which would pair
    /// the NIR with the wrong white-light frame; refuse such a sequence up front, naming the file.
    pub fn check_png_signatures(&self, channel: Channel) -> Result<()> {
        let SourceSpec::ImageSequence { pattern, start, count } = self else { return Ok(()) };
        let pat = SeqPattern::parse(pattern).map_err(|e| anyhow!("{} {pattern}: {e}", channel.flag()))?;
        for i in 0..*count {
            let path = pat.expand(start + i);
            let mut head = [0u8; 8];
            let ok = std::fs::File::open(&path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok();
            if !ok || head != *b"\x89PNG\r\n\x1a\n" {
                bail!("{} {pattern}: frame {i} ({path}) is not a PNG file", channel.flag());
            }
        }
        Ok(())
    }

    /// Frames the source holds, where known before playing.
    pub fn known_frames(&self) -> Option<u32> {
        match self {
            SourceSpec::ImageSequence { count, .. } => Some(*count),
            SourceSpec::VideoFile(_) => None,
        }
    }

    /// The source as given: the pattern or the file's path.
    pub fn describe(&self) -> String {
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
            "matroskamux" | "matroskademux" | "qtmux" | "qtdemux" | "pngdec" | "pngenc" | "multifilesrc" => " (Debian package gstreamer1.0-plugins-good)",
            "avdec_h264" | "avenc_ffv1" | "avenc_huffyuv" => " (Debian package gstreamer1.0-libav)",
            _ => " (Debian packages gstreamer1.0-plugins-base/good/bad)",
        };
        anyhow!("GStreamer element '{factory}' is not installed{hint}; run scripts/install-deps.sh")
    })
}

/// Add `src → … → videoconvert → appsink(format)` for one input to the pipeline.
fn add_branch(pipeline: &gst::Pipeline, spec: &SourceSpec, channel: Channel, fps: u32) -> Result<gst_app::AppSink> {
    let pre = channel.element_prefix();
    let format = match channel {
        Channel::WhiteLight | Channel::SideBySide => gst_video::VideoFormat::Rgb,
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
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let is_video = caps.structure(0).is_some_and(|s| s.name().starts_with("video/"));
                if let Some(sinkpad) = convert.static_pad("sink") {
                    if is_video && !sinkpad.is_linked() {
                        let _ = pad.link(&sinkpad);
                    }
                }
            });
            // A file with no video stream would otherwise never end: say so on the bus.
            let convert_weak = convert.downgrade();
            dec.connect_no_more_pads(move |dec| {
                let linked = convert_weak.upgrade().and_then(|c| c.static_pad("sink")).is_some_and(|p| p.is_linked());
                if !linked {
                    gst::element_error!(dec, gst::StreamError::WrongType, ["the file holds no video stream GStreamer can decode"]);
                }
            });
        }
    }
    Ok(sink)
}

/// One decoded frame of an input (a side-by-side source's frames are RGB, split when paired).
enum Decoded {
    Wl(RgbFrame),
    Nir(NirFrame),
}

/// Where one input's frames come from: an appsink of the GStreamer pipeline (a video file), or a
/// thread decoding an image sequence file by file, in order, ahead of the analysis.
enum Feed {
    Sink(gst_app::AppSink),
    Files(crossbeam_channel::Receiver<Result<Decoded>>),
}

struct Input {
    channel: Channel,
    spec: SourceSpec,
    name: String,
    feed: Feed,
    /// Frames handed out so far.
    pulled: u64,
    /// An error of this input's pipeline branch, kept until the frames decoded before it are handed out.
    failed: Option<anyhow::Error>,
    /// Since when a pull has found nothing.
    waiting_since: Option<std::time::Instant>,
}

/// Longest wait for a video's next frame before the input counts as stalled.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Input {
    fn label(&self) -> String {
        format!("{} {}", self.channel.flag(), self.name)
    }
}

/// Plays the inputs and hands out frame pairs in order. Image sequences are decoded here (the `image`
/// crate) so that a bad file stops the run naming that file and its index and can never shift the
/// pairing; video files are decoded by GStreamer. A side-by-side source is one input whose frames are
/// split into the pair.
pub struct PairSource {
    pipeline: Option<gst::Pipeline>,
    /// White light and NIR, or the one side-by-side source.
    inputs: Vec<Input>,
    /// For a side-by-side source: the NIR's half.
    nir_side: Option<NirSide>,
    fps: u32,
    next_index: u64,
    /// Why the pairs ended early, where one input gave more frames than the other.
    ended_unequal: Option<String>,
}

/// Decode an image sequence in order on a thread; the channel ends after the last file or the first error.
fn spawn_sequence_reader(pattern: &str, start: u32, count: u32, channel: Channel) -> Result<crossbeam_channel::Receiver<Result<Decoded>>> {
    let pat = SeqPattern::parse(pattern).map_err(|e| anyhow!("{} {pattern}: {e}", channel.flag()))?;
    let (tx, rx) = crossbeam_channel::bounded(3);
    let pattern = pattern.to_string();
    std::thread::Builder::new().name(format!("nirf-read-{}", channel.element_prefix())).spawn(move || {
        let mut size: Option<(usize, usize)> = None;
        for i in 0..count {
            let path = pat.expand(start + i);
            let frame = decode_file(Path::new(&path), channel).and_then(|f| {
                let wh = match &f {
                    Decoded::Wl(f) => (f.width, f.height),
                    Decoded::Nir(f) => (f.width, f.height),
                };
                match size {
                    Some(s) if s != wh => bail!("is {}x{}, the frames before it {}x{}", wh.0, wh.1, s.0, s.1),
                    _ => size = Some(wh),
                }
                Ok(f)
            });
            let frame = frame.map_err(|e| anyhow!("{} {pattern}: frame {i} ({path}) could not be read: {e:#}", channel.flag()));
            let failed = frame.is_err();
            if tx.send(frame).is_err() || failed {
                return;
            }
        }
    })?;
    Ok(rx)
}

fn decode_file(path: &Path, channel: Channel) -> Result<Decoded> {
    let img = image::ImageReader::open(path)?.with_guessed_format()?.decode()?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    // A side-by-side frame holds two frames of the sizes analysed (its width is checked when split).
    check_frame_size(if channel == Channel::SideBySide { w / 2 } else { w }, h)?;
    Ok(match channel {
        Channel::WhiteLight | Channel::SideBySide => Decoded::Wl(RgbFrame::from_vec(w, h, img.into_rgb8().into_raw())?),
        Channel::Nir => Decoded::Nir(NirFrame::from_vec(w, h, img.into_luma16().into_raw())?),
    })
}

/// Frames the analysis takes (`FrameSize::LIMITS`).
fn check_frame_size(w: usize, h: usize) -> Result<()> {
    FrameSize::checked(w, h).map(|_| ()).context("a frame of this size")
}

impl PairSource {
    pub fn open(sources: &Inputs, fps: u32) -> Result<Self> {
        let mut pipeline = None;
        let mut input = |spec: &SourceSpec, channel: Channel| -> Result<Input> {
            let feed = match spec {
                SourceSpec::ImageSequence { pattern, start, count } => Feed::Files(spawn_sequence_reader(pattern, *start, *count, channel)?),
                SourceSpec::VideoFile(_) => {
                    crate::media::init()?;
                    let p = pipeline.get_or_insert_with(gst::Pipeline::new);
                    Feed::Sink(add_branch(p, spec, channel, fps)?)
                }
            };
            Ok(Input { channel, spec: spec.clone(), name: spec.describe(), feed, pulled: 0, failed: None, waiting_since: None })
        };
        let inputs = sources.sources().into_iter().map(|(channel, spec)| input(spec, channel)).collect::<Result<Vec<_>>>()?;
        let mut me = Self { pipeline, inputs, nir_side: sources.nir_side(), fps: fps.max(1), next_index: 0, ended_unequal: None };
        if me.pipeline.as_ref().is_some_and(|p| p.set_state(gst::State::Playing).is_err()) {
            let general = me.collect_bus_errors();
            let e = general.or_else(|| me.inputs.iter_mut().find_map(|i| i.failed.take()));
            return Err(e.unwrap_or_else(|| anyhow!("could not start the input pipeline")));
        }
        Ok(me)
    }

    /// Move errors from the bus to the input whose branch posted them; an error of neither input is
    /// returned.
    fn collect_bus_errors(&mut self) -> Option<anyhow::Error> {
        let bus = self.pipeline.as_ref()?.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                let src = msg.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                let dbg = err.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                let Some(k) = self.inputs.iter().position(|i| src.contains(&format!("{}_", i.channel.element_prefix()))) else {
                    return Some(anyhow!("input pipeline: {}{dbg}", err.error()));
                };
                let input = &mut self.inputs[k];
                if input.failed.is_none() {
                    input.failed = Some(anyhow!("{}: {}{dbg}", input.label(), err.error()));
                }
            }
        }
        None
    }

    /// The next frame of input `k`, `None` at its end. An input's error is reported once the frames
    /// decoded before it have been handed out, naming the frame where it stopped.
    fn pull(&mut self, k: usize) -> Result<Option<(Decoded, Option<u64>)>> {
        loop {
            let input = &mut self.inputs[k];
            match &input.feed {
                Feed::Files(rx) => {
                    return match rx.recv() {
                        Ok(Ok(d)) => {
                            input.pulled += 1;
                            Ok(Some((d, None)))
                        }
                        Ok(Err(e)) => Err(e),
                        Err(_) => Ok(None),
                    };
                }
                Feed::Sink(sink) => {
                    if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
                        input.waiting_since = None;
                        let pts = s.buffer().and_then(|b| b.pts()).map(|t| t.nseconds());
                        let at = input.pulled;
                        let frame = match input.channel {
                            Channel::WhiteLight | Channel::SideBySide => sample_to_rgb(&s).map(Decoded::Wl),
                            Channel::Nir => sample_to_nir(&s).map(Decoded::Nir),
                        };
                        let frame = frame.with_context(|| format!("{} frame {at}", input.label()))?;
                        input.pulled += 1;
                        return Ok(Some((frame, pts)));
                    }
                    let eos = sink.is_eos();
                    if let Some(e) = self.collect_bus_errors() {
                        return Err(e);
                    }
                    let input = &mut self.inputs[k];
                    if let Some(e) = input.failed.take() {
                        return Err(e.context(format!("{} stopped at frame {} (the frames before it were analysed)", input.label(), input.pulled)));
                    }
                    if eos {
                        return Ok(None);
                    }
                    // Neither a frame, nor the end, nor an error: a damaged file can stall the demuxer.
                    let since = *input.waiting_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > STALL_LIMIT {
                        bail!("{}: no frame and no end of stream for {} s after frame {} (a damaged file?)", input.label(), STALL_LIMIT.as_secs(), input.pulled);
                    }
                }
            }
        }
    }

    /// How many more frames input `k` holds (decoding the rest of a video for at most 10 s; `at_least`
    /// when cut short).
    fn remaining(&mut self, k: usize) -> (u64, bool) {
        let input = &self.inputs[k];
        if let SourceSpec::ImageSequence { count, .. } = input.spec {
            return ((count as u64).saturating_sub(input.pulled), false);
        }
        let t = std::time::Instant::now();
        let mut n = 0;
        while let Ok(Some(_)) = self.pull(k) {
            n += 1;
            if t.elapsed() > std::time::Duration::from_secs(10) {
                return (n, true);
            }
        }
        (n, false)
    }

    /// Where the inputs gave unequal numbers of frames: which, and how many each gave.
    pub fn unequal_lengths(&self) -> Option<&str> {
        self.ended_unequal.as_deref()
    }

    /// The next pair, `None` at the end of either input.
    pub fn next_pair(&mut self) -> Result<Option<FramePair>> {
        if let Some(side) = self.nir_side {
            let Some((Decoded::Wl(frame), pts)) = self.pull(0)? else { return Ok(None) };
            let at = || format!("{} frame {}", self.inputs[0].label(), self.next_index);
            let (wl, nir) = split_side_by_side(&frame, side).with_context(at)?;
            check_frame_size(wl.width, wl.height).context("each half").with_context(at)?;
            return Ok(Some(self.pair(wl, nir, pts)));
        }
        let wl = self.pull(0)?;
        let nir = if wl.is_some() { self.pull(1)? } else { None };
        let (Some((Decoded::Wl(wl_frame), wl_pts)), Some((Decoded::Nir(nir_frame), _))) = (wl, nir) else {
            // One input ended: if the other had more, say which and how many frames each gave.
            let ended = if self.inputs[0].pulled == self.next_index { 0 } else { 1 };
            let other = 1 - ended;
            let (more, at_least) = self.remaining(other);
            let more = more + self.inputs[other].pulled - self.next_index;
            if more > 0 {
                let msg = format!(
                    "{} ended after {} frames but {} gave {}{} frames: the last {more} frame(s) of {} were not analysed",
                    self.inputs[ended].label(),
                    self.next_index,
                    self.inputs[other].label(),
                    if at_least { "at least " } else { "" },
                    self.next_index + more,
                    self.inputs[other].channel.flag(),
                );
                tracing::warn!("{msg}");
                self.ended_unequal = Some(msg);
            }
            return Ok(None);
        };
        if wl_frame.width != nir_frame.width || wl_frame.height != nir_frame.height {
            bail!(
                "{} is {}x{} but {} is {}x{}: white light and NIR must be co-registered at one size",
                self.inputs[0].label(), wl_frame.width, wl_frame.height, self.inputs[1].label(), nir_frame.width, nir_frame.height
            );
        }
        check_frame_size(wl_frame.width, wl_frame.height).with_context(|| format!("{} frame {}", self.inputs[0].label(), self.next_index))?;
        Ok(Some(self.pair(wl_frame, nir_frame, wl_pts)))
    }

    /// Number the next pair; without a timestamp its time is its index over the frame rate.
    fn pair(&mut self, wl: RgbFrame, nir: NirFrame, pts: Option<u64>) -> FramePair {
        let index = self.next_index;
        self.next_index += 1;
        FramePair { index, pts_ns: pts.unwrap_or(index * 1_000_000_000 / self.fps as u64), wl, nir }
    }
}

impl Drop for PairSource {
    fn drop(&mut self) {
        if let Some(p) = &self.pipeline {
            let _ = p.set_state(gst::State::Null);
        }
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
        assert_eq!(expand_pattern("100%%/f%03d.png", 5).as_deref(), Some("100%/f005.png"));
        for bad in ["f%s.png", "w%05d%s.png", "a%d%d.png", "%d/x.png", "x%5d.png", "x%", "x%-3d.png", "plain.png"] {
            assert!(SeqPattern::parse(bad).is_err(), "{bad}");
        }
        let p = SeqPattern::parse("dir/img_%04d.png").unwrap();
        assert_eq!(p.index_of("img_0012.png"), Some(12));
        assert_eq!(p.index_of("img_.png"), None);
        assert_eq!(p.folder(), PathBuf::from("dir"));
    }
}
