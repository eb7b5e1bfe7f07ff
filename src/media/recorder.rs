//! Video recording through `appsrc ! ENCODER ! MUXER ! filesink`, and the one definition of each
//! recording's coding (`Recording`, used by `live`'s recording branches too): the overlay as H.264, raw
//! white light losslessly as HuffYUV (RGB as is: about 5 times cheaper to encode than FFV1, 2.5 times
//! bigger), both in Matroska; NIR losslessly as 16-bit PNG, stored (no deflate), in fragmented QuickTime
//! (FFV1 kept the 16 bits at 2.5 times less disk but took 1.4 cores at 720p30 and 3.2 at 1080p30, more
//! than the machine has; see the README, "Recording codecs"). Owns the encoder pipeline; frames arrive as
//! plain frames with their timestamp. The muxers write files that play back even if the process is killed
//! (streamable Matroska through an unbuffered sink; QuickTime in half-second fragments: a kill loses at
//! most the fragment being filled); `finish` sends EOS and waits for the muxer to close the file.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::frame::RgbFrame;
use crate::media::source::make_element;

/// What is recorded, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// RGB frames as H.264 (the overlay).
    OverlayH264,
    /// RGB frames, lossless HuffYUV.
    RgbLossless,
    /// 16-bit gray frames, lossless: 16-bit PNG, stored, in fragmented QuickTime.
    Gray16Lossless,
}

pub struct VideoRecorder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    kind: Recording,
    /// The raw video pushed: its plane stride lays out each buffer.
    info: gst_video::VideoInfo,
    width: usize,
    height: usize,
    frame_ns: u64,
    path: String,
    finished: bool,
}

impl Recording {
    /// The encoder chain of this recording from raw video of its format (gst-launch syntax; the one
    /// definition, used by `VideoRecorder` and by `live`'s recording branches). The codecs were chosen by
    /// measurement (`scripts/codec-bench.sh`, README "Recording codecs").
    pub fn encoder(self, fps: u32) -> String {
        match self {
            Recording::OverlayH264 => {
                format!("videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max={} bitrate=8000", fps.max(1))
            }
            Recording::RgbLossless => "videoconvert ! avenc_huffyuv".into(),
            // PNG's 16-bit samples are big-endian (without these caps videoconvert would pick 8-bit
            // RGBA: lossy). Level 0 stores the rows: 0.14 of a core at 720p30 against 0.9 at level 1.
            Recording::Gray16Lossless => "videoconvert ! video/x-raw,format=GRAY16_BE ! pngenc compression-level=0".into(),
        }
    }

    /// The muxer after the encoder (gst-launch syntax): what survives a `kill -9`. Matroska in this
    /// GStreamer (1.22) takes no PNG and no 16-bit raw video, fragmented QuickTime takes PNG.
    pub fn muxer(self) -> &'static str {
        match self {
            Recording::OverlayH264 | Recording::RgbLossless => "matroskamux streamable=true",
            Recording::Gray16Lossless => "qtmux fragment-duration=500",
        }
    }
}

impl VideoRecorder {
    pub fn create(path: &Path, width: usize, height: usize, fps: u32) -> Result<Self> {
        Self::create_kind(path, width, height, fps, Recording::OverlayH264)
    }

    pub fn create_kind(path: &Path, width: usize, height: usize, fps: u32, kind: Recording) -> Result<Self> {
        crate::media::init()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let format = if kind == Recording::Gray16Lossless { gst_video::VideoFormat::Gray16Le } else { gst_video::VideoFormat::Rgb };
        let info = gst_video::VideoInfo::builder(format, width as u32, height as u32)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()?;
        let src = gst_app::AppSrc::builder()
            .caps(&info.to_caps()?)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes(info.size() as u64 * 4)
            .build();
        let enc = gst::parse::bin_from_description(&kind.encoder(fps), true)
            .map_err(|e| anyhow!("recording {}: the encoder does not start: {e} (scripts/install-deps.sh installs it)", path.display()))?;
        let mux = gst::parse::launch(kind.muxer()).map_err(|e| anyhow!("recording {}: the muxer does not start: {e}", path.display()))?;
        let sink = make_element("filesink", None)?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        sink.set_property_from_str("buffer-mode", "unbuffered");
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([src.upcast_ref(), enc.upcast_ref(), &mux, &sink])?;
        gst::Element::link_many([src.upcast_ref(), enc.upcast_ref(), &mux, &sink])?;
        let me = Self {
            pipeline,
            src,
            kind,
            info,
            width,
            height,
            frame_ns: 1_000_000_000 / fps.max(1) as u64,
            path: path.display().to_string(),
            finished: false,
        };
        me.pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| me.bus_error().unwrap_or_else(|| anyhow!("{}: could not start the recorder", me.path)))?;
        Ok(me)
    }

    fn bus_error(&self) -> Option<anyhow::Error> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => Some(anyhow!("recording {}: {}", self.path, e.error())),
            _ => None,
        }
    }

    /// Push frame `index` of an RGB recording, timestamped at `index` frame periods.
    pub fn push(&mut self, frame: &RgbFrame, index: u64) -> Result<()> {
        self.push_rgb_at(frame, index * self.frame_ns)
    }

    pub fn push_rgb_at(&mut self, frame: &RgbFrame, pts_ns: u64) -> Result<()> {
        if self.kind == Recording::Gray16Lossless {
            bail!("recording {}: an RGB frame in a gray recording", self.path);
        }
        self.push_bytes(frame.width, frame.height, frame.data.clone(), pts_ns)
    }

    fn push_bytes(&mut self, width: usize, height: usize, data: Vec<u8>, pts_ns: u64) -> Result<()> {
        if width != self.width || height != self.height {
            bail!("recording {}: frame of {}x{} in a {}x{} stream", self.path, width, height, self.width, self.height);
        }
        if let Some(e) = self.bus_error() {
            return Err(e);
        }
        let data = crate::media::packed_to_layout(&self.info, data).with_context(|| format!("recording {}", self.path))?;
        let mut buffer = gst::Buffer::from_mut_slice(data);
        {
            let b = buffer.get_mut().expect("new buffer is writable");
            b.set_pts(gst::ClockTime::from_nseconds(pts_ns));
            b.set_duration(gst::ClockTime::from_nseconds(self.frame_ns));
        }
        self.src.push_buffer(buffer).map_err(|e| anyhow!("recording {}: {e:?}", self.path))?;
        Ok(())
    }

    /// End the stream and wait until the file is closed.
    pub fn finish(mut self) -> Result<()> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let _ = self.src.end_of_stream();
        let bus = self.pipeline.bus().context("recorder without bus")?;
        let res = match bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]) {
            Some(msg) => match msg.view() {
                gst::MessageView::Error(e) => Err(anyhow!("recording {}: {}", self.path, e.error())),
                _ => Ok(()),
            },
            None => Err(anyhow!("recording {}: the muxer did not finish within 30 s", self.path)),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        res
    }
}

impl Drop for VideoRecorder {
    fn drop(&mut self) {
        let _ = self.finish_inner();
    }
}
