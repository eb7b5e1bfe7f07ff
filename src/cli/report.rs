//! `nirf-margin report METRICS.jsonl [--snapshots DIR] --out report.html`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::paths::{PathGuard, write_atomic};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Metrics of an `analyze` or `live` run (JSON lines).
    pub metrics: PathBuf,
    /// PNG snapshots to include (e.g. the --findings directory of a wound-bed check).
    #[arg(long)]
    pub snapshots: Option<PathBuf>,
    /// The HTML page; never one of the inputs (written under a temporary name, then renamed).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: ReportArgs) -> Result<()> {
    let mut guard = PathGuard::new();
    guard.input_file("metrics", &a.metrics).output_file("--out", &a.out);
    if let Some(d) = &a.snapshots {
        guard.input_folder("--snapshots", d, "png");
    }
    guard.check()?;
    let html = crate::report::render(&a.metrics, a.snapshots.as_deref())?;
    write_atomic("--out", &a.out, html.as_bytes())?;
    println!("report: {}", a.out.display());
    Ok(())
}
