//! `nirf-margin report METRICS.jsonl [--snapshots DIR] --out report.html`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Metrics of an `analyze` or `live` run (JSON lines).
    pub metrics: PathBuf,
    /// PNG snapshots to include (e.g. the --findings directory of a wound-bed check).
    #[arg(long)]
    pub snapshots: Option<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: ReportArgs) -> Result<()> {
    let html = crate::report::render(&a.metrics, a.snapshots.as_deref())?;
    std::fs::write(&a.out, html).with_context(|| format!("--out {}: cannot write", a.out.display()))?;
    println!("report: {}", a.out.display());
    Ok(())
}
