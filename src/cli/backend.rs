//! `--backend auto|gpu|cpu`: which `Analyzer` a command gets. `auto` takes a GPU adapter when one
//! exists (a hardware one first, else Mesa's software lavapipe) and falls back to the CPU reference.

use anyhow::{Context, Result};
use clap::ValueEnum;

use crate::analysis::Analyzer;
use crate::gpu::GpuAnalyzer;
use crate::params::AnalysisParams;
use crate::reference::CpuAnalyzer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// A GPU adapter when one exists, else the CPU.
    Auto,
    Gpu,
    Cpu,
}

pub fn make_analyzer(choice: BackendChoice, params: &AnalysisParams) -> Result<Box<dyn Analyzer>> {
    match choice {
        BackendChoice::Cpu => Ok(Box::new(CpuAnalyzer::new(params.clone())?)),
        BackendChoice::Gpu => Ok(Box::new(GpuAnalyzer::new(params.clone()).context("--backend gpu")?)),
        BackendChoice::Auto => match GpuAnalyzer::new(params.clone()) {
            Ok(gpu) => Ok(Box::new(gpu)),
            Err(e) => {
                tracing::info!("no usable GPU ({e:#}); using the CPU backend");
                Ok(Box::new(CpuAnalyzer::new(params.clone())?))
            }
        },
    }
}
