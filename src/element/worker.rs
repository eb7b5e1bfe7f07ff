//! The element's analysis thread (the live path's). It takes at most one frame at a time (a one-slot channel: a
//! frame that finds the worker busy is not queued), runs the processor under `catch_unwind`, and answers
//! with the result or the reason it has none. After a panic or a lost device (`GpuError::is_lost`: lost
//! or timed out) it rebuilds the processor (GPU re-init), so the overlay comes back by itself: the first
//! rebuild at the next frame, then, while rebuilds or the rebuilt processor keep failing, with an
//! exponential backoff (`Backoff`) instead of at every frame.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::analysis::Cancel;
use crate::frame::{LendNir, LendRgb, NirView, RgbView};
use crate::gpu::error;
use crate::processor::{FrameProcessor, FrameResult};

/// A frame pair for the analysis thread, shared with the caller that keeps it for the passthrough (no
/// copy): owned frames, or buffers of another layer lent as they are (the element's mapped inputs).
pub struct Job {
    pub index: u64,
    pub wl: Arc<dyn LendRgb>,
    pub nir: Arc<dyn LendNir>,
    /// Set by the caller once the frame's budget has passed: the analysis stops at its next stage
    /// boundary (or does not start), and the thread is free for the next frame.
    pub cancel: Cancel,
}

pub struct Answer {
    pub index: u64,
    pub result: Result<FrameResult, String>,
    /// How long the processor ran on this frame, ms (0 when it could not start).
    pub process_ms: f64,
}

/// Builds a processor (called at start and after a fault); `frame` is the live frame index it will see.
pub type Factory = Box<dyn FnMut() -> anyhow::Result<Box<dyn LiveProcessor>> + Send>;

/// A processor as the worker drives it: told the frame index first (for fault plans), then run.
pub trait LiveProcessor: Send {
    /// Stops early with `analysis::Cancelled` once `cancel` is set (`FrameProcessor::process_cancellable`).
    fn process(&mut self, index: u64, wl: RgbView<'_>, nir: NirView<'_>, cancel: &Cancel) -> anyhow::Result<FrameResult>;
    fn describe(&self) -> String;
}

impl LiveProcessor for FrameProcessor {
    fn process(&mut self, _index: u64, wl: RgbView<'_>, nir: NirView<'_>, cancel: &Cancel) -> anyhow::Result<FrameResult> {
        FrameProcessor::process_cancellable(self, wl, nir, false, cancel)
    }
    fn describe(&self) -> String {
        FrameProcessor::describe(self)
    }
}

/// When to try the next rebuild: at once after the first fault, then 0.25 s, 0.5 s, 1 s, … (at most
/// `CAP`) after each further fault with no good frame between.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    faults: u32,
    last: Option<Instant>,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(250);
    pub const CAP: Duration = Duration::from_secs(8);

    /// The wait after the last fault before the next rebuild.
    pub fn delay(&self) -> Duration {
        match self.faults {
            0 | 1 => Duration::ZERO,
            k => Self::FIRST.saturating_mul(1 << (k - 2).min(16)).min(Self::CAP),
        }
    }

    /// How long until a rebuild may be tried (zero: now).
    pub fn wait_left(&self, now: Instant) -> Duration {
        self.last.map_or(Duration::ZERO, |t| (t + self.delay()).saturating_duration_since(now))
    }

    /// A processor was lost or could not be built.
    pub fn fault(&mut self, now: Instant) {
        self.faults += 1;
        self.last = Some(now);
    }

    /// A frame was analysed: the next fault rebuilds at once again.
    pub fn good_frame(&mut self) {
        *self = Self::default();
    }
}

pub struct Worker {
    jobs: Option<Sender<Job>>,
    answers: Receiver<Answer>,
    ready: Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

pub enum Submit {
    Sent,
    /// The worker still runs an earlier frame.
    Busy,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into())
}

impl Worker {
    pub fn spawn(mut factory: Factory) -> Self {
        let (jobs, job_rx) = bounded::<Job>(1);
        let (ans_tx, answers) = bounded::<Answer>(4);
        let (ready_tx, ready) = bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("nirf-analysis".into())
            .spawn(move || {
                let mut proc: Option<Box<dyn LiveProcessor>> = match factory() {
                    Ok(p) => {
                        tracing::info!("analysis started on {}", p.describe());
                        Some(p)
                    }
                    Err(e) => {
                        tracing::warn!("analysis could not start ({e:#}); white light passes through until it does");
                        None
                    }
                };
                let _ = ready_tx.send(());
                let mut backoff = Backoff::default();
                if proc.is_none() {
                    backoff.fault(Instant::now());
                }
                for job in job_rx.iter() {
                    if job.cancel.is_cancelled() {
                        // Its budget passed while it waited for the previous frame to stop: not begun.
                        let _ = ans_tx.send(Answer { index: job.index, result: Err(crate::analysis::Cancelled.to_string()), process_ms: 0.0 });
                        continue;
                    }
                    if proc.is_none() {
                        let left = backoff.wait_left(Instant::now());
                        if !left.is_zero() {
                            let why = format!("analysis restarting: next try in {} ms", left.as_millis());
                            let _ = ans_tx.send(Answer { index: job.index, result: Err(why), process_ms: 0.0 });
                            continue;
                        }
                        match factory() {
                            Ok(p) => {
                                tracing::info!("analysis (re)started on {}", p.describe());
                                proc = Some(p);
                            }
                            Err(e) => {
                                backoff.fault(Instant::now());
                                let _ = ans_tx.send(Answer { index: job.index, result: Err(format!("restarting analysis: {e:#}")), process_ms: 0.0 });
                                continue;
                            }
                        }
                    }
                    let p = proc.as_mut().expect("built above");
                    let started = std::time::Instant::now();
                    let out = catch_unwind(AssertUnwindSafe(|| p.process(job.index, job.wl.view(), job.nir.view(), &job.cancel)));
                    let process_ms = started.elapsed().as_secs_f64() * 1e3;
                    // The frames go back before the answer, so that the caller can reuse them.
                    let index = job.index;
                    drop(job);
                    if out.is_err() {
                        tracing::error!("analysis panicked at frame {index}; restarting it");
                    }
                    let result = match out {
                        Ok(Ok(r)) => {
                            backoff.good_frame();
                            Ok(r)
                        }
                        Ok(Err(e)) => {
                            if error::find(&e).is_some_and(|g| g.is_lost()) {
                                proc = None;
                                backoff.fault(Instant::now());
                            }
                            Err(format!("{e:#}"))
                        }
                        Err(panic) => {
                            proc = None;
                            backoff.fault(Instant::now());
                            Err(format!("analysis panicked: {}", panic_text(&*panic)))
                        }
                    };
                    if ans_tx.send(Answer { index, result, process_ms }).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the analysis thread");
        Self { jobs: Some(jobs), answers, ready, handle: Some(handle) }
    }

    /// Wait until the first processor is built (or failed to build), at most `timeout`.
    pub fn wait_ready(&self, timeout: std::time::Duration) {
        let _ = self.ready.recv_timeout(timeout);
    }

    pub fn submit(&self, job: Job) -> Submit {
        match self.jobs.as_ref().map(|j| j.try_send(job)) {
            Some(Ok(())) => Submit::Sent,
            _ => Submit::Busy,
        }
    }

    pub fn answers(&self) -> &Receiver<Answer> {
        &self.answers
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.jobs.take();
        // Don't wait for a stuck analysis: the thread is detached if it does not finish promptly.
        if let Some(h) = self.handle.take() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_back_off_exponentially_to_a_cap_and_reset_on_a_good_frame() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.wait_left(t0), Duration::ZERO);
        b.fault(t0);
        assert_eq!(b.wait_left(t0), Duration::ZERO, "the first rebuild is at once");
        let mut delays = Vec::new();
        for _ in 0..10 {
            b.fault(t0);
            delays.push(b.wait_left(t0).as_millis());
        }
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000]);
        assert_eq!(b.wait_left(t0 + Duration::from_secs(8)), Duration::ZERO);
        b.good_frame();
        b.fault(t0);
        assert_eq!(b.wait_left(t0), Duration::ZERO);
    }
}
