//! `nirf-margin bench`: time the per-frame analysis (upload to readback on a GPU, everything on the
//! CPU) on a phantom frame, after warm-up, and report the median, the 99th percentile and each stage.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use crate::cli::backend::{BackendChoice, make_analyzer};
use crate::cli::values;
use crate::params::AnalysisParams;
use crate::phantom::{PhantomConfig, render};
use crate::processor::FrameProcessor;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Frame size, WIDTHxHEIGHT (16–8192 a side).
    #[arg(long, default_value = "1920x1080", value_parser = values::size)]
    pub size: (usize, usize),
    #[arg(long, default_value_t = 60, value_parser = values::frame_count)]
    pub frames: u32,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Image scale, mm/px (0.005–2).
    #[arg(long, default_value_t = 0.08, value_parser = values::mm_per_px, allow_hyphen_values = true)]
    pub mm_per_px: f32,
    /// Rim lesions in the phantom frames (default: the phantom's 2-4; at most 64); more lesions, more
    /// work for the CPU backend, which visits only the pixels around them.
    #[arg(long, value_parser = values::rim_lesions)]
    pub rim_lesions: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `stats::percentile`, 0 for no sample.
fn percentile(v: &mut [f64], q: f64) -> f64 {
    crate::stats::percentile(v, q).unwrap_or(0.0)
}

pub fn run(a: BenchArgs) -> Result<()> {
    let (width, height) = a.size;
    if a.frames == 0 {
        bail!("--frames must be at least 1");
    }
    let mut cfg = PhantomConfig { width, height, frames: 4, seed: 42, mm_per_px: a.mm_per_px, ..Default::default() };
    if let Some(n) = a.rim_lesions {
        cfg.options.rim_lesions = n..=n;
    }
    let scene = cfg.scene();
    let inputs: Vec<_> = (0..4).map(|f| render(&scene, f)).collect();
    let params = AnalysisParams::with_scale(a.mm_per_px);
    let mut proc = FrameProcessor::new(make_analyzer(a.backend, &params)?, params, 30.0);
    for r in inputs.iter().take(3) {
        proc.process(&r.wl, &r.nir, false)?; // warm-up: shader compilation, allocations
    }
    let mut totals = Vec::with_capacity(a.frames as usize);
    let mut stages: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for k in 0..a.frames as usize {
        let r = &inputs[k % inputs.len()];
        let t = Instant::now();
        let res = proc.process(&r.wl, &r.nir, false)?;
        totals.push(t.elapsed().as_secs_f64() * 1e3);
        for (name, ms) in res.timings.0 {
            stages.entry(name).or_default().push(ms);
        }
    }
    let median = percentile(&mut totals, 0.5);
    let stage_medians: serde_json::Map<String, serde_json::Value> = stages
        .into_iter()
        .map(|(k, mut v)| (k, json!((percentile(&mut v, 0.5) * 1000.0).round() / 1000.0)))
        .collect();
    let describe = proc.describe();
    // "cpu (2 threads)" or "gpu: <adapter> (<api>, <type>)".
    let backend = describe.split([':', ' ']).next().unwrap_or("").to_string();
    let adapter = describe.split_once(": ").map_or(describe.clone(), |(_, rest)| rest.to_string());
    let report = json!({
        "backend": backend,
        "scene_rim_lesions": scene.rims.len(),
        "adapter": adapter,
        "width": width,
        "height": height,
        "frames": a.frames,
        "fps": (1000.0 / median * 10.0).round() / 10.0,
        "ms_median": (median * 1000.0).round() / 1000.0,
        "ms_p99": (percentile(&mut totals, 0.99) * 1000.0).round() / 1000.0,
        "stages_ms": stage_medians,
    });
    if a.json {
        println!("{report}");
    } else {
        println!("{describe}: {width}x{height}, {} frames", a.frames);
        println!("median {median:.2} ms ({:.1} frames/s), p99 {:.2} ms", 1000.0 / median, percentile(&mut totals, 0.99));
        for (k, v) in report["stages_ms"].as_object().into_iter().flatten() {
            println!("  {k:<16} {v} ms");
        }
    }
    Ok(())
}
