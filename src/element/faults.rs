//! Fault injection for the fail-safe tests and drills: an `Analyzer` wrapper that, at given frames,
//! panics, returns an error, overruns its time budget, behaves as a lost GPU device (every call fails
//! with `GpuError::DeviceLost` until the analyzer is rebuilt), or destroys the real GPU device
//! (`Device::destroy`, as a driver reset would; the analyzer then finds it lost by itself).
//! `--inject-fault panic@30,error@60,slow@90,lost@120,destroy@150`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::analysis::{Analyzer, Cancel, Composite, LesionStyle, Segmentation};
use crate::frame::{NirView, RgbView};
use crate::gpu::GpuError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Panic,
    Error,
    Slow,
    DeviceLost,
    DestroyDevice,
}

fn injected_loss(reason: String) -> anyhow::Error {
    GpuError::DeviceLost { adapter: "injected".into(), reason }.into()
}

/// Faults at frames, parsed from `KIND@FRAME,...` (KIND panic, error, slow, lost, destroy).
#[derive(Clone, Debug, Default)]
pub struct FaultPlan(pub Vec<(u64, Fault)>);

impl std::str::FromStr for FaultPlan {
    type Err = String;
    fn from_str(spec: &str) -> std::result::Result<Self, String> {
        let mut plan = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((kind, at)) = item.split_once('@') else { return Err(format!("{item}: expected KIND@FRAME")) };
            let fault = match kind {
                "panic" => Fault::Panic,
                "error" => Fault::Error,
                "slow" => Fault::Slow,
                "lost" => Fault::DeviceLost,
                "destroy" => Fault::DestroyDevice,
                k => return Err(format!("{item}: unknown fault '{k}' (panic, error, slow, lost, destroy)")),
            };
            let frame: u64 = at.parse().map_err(|_| format!("{item}: '{at}' is not a frame number"))?;
            plan.push((frame, fault));
        }
        Ok(Self(plan))
    }
}

impl FaultPlan {
    pub fn at(&self, frame: u64) -> Option<Fault> {
        self.0.iter().find(|(f, _)| *f == frame).map(|(_, k)| *k)
    }
}

/// Wraps an analyzer; `frame` holds the live frame index, set by the caller before each frame.
pub struct FaultyAnalyzer {
    pub inner: Box<dyn Analyzer>,
    pub plan: FaultPlan,
    pub frame: Arc<AtomicU64>,
    pub slow: Duration,
    lost: bool,
    /// A `slow` frame's sleep ends early when its analysis is called off (as a real stage would stop).
    cancel: Option<Cancel>,
}

impl FaultyAnalyzer {
    pub fn new(inner: Box<dyn Analyzer>, plan: FaultPlan, slow: Duration, frame: Arc<AtomicU64>) -> Self {
        Self { inner, plan, frame, slow, lost: false, cancel: None }
    }
}

impl Analyzer for FaultyAnalyzer {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn segment(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool) -> Result<Segmentation> {
        if self.lost {
            return Err(injected_loss("injected".into()));
        }
        let frame = self.frame.load(Ordering::Relaxed);
        match self.plan.at(frame) {
            Some(Fault::Panic) => panic!("injected panic at frame {frame}"),
            Some(Fault::Error) => bail!("injected processing error at frame {frame}"),
            Some(Fault::Slow) => {
                let until = std::time::Instant::now() + self.slow;
                while std::time::Instant::now() < until && !self.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                    std::thread::sleep(Duration::from_millis(1).min(until.saturating_duration_since(std::time::Instant::now())));
                }
            }
            Some(Fault::DeviceLost) => {
                self.lost = true;
                return Err(injected_loss(format!("injected at frame {frame}")));
            }
            Some(Fault::DestroyDevice) => {
                if !self.inner.destroy_device() {
                    bail!("--inject-fault destroy@{frame}: the analysis runs on no GPU device");
                }
            }
            None => {}
        }
        self.inner.segment(wl, nir, want_classes)
    }

    fn composite(&mut self, wl: RgbView<'_>, styles: &[LesionStyle]) -> Result<Composite> {
        self.inner.composite(wl, styles)
    }

    fn pixel_maps(&mut self) -> Result<crate::analysis::PixelMaps> {
        self.inner.pixel_maps()
    }

    fn set_spot_query(&mut self, query: Option<crate::analysis::SpotQuery>) {
        self.inner.set_spot_query(query)
    }

    fn spots(&mut self, query: &crate::analysis::SpotQuery) -> Result<Option<(Vec<crate::analysis::Spot>, crate::analysis::PixelMaps)>> {
        self.inner.spots(query)
    }

    fn fluo_labels(&mut self) -> Result<std::sync::Arc<crate::frame::Plane<u32>>> {
        self.inner.fluo_labels()
    }

    fn traffic(&self) -> Option<crate::analysis::Traffic> {
        self.inner.traffic()
    }

    fn destroy_device(&mut self) -> bool {
        self.inner.destroy_device()
    }
    fn set_cancel(&mut self, cancel: Option<Cancel>) {
        self.cancel = cancel.clone();
        self.inner.set_cancel(cancel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_plans_parse_and_bad_ones_say_which_item() {
        let plan: FaultPlan = "panic@30, error@60,slow@90,lost@120,destroy@150".parse().unwrap();
        assert_eq!(plan.at(30), Some(Fault::Panic));
        assert_eq!(plan.at(150), Some(Fault::DestroyDevice));
        assert_eq!(plan.at(31), None);
        assert!("".parse::<FaultPlan>().unwrap().0.is_empty());
        assert!("melt@3".parse::<FaultPlan>().unwrap_err().contains("unknown fault 'melt'"));
        assert!("panic".parse::<FaultPlan>().unwrap_err().contains("KIND@FRAME"));
        assert!("panic@x".parse::<FaultPlan>().unwrap_err().contains("'x' is not a frame number"));
    }
}
