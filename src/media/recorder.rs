//! Matroska recording of RGB frames through `appsrc ! videoconvert ! x264enc ! matroskamux ! filesink`.
//! Owns the encoder pipeline; frames arrive as plain `RgbFrame`s with their index. `finish` sends EOS and
//! waits for the muxer to close the file, so a recording cut short by an error still plays.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::frame::RgbFrame;
use crate::media::source::make_element;

pub struct VideoRecorder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    width: usize,
    height: usize,
    frame_ns: u64,
    path: String,
    finished: bool,
}

impl VideoRecorder {
    pub fn create(path: &Path, width: usize, height: usize, fps: u32) -> Result<Self> {
        crate::media::init()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width as u32, height as u32)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()?;
        let src = gst_app::AppSrc::builder()
            .caps(&info.to_caps()?)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes((width * height * 3 * 4) as u64)
            .build();
        let convert = make_element("videoconvert", None)?;
        let enc = make_element("x264enc", None)?;
        enc.set_property_from_str("speed-preset", "veryfast");
        enc.set_property_from_str("tune", "zerolatency");
        enc.set_property("key-int-max", fps.max(1));
        enc.set_property("bitrate", 8000u32);
        let mux = make_element("matroskamux", None)?;
        let sink = make_element("filesink", None)?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([src.upcast_ref(), &convert, &enc, &mux, &sink])?;
        gst::Element::link_many([src.upcast_ref(), &convert, &enc, &mux, &sink])?;
        let me = Self {
            pipeline,
            src,
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

    pub fn push(&mut self, frame: &RgbFrame, index: u64) -> Result<()> {
        if frame.width != self.width || frame.height != self.height {
            bail!("recording {}: frame of {}x{} in a {}x{} stream", self.path, frame.width, frame.height, self.width, self.height);
        }
        if let Some(e) = self.bus_error() {
            return Err(e);
        }
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        {
            let b = buffer.get_mut().expect("new buffer is writable");
            b.set_pts(gst::ClockTime::from_nseconds(index * self.frame_ns));
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
