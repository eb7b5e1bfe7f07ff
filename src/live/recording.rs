//! The recording branches of the live pipeline. Each recording (raw white light from the `wl` tee, raw
//! NIR from the `nir` tee, the overlay from the `overlay` tee) is a branch of the one pipeline behind its
//! own leaky queue: `queue leaky=downstream max-size-buffers=N ! queue max-size-buffers=1 ! ENCODER !
//! MUXER ! filesink buffer-mode=unbuffered` (`Recording`'s coding; the second queue's thread runs the
//! encoder at a lower priority, `super::priority`; the leaky queue's own thread only hands frames over).
//! A slow encoder fills the leaky queue, and from then on it drops its oldest frame for each new one: recorded frames are lost (counted), the tee never waits, so neither
//! does the display nor the analysis. Each file is written as it goes through an unbuffered sink,
//! so what was written plays back even after `kill -9` (`Recording::muxer`). In front of each leaky
//! queue a gate sheds frames while the display is under pressure (`super::shedding`), counted with the
//! queue's drops.
//!
//! Counting: the queue's `overrun` signal is emitted once for each frame that finds it full, and with
//! only a buffer limit (bytes and time limits off) a downstream leak then drops exactly one frame: the
//! signal count is the drop count, monotone and exact. Frames leaving the queue for the encoder are
//! counted by a probe on its src pad (recorded).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::pipeline::quote;
use super::shedding::{Gate, ShedLevel};
use crate::media::recorder::Recording;

/// Frames a recording's queue may hold waiting for its encoder before the oldest are dropped: a third
/// of a second at 30 frames/s absorbs a hiccup of the encoder; a recording slower than the camera drops anyway.
pub const QUEUE_FRAMES: usize = 10;

/// What `live --record` records: the tee it takes from, the file (`paths::RECORDINGS`), the coding.
pub const BRANCHES: [(&str, &str, Recording); 3] =
    [("wl", "wl.mkv", Recording::RgbLossless), ("nir", "nir.mov", Recording::Gray16Lossless), ("overlay", "overlay.mkv", Recording::OverlayH264)];

/// The name of the leaky queue at the head of tee `tee`'s recording branch.
pub fn queue_name(tee: &str) -> String {
    format!("rec_{tee}_queue")
}

/// The name of the one-frame queue behind it whose thread runs the encoder, muxer and file sink (at a
/// lower priority: `super::priority`).
pub fn encoder_queue_name(tee: &str) -> String {
    format!("rec_{tee}_encoder")
}

/// A leaky queue of `frames` frames (no byte or time limit), named `name`, in gst-launch syntax.
pub fn leaky_queue(name: &str, frames: usize) -> String {
    format!("queue name={name} max-size-buffers={} max-size-bytes=0 max-size-time=0 leaky=downstream", frames.max(1))
}

/// The branch recording tee `tee` into `file` (gst-launch syntax, appended to the pipeline description).
/// `delay` is a drill: every recorded frame waits that long before its encoder (a slow encoder).
pub fn branch(tee: &str, file: &Path, kind: Recording, fps: u32, queue: usize, delay: Option<Duration>) -> String {
    let slow = delay.map_or(String::new(), |d| format!(" ! identity sleep-time={}", d.as_micros()));
    format!(
        "{tee}. ! {} ! queue name={} max-size-buffers=1 max-size-bytes=0 max-size-time=0{slow} ! {} ! {} ! filesink name=rec_{tee} location={} buffer-mode=unbuffered async=false",
        leaky_queue(&queue_name(tee), queue),
        encoder_queue_name(tee),
        kind.encoder(fps),
        kind.muxer(),
        quote(&file.to_string_lossy()),
    )
}

/// Frames a leaky queue passed and dropped, counted as they go.
#[derive(Default, Debug)]
pub struct QueueCounts {
    passed: AtomicU64,
    dropped: AtomicU64,
}

impl QueueCounts {
    /// Count the frames `queue` drops (its `overrun` signal) and passes (a probe on its src pad).
    pub fn attach(queue: &gst::Element) -> Result<Arc<Self>> {
        let counts = Arc::new(Self::default());
        let c = counts.clone();
        queue.set_property("silent", false);
        queue.connect("overrun", false, move |_| {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            None
        });
        let c = counts.clone();
        let src = queue.static_pad("src").ok_or_else(|| anyhow!("{}: a queue without src pad", queue.name()))?;
        src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.passed.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        Ok(counts)
    }

    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One recording branch of a running pipeline.
pub struct RecBranch {
    /// The file's name (`wl.mkv`, …), as the metrics and the summary name it.
    pub name: String,
    pub counts: Arc<QueueCounts>,
    /// The gate in front of the leaky queue that sheds frames while the display is under pressure.
    pub gate: Arc<Gate>,
}

impl RecBranch {
    /// Find the branch `branch` put in `pipeline` for tee `tee`, start counting, and put a gate at the
    /// leaky queue's sink pad that passes the frames `level` lets through (`super::shedding`).
    pub fn attach(pipeline: &gst::Pipeline, tee: &str, file: &str, level: Arc<ShedLevel>) -> Result<Self> {
        let queue = pipeline.by_name(&queue_name(tee)).ok_or_else(|| anyhow!("no recording queue for {file}"))?;
        super::priority::answer_serialized_queries(&queue)?;
        let gate = Arc::new(Gate::new(level));
        let g = gate.clone();
        let sink = queue.static_pad("sink").ok_or_else(|| anyhow!("{}: a queue without sink pad", queue.name()))?;
        // A shed frame is `Handled` (the binding releases it), not `Drop`: with GStreamer 1.22 a `Drop`
        // here made the core unref a buffer the binding had already cleared (a CRITICAL each frame).
        sink.add_probe(gst::PadProbeType::BUFFER, move |_, _| if g.pass() { gst::PadProbeReturn::Ok } else { gst::PadProbeReturn::Handled });
        Ok(Self { name: file.to_string(), counts: QueueCounts::attach(&queue)?, gate })
    }

    /// Frames handed to the encoder (in the file once the pipeline has finished).
    pub fn recorded(&self) -> u64 {
        self.counts.passed()
    }

    /// Frames dropped because the encoder was behind or shed while the display was under pressure.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped() + self.gate.shed()
    }
}
