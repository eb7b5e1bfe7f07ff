//! `--backend auto|gpu|cpu`: which `Analyzer` a command gets. `auto` takes a hardware GPU adapter when
//! one exists, else the CPU backend: a software adapter (Mesa's lavapipe) runs the shaders correctly but
//! some sixty times slower than the CPU backend (about 750 ms against 12 ms a 1080p frame on the 2-core
//! development machine), which in live use would keep the overlay off. `gpu` takes any adapter, lavapipe
//! included (the tests run the shaders on it), and is an error with none.

use anyhow::{Context, Result};
use clap::ValueEnum;

use crate::analysis::Analyzer;
use crate::gpu::{GpuAnalyzer, GpuContext};
use crate::params::AnalysisParams;
use crate::reference::CpuAnalyzer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU adapter when one exists, else the CPU (not a software adapter).
    Auto,
    Gpu,
    Cpu,
}

pub fn make_analyzer(choice: BackendChoice, params: &AnalysisParams) -> Result<Box<dyn Analyzer>> {
    match choice {
        BackendChoice::Cpu => Ok(Box::new(CpuAnalyzer::new(params.clone())?)),
        BackendChoice::Gpu => Ok(Box::new(GpuAnalyzer::new(params.clone()).context("--backend gpu")?)),
        BackendChoice::Auto => match GpuContext::new() {
            Ok(ctx) if !ctx.is_software() => Ok(Box::new(GpuAnalyzer::with_context(ctx, params.clone())?)),
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
