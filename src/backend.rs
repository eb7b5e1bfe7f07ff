//! Which `Analyzer` a command or the element gets (`--backend auto|gpu|cpu`, the element's `backend`).
//! `auto` takes the CPU backend when the settings use a stage only the CPU has
//! (`AnalysisParams::cpu_only_stages`: the defaults do, so that every machine gets the same, more
//! accurate, results), else a hardware GPU adapter when one exists, else the CPU backend: a software
//! adapter (Mesa's lavapipe) runs the shaders correctly but
//! some sixty times slower than the CPU backend (about 750 ms against 12 ms a 1080p frame on the 2-core
//! development machine), which in live use would keep the overlay off. `auto` also takes the CPU where
//! the GPU cannot do the job (`GpuError::Limit`): settings that need a distance bound over the GPU's, or
//! a frame size over the adapter's limits (found at the first frame of that size, which the CPU then
//! analyses). `gpu` takes any adapter, lavapipe included (the tests run the shaders on it), and is an
//! error with none or where it cannot do the job, naming the limit.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::analysis::{Analyzer, Cancel, Composite, LesionStyle, PixelMaps, Segmentation, Traffic};
use crate::frame::{NirView, Plane, RgbView};
use crate::gpu::{GpuAnalyzer, GpuContext, error};
use crate::params::AnalysisParams;
use crate::reference::CpuAnalyzer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU adapter when one exists, else the CPU (not a software adapter).
    Auto,
    Gpu,
    Cpu,
}

impl BackendChoice {
    pub const ALL: [BackendChoice; 3] = [BackendChoice::Auto, BackendChoice::Gpu, BackendChoice::Cpu];

    /// The name as `--backend` takes it and run records keep it.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend by its name (`--backend`, the element's property, a run record's setting).
impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL.into_iter().find(|b| b.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| format!("'{s}' is not one of auto, gpu, cpu"))
    }
}

/// The analyzer for an offline command: a GPU wait is bounded by `gpu::context::OFFLINE_WAIT`.
pub fn make_analyzer(choice: BackendChoice, params: &AnalysisParams) -> Result<Box<dyn Analyzer>> {
    make_analyzer_waiting(choice, params, None)
}

/// As `make_analyzer`; `gpu_wait` bounds each wait for the GPU (live: a multiple of the frame budget),
/// past which the device counts as lost.
pub fn make_analyzer_waiting(choice: BackendChoice, params: &AnalysisParams, gpu_wait: Option<Duration>) -> Result<Box<dyn Analyzer>> {
    let gpu = |ctx: GpuContext| -> Result<GpuAnalyzer> {
        let mut g = GpuAnalyzer::with_context(ctx, params.clone())?;
        if let Some(t) = gpu_wait {
            g.set_wait_timeout(t);
        }
        Ok(g)
    };
    match choice {
        BackendChoice::Cpu => Ok(Box::new(CpuAnalyzer::new(params.clone())?)),
        BackendChoice::Gpu => {
            let stages = params.cpu_only_stages();
            if !stages.is_empty() {
                tracing::warn!("--backend gpu: the GPU backend has no twin yet of {}; it analyses without them", stages.join(", "));
            }
            Ok(Box::new(gpu(GpuContext::new().context("--backend gpu")?).context("--backend gpu")?))
        }
        BackendChoice::Auto if !params.cpu_only_stages().is_empty() => {
            tracing::info!(
                "the analysis uses stages only the CPU backend has ({}): using the CPU backend (--backend gpu forces the GPU, without them)",
                params.cpu_only_stages().join(", ")
            );
            Ok(Box::new(CpuAnalyzer::new(params.clone())?))
        }
        BackendChoice::Auto => match GpuContext::new() {
            Ok(ctx) if !ctx.is_software() => match gpu(ctx) {
                Ok(g) => Ok(Box::new(Fallback { gpu: Some(g), cpu: None, params: params.clone() })),
                Err(e) if error::find(&e).is_some_and(|g| g.is_unsupported()) => {
                    tracing::info!("{e:#}; using the CPU backend");
                    Ok(Box::new(CpuAnalyzer::new(params.clone())?))
                }
                Err(e) => Err(e),
            },
            Ok(ctx) => {
                tracing::info!("only a software GPU adapter ({}): using the faster CPU backend (--backend gpu forces it)", ctx.describe());
                Ok(Box::new(CpuAnalyzer::new(params.clone())?))
            }
            Err(e) => {
                tracing::info!("no usable GPU ({e:#}); using the CPU backend");
                Ok(Box::new(CpuAnalyzer::new(params.clone())?))
            }
        },
    }
}

/// `auto` on a hardware GPU: the GPU until a frame it cannot hold (`GpuError::Limit`), then the CPU for
/// the rest of the run, that frame included.
struct Fallback {
    gpu: Option<GpuAnalyzer>,
    cpu: Option<CpuAnalyzer>,
    params: AnalysisParams,
}

impl Fallback {
    fn current(&mut self) -> &mut dyn Analyzer {
        match (&mut self.gpu, &mut self.cpu) {
            (Some(g), _) => g,
            (None, Some(c)) => c,
            (None, None) => unreachable!("one backend is always there"),
        }
    }
}

impl Analyzer for Fallback {
    fn describe(&self) -> String {
        self.gpu.as_ref().map_or_else(|| self.cpu.as_ref().map(|c| c.describe()).unwrap_or_default(), |g| g.describe())
    }

    fn segment(&mut self, wl: RgbView<'_>, nir: NirView<'_>, want_classes: bool) -> Result<Segmentation> {
        if let Some(g) = &mut self.gpu {
            match g.segment(wl, nir, want_classes) {
                Err(e) if error::find(&e).is_some_and(|g| g.is_unsupported()) => {
                    tracing::warn!("{e:#}; using the CPU backend from here on");
                    self.gpu = None;
                    self.cpu = Some(CpuAnalyzer::new(self.params.clone())?);
                }
                r => return r,
            }
        }
        self.current().segment(wl, nir, want_classes)
    }

    fn composite(&mut self, wl: RgbView<'_>, styles: &[LesionStyle]) -> Result<Composite> {
        self.current().composite(wl, styles)
    }

    fn pixel_maps(&mut self) -> Result<PixelMaps> {
        self.current().pixel_maps()
    }

    fn set_spot_query(&mut self, query: Option<crate::analysis::SpotQuery>) {
        self.current().set_spot_query(query)
    }

    fn spots(&mut self, query: &crate::analysis::SpotQuery) -> Result<Option<(Vec<crate::analysis::Spot>, crate::analysis::PixelMaps)>> {
        self.current().spots(query)
    }

    fn fluo_labels(&mut self) -> Result<std::sync::Arc<Plane<u32>>> {
        self.current().fluo_labels()
    }

    fn traffic(&self) -> Option<Traffic> {
        self.gpu.as_ref().and_then(|g| g.traffic())
    }

    fn destroy_device(&mut self) -> bool {
        self.current().destroy_device()
    }

    fn set_cancel(&mut self, cancel: Option<Cancel>) {
        self.current().set_cancel(cancel)
    }
}
