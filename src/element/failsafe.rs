//! The fail-safe policy of one frame, called by the `nirfmargin` GStreamer element (and so by `live`, an
//! application of it) on its analysis thread (`worker`): hand the pair to the analysis thread if it is free, wait for it no longer than the time budget, and give back
//! either the overlay of that very frame or the white light as it is with a badge saying why ("NIR
//! LOST", "OVERLAY OFF …"). A frame whose analysis overran its budget is called off (`analysis::Cancel`):
//! the analysis stops at its next stage boundary instead of finishing a result nobody shows, so the
//! thread is free again sooner; a frame that finds it still stopping passes at once ("analysis busy"),
//! and the late answer is dropped when the next frame comes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::Cancel;
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
    /// The frame whose analysis overran its budget and was called off, until its answer comes.
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
        // The answer of a frame called off frees the thread; its result is stale and dropped.
        while let Ok(ans) = self.worker.answers().try_recv() {
            if Some(ans.index) == self.outstanding {
                self.outstanding = None;
            }
        }
        let off = |why: &str, reason: String| Outcome { out: passthrough(wl.view(), why), reason: Some(reason), result: None, process_ms: None };
        let Some(nir) = nir else { return off("NIR LOST", "nir lost".into()) };
        // Still stopping the frame called off: this one passes at once. (Waiting for it within this
        // frame's budget was tried: at a load of 8 every frame then spent its whole budget in the
        // element, whose own work no longer fitted in the period, and the output fell behind.)
        if self.outstanding.is_some() {
            return off("OVERLAY OFF (analysis late)", "analysis busy".into());
        }
        let cancel = Cancel::default();
        match self.worker.submit(Job { index, wl: wl.clone(), nir, cancel: cancel.clone() }) {
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
                        // Its result would be dropped: the analysis stops at its next stage boundary.
                        cancel.cancel();
                        self.outstanding = Some(index);
                        off("OVERLAY OFF (over time budget)", "over time budget".into())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::analysis::FluoLevel;
    use crate::element::worker::LiveProcessor;
    use crate::frame::{NirFrame, NirView, RgbView};
    use crate::processor::FrameResult;

    /// Frame 0 would take a minute, in 1-ms stages that heed a call-off; every other frame is instant.
    struct OneSlowFrame {
        stopped_early: Arc<AtomicBool>,
    }

    impl LiveProcessor for OneSlowFrame {
        fn process(&mut self, index: u64, wl: RgbView<'_>, _nir: NirView<'_>, cancel: &Cancel) -> anyhow::Result<FrameResult> {
            if index == 0 {
                let until = Instant::now() + Duration::from_secs(60);
                while Instant::now() < until {
                    if cancel.check().is_err() {
                        self.stopped_early.store(true, Ordering::Relaxed);
                        return Err(crate::analysis::Cancelled.into());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let background = FluoLevel::default();
            Ok(FrameResult { lesions: Vec::new(), overlay: wl.to_frame(), classes: None, timings: Default::default(), background, findings: None, truncated: false })
        }
        fn describe(&self) -> String {
            "one slow frame".into()
        }
    }

    /// A frame over its budget is called off: the analysis stops, and the next frame is analysed instead
    /// of passing as "analysis busy" behind a result nobody would show (a minute of it, here).
    #[test]
    fn an_overrun_is_called_off_and_the_next_frame_is_analysed() {
        let stopped_early = Arc::new(AtomicBool::new(false));
        let s = stopped_early.clone();
        let factory: Factory = Box::new(move || Ok(Box::new(OneSlowFrame { stopped_early: s.clone() }) as Box<dyn LiveProcessor>));
        // A budget no loaded machine misses for an instant frame.
        let mut fs = FailSafe::start(factory, Duration::from_secs(2), Duration::from_secs(5));
        let wl: Arc<dyn LendRgb> = Arc::new(RgbFrame::new(16, 8));
        let nir = || Some(Arc::new(NirFrame::new(16, 8)) as Arc<dyn LendNir>);
        let first = fs.frame(0, &wl, nir());
        assert_eq!(first.reason.as_deref(), Some("over time budget"));
        // A frame period later (a long one: the analysis stops within a millisecond of being called off).
        std::thread::sleep(Duration::from_millis(300));
        for index in 1..4 {
            let next = fs.frame(index, &wl, nir());
            assert_eq!(next.reason, None, "frame {index}: the overlay is on");
        }
        assert!(stopped_early.load(Ordering::Relaxed), "frame 0's analysis stopped when called off");
    }
}
