//! The margin verdict is decided once, in the processor, from the smoothed figures: a thin-rim phantom
//! over several frames gets the same verdict in the metrics, in the overlay's colour on both backends
//! (the first margin contour red exactly when the verdict warns) and in the report, and `--margins-mm`
//! moves all of them together. The GPU half runs on whatever adapter exists (lavapipe in CI); without
//! one it is skipped with a message, unless NIRF_REQUIRE_GPU=1.

mod common;

use nirf_margin::analysis::{Analyzer, Lesion, LesionKind, MarginVerdict};
use nirf_margin::gpu::GpuAnalyzer;
use nirf_margin::metrics::FrameMetrics;
use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{PhantomConfig, RenderedFrame, SceneOptions, render};
use nirf_margin::processor::FrameProcessor;
use nirf_margin::reference::CpuAnalyzer;

use common::{gpu_or_skip, tmpdir};

const MM_PER_PX: f32 = 0.1;
const FRAMES: u32 = 6;

/// One round core of 8 mm in a complete rim of 0.7 mm: thinner than 1 mm, thicker than 0.3 mm.
fn thin_rim_frames() -> Vec<RenderedFrame> {
    let options = SceneOptions {
        rim_lesions: 1..=1,
        diffuse_lesions: 0..=0,
        ducts: 0..=0,
        glints: 0..=0,
        homogeneous: 0..=0,
        camera_motion: false,
        ..SceneOptions::default()
    };
    let cfg = PhantomConfig { width: 400, height: 300, frames: FRAMES, seed: 5, mm_per_px: MM_PER_PX, fps: 30.0, options };
    let mut scene = cfg.scene();
    let rim = &mut scene.rims[0];
    (rim.a, rim.b, rim.rim_mm, rim.tbr, rim.core_level, rim.shape) = (4.0, 4.0, 0.7, 4.0, 0.3, None);
    (0..FRAMES).map(|f| render(&scene, f)).collect()
}

/// Angles (of 120 around the lesion, the top quarter left out: the label sits there) at which the
/// first margin contour is drawn red, and at which cyan.
fn contour_colours(overlay: &nirf_margin::frame::RgbFrame, l: &Lesion, margin_px: f32) -> (usize, usize) {
    let radius = l.core_diameter_px.unwrap() / 2.0 + margin_px + 0.5;
    let [cx, cy] = l.centroid_px;
    let (mut red, mut cyan) = (0, 0);
    for k in 0..120 {
        let a = k as f32 * std::f32::consts::TAU / 120.0;
        if a.sin() < -0.7 {
            continue;
        }
        let px: Vec<[u8; 3]> = [-1.0f32, 0.0, 1.0]
            .iter()
            .map(|dr| overlay.pixel(((cx + (radius + dr) * a.cos()) as usize).min(overlay.width - 1), ((cy + (radius + dr) * a.sin()) as usize).min(overlay.height - 1)))
            .collect();
        red += px.iter().any(|p| p[0] > 180 && p[1] < 120 && p[2] < 120) as usize;
        cyan += px.iter().any(|p| p[0] < 120 && p[1] > 160 && p[2] > 180) as usize;
    }
    (red, cyan)
}

#[test]
fn a_thin_rim_gets_one_verdict_in_metrics_overlay_and_report() {
    let frames = thin_rim_frames();
    let d = tmpdir();
    for (margin, expected) in [(1.0f32, MarginVerdict::UnderMargin), (0.3, MarginVerdict::Ok)] {
        let params = AnalysisParams { margins_mm: vec![margin], ..AnalysisParams::with_scale(MM_PER_PX) };
        let mut backends: Vec<(&str, Box<dyn Analyzer>)> = vec![("cpu", Box::new(CpuAnalyzer::new(params.clone()).unwrap()))];
        if let Some(c) = gpu_or_skip() {
            backends.push(("gpu", Box::new(GpuAnalyzer::with_context(c, params.clone()).unwrap())));
        }
        for (name, analyzer) in backends {
            let mut proc = FrameProcessor::new(analyzer, params.clone(), 30.0);
            let mut text = String::new();
            for (i, f) in frames.iter().enumerate() {
                let r = proc.process(&f.wl, &f.nir, false).unwrap();
                let rims: Vec<&Lesion> = r.lesions.iter().filter(|l| l.kind == LesionKind::Rim).collect();
                assert_eq!(rims.len(), 1, "{name} margin {margin} frame {i}: {:?}", r.lesions);
                let rim = rims[0];
                assert!(!rim.partial && rim.min_rim_thickness_mm.is_some(), "{name} frame {i}: {rim:?}");
                // The processor's verdict...
                assert_eq!(rim.verdict, Some(expected), "{name} margin {margin} frame {i}: thinnest rim {:?} mm", rim.min_rim_thickness_mm);
                // ...is the overlay's colour...
                let (red, cyan) = contour_colours(&r.overlay, rim, params.mm_to_px(margin));
                if expected.warns() {
                    assert!(red >= 40 && cyan == 0, "{name} margin {margin} frame {i}: contour red at {red} angles, cyan at {cyan}");
                } else {
                    assert!(cyan >= 40 && red == 0, "{name} margin {margin} frame {i}: contour cyan at {cyan} angles, red at {red}");
                }
                // ...and the metrics line's.
                let line = serde_json::to_string(&FrameMetrics::analysed(i as u64, i as u64 * 33_333_333, &params, &r)).unwrap();
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(v["margins_mm"].to_string(), format!("[{margin:?}]"), "the margin judged against is recorded");
                assert_eq!(v["lesions"][0]["verdict"], expected.name(), "{line}");
                text += &line;
                text.push('\n');
            }
            // The report says what the metrics recorded, against the margin they recorded.
            let m = d.path().join(format!("{name}-{margin}.jsonl"));
            std::fs::write(&m, text).unwrap();
            let page = nirf_margin::report::render(&m, None).unwrap();
            let cell = match expected {
                MarginVerdict::UnderMargin => format!("<span class=\"warn\">rim under {margin} mm</span>"),
                _ => format!("rim ≥ {margin} mm</td>"),
            };
            assert!(page.contains(&cell), "{name} margin {margin}: the report lacks {cell}");
            assert_eq!(page.contains("class=\"warn\">rim"), expected.warns(), "{name} margin {margin}");
        }
    }
}
