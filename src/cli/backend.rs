//! `--backend auto|gpu|cpu`: which `Analyzer` a command gets.

use anyhow::Result;
use clap::ValueEnum;

use crate::analysis::Analyzer;
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
        BackendChoice::Cpu | BackendChoice::Auto => Ok(Box::new(CpuAnalyzer::new(params.clone())?)),
        BackendChoice::Gpu => anyhow::bail!("--backend gpu: the GPU backend is not built into this version yet; use --backend cpu"),
    }
}
