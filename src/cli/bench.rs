//! `nirf-margin bench`: time the per-frame analysis (upload to readback on a GPU, everything on the
//! CPU) on a phantom frame, after warm-up, and report the median, the 99th percentile and each stage;
//! on a GPU also the device-memory traffic and the dispatches of a frame, per stage, counted from the
//! buffers each dispatch binds (`analysis::Traffic`: an upper bound). `--compare BASELINE` checks the
//! run against a baseline of earlier runs (JSON lines of `bench --json`, the entry of the same backend
//! and size) and fails when a stage regresses (`compare`). Beside the timings, the host's memory read
//! rate as one core sees it, before and after the run (`host_read_gbps`): the CPU analysis is bound by
//! memory traffic, and a shared machine's bandwidth varies from minute to minute, so a run's timings are
//! read against it.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::backend::{BackendChoice, make_analyzer};
use crate::values;
use crate::params::AnalysisParams;
use crate::phantom::{PhantomConfig, render};
use crate::processor::FrameProcessor;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Frame size, WIDTHxHEIGHT (16–8192 a side).
    #[arg(long, default_value = "1920x1080", )]
    pub size: crate::frame::FrameSize,
    #[arg(long, default_value_t = 60, value_parser = values::frame_count)]
    pub frames: u32,
    #[arg(long, value_parser = crate::cli::options::backend_parser(), default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Image scale, mm/px (0.005–2).
    #[arg(long, default_value_t = 0.08, value_parser = values::mm_per_px, allow_hyphen_values = true)]
    pub mm_per_px: f32,
    /// Rim lesions in the phantom frames (default: the phantom's 2-4; at most 64); more lesions, more
    /// work for the CPU backend, which visits only the pixels around them.
    #[arg(long, value_parser = values::rim_lesions)]
    pub rim_lesions: Option<usize>,
    /// The mode (`--mode transection` or `wound-bed` adds the check of the ROI to each frame), ROI and TBR.
    #[command(flatten)]
    pub checks: crate::cli::options::CheckArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Compare with a baseline (JSON lines of `bench --json`; the entry of this backend and size) and
    /// exit non-zero when a stage regresses.
    #[arg(long, value_name = "BASELINE.json")]
    pub compare: Option<std::path::PathBuf>,
    /// A stage regresses when its median time grows by more than this percentage (and by more than
    /// 0.05 ms), or its traffic or dispatches grow at all.
    #[arg(long, default_value_t = 15.0, value_parser = values::tolerance_pct, allow_hyphen_values = true)]
    pub tolerance: f64,
}

/// The host's memory read rate as one core sees it (GB/s): the median of five passes summing a 64 MB
/// buffer, larger than any cache. On the 2-core development VM the same build's 1080p frame time follows
/// it (it varied by about 2× within one run), so `bench` reports it beside the timings.
fn host_read_gbps() -> f64 {
    let buf = vec![1u64; 8 << 20];
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let sum = std::hint::black_box(&buf).iter().fold(0u64, |a, &v| a.wrapping_add(v));
            std::hint::black_box(sum);
            (buf.len() * 8) as f64 / t.elapsed().as_secs_f64().max(1e-9) / 1e9
        })
        .collect();
    percentile(&mut rates, 0.5)
}

/// `stats::percentile`, 0 for no sample.
fn percentile(v: &mut [f64], q: f64) -> f64 {
    crate::stats::percentile(v, q).unwrap_or(0.0)
}

pub fn run(a: BenchArgs) -> Result<()> {
    let crate::frame::FrameSize { width, height } = a.size;
    if a.frames == 0 {
        bail!("--frames must be at least 1");
    }
    // The baseline is read before the run: a missing or unreadable one fails at once.
    let baseline = match &a.compare {
        Some(p) => Some((p, std::fs::read_to_string(p).with_context(|| format!("--compare {}: cannot read", p.display()))?)),
        None => None,
    };
    let mut cfg = PhantomConfig { width, height, frames: 4, seed: 42, mm_per_px: a.mm_per_px, ..Default::default() };
    if let Some(n) = a.rim_lesions {
        cfg.options.rim_lesions = n..=n;
    }
    let scene = cfg.scene();
    let inputs: Vec<_> = (0..4).map(|f| render(&scene, f)).collect();
    let params = AnalysisParams::with_scale(a.mm_per_px);
    let mut proc = FrameProcessor::new(make_analyzer(a.backend, &params)?, params, 30.0);
    proc.set_checks(a.checks.settings()?);
    // Before the warm-up, so that the caches the read flushes are warm again when the timing starts.
    let host_before = host_read_gbps();
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
    let host_after = host_read_gbps();
    let median = percentile(&mut totals, 0.5);
    let stage_medians: serde_json::Map<String, serde_json::Value> = stages
        .into_iter()
        .map(|(k, mut v)| (k, json!((percentile(&mut v, 0.5) * 1000.0).round() / 1000.0)))
        .collect();
    // The traffic depends on the frame (the statistics records count its components) and on the one
    // before it (a GPU reads back as many drawn tiles as the last frame drew and an eighth more): that of
    // the first phantom frame after itself, whatever `--frames`, so that runs and the baseline compare.
    for _ in 0..2 {
        proc.process(&inputs[0].wl, &inputs[0].nir, false)?;
    }
    let traffic = proc.traffic();
    let describe = proc.describe();
    // "cpu (2 threads)" or "gpu: <adapter> (<api>, <type>)".
    let backend = describe.split([':', ' ']).next().unwrap_or("").to_string();
    let adapter = describe.split_once(": ").map_or(describe.clone(), |(_, rest)| rest.to_string());
    let report = json!({
        "backend": backend,
        "mode": a.checks.mode.name(),
        "scene_rim_lesions": scene.rims.len(),
        "adapter": adapter,
        "width": width,
        "height": height,
        "frames": a.frames,
        "fps": (1000.0 / median * 10.0).round() / 10.0,
        "ms_median": (median * 1000.0).round() / 1000.0,
        "ms_p99": (percentile(&mut totals, 0.99) * 1000.0).round() / 1000.0,
        "stages_ms": stage_medians,
        "host_read_gbps": [(host_before * 10.0).round() / 10.0, (host_after * 10.0).round() / 10.0],
    });
    let mut report = report;
    if let Some(t) = &traffic {
        report["bytes_per_frame"] = json!(t.bytes());
        report["dispatches"] = json!(t.dispatches());
        report["stages"] = t.0.iter().map(|s| (s.stage.clone(), json!({"bytes": s.bytes, "dispatches": s.dispatches}))).collect::<serde_json::Map<_, _>>().into();
    }
    if a.json {
        println!("{report}");
    } else {
        println!("{describe}: {width}x{height}, {} frames, {}", a.frames, a.checks.mode.name());
        println!("median {median:.2} ms ({:.1} frames/s), p99 {:.2} ms", 1000.0 / median, percentile(&mut totals, 0.99));
        for (k, v) in report["stages_ms"].as_object().into_iter().flatten() {
            println!("  {k:<16} {v} ms");
        }
        println!("host memory read (one core) {host_before:.1} GB/s before the run, {host_after:.1} after");
        if let Some(t) = &traffic {
            println!("device traffic (upper bound) {:.1} MB a frame, {} dispatches", t.bytes() as f64 / 1e6, t.dispatches());
            for s in &t.0 {
                println!("  {:<16} {:>9.1} MB {:>3} dispatches", s.stage, s.bytes as f64 / 1e6, s.dispatches);
            }
        }
    }
    if let Some((path, text)) = baseline {
        let base = find_baseline(&text, &report).with_context(|| format!("--compare {}", path.display()))?;
        let regressions = compare(&base, &report, a.tolerance);
        if let Some(rate) = base["host_read_gbps"].as_array() {
            // Informational: a slower host explains slower timings, but a regression is still one.
            eprintln!("bench: host memory read {host_before:.1}–{host_after:.1} GB/s now, {} in the baseline", rate.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("–"));
        }
        if regressions.is_empty() {
            eprintln!("bench: no stage regressed against {} (tolerance {}%)", path.display(), a.tolerance);
        } else {
            for r in &regressions {
                eprintln!("bench: regression: {r}");
            }
            bail!("{} regression(s) against {} (tolerance {}%)", regressions.len(), path.display(), a.tolerance);
        }
    }
    Ok(())
}

/// The baseline entry (a line of JSON lines, or a whole-file object) of the same backend, frame size and
/// mode (an entry without a mode is a survey's: baselines from before `--mode`).
fn find_baseline(text: &str, run: &serde_json::Value) -> Result<serde_json::Value> {
    let mode = |v: &serde_json::Value| v["mode"].as_str().unwrap_or("survey").to_string();
    let key = |v: &serde_json::Value| (v["backend"].clone(), v["width"].clone(), v["height"].clone(), mode(v));
    let entries: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(v)) => v,
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| serde_json::from_str(l).with_context(|| format!("line {}: not a bench --json line", n + 1)))
            .collect::<Result<_>>()?,
    };
    entries.into_iter().find(|e| key(e) == key(run)).with_context(|| {
        format!("no entry for backend {} at {}x{} in {} mode (refresh the baseline with bench --json)", run["backend"], run["width"], run["height"], mode(run))
    })
}

/// What regressed from `base` to `run`: each stage's median time beyond `tolerance_pct` percent (and
/// 0.05 ms, under which timer noise dominates), the whole frame's likewise, and any growth of the
/// traffic or the dispatches (deterministic, so no tolerance). Stages in only one of them are skipped.
pub fn compare(base: &serde_json::Value, run: &serde_json::Value, tolerance_pct: f64) -> Vec<String> {
    let mut out = Vec::new();
    let slower = |name: &str, b: f64, r: f64, out: &mut Vec<String>| {
        if r > b * (1.0 + tolerance_pct / 100.0) && r - b > 0.05 {
            out.push(format!("{name}: {r:.3} ms against {b:.3} ms (+{:.0}%)", (r / b - 1.0) * 100.0));
        }
    };
    if let (Some(b), Some(r)) = (base["ms_median"].as_f64(), run["ms_median"].as_f64()) {
        slower("frame", b, r, &mut out);
    }
    for (name, r) in run["stages_ms"].as_object().into_iter().flatten() {
        if let (Some(b), Some(r)) = (base["stages_ms"][name].as_f64(), r.as_f64()) {
            slower(name, b, r, &mut out);
        }
    }
    let mut grew = |what: String, b: &serde_json::Value, r: &serde_json::Value| {
        if let (Some(b), Some(r)) = (b.as_u64(), r.as_u64()) {
            if r > b {
                out.push(format!("{what}: {r} against {b}"));
            }
        }
    };
    grew("bytes_per_frame".into(), &base["bytes_per_frame"], &run["bytes_per_frame"]);
    grew("dispatches".into(), &base["dispatches"], &run["dispatches"]);
    for (name, r) in run["stages"].as_object().into_iter().flatten() {
        for k in ["bytes", "dispatches"] {
            grew(format!("{name} {k}"), &base["stages"][name][k], &r[k]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ms: f64, norm_ms: f64, bytes: u64) -> serde_json::Value {
        json!({"backend": "gpu", "width": 1920, "height": 1080, "ms_median": ms, "stages_ms": {"gpu_normalize": norm_ms, "gpu_tiny": 0.01},
               "bytes_per_frame": bytes, "dispatches": 30, "stages": {"normalize": {"bytes": bytes, "dispatches": 3}}})
    }

    #[test]
    fn a_slower_stage_or_more_traffic_is_a_regression_within_tolerance_is_not() {
        let base = run(10.0, 2.0, 1000);
        assert!(compare(&base, &run(10.5, 2.2, 1000), 15.0).is_empty());
        let slow = compare(&base, &run(10.5, 3.0, 1000), 15.0);
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert!(slow[0].starts_with("gpu_normalize"));
        let heavy = compare(&base, &run(10.0, 2.0, 1001), 15.0);
        assert_eq!(heavy.len(), 2, "{heavy:?}"); // the frame's bytes and the stage's
        // A tiny stage's noise is not a regression.
        let mut noisy = run(10.0, 2.0, 1000);
        noisy["stages_ms"]["gpu_tiny"] = json!(0.04);
        assert!(compare(&base, &noisy, 15.0).is_empty());
    }

    #[test]
    fn the_baseline_entry_is_the_one_of_the_same_backend_and_size() {
        let text = format!("{}\n{}\n", json!({"backend": "cpu", "width": 1920, "height": 1080, "ms_median": 1.0}), run(10.0, 2.0, 5));
        let found = find_baseline(&text, &run(11.0, 2.0, 5)).unwrap();
        assert_eq!(found["ms_median"], 10.0);
        let other = json!({"backend": "gpu", "width": 3840, "height": 2160});
        assert!(find_baseline(&text, &other).unwrap_err().to_string().contains("3840x2160"));
        // An entry without a mode is a survey's; a check's run wants an entry of its own mode.
        let mut check = run(11.0, 2.0, 5);
        check["mode"] = json!("transection");
        assert!(find_baseline(&text, &check).unwrap_err().to_string().contains("transection"));
        let text = format!("{text}{}\n", json!({"backend": "gpu", "width": 1920, "height": 1080, "mode": "transection", "ms_median": 12.0}));
        assert_eq!(find_baseline(&text, &check).unwrap()["ms_median"], 12.0);
    }
}
