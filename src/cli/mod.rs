//! The command line: one file a subcommand, clap derive. Parses and validates arguments, wires sources,
//! the frame processor and sinks together, reports progress and summaries. No analysis logic here.

pub mod analyze;
pub mod backend;
pub mod bench;
pub mod calibrate;
pub mod evaluate;
pub mod live;
pub mod options;
pub mod phantom;
pub mod report;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "nirf-margin", version, about = "Measure fluorescent rims and 1 mm tumour margins in ICG NIR fluorescence video (decision support)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse a recorded white-light + NIR pair: metrics, masks, overlay video, snapshot.
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
    }
}

/// Parse `WxH`.
pub fn parse_size(s: &str) -> Result<(usize, usize)> {
    let Some((w, h)) = s.split_once(['x', 'X']) else { bail!("size '{s}' is not WIDTHxHEIGHT") };
    let (w, h): (usize, usize) = (w.trim().parse()?, h.trim().parse()?);
    if w < 16 || h < 16 || w > 8192 || h > 8192 {
        bail!("size {w}x{h} is outside 16x16 .. 8192x8192");
    }
    Ok((w, h))
}
