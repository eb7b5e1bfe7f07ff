//! The element's analysis thread's processor: what it is built from (`LiveAnalysis`: backend, settings,
//! fault drill, GPU wait bound) and the check mode it reads before each frame (`ModeCell`, set by the
//! element's `mode` property, which `nirf-margin live`'s mode keys set).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use anyhow::Result;

use crate::analysis::Cancel;
use crate::backend::{BackendChoice, make_analyzer_waiting};
use crate::frame::{NirView, RgbView};
use super::faults::{FaultPlan, FaultyAnalyzer};
use super::worker::LiveProcessor;
use crate::measure::findings::Mode;
use crate::params::AnalysisParams;
use crate::processor::{CheckSettings, FrameProcessor};

/// A wait for the GPU longer than this many frame budgets counts as a lost device (a hung GPU must not
/// hold the analysis thread; the worker rebuilds it).
pub const GPU_WAIT_BUDGETS: u32 = 30;

/// The processor with the live frame index shared with its fault plan, and the mode the keys select.
struct Drilled {
    proc: FrameProcessor,
    frame: Arc<AtomicU64>,
    mode: ModeCell,
}

/// The check mode shared with the analysis thread: the mode keys (or the element's `mode` property) set
/// it, the processor reads it before each frame.
#[derive(Clone, Debug)]
pub struct ModeCell(Arc<AtomicU8>);

impl Default for ModeCell {
    fn default() -> Self {
        Self::new(Mode::Survey)
    }
}

impl ModeCell {
    pub fn new(mode: Mode) -> Self {
        let cell = Self(Arc::new(AtomicU8::new(0)));
        cell.set(mode);
        cell
    }

    pub fn set(&self, mode: Mode) {
        self.0.store(Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0) as u8, Ordering::Relaxed);
    }

    pub fn get(&self) -> Mode {
        Mode::ALL.get(self.0.load(Ordering::Relaxed) as usize).copied().unwrap_or(Mode::Survey)
    }
}

/// What the live analysis thread builds its processor from (at start and after a fault).
#[derive(Clone, Debug)]
pub struct LiveAnalysis {
    pub backend: BackendChoice,
    pub params: AnalysisParams,
    pub checks: CheckSettings,
    /// Fault drill: the plan counts live frames; a `slow` fault sleeps `slow`.
    pub plan: FaultPlan,
    pub slow: Duration,
    /// How long a GPU wait may take before the device counts as lost (`GPU_WAIT_BUDGETS` budgets).
    pub gpu_wait: Duration,
    pub fps: f64,
}

impl LiveAnalysis {
    /// The factory of the live analysis thread (`worker`); `mode` is read before each frame.
    pub fn factory(self, mode: ModeCell) -> super::worker::Factory {
        Box::new(move || {
            let analyzer = make_analyzer_waiting(self.backend, &self.params, Some(self.gpu_wait))?;
            let frame = Arc::new(AtomicU64::new(0));
            let analyzer = FaultyAnalyzer::new(analyzer, self.plan.clone(), self.slow, frame.clone());
            let mut proc = FrameProcessor::new(Box::new(analyzer), self.params.clone(), self.fps);
            proc.set_checks(CheckSettings { mode: mode.get(), ..self.checks.clone() });
            Ok(Box::new(Drilled { proc, frame, mode: mode.clone() }) as Box<dyn LiveProcessor>)
        })
    }
}

impl LiveProcessor for Drilled {
    fn process(&mut self, index: u64, wl: RgbView<'_>, nir: NirView<'_>, cancel: &Cancel) -> Result<crate::processor::FrameResult> {
        // The fault plan counts live frames: tell the wrapped analyzer which one this is.
        self.frame.store(index, Ordering::Relaxed);
        let mode = self.mode.get();
        if mode != self.proc.mode() {
            self.proc.set_mode(mode);
        }
        self.proc.process_cancellable(wl, nir, false, cancel)
    }
    fn describe(&self) -> String {
        self.proc.describe()
    }
}
