//! The fail-safe policy of one frame, called by the `nirfmargin` GStreamer element (and so by `live`, an
//! application of it) on its analysis thread (`worker`): hand the pair to the analysis thread if it is free, wait for it no longer than the time budget, and give back
//! either the overlay of that very frame or the white light as it is with a badge saying why ("NIR
//! LOST", "OVERLAY OFF …"). A frame whose analysis overran leaves the worker busy; its late answer is
//! dropped when the next frame comes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::overlay::badge;
use crate::frame::{LendNir, LendRgb, RgbFrame, RgbView};
use super::worker::{Factory, Job, Submit, Worker};
use crate::processor::FrameResult;

/// What goes out for one frame.
pub struct Outcome {
    /// The overlay, or the badged white light.
    pub out: RgbFrame,
    /// Why the overlay is off; `None`: it is on.
    pub reason: Option<String>,
    /// The analysis of this frame (its `overlay` taken out into `out`), when it came in time.
    pub result: Option<FrameResult>,
    /// How long the processor ran on this frame (on the analysis thread), ms.
    pub process_ms: Option<f64>,
}

/// The white light as it is (a copy), with a badge saying why it has no overlay.
pub fn passthrough<'a>(wl: impl Into<RgbView<'a>>, why: &str) -> RgbFrame {
    let mut f = wl.into().to_frame();
    badge(&mut f, why);
    f
}

pub struct FailSafe {
    worker: Worker,
    /// The frame whose analysis overran its budget and still runs.
    outstanding: Option<u64>,
    pub budget: Duration,
}

impl FailSafe {
    /// Start the analysis thread and wait (at most `ready_timeout`) for its first processor, so that no
    /// frame waits on its start-up.
    pub fn start(factory: Factory, budget: Duration, ready_timeout: Duration) -> Self {
        let worker = Worker::spawn(factory);
        worker.wait_ready(ready_timeout);
        Self { worker, outstanding: None, budget }
    }

    /// One frame: `nir` is `None` when no NIR frame pairs with this white light. The frames are shared
    /// with the analysis thread (which may keep them past the budget), never copied, except the white
    /// light into the output frame when the overlay is off.
    pub fn frame(&mut self, index: u64, wl: &Arc<dyn LendRgb>, nir: Option<Arc<dyn LendNir>>) -> Outcome {
        // A late answer from an earlier frame frees the worker; its result is stale and dropped.
        while let Ok(ans) = self.worker.answers().try_recv() {
            if Some(ans.index) == self.outstanding {
                self.outstanding = None;
            }
        }
        let off = |why: &str, reason: String| Outcome { out: passthrough(wl.view(), why), reason: Some(reason), result: None, process_ms: None };
        let Some(nir) = nir else { return off("NIR LOST", "nir lost".into()) };
        if self.outstanding.is_some() {
            return off("OVERLAY OFF (analysis late)", "analysis busy".into());
        }
        match self.worker.submit(Job { index, wl: wl.clone(), nir }) {
            Submit::Busy => off("OVERLAY OFF (analysis late)", "analysis busy".into()),
            Submit::Sent => {
                let deadline = Instant::now() + self.budget;
                match self.worker.answers().recv_deadline(deadline) {
                    Ok(ans) if ans.index == index => match ans.result {
                        Ok(mut r) => {
                            let out = std::mem::take(&mut r.overlay); // the rest is kept for the metrics
                            Outcome { out, reason: None, result: Some(r), process_ms: Some(ans.process_ms) }
                        }
                        Err(e) => Outcome { process_ms: Some(ans.process_ms), ..off("OVERLAY OFF (analysis fault)", e) },
                    },
                    _ => {
                        self.outstanding = Some(index);
                        off("OVERLAY OFF (over time budget)", "over time budget".into())
                    }
                }
            }
        }
    }
}
