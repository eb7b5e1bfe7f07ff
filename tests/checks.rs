//! The trial's checks on phantoms: in transection and wound-bed scenes with residual fluorescence (blobs
//! and arcs cut through a rim) the flag is raised on at least 98% of frames once steady; on clean cut
//! surfaces it is never raised over 300 frames; the wound-bed verdict counts what was there.

use nirf_margin::measure::findings::Mode;
use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{PhantomConfig, SceneOptions, render};
use nirf_margin::processor::{CheckSettings, FrameProcessor};
use nirf_margin::reference::CpuAnalyzer;

fn processor(mm: f32, mode: Mode) -> FrameProcessor {
    let p = AnalysisParams::with_scale(mm);
    let mut proc = FrameProcessor::new(Box::new(CpuAnalyzer::new(p.clone()).unwrap()), p, 30.0);
    proc.set_checks(CheckSettings { mode, roi: None, min_tbr: 1.5 });
    proc
}

#[test]
fn residual_fluorescence_is_flagged_on_transection_scenes() {
    let (mut flagged, mut total) = (0, 0);
    for seed in 0..8u64 {
        let cfg = PhantomConfig { width: 320, height: 240, frames: 15, seed: 700 + seed, mm_per_px: 0.1, options: SceneOptions::cut_surface(1..=3), ..Default::default() };
        let scene = cfg.scene();
        assert!(!scene.residuals.is_empty(), "seed {}: scene without residual fluorescence", cfg.seed);
        let mut proc = processor(cfg.mm_per_px, Mode::Transection);
        for f in 0..cfg.frames {
            let r = render(&scene, f);
            let res = proc.process(&r.wl, &r.nir, false).unwrap();
            let findings = res.findings.expect("transection mode reports findings");
            if f >= 2 {
                // (the steady flag needs two frames)
                total += 1;
                flagged += findings.flag as u32;
            }
        }
    }
    let rate = flagged as f32 / total as f32;
    assert!(rate >= 0.98, "residual fluorescence flagged on {:.1}% of frames", rate * 100.0);
}

#[test]
fn a_clean_cut_surface_is_never_flagged_over_300_frames() {
    let cfg = PhantomConfig { width: 320, height: 240, frames: 300, seed: 800, mm_per_px: 0.1, options: SceneOptions::cut_surface(0..=0), ..Default::default() };
    let scene = cfg.scene();
    let mut proc = processor(cfg.mm_per_px, Mode::WoundBed);
    for f in 0..cfg.frames {
        let r = render(&scene, f);
        let res = proc.process(&r.wl, &r.nir, false).unwrap();
        assert!(!res.findings.unwrap().flag, "false flag on a clean surface at frame {f}");
    }
    assert_eq!(proc.findings().verdict(), "no fluorescence above TBR 1.5 in 300 frames");
}

#[test]
fn the_wound_bed_verdict_counts_the_spots_that_were_there() {
    let cfg = PhantomConfig { width: 400, height: 300, frames: 10, seed: 901, mm_per_px: 0.1, options: SceneOptions::cut_surface(2..=2), ..Default::default() };
    let scene = cfg.scene();
    let n = scene.residuals.len();
    assert!(n >= 1);
    let mut proc = processor(cfg.mm_per_px, Mode::WoundBed);
    for f in 0..cfg.frames {
        let r = render(&scene, f);
        proc.process(&r.wl, &r.nir, false).unwrap();
    }
    let confirmed = proc.findings().confirmed();
    assert_eq!(confirmed.len(), n, "verdict: {}", proc.findings().verdict());
    let largest = scene.residuals.iter().map(|r| r.area_mm2()).fold(0.0f32, f32::max);
    let measured = confirmed.iter().filter_map(|t| t.max_area_mm2).fold(0.0f32, f32::max);
    // The fluorescence mask includes the scatter blur's shoulder: within 40% of the drawn area.
    assert!((measured - largest).abs() <= 0.4 * largest + 0.5, "largest spot {measured} mm² vs {largest} mm²");
    assert!(proc.findings().verdict().starts_with(&format!("{n} fluorescent spot")));
}

/// A NIR-only glint with a soft skirt (a Gaussian of sigma 6 px, three times over the sensor's range at
/// its centre: clipped over 150 px, its skirt above TBR 1.5 over about 600) on a clean wound bed is no
/// spot, whatever its size; a residual disc at TBR 2.2 beside it is one.
#[test]
fn a_nir_only_glint_is_no_spot_whatever_its_size() {
    let (w, h) = (320usize, 240usize);
    let frame = |residual: bool| {
        let mut state = 11u64;
        let nir: Vec<u16> = (0..w * h)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02;
                let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                let glint = 3.0 * 4095.0 * (-0.5 * ((x - 130.0).powi(2) + (y - 120.0).powi(2)) / 36.0).exp();
                let spot = if residual && (x - 200.0).hypot(y - 120.0) < 12.0 { 2.2 } else { 1.0 };
                (1000.0 * spot * (1.0 + noise) + glint).round().clamp(0.0, 4095.0) as u16
            })
            .collect();
        let wl = (0..w * h).flat_map(|_| [150u8, 62, 50]).collect();
        (nirf_margin::frame::RgbFrame::from_vec(w, h, wl).unwrap(), nirf_margin::frame::NirFrame::from_vec(w, h, nir).unwrap())
    };
    for residual in [false, true] {
        let (wl, nir) = frame(residual);
        let mut proc = processor(0.1, Mode::WoundBed);
        for _ in 0..3 {
            let spots = proc.process(&wl, &nir, false).unwrap().findings.unwrap().spots;
            let near = |cx: f32| spots.iter().filter(|s| (s.centroid_px[0] - cx).abs() < 15.0 && (s.centroid_px[1] - 120.0).abs() < 15.0).count();
            assert_eq!(near(130.0), 0, "the glint is a spot: {spots:?}");
            assert_eq!(near(200.0), residual as usize, "residual {residual}: {spots:?}");
        }
    }
}
