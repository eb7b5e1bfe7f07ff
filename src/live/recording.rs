//! Recording off the display thread. Each recording (raw white light, raw NIR, overlay) has its own
//! thread that owns its encoder pipeline (`media::recorder`); the display loop offers it a frame through
//! a bounded channel with `try_send` and never waits. A recording that cannot keep up loses recorded
//! frames (counted, per recording), never display frames.
//!
//! Why a channel and a thread rather than `appsrc block=false` with a leaky queue: the per-frame work
//! that the display thread used to do for the recordings (the 16-bit NIR turned into bytes, rows laid
//! out at the caps' stride, a copy into a buffer) moves to the recorder thread as well; frames are handed
//! over as shared `Arc`s (no copy on the display thread, except the overlay, copied only when its
//! recording has room); and a drop is counted exactly where it happens, on the display thread, without
//! watching a queue's `overrun` signal from a streaming thread. The appsrc behind the thread still
//! blocks, which is what a recorder thread may do: it only delays its own recording.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use crossbeam_channel::{Sender, TrySendError, bounded};

use crate::frame::{NirFrame, RgbFrame};
use crate::media::recorder::{Recording, VideoRecorder};

/// Frames a recording may hold waiting for its encoder before new ones are dropped: a third of a second
/// at 30 frames/s absorbs a hiccup of the encoder; a recording slower than the camera drops anyway.
pub const QUEUE_FRAMES: usize = 10;

/// A frame for a recording, shared with the display loop.
pub enum RecFrame {
    Rgb(Arc<RgbFrame>),
    Gray16(Arc<NirFrame>),
}

/// One recording on its own thread.
pub struct RecorderThread {
    name: String,
    tx: Option<Sender<(RecFrame, u64)>>,
    handle: Option<JoinHandle<Result<()>>>,
    /// Frames offered and taken, and offered and dropped because the recording was behind.
    pub recorded: u64,
    pub dropped: u64,
}

impl RecorderThread {
    /// Open the recording (its pipeline is started here, so that an error shows before the run) and
    /// start its thread. `delay` is a drill: every recorded frame waits that long first (a slow encoder).
    pub fn start(path: &Path, w: usize, h: usize, fps: u32, kind: Recording, queue: usize, delay: Option<Duration>) -> Result<Self> {
        let mut rec = VideoRecorder::create_kind(path, w, h, fps, kind)?;
        let (tx, rx) = bounded::<(RecFrame, u64)>(queue.max(1));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
        let handle = std::thread::Builder::new().name(format!("nirf-rec-{name}")).spawn(move || -> Result<()> {
            let mut run = || -> Result<()> {
                for (frame, pts) in rx.iter() {
                    if let Some(d) = delay {
                        std::thread::sleep(d);
                    }
                    match &frame {
                        RecFrame::Rgb(f) => rec.push_rgb_at(f, pts)?,
                        RecFrame::Gray16(f) => rec.push_gray16_at(f, pts)?,
                    }
                }
                Ok(())
            };
            let pushed = run();
            if let Err(e) = &pushed {
                tracing::error!("{e:#}");
            }
            // Close the file either way, so that what was recorded stays playable.
            let finished = rec.finish();
            pushed.and(finished)
        })?;
        Ok(Self { name, tx: Some(tx), handle: Some(handle), recorded: 0, dropped: 0 })
    }

    /// Offer a frame; never blocks. False (and counted) when the recording is behind or has failed.
    pub fn offer(&mut self, frame: RecFrame, pts_ns: u64) -> bool {
        let Some(tx) = &self.tx else {
            self.dropped += 1;
            return false;
        };
        match tx.try_send((frame, pts_ns)) {
            Ok(()) => {
                self.recorded += 1;
                true
            }
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                // The thread stopped on an error: say so once, and count what is lost from here on.
                tracing::error!("recording {} stopped on an error; the display goes on, its frames are counted as dropped", self.name);
                self.tx = None;
                self.dropped += 1;
                false
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Close the channel, let the thread encode what it holds, and wait for the file to be closed.
    pub fn finish(mut self) -> Result<()> {
        self.tx.take();
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(anyhow::anyhow!("recording {}: the recorder thread panicked", self.name)),
            None => Ok(()),
        }
    }
}

impl Drop for RecorderThread {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
