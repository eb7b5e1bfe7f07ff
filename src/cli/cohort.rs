//! `nirf-margin cohort DIR --out cohort.html [--csv cohort.csv] [--compare OTHER_DIR]`: the cohort table
//! and distributions of an archive written by `batch` (`archive::cohort`), and with `--compare` what
//! changed since another run of the archive. Differences found exit with status 2 (errors with 1), so
//! that the comparison serves as a regression check.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::archive::cohort::{self, Tolerances};
use crate::archive::record::RUN_FILE;
use crate::paths::{PathGuard, write_atomic};

#[derive(Args, Debug)]
pub struct CohortArgs {
    /// An archive folder written by `batch` (`DIR/<id>/run.json`, metrics, ...).
    pub dir: PathBuf,
    /// The HTML page.
    #[arg(long)]
    pub out: PathBuf,
    /// The table as CSV (default: the page's path with `.csv`).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Another run of the same archive (the baseline) to compare with.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Core diameter and rim thicknesses may move this much (mm, px without a scale) unreported.
    #[arg(long, default_value_t = Tolerances::default().size)]
    pub tolerance: f64,
    #[arg(long, default_value_t = Tolerances::default().tbr)]
    pub tbr_tolerance: f64,
    #[arg(long, default_value_t = Tolerances::default().coverage)]
    pub coverage_tolerance: f64,
    /// Lesions of the two runs whose median centroids are this close (px) are the same lesion.
    #[arg(long, default_value_t = Tolerances::default().match_px)]
    pub match_px: f64,
}

/// A finished comparison that found differences: exit status 2.
#[derive(Debug)]
pub struct DifferencesFound(pub usize);

impl std::fmt::Display for DifferencesFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cohort --compare: {} differences beyond the tolerances", self.0)
    }
}

impl std::error::Error for DifferencesFound {}

pub fn run(a: CohortArgs) -> Result<()> {
    for (flag, v) in [("--tolerance", a.tolerance), ("--tbr-tolerance", a.tbr_tolerance), ("--coverage-tolerance", a.coverage_tolerance), ("--match-px", a.match_px)] {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{flag} must be a finite number of at least 0, got {v}");
        }
    }
    let tol = Tolerances { size: a.tolerance, tbr: a.tbr_tolerance, coverage: a.coverage_tolerance, match_px: a.match_px };
    let csv_path = a.csv.clone().unwrap_or_else(|| a.out.with_extension("csv"));
    let new = cohort::load(&a.dir)?;
    let old = a.compare.as_deref().map(cohort::load).transpose()?;
    // Neither output may be a file the cohort was read from.
    let mut guard = PathGuard::new();
    for c in std::iter::once(&new).chain(old.as_ref()) {
        for r in &c.recordings {
            for name in [RUN_FILE, "metrics.jsonl", "findings/findings.json"] {
                guard.input_file(&format!("{} {}", c.dir.display(), r.id), &c.dir.join(&r.id).join(name));
            }
        }
    }
    guard.output_file("--out", &a.out).output_file("--csv", &csv_path);
    guard.check()?;
    let diffs = old.as_ref().map(|o| cohort::compare(o, &new, tol));
    let html = cohort::to_html(&new, old.as_ref().zip(diffs.as_deref()).map(|(o, d)| (o, d, tol)))?;
    write_atomic("--out", &a.out, html.as_bytes())?;
    write_atomic("--csv", &csv_path, cohort::to_csv(&new)?.as_bytes())?;
    let lesions: usize = new.recordings.iter().map(|r| r.lesions.len()).sum();
    let failed = new.recordings.iter().filter(|r| r.status != crate::archive::record::Status::Ok).count();
    println!("cohort: {} recordings ({failed} failed), {lesions} lesions: {} and {}", new.recordings.len(), a.out.display(), csv_path.display());
    if let (Some(o), Some(d)) = (&old, &diffs) {
        println!("compared with {}: {} differences", o.dir.display(), d.len());
        for x in d {
            println!("  {x}");
        }
        if !d.is_empty() {
            return Err(DifferencesFound(d.len()).into());
        }
    }
    Ok(())
}
