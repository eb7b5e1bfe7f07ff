//! Detection beyond the plain phantoms, on scenes of the broad family (texture up to 25%, lobulated
//! cores, rims of varying thickness and with gaps, cores as bright as the liver, scatter halo, veins,
//! instruments, blur, haze, gain, NIR-only glints) with seeds no tuning used (tuning: 9000 onwards;
//! README figures: 20000 onwards). Scored against the generator's geometric truth, per condition.

use nirf_margin::analysis::LesionKind;
use nirf_margin::measure::conditions::{ConditionScores, scene_buckets};
use nirf_margin::params::AnalysisParams;
use nirf_margin::phantom::{InView, PhantomConfig, SceneOptions, render};
use nirf_margin::processor::FrameProcessor;
use nirf_margin::reference::CpuAnalyzer;

fn processor(mm_per_px: f32) -> FrameProcessor {
    let p = AnalysisParams::with_scale(mm_per_px);
    FrameProcessor::new(Box::new(CpuAnalyzer::new(p.clone()).unwrap()), p, 30.0)
}

#[test]
fn broad_family_rims_are_found_and_texture_gives_few_false_lesions() {
    let mut scores = ConditionScores::default();
    for (k, mm) in [0.05f32, 0.08, 0.12, 0.06, 0.1, 0.14].into_iter().enumerate() {
        let cfg = PhantomConfig { width: 960, height: 540, frames: 2, seed: 41 + k as u64, mm_per_px: mm, fps: 30.0, options: SceneOptions::broad() };
        let scene = cfg.scene();
        let buckets = scene_buckets(Some(&scene.variation), cfg.width, cfg.height, mm);
        let mut proc = processor(mm);
        for f in 0..cfg.frames {
            let r = render(&scene, f);
            let res = proc.process(&r.wl, &r.nir, true).unwrap();
            scores.add_frame(&buckets, &res.lesions, &r.truth, res.classes.as_ref().unwrap(), &r.classes, mm);
        }
    }
    let all = scores.all();
    let rim = |band: &str| scores.lesion.get("rim").and_then(|m| m.get(band)).cloned().unwrap_or_default();
    let (complete, gap) = (rim("complete"), rim("gap 15-50 deg"));
    eprintln!(
        "complete {}/{}, gap {}/{}, false lesions/frame {:.2}, core MAE (complete) {:?} (gap) {:?}, thickness MAE {:?}, Dice core {:.3} rim {:.3}",
        complete.true_positives,
        complete.true_positives + complete.false_negatives,
        gap.true_positives,
        gap.true_positives + gap.false_negatives,
        all.false_lesions_per_frame(),
        complete.diameter_mae_mm(),
        gap.diameter_mae_mm(),
        all.thickness_mae_mm(),
        all.dice_core(),
        all.dice_rim()
    );
    for l in &all.false_detections {
        eprintln!("false detection: {:?} TBR {:.2} at {:?} diameter {:?} coverage {:?}", l.kind, l.tbr, l.centroid_px, l.core_diameter_mm, l.rim_coverage);
    }
    assert!(complete.true_positives + complete.false_negatives >= 8 && gap.true_positives + gap.false_negatives >= 4, "too few lesions to test");
    // Floors under what the method reaches on this sample today (complete 26/26, gap 17/18, 0.08 false
    // lesions a frame, core MAE 0.043 mm complete and 0.068 mm with a gap, thickness 0.14 mm, Dice core
    // 0.960 and rim 0.899); issue 10's goals are higher where these are lower. A change that loses ground
    // fails here. (Thickness MAE rose to 0.160 mm when half the broad family's scenes got a texture skewed
    // to bright grains, `Variation::skewed`: grains touching a rim widen its outer edge; the floor is
    // 0.17 on this sample since; 0.068 since the thickness is read direction by direction between the
    // edges' halfway levels, `reference::edges`, and the floor is 0.10.) (Core MAE of the complete rims was 0.22 mm before the core's edge was located direction by
    // direction, `reference::edges`: one level for the whole core put it out in the rim's dim stretches.)
    assert!(complete.sensitivity() >= 0.95, "complete rims found: {}", complete.sensitivity());
    assert!(gap.sensitivity() >= 0.85, "rims with a gap found: {}", gap.sensitivity());
    assert!(all.precision() >= 0.95, "rim precision {}", all.precision());
    assert!(all.false_lesions_per_frame() <= 0.2, "false lesions a frame: {}", all.false_lesions_per_frame());
    assert!(complete.diameter_mae_mm().unwrap() <= 0.10, "core diameter MAE {:?}", complete.diameter_mae_mm());
    assert!(gap.diameter_mae_mm().unwrap() <= 0.15, "core diameter MAE (rims with a gap) {:?}", gap.diameter_mae_mm());
    assert!(all.thickness_mae_mm().unwrap() <= 0.10, "rim thickness MAE {:?}", all.thickness_mae_mm());
    // Dice core 0.964 and rim 0.902 before the class map followed the rim's located edges (core to the
    // core's edge, rim to its outer edge: `reference::class_map`); 0.976 and 0.936 since.
    assert!(all.dice_core() >= 0.95 && all.dice_rim() >= 0.91, "Dice core {} rim {}", all.dice_core(), all.dice_rim());
}

/// By the time of surgery the liver has cleared its ICG: a core as bright as the liver around it is a
/// core all the same, when its rim encloses it.
#[test]
fn a_core_as_bright_as_the_liver_is_a_core() {
    let cfg = PhantomConfig { width: 800, height: 600, frames: 1, seed: 61, mm_per_px: 0.08, options: SceneOptions { rim_lesions: 3..=4, ..SceneOptions::default() }, ..Default::default() };
    let mut scene = cfg.scene();
    for l in &mut scene.rims {
        l.core_level = 1.0;
    }
    let r = render(&scene, 0);
    let res = processor(cfg.mm_per_px).process(&r.wl, &r.nir, false).unwrap();
    let in_view: Vec<_> = r.truth.lesions.iter().filter(|t| t.kind == LesionKind::Rim && t.in_view == InView::Full).collect();
    assert!(!in_view.is_empty());
    for t in in_view {
        let found = res.lesions.iter().any(|l| l.kind == LesionKind::Rim && (l.centroid_px[0] - t.centroid_px[0]).hypot(l.centroid_px[1] - t.centroid_px[1]) < 5.0);
        assert!(found, "lesion {} with a core at the liver's level not found", t.id);
    }
}

/// A rim with a gap: its lesion is found, its coverage says how much of the boundary has rim (within 0.1
/// of the truth's), and its verdict is "rim incomplete" (no thinnest-rim figure vouches for the gap).
#[test]
fn a_rim_with_a_gap_is_reported_incomplete() {
    let cfg = PhantomConfig { width: 800, height: 600, frames: 1, seed: 62, mm_per_px: 0.08, options: SceneOptions { rim_lesions: 2..=3, ..SceneOptions::broad() }, ..Default::default() };
    let mut scene = cfg.scene();
    scene.variation = Default::default(); // only the shapes: no texture, halo or blur
    scene.variation.texture = 0.05;
    scene.variation.grain_mm = 2.0;
    scene.veins.clear();
    scene.shafts.clear();
    scene.blobs.clear();
    for (k, l) in scene.rims.iter_mut().enumerate() {
        let (shape, _) = l.shape.as_mut().unwrap();
        shape.gap = Some((k as f32, 40f32.to_radians()));
        let truth = shape.truth(l.a, l.b, l.rim_mm);
        l.shape.as_mut().unwrap().1 = truth;
    }
    let r = render(&scene, 0);
    let res = processor(cfg.mm_per_px).process(&r.wl, &r.nir, false).unwrap();
    let mut checked = 0;
    for t in r.truth.lesions.iter().filter(|t| t.kind == LesionKind::Rim && t.in_view == InView::Full) {
        let l = res
            .lesions
            .iter()
            .find(|l| l.kind == LesionKind::Rim && (l.centroid_px[0] - t.centroid_px[0]).hypot(l.centroid_px[1] - t.centroid_px[1]) < 0.3 * t.core_diameter_mm.unwrap() / cfg.mm_per_px)
            .unwrap_or_else(|| panic!("lesion {} with a 40° gap not found", t.id));
        let (c, truth) = (l.rim_coverage.unwrap(), t.rim_coverage.unwrap());
        // Coverage by direction: 0.81 against the truth's 0.89 here (the rim's blurred ends read as gap).
        assert!(c < 0.97 && (c - truth).abs() <= 0.1, "lesion {}: coverage {c} (truth {truth})", t.id);
        assert!(l.min_rim_thickness_mm.is_none(), "lesion {}: a thinnest rim claimed across a gap", t.id);
        checked += 1;
    }
    assert!(checked >= 1);
}

/// A synthetic pair of `w`×`h`: the NIR is 1000 counts of a 12-bit sensor times `ratio(x, y)` (clipped
/// at 4095) with 1% of deterministic noise, the white light plain liver.
fn synthetic(w: usize, h: usize, ratio: impl Fn(f32, f32) -> f32) -> (nirf_margin::frame::RgbFrame, nirf_margin::frame::NirFrame) {
    let mut state = 7u64;
    let nir = (0..w * h)
        .map(|i| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02;
            let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
            (1000.0 * ratio(x, y) * (1.0 + noise)).round().clamp(0.0, 4095.0) as u16
        })
        .collect();
    let wl = (0..w * h).flat_map(|_| [150u8, 62, 50]).collect();
    (nirf_margin::frame::RgbFrame::from_vec(w, h, wl).unwrap(), nirf_margin::frame::NirFrame::from_vec(w, h, nir).unwrap())
}

fn process_with(p: AnalysisParams, wl: &nirf_margin::frame::RgbFrame, nir: &nirf_margin::frame::NirFrame) -> Vec<nirf_margin::analysis::Lesion> {
    let mut proc = FrameProcessor::new(Box::new(CpuAnalyzer::new(p.clone()).unwrap()), p, 30.0);
    proc.process(wl, nir, false).unwrap().lesions
}

/// The median rim thickness (mm) of the one rim lesion the CPU finds in a pair.
fn one_rim_thickness(p: AnalysisParams, wl: &nirf_margin::frame::RgbFrame, nir: &nirf_margin::frame::NirFrame) -> f32 {
    let lesions = process_with(p, wl, nir);
    let rims: Vec<_> = lesions.iter().filter(|l| l.kind == LesionKind::Rim).collect();
    assert_eq!(rims.len(), 1, "{lesions:?}");
    rims[0].rim_thickness_mm.unwrap()
}

/// A ring (radii 20 and 28 px at 0.1 mm/px: 0.8 mm thick) with ten specks of fluorescence (textured
/// liver's grains, a duct's stray bits) 4.5 mm from its centre, within the rim search but apart from the
/// ring: the rim is the fluorescence touching the core, so the thickness is the ring's; counting every
/// fluorescent pixel within reach (`rim_touches_core` off) reads it thicker.
#[test]
fn specks_beside_a_rim_are_not_its_rim() {
    let (wl, nir) = synthetic(240, 200, |x, y| {
        let r = (x - 120.0).hypot(y - 100.0);
        let speck = (0..10).any(|k| {
            let a = k as f32 * std::f32::consts::TAU / 10.0;
            (x - 120.0 - 45.0 * a.cos()).hypot(y - 100.0 - 45.0 * a.sin()) < 3.5
        });
        if r < 20.0 { 0.6 } else if r < 28.0 || speck { 2.5 } else { 1.0 }
    });
    let thickness = |p: AnalysisParams| one_rim_thickness(p, &wl, &nir);
    let touching = thickness(AnalysisParams::with_scale(0.1));
    // Counted pixel by pixel: taken direction by direction, ten specks hold ten sectors of 72 and
    // would not move the figure either.
    let reach = thickness(AnalysisParams { rim_touches_core: false, core_edge_rise_sigmas: 0.0, ..AnalysisParams::with_scale(0.1) });
    assert!((touching - 0.8).abs() <= 0.12, "rim thickness {touching} mm against 0.8");
    assert!(reach > touching + 0.2, "the specks do not move the figure that counts them ({reach} against {touching}): the test shows nothing");
}

/// A ring (radii 20 and 28 px at 0.1 mm/px: 0.8 mm thick) with a duct 1.2 mm wide running past it,
/// joined to its outer edge: the duct's long edges lie within the rim search, so counted pixel by pixel
/// they outnumber the ring's outer edge and thicken the rim; taken direction by direction about the
/// core (one median a sector of 5°), the duct holds a few sectors and the thickness is the ring's.
#[test]
fn a_duct_joined_to_a_rim_does_not_thicken_it() {
    let (wl, nir) = synthetic(320, 200, |x, y| {
        let r = (x - 100.0).hypot(y - 100.0);
        let duct = (127.0..139.0).contains(&y);
        if r < 20.0 { 0.6 } else if r < 28.0 || duct { 2.5 } else { 1.0 }
    });
    let thickness = |p: AnalysisParams| one_rim_thickness(p, &wl, &nir);
    let by_direction = thickness(AnalysisParams::with_scale(0.1));
    let by_pixel = thickness(AnalysisParams { core_edge_rise_sigmas: 0.0, ..AnalysisParams::with_scale(0.1) });
    assert!((by_direction - 0.8).abs() <= 0.12, "rim thickness {by_direction} mm against 0.8");
    assert!(by_pixel > by_direction + 0.2, "the duct does not move the figure counted by pixel ({by_pixel} against {by_direction}): the test shows nothing");
}

/// A ring whose edges rise over 4 px (blur and scatter soften them): the core at 0.9 of the background
/// rises to the rim's 3.9 between radii 18 and 22 px, and the rim falls back to the background between
/// 26 and 30 px, so each edge's halfway level lies at 20 and 28 px: 0.8 mm at 0.1 mm/px. The
/// fluorescence level is crossed near the foot of the inner rise, so the core's mask ends some 1.5 px
/// inside its edge. Read direction by direction between both edges' halfway levels, the rim is its own
/// width; measured from the mask out to the outer edge (the stage off) it reads that much thicker.
#[test]
fn a_soft_inner_edge_does_not_thicken_the_rim() {
    let (wl, nir) = synthetic(240, 200, |x, y| {
        let r = (x - 120.0).hypot(y - 100.0);
        let ramp = |a: f32, b: f32, t: f32| a + (b - a) * t.clamp(0.0, 1.0);
        if r < 24.0 { ramp(0.9, 3.9, (r - 18.0) / 4.0) } else { ramp(3.9, 1.0, (r - 26.0) / 4.0) }
    });
    let thickness = |p: AnalysisParams| one_rim_thickness(p, &wl, &nir);
    let by_direction = thickness(AnalysisParams::with_scale(0.1));
    let from_mask = thickness(AnalysisParams { core_edge_rise_sigmas: 0.0, ..AnalysisParams::with_scale(0.1) });
    assert!((by_direction - 0.8).abs() <= 0.1, "rim thickness {by_direction} mm against 0.8");
    assert!(from_mask > by_direction + 0.1, "the mask's edge does not move the figure ({from_mask} against {by_direction}): the test shows nothing");
}

/// A small core inside a bright rim, lifted by scatter and haze to 1.7 times the background (above the
/// fluorescence level: the mask is solid) is carved out of the fluorescence as a core (`filled`): the
/// lesion is a rim lesion with its core's size; without the stage it would read as homogeneous.
#[test]
fn a_core_filled_above_the_level_is_a_core() {
    let (wl, nir) = synthetic(240, 200, |x, y| {
        let r = (x - 120.0).hypot(y - 100.0);
        if r < 15.0 { 1.7 } else if r < 27.0 { 3.0 } else { 1.0 }
    });
    let lesions = process_with(AnalysisParams::with_scale(0.1), &wl, &nir);
    let rim = lesions.iter().find(|l| l.kind == LesionKind::Rim).unwrap_or_else(|| panic!("no rim lesion: {lesions:?}"));
    let d = rim.core_diameter_mm.unwrap();
    assert!((d - 3.0).abs() <= 0.25, "core diameter {d} mm against 3.0");
    let off = process_with(AnalysisParams { filled_core_sigmas: 0.0, ..AnalysisParams::with_scale(0.1) }, &wl, &nir);
    assert!(off.iter().all(|l| l.kind != LesionKind::Rim), "without the stage a filled core is found anyway: the test shows nothing ({off:?})");
}

/// A dark pocket ringed by fluorescence at TBR 1.4 (textured liver's grains around a pocket between
/// them) is enclosed but no lesion (`rim_min_tbr`); the same ring at TBR 1.8 is.
#[test]
fn a_faint_enclosure_is_no_rim_lesion() {
    let ring = |tbr: f32| {
        synthetic(240, 200, move |x, y| {
            let r = (x - 120.0).hypot(y - 100.0);
            if r < 20.0 { 0.8 } else if r < 27.0 { tbr } else { 1.0 }
        })
    };
    let (wl, nir) = ring(1.4);
    let faint = process_with(AnalysisParams::with_scale(0.1), &wl, &nir);
    assert!(faint.iter().all(|l| l.kind != LesionKind::Rim), "{faint:?}");
    let (wl, nir) = ring(1.8);
    let rims = process_with(AnalysisParams::with_scale(0.1), &wl, &nir).into_iter().filter(|l| l.kind == LesionKind::Rim).count();
    assert_eq!(rims, 1);
}

/// Liver whose texture is skewed to bright grains: 40 grains of 1.7–2.1 times the background, 3–4 mm
/// across, each of which passes every fixed bar for a (diffuse) lesion, with a homogeneous lesion (6 mm,
/// TBR 2.6) and a deep lesion's glow (peak 2, sigma 3.5 mm) among them. Both lesions are found and no
/// grain is reported, because a lesion is judged against the frame's own grains (`reference::texture`);
/// with that stage off, the grains are reported as lesions.
#[test]
fn grains_of_textured_liver_are_no_lesions_but_lesions_among_them_are() {
    let mm = 0.1;
    let (homogeneous, glow) = ([300.0f32, 360.0f32], [900.0f32, 360.0f32]);
    // Grains on a jittered lattice, away from the two lesions; peak and width vary from grain to grain.
    let mut grains = Vec::new();
    for k in 0..60u32 {
        let h = k.wrapping_mul(2_654_435_761);
        let (x, y) = (60.0 + (k % 10) as f32 * 120.0 + (h % 40) as f32, 60.0 + (k / 10) as f32 * 110.0 + (h / 40 % 40) as f32);
        if [homogeneous, glow].iter().all(|c| (x - c[0]).hypot(y - c[1]) > 140.0) {
            grains.push((x, y, 1.7 + 0.1 * (h % 5) as f32, (11.0 + (h / 7 % 5) as f32) / (mm * 10.0)));
        }
    }
    assert!(grains.len() >= 30, "{} grains", grains.len());
    let (wl, nir) = synthetic(1280, 720, |x, y| {
        let bump = |cx: f32, cy: f32, peak: f32, sigma: f32| (peak - 1.0) * (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * sigma * sigma)).exp();
        let grain: f32 = grains.iter().map(|&(cx, cy, peak, sigma)| bump(cx, cy, peak, sigma)).sum();
        let disc = if (x - homogeneous[0]).hypot(y - homogeneous[1]) < 30.0 { 1.6 } else { 0.0 };
        1.0 + grain + disc + bump(glow[0], glow[1], 2.0, 35.0)
    });
    let near = |l: &nirf_margin::analysis::Lesion, c: [f32; 2]| (l.centroid_px[0] - c[0]).hypot(l.centroid_px[1] - c[1]) < 20.0;
    let judge = |p: AnalysisParams| {
        let lesions = process_with(p, &wl, &nir);
        let found = [homogeneous, glow].iter().filter(|&&c| lesions.iter().any(|l| near(l, c))).count();
        (found, lesions.iter().filter(|l| !near(l, homogeneous) && !near(l, glow)).count())
    };
    let (found, false_lesions) = judge(AnalysisParams::with_scale(mm));
    let (_, false_without) = judge(AnalysisParams { texture_alpha: 0.0, ..AnalysisParams::with_scale(mm) });
    eprintln!("found {found}/2, false {false_lesions}; without the stage {false_without} false");
    assert_eq!(found, 2, "the homogeneous lesion and the glow among the grains");
    assert_eq!(false_lesions, 0, "grains reported as lesions");
    assert!(false_without >= 10, "without the texture test the grains pass the fixed bars ({false_without} false): the test shows nothing");
}

/// A NIR-only glint (a plateau clipped at the sensor's top, 4 times the background, with a soft skirt)
/// whose skirt joins a grain of textured liver is no lesion: beyond the glint's reach only the grain is
/// left, smaller than a lesion. A homogeneous lesion (6 mm, TBR 2.6) with a glint on it stays a lesion:
/// beyond the glint lies the lesion itself.
#[test]
fn a_glint_joined_to_a_grain_is_no_lesion_but_a_lesion_with_a_glint_is() {
    let (glint, grain, lesion) = ([400.0f32, 360.0f32], [424.0f32, 360.0f32], [900.0f32, 360.0f32]);
    let (wl, nir) = synthetic(1280, 720, |x, y| {
        let d = |c: [f32; 2]| (x - c[0]).hypot(y - c[1]);
        let reflection = |c: [f32; 2], r: f32| if d(c) < r { 7.0 } else { 6.0 * (-(d(c) - r).powi(2) / 32.0).exp() };
        let g = 0.9 * (-d(grain).powi(2) / 200.0).exp();
        let disc = if d(lesion) < 30.0 { 1.6 } else { 0.0 };
        1.0 + g + disc + reflection(glint, 10.0) + reflection([lesion[0] + 8.0, lesion[1]], 5.0)
    });
    let lesions = process_with(AnalysisParams::with_scale(0.1), &wl, &nir);
    let near = |c: [f32; 2]| lesions.iter().filter(|l| (l.centroid_px[0] - c[0]).hypot(l.centroid_px[1] - c[1]) < 25.0).count();
    assert_eq!(near(lesion), 1, "the lesion with a glint on it: {lesions:?}");
    assert_eq!(lesions.len(), 1, "the glint and its grain reported: {lesions:?}");
}

/// A shaft (grey in the white light, dark in the NIR) from the image's edge to the centre of a rim
/// lesion's core: the core is open to the liver only through the shaft. What the shaft hides is not in
/// view (`reference::occluders`): the lesion is one rim lesion, partial (no size claim), and its rim's
/// arcs are no coreless lesions of their own. With the stage off (`occluder_max_ratio` 0) it is no
/// partial rim lesion.
#[test]
fn a_core_under_an_instruments_shaft_is_a_partial_rim_lesion() {
    let (w, h, (cx, cy)) = (400, 300, (220.0f32, 150.0f32));
    let in_shaft = move |x: f32, y: f32| (y - cy).abs() < 25.0 && x < cx + 5.0;
    let ring = move |x: f32, y: f32| match (x - cx).hypot(y - cy) {
        r if r < 30.0 => 0.5,
        r if r < 42.0 => 3.0,
        _ => 1.0,
    };
    let (plain, nir) = synthetic(w, h, move |x, y| if in_shaft(x, y) { 0.1 } else { ring(x, y) });
    let grey: Vec<u8> = plain
        .data
        .chunks(3)
        .enumerate()
        .flat_map(|(i, c)| if in_shaft((i % w) as f32 + 0.5, (i / w) as f32 + 0.5) { [90, 95, 100] } else { [c[0], c[1], c[2]] })
        .collect();
    let wl = nirf_margin::frame::RgbFrame::from_vec(w, h, grey).unwrap();
    let p = AnalysisParams::with_scale(0.1);
    let lesions = process_with(p.clone(), &wl, &nir);
    assert_eq!(lesions.len(), 1, "{lesions:?}");
    assert!(lesions[0].kind == LesionKind::Rim && lesions[0].partial && lesions[0].core_diameter_mm.is_none(), "{lesions:?}");
    let off = process_with(AnalysisParams { occluder_max_ratio: 0.0, ..p }, &wl, &nir);
    assert!(!off.iter().any(|l| l.kind == LesionKind::Rim && l.partial), "without the stage: {off:?}");
}
