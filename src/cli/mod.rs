//! The command line: one file a subcommand, clap derive. Parses and validates arguments, wires sources,
//! the frame processor and sinks together, reports progress and summaries. No analysis logic here.

// Public: `evaluate` (the accuracy tests score with it); the rest is the binary's, through `run`.
pub(crate) mod analyze;
pub(crate) mod batch;
pub(crate) mod bench;
pub(crate) mod calibrate;
pub(crate) mod cohort;
pub mod evaluate;
pub(crate) mod live;
pub(crate) mod manifest;
pub(crate) mod options;
pub(crate) mod phantom;
pub(crate) mod report;
pub(crate) mod signals;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "nirf-margin", version, about = "Measure fluorescent rims and 1 mm tumour margins in ICG NIR fluorescence video (decision support)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse a recorded white-light + NIR pair (two files or one side-by-side): metrics, masks, overlay video, snapshot.
    Analyze(analyze::AnalyzeArgs),
    /// Generate a synthetic phantom sequence with ground truth.
    Phantom(phantom::PhantomArgs),
    /// Score the analysis against freshly generated phantoms.
    Evaluate(evaluate::EvaluateArgs),
    /// Time the per-frame analysis on a phantom frame.
    Bench(bench::BenchArgs),
    /// Measure the image scale from a chessboard photo.
    Calibrate(calibrate::CalibrateArgs),
    /// Live processing: capture (or replay as if live), fail-safe overlay, display and recording.
    Live(live::LiveArgs),
    /// A self-contained HTML report of a run's metrics.
    Report(report::ReportArgs),
    /// Analyse every recording of a manifest into DIR/<id>/; a rerun redoes only what is missing, failed or stale.
    Batch(batch::BatchArgs),
    /// The cohort table and distributions of a batch's archive, and what changed since another run of it.
    Cohort(cohort::CohortArgs),
}

/// The exit status of a failed command: 2 for a comparison that found differences, else 1.
pub fn exit_status(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<cohort::DifferencesFound>().is_some() { 2 } else { 1 }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Phantom(a) => phantom::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Live(a) => live::run_cli(a),
        Command::Report(a) => report::run(a),
        Command::Batch(a) => batch::run(a),
        Command::Cohort(a) => cohort::run(a),
    }
}

/// Point `XDG_RUNTIME_DIR` at a private (0700) folder when it is unset or unusable, so that the display
/// and GPU libraries do not print "XDG_RUNTIME_DIR is invalid or not set". Call before any thread starts.
pub fn ensure_runtime_dir() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let usable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700 && uid.is_none_or(|u| m.uid() == u))
    };
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| usable(std::path::Path::new(&d))) {
        return;
    }
    let base = std::env::temp_dir();
    for dir in [base.join(format!("nirf-margin-xdg-{}", uid.unwrap_or(0))), base.join(format!("nirf-margin-xdg-{}", std::process::id()))] {
        let _ = std::fs::create_dir(&dir);
        if std::fs::metadata(&dir).is_ok_and(|m| uid.is_none_or(|u| m.uid() == u)) {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        if usable(&dir) {
            // SAFETY: called at the start of main, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
            return;
        }
    }
}
