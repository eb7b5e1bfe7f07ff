//! `nirf-margin analyze` end to end through GStreamer: the output contract (metrics JSONL, masks,
//! overlay video, snapshot), a round trip through encoded video files, and clear errors on bad input.

mod common;

use common::*;

#[test]
fn analyze_honours_the_output_contract() {
    let d = tmpdir();
    let truth = phantom_on_disk(d.path(), 480, 320, 6, 31, 0.1);
    let out = d.path().join("out");
    let o = run(&[
        "analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1",
        "--metrics", out.join("m.jsonl").to_str().unwrap(), "--masks", out.join("masks").to_str().unwrap(),
        "--overlay", out.join("o.mkv").to_str().unwrap(), "--snapshot", out.join("s.png").to_str().unwrap(),
        "--backend", "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = read_jsonl(&out.join("m.jsonl"));
    assert_eq!(lines.len(), 6);
    let typed = read_metrics(&out.join("m.jsonl"));
    assert!(typed.iter().all(|m| m.margins_mm == [1.0] && m.mm_per_px == Some(0.1) && m.nir.is_some()));
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"], i as u64);
        assert!(l["pts_ns"].is_u64());
        assert!(l["timings_ms"].is_object());
        let rims: Vec<_> = l["lesions"].as_array().unwrap().iter().filter(|x| x["kind"] == "rim").collect();
        let truth_rims = truth.frames[i].lesions.iter().filter(|t| t.kind == nirf_margin::analysis::LesionKind::Rim && t.in_view == nirf_margin::phantom::InView::Full).count();
        assert!(rims.len() >= truth_rims, "frame {i}: {} rims for {truth_rims} in truth", rims.len());
        for les in l["lesions"].as_array().unwrap() {
            assert!(les["id"].as_u64().unwrap() >= 1);
            assert_eq!(les["centroid_px"].as_array().unwrap().len(), 2);
            assert!(les["tbr"].as_f64().unwrap() >= 1.0);
            match les["kind"].as_str().unwrap() {
                "rim" if les["partial"] == false => assert!(les["core_diameter_mm"].as_f64().unwrap() > 1.0),
                "rim" => assert!(les["core_diameter_mm"].is_null()),
                "homogeneous" => assert!(les["core_diameter_mm"].as_f64().unwrap() > 1.0),
                "diffuse" => assert!(les["core_diameter_mm"].is_null()),
                k => panic!("unknown kind {k}"),
            }
        }
    }
    // Lesion IDs are stable on a slowly moving camera.
    let ids = |l: &serde_json::Value| l["lesions"].as_array().unwrap().iter().map(|x| x["id"].as_u64().unwrap()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(ids(&lines[0]), ids(&lines[5]));
    for i in 0..6 {
        let m = nirf_margin::media::stills::read_mask(&out.join("masks").join(format!("{i:05}.png"))).unwrap();
        assert_eq!((m.width, m.height), (480, 320));
        // The truth's classes: 0 background, 1 rim, 2 core, 3 other fluorescence.
        assert!(m.data.iter().all(|&v| v <= 3));
        assert!(m.data.contains(&2) && m.data.contains(&1), "frame {i}: no core or no rim in the mask");
    }
    assert_eq!(count_video_frames(&out.join("o.mkv")), (6, 480, 320));
    let snap = image::open(out.join("s.png")).unwrap();
    assert_eq!((snap.width(), snap.height()), (480, 320));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("core_diam_mm"), "summary table missing: {stdout}");
}

#[test]
fn encoded_video_round_trip_gives_the_same_lesions() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 400, 300, 4, 32, 0.09);
    let wl_mkv = d.path().join("wl.mkv");
    let nir_mkv = d.path().join("nir.mkv");
    gst_run(&format!(
        "multifilesrc location=\"{}\" index=0 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! x264enc pass=quant quantizer=0 speed-preset=ultrafast ! matroskamux ! filesink location=\"{}\"",
        pattern(d.path(), "wl"), wl_mkv.display()
    ));
    gst_run(&format!(
        "multifilesrc location=\"{}\" index=0 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! video/x-raw,format=GRAY16_LE ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        pattern(d.path(), "nir"), nir_mkv.display()
    ));
    let png_m = d.path().join("png.jsonl");
    let mkv_m = d.path().join("mkv.jsonl");
    let a = run(&["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.09", "--metrics", png_m.to_str().unwrap(), "--backend", "cpu"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let b = run(&["analyze", "--wl", wl_mkv.to_str().unwrap(), "--nir", nir_mkv.to_str().unwrap(), "--mm-per-px", "0.09", "--metrics", mkv_m.to_str().unwrap(), "--backend", "cpu"]);
    assert!(b.status.success(), "{}", stderr(&b));
    let (pa, pb) = (read_jsonl(&png_m), read_jsonl(&mkv_m));
    assert_eq!(pa.len(), 4);
    assert_eq!(pb.len(), 4);
    for (x, y) in pa.iter().zip(&pb) {
        let (lx, ly) = (x["lesions"].as_array().unwrap(), y["lesions"].as_array().unwrap());
        assert_eq!(lx.len(), ly.len());
        for (u, v) in lx.iter().zip(ly) {
            if let (Some(du), Some(dv)) = (u["core_diameter_mm"].as_f64(), v["core_diameter_mm"].as_f64()) {
                assert!((du - dv).abs() < 0.1, "{du} vs {dv}");
            }
        }
    }
}

fn assert_fails_naming(args: &[&str], needles: &[&str]) {
    let o = run(args);
    assert!(!o.status.success(), "expected failure for {args:?}");
    let e = stderr(&o);
    for n in needles {
        assert!(e.contains(n), "error for {args:?} should mention '{n}': {e}");
    }
}

#[test]
fn bad_inputs_fail_with_errors_naming_them() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 200, 150, 2, 33, 0.1);
    let wl = pattern(d.path(), "wl");
    let nir = pattern(d.path(), "nir");
    // Missing file.
    assert_fails_naming(&["analyze", "--wl", "/nonexistent/wl.mkv", "--nir", &nir, "--mm-per-px", "0.1"], &["--wl", "/nonexistent/wl.mkv", "no such file"]);
    // Pattern matching nothing.
    let none = d.path().join("nir").join("x%03d.png");
    assert_fails_naming(&["analyze", "--wl", &wl, "--nir", none.to_str().unwrap(), "--mm-per-px", "0.1"], &["--nir", "matches no file"]);
    // Corrupt PNG in the middle of a sequence.
    std::fs::write(d.path().join("nir").join("00001.png"), b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let m = d.path().join("m.jsonl");
    assert_fails_naming(&["analyze", "--wl", &wl, "--nir", &nir, "--mm-per-px", "0.1", "--metrics", m.to_str().unwrap()], &["--nir"]);
    // What was analysed before the corrupt frame is flushed to the metrics.
    assert_eq!(read_jsonl(&m).len(), 1);
    // WL and NIR of different sizes.
    let e = tmpdir();
    phantom_on_disk(e.path(), 160, 120, 1, 34, 0.1);
    assert_fails_naming(&["analyze", "--wl", &wl, "--nir", &pattern(e.path(), "nir"), "--mm-per-px", "0.1"], &["200x150", "160x120"]);
    // Nonsense scale.
    assert_fails_naming(&["analyze", "--wl", &wl, "--nir", &nir, "--mm-per-px", "-1"], &["--mm-per-px"]);
}

#[test]
fn calibration_file_sets_the_scale_and_no_scale_means_pixels() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 320, 240, 2, 35, 0.1);
    // A chessboard photo: 9x6 inner corners, 32 px squares of 3.2 mm, so 0.1 mm/px.
    let board = nirf_margin::measure::calibration::render_chessboard(480, 360, 9, 6, 32.0, 0.05);
    let board_png = d.path().join("board.png");
    image::GrayImage::from_raw(480, 360, board.data).unwrap().save(&board_png).unwrap();
    let calib = d.path().join("calib.json");
    let o = run(&["calibrate", "--image", board_png.to_str().unwrap(), "--square-mm", "3.2", "--out", calib.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cal: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&calib).unwrap()).unwrap();
    assert!((cal["mm_per_px"].as_f64().unwrap() - 0.1).abs() < 0.001, "{cal}");
    assert!(cal["residual_px"].as_f64().unwrap() < 0.3);

    let m = d.path().join("m.jsonl");
    let o = run(&["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--calibration", calib.to_str().unwrap(), "--metrics", m.to_str().unwrap(), "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let l = &read_jsonl(&m)[0];
    assert!(l["scale_source"].as_str().unwrap().starts_with("calibration"));
    assert!((l["mm_per_px"].as_f64().unwrap() - 0.1).abs() < 0.001);

    let o = run(&["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--metrics", m.to_str().unwrap(), "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let l = &read_jsonl(&m)[0];
    assert!(l["mm_per_px"].is_null());
    let rims: Vec<_> = l["lesions"].as_array().unwrap().iter().filter(|x| x["kind"] == "rim" && x["partial"] == false).collect();
    assert!(!rims.is_empty());
    for r in rims {
        assert!(r["core_diameter_mm"].is_null() && r["core_diameter_px"].as_f64().unwrap() > 10.0, "{r}");
    }
    // A board that is not there is a clear error naming the image.
    let o = run(&["calibrate", "--image", &d.path().join("wl").join("00000.png").to_string_lossy(), "--square-mm", "3.2", "--out", calib.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("00000.png") && stderr(&o).contains("chessboard"), "{}", stderr(&o));
}

#[test]
fn an_8_bit_nir_sequence_is_analysed_like_the_16_bit_one() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 400, 300, 2, 36, 0.09);
    // The same NIR frames at 8 bits (12-bit counts scaled down), as a cheaper camera would give them.
    let nir8 = d.path().join("nir8");
    std::fs::create_dir_all(&nir8).unwrap();
    for i in 0..2 {
        let name = format!("{i:05}.png");
        let img = image::open(d.path().join("nir").join(&name)).unwrap().into_luma16();
        let (w, h) = img.dimensions();
        let bytes: Vec<u8> = img.into_raw().iter().map(|&v| (v >> 4).min(255) as u8).collect();
        image::GrayImage::from_raw(w, h, bytes).unwrap().save(nir8.join(&name)).unwrap();
    }
    let (m16, m8) = (d.path().join("m16.jsonl"), d.path().join("m8.jsonl"));
    for (nir, m) in [(pattern(d.path(), "nir"), &m16), (nir8.join("%05d.png").to_string_lossy().into_owned(), &m8)] {
        let o = run(&["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &nir, "--mm-per-px", "0.09", "--metrics", m.to_str().unwrap(), "--backend", "cpu"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let rims = |m: &std::path::Path| -> Vec<f64> {
        read_jsonl(m)[0]["lesions"].as_array().unwrap().iter().filter(|l| l["kind"] == "rim" && l["partial"] == false).map(|l| l["core_diameter_mm"].as_f64().unwrap()).collect()
    };
    let (a, b) = (rims(&m16), rims(&m8));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 0.2, "16-bit {x} mm vs 8-bit {y} mm");
    }
}

/// `analyze --backend gpu` (lavapipe in CI) through the whole CLI gives the CPU backend's masks and figures
/// on a phantom no other test uses (the CPU analysing, in process, as the GPU does: without the stages only
/// the CPU has, `AnalysisParams::without_cpu_only_stages`; the CLI's `--backend cpu` runs with them); `--backend auto` with only a software adapter (or with settings that use
/// a stage only the CPU has) takes the CPU, which is some fifty times faster than lavapipe. Skipped without an adapter unless NIRF_REQUIRE_GPU=1.
#[test]
fn analyze_on_the_gpu_agrees_with_the_cpu_and_auto_skips_a_software_adapter() {
    let ctx = match nirf_margin::gpu::GpuContext::new() {
        Ok(c) => c,
        Err(e) if std::env::var("NIRF_REQUIRE_GPU").as_deref() == Ok("1") => panic!("NIRF_REQUIRE_GPU=1 but no adapter: {e:#}"),
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e:#})");
            return;
        }
    };
    let d = tmpdir();
    phantom_on_disk(d.path(), 517, 301, 3, 4242, 0.07);
    let analyze = |backend: &str| {
        let out = d.path().join(backend);
        let o = run(&[
            "analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.07",
            "--metrics", out.join("m.jsonl").to_str().unwrap(), "--masks", out.join("masks").to_str().unwrap(), "--backend", backend,
        ]);
        assert!(o.status.success(), "--backend {backend}: {}", stderr(&o));
        (out, String::from_utf8_lossy(&o.stdout).to_string())
    };
    let (gpu, gpu_stdout) = analyze("gpu");
    assert!(gpu_stdout.contains("gpu: "), "--backend gpu ran on: {gpu_stdout}");
    let mg = read_jsonl(&gpu.join("m.jsonl"));
    assert_eq!(mg.len(), 3);
    // The CPU on the same frames (rendered again: the files hold them losslessly), as the GPU analyses.
    let cfg = nirf_margin::phantom::PhantomConfig { width: 517, height: 301, frames: 3, seed: 4242, mm_per_px: 0.07, fps: 30.0, options: Default::default() };
    let scene = cfg.scene();
    let p = nirf_margin::params::AnalysisParams::with_scale(0.07).without_cpu_only_stages();
    let mut cpu = nirf_margin::processor::FrameProcessor::new(Box::new(nirf_margin::reference::CpuAnalyzer::new(p.clone()).unwrap()), p, 30.0);
    for f in 0..3 {
        let r = nirf_margin::phantom::render(&scene, f);
        let res = cpu.process(&r.wl, &r.nir, true).unwrap();
        let a = res.classes.unwrap();
        let b = nirf_margin::media::stills::read_mask(&gpu.join("masks").join(format!("{f:05}.png"))).unwrap();
        let differ = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
        assert!(differ as f64 <= 0.005 * a.data.len() as f64, "frame {f}: masks differ in {differ} pixels");
        let la: Vec<serde_json::Value> = res.lesions.iter().map(|l| serde_json::to_value(l).unwrap()).collect();
        let lb = mg[f as usize]["lesions"].as_array().unwrap();
        assert_eq!(la.len(), lb.len(), "frame {f}: lesion count");
        assert!(!la.is_empty(), "frame {f}: no lesion to compare");
        for (x, y) in la.iter().zip(lb) {
            assert_eq!(x["kind"], y["kind"]);
            for key in ["core_diameter_mm", "rim_thickness_mm", "min_rim_thickness_mm", "feret_min_mm", "feret_max_mm"] {
                match (x[key].as_f64(), y[key].as_f64()) {
                    (Some(p), Some(q)) => assert!((p - q).abs() <= 0.1, "frame {f} {key}: {p} vs {q}"),
                    (None, None) => {}
                    _ => panic!("frame {f} {key}: {} vs {}", x[key], y[key]),
                }
            }
        }
    }
    let (_, auto_stdout) = analyze("auto");
    // The CPU also while the default settings use stages the GPU has no twin of.
    let cpu_only = !nirf_margin::params::AnalysisParams::default().cpu_only_stages().is_empty();
    let want = if ctx.is_software() || cpu_only { "cpu (" } else { "gpu: " };
    assert!(auto_stdout.contains(want), "--backend auto with {} ran on: {auto_stdout}", ctx.describe());
}

/// Metrics lines without the stage timings (which differ from run to run).
fn untimed(path: &std::path::Path) -> Vec<serde_json::Value> {
    read_jsonl(path)
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("timings_ms");
            v
        })
        .collect()
}

/// A recording given as one side-by-side file (white light and NIR in one frame, as many NIR towers
/// record) gives exactly the metrics and masks of the same frames given as two files, with the NIR on
/// either half; through an encoded video it gives the same lesions; an odd width and mixed inputs are
/// clear errors.
#[test]
fn a_side_by_side_recording_is_analysed_like_its_two_halves() {
    let d = tmpdir();
    let frames = 3;
    phantom_on_disk(d.path(), 320, 240, frames, 37, 0.1);
    let (sbs, nir8) = compose_side_by_side(d.path(), frames, false, false);
    let (sbs_left, _) = compose_side_by_side(d.path(), frames, true, false);
    let out = |name: &str| d.path().join(name).to_string_lossy().into_owned();
    let analyze = |inputs: &[&str], name: &str| {
        let mut args = vec!["analyze"];
        args.extend_from_slice(inputs);
        let (m, masks) = (out(&format!("{name}.jsonl")), out(&format!("{name}-masks")));
        args.extend_from_slice(&["--mm-per-px", "0.1", "--metrics", &m, "--masks", &masks, "--backend", "cpu"]);
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    analyze(&["--wl", &pattern(d.path(), "wl"), "--nir", &nir8], "pair");
    analyze(&["--side-by-side", &sbs], "sbs");
    analyze(&["--side-by-side", &sbs_left, "--nir-side", "left"], "sbs-left");
    let pair = untimed(&d.path().join("pair.jsonl"));
    assert_eq!(pair.len(), frames as usize);
    assert!(pair.iter().any(|l| l["lesions"].as_array().unwrap().iter().any(|x| x["kind"] == "rim")), "the phantom shows rims");
    for name in ["sbs", "sbs-left"] {
        assert_eq!(untimed(&d.path().join(format!("{name}.jsonl"))), pair, "{name}");
        for i in 0..frames {
            let f = format!("{i:05}.png");
            let mask = |run: &str| nirf_margin::media::stills::read_mask(&d.path().join(format!("{run}-masks")).join(&f)).unwrap();
            assert_eq!(mask(name), mask("pair"), "{name} mask {f}");
        }
    }

    // The same side-by-side frames as an encoded video (H.264, quantizer 0 but chroma subsampled): the
    // same lesions, figures within 0.1 mm.
    let mkv = d.path().join("sbs.mkv");
    gst_run(&format!(
        "multifilesrc location=\"{sbs}\" index=0 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! x264enc pass=quant quantizer=0 speed-preset=ultrafast ! matroskamux ! filesink location=\"{}\"",
        mkv.display()
    ));
    analyze(&["--side-by-side", mkv.to_str().unwrap()], "mkv");
    let video = read_jsonl(&d.path().join("mkv.jsonl"));
    assert_eq!(video.len(), frames as usize);
    for (x, y) in pair.iter().zip(&video) {
        let rims = |l: &serde_json::Value| -> Vec<f64> {
            l["lesions"].as_array().unwrap().iter().filter(|x| x["kind"] == "rim" && x["partial"] == false).map(|x| x["core_diameter_mm"].as_f64().unwrap()).collect()
        };
        let (a, b) = (rims(x), rims(y));
        assert_eq!(a.len(), b.len(), "{x}\n{y}");
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 0.1, "{u} vs {v}");
        }
    }

    // An odd width has no two halves; side-by-side and a pair at once, or a NIR side without a
    // side-by-side source, are refused.
    let e = tmpdir();
    phantom_on_disk(e.path(), 64, 48, 1, 38, 0.1);
    let (odd, _) = compose_side_by_side(e.path(), 1, false, true);
    assert_fails_naming(&["analyze", "--side-by-side", &odd, "--mm-per-px", "0.1"], &["--side-by-side", "even width", "129x48", "frame 0"]);
    assert_fails_naming(&["analyze", "--side-by-side", &sbs, "--wl", &pattern(d.path(), "wl"), "--mm-per-px", "0.1"], &["--side-by-side", "--wl"]);
    assert_fails_naming(&["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &nir8, "--nir-side", "left"], &["--nir-side", "--side-by-side"]);
    assert_fails_naming(&["analyze", "--side-by-side", &sbs, "--nir-side", "top"], &["--nir-side", "top"]);
    assert_fails_naming(&["analyze", "--wl", &pattern(d.path(), "wl")], &["--nir"]);
}
