//! Data safety and input validation through the binary: an output that is (or would write over, or
//! holds) an input is refused naming both paths, bad settings are refused naming their flag, no
//! command modifies an input (hashed before and after), odd frame sizes give a true overlay and full
//! recordings, and random flag values and corrupted PNG / Matroska / metrics bytes never make a command
//! panic or hang.

mod common;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};

/// A fingerprint of every file under `dir` (path → length and hash of the bytes).
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p);
            } else if meta.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                out.insert(p, (bytes.len() as u64, h.finish()));
            }
        }
    }
    out
}

/// Run with a time limit: a hang is a failure, not a stuck test run.
fn run_for(args: &[&str], limit: Duration) -> Output {
    let mut child = bin().args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run nirf-margin");
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("{args:?} hung (killed after {limit:?}); stderr: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_panic(args: &[&str], o: &Output) {
    let e = stderr(o);
    assert!(o.status.code() != Some(101) && !e.contains("panicked"), "{args:?} panicked: {e}");
    assert!(o.status.code().is_some(), "{args:?} died by a signal: {e}");
}

/// A small phantom (PNG sequences), the bundled recordings, a metrics file, a board image and a few
/// traps: everything a test may read, fingerprinted by the caller.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tmpdir();
        let d = dir.path();
        phantom_on_disk(d, 160, 120, 3, 71, 0.1);
        let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/phantom");
        for name in ["wl.mkv", "nir.mkv"] {
            std::fs::copy(testdata.join(name), d.join(name)).unwrap();
        }
        std::fs::write(d.join("m.jsonl"), "{\"frame\":0,\"lesions\":[]}\n").unwrap();
        std::fs::write(d.join("a-file"), b"not a folder").unwrap();
        std::os::unix::fs::symlink(d.join("nir.mkv"), d.join("link.mkv")).unwrap();
        std::fs::create_dir_all(d.join("old-masks")).unwrap();
        std::fs::write(d.join("old-masks/00000.png"), b"an earlier run's mask").unwrap();
        std::fs::create_dir_all(d.join("bad-nir")).unwrap();
        for i in 0..3 {
            let name = format!("{i:05}.png");
            if i == 1 {
                std::fs::write(d.join("bad-nir").join(&name), b"a text file, not a PNG").unwrap();
            } else {
                std::fs::copy(d.join("nir").join(&name), d.join("bad-nir").join(&name)).unwrap();
            }
        }
        std::fs::write(d.join("bad.pipeline"), "videotestsrc ! ! appsink name=wl_sink\n").unwrap();
        std::fs::write(d.join("calib.json"), r#"{"mm_per_px":50.0,"residual_px":0.1,"residual_mm":5.0,"pattern":[9,6],"square_mm":3.0,"corners":54,"image":"b.png"}"#).unwrap();
        std::fs::write(d.join("huge.jsonl"), "{\"frame\":0,\"latency_ms\":1e308,\"lesions\":[{\"id\":1,\"kind\":\"rim\",\"tbr\":-1e308}]}\n{\"frame\":1,\"latency_ms\":-1e308}\n").unwrap();
        Self { dir }
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).to_string_lossy().into_owned()
    }
}

#[test]
fn refused_outputs_and_settings_name_their_flag_and_touch_nothing() {
    let f = Fixture::new();
    let p = |rel: &str| f.path(rel);
    let (wl, nir) = (p("wl/%05d.png"), p("nir/%05d.png"));
    let (wlv, nirv) = (p("wl.mkv"), p("nir.mkv"));
    let before = fingerprint(f.dir.path());
    let an = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["analyze", "--wl", &wl, "--nir", &nir, "--mm-per-px", "0.1", "--backend", "cpu"].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let anv = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["analyze", "--wl", &wlv, "--nir", &nirv, "--mm-per-px", "0.1", "--backend", "cpu"].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let unscaled = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["analyze", "--wl", &wl, "--nir", &nir, "--backend", "cpu"].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let own = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let out = p("out");
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        // Outputs against inputs and each other.
        ("overlay = the NIR recording", anv(&["--overlay", &nirv]), own(&["--overlay", &nirv, "--nir"])),
        ("overlay = a link to the NIR recording", anv(&["--overlay", &p("link.mkv")]), own(&["--overlay", "link.mkv", "--nir"])),
        ("metrics = the white-light recording", anv(&["--metrics", &wlv]), own(&["--metrics", "--wl", "wl.mkv"])),
        ("metrics via ..", anv(&["--metrics", &p("wl/../wl.mkv")]), own(&["--metrics", "--wl"])),
        ("masks = the NIR frames' folder", an(&["--masks", &p("nir")]), own(&["--masks", "--nir", "nir"])),
        ("masks = a folder holding the inputs", an(&["--masks", &p("")]), own(&["--masks", "holds", "--wl"])),
        ("snapshot = an input frame", an(&["--snapshot", &p("wl/00001.png")]), own(&["--snapshot", "00001.png", "--wl"])),
        ("findings = the white-light folder", an(&["--mode", "wound-bed", "--findings", &p("wl")]), own(&["--findings", "--wl"])),
        ("metrics = overlay", an(&["--metrics", &p("out/x"), "--overlay", &p("out/x")]), own(&["--metrics", "--overlay", "same file"])),
        ("snapshot in the masks' names", an(&["--masks", &p("out/masks"), "--snapshot", &p("out/masks/00002.png")]), own(&["--masks", "--snapshot"])),
        ("masks = a file; metrics exists", an(&["--masks", &p("a-file"), "--metrics", &p("m.jsonl")]), own(&["--masks", "a-file", "not a folder"])),
        ("masks folder with frames", an(&["--masks", &p("old-masks")]), own(&["--masks", "old-masks", "--overwrite"])),
        ("report over its metrics", own(&["report", &p("m.jsonl"), "--out", &p("m.jsonl")]), own(&["--out", "m.jsonl", "metrics"])),
        ("calibrate over its image", own(&["calibrate", "--image", &p("wl/00000.png"), "--square-mm", "3", "--out", &p("wl/00000.png")]), own(&["--out", "--image", "00000.png"])),
        (
            "live records where it replays from",
            own(&["live", "--wl", &wlv, "--nir", &nirv, "--record", &p(""), "--display", "fakesink", "--mm-per-px", "0.1"]),
            own(&["--record", "--wl"]),
        ),
        // Settings, each naming its flag.
        ("tbr nan", an(&["--mode", "wound-bed", "--tbr", "nan"]), own(&["--tbr"])),
        ("tbr inf", an(&["--mode", "wound-bed", "--tbr", "inf"]), own(&["--tbr"])),
        ("tbr 1", an(&["--tbr", "1"]), own(&["--tbr"])),
        ("mm-per-px -inf", unscaled(&["--mm-per-px", "-inf"]), own(&["--mm-per-px", "finite"])),
        ("mm-per-px 1e-9", unscaled(&["--mm-per-px", "1e-9"]), own(&["--mm-per-px", "0.005"])),
        ("margins-mm 0.01", an(&["--margins-mm", "1,0.01"]), own(&["--margins-mm"])),
        ("margins-mm nan", an(&["--margins-mm", "nan"]), own(&["--margins-mm"])),
        ("margins-mm five", an(&["--margins-mm", "1,2,3,4,5"]), own(&["--margins-mm", "at most 4"])),
        ("roi outside the frame", an(&["--mode", "wound-bed", "--roi", "10000,10000,50,50"]), own(&["--roi", "160x120"])),
        ("roi malformed", an(&["--roi", "1,2,3"]), own(&["--roi"])),
        ("calibration scale", unscaled(&["--calibration", &p("calib.json")]), own(&["calib.json", "mm_per_px"])),
        ("live duration -1", own(&["live", "--wl", &wl, "--nir", &nir, "--duration=-1", "--display", "fakesink"]), own(&["--duration"])),
        ("live duration nan", own(&["live", "--wl", &wl, "--nir", &nir, "--duration", "nan", "--display", "fakesink"]), own(&["--duration"])),
        ("live budget inf", own(&["live", "--wl", &wl, "--nir", &nir, "--budget-ms=inf", "--display", "fakesink"]), own(&["--budget-ms"])),
        ("live budget -5", own(&["live", "--wl", &wl, "--nir", &nir, "--budget-ms", "-5", "--display", "fakesink"]), own(&["--budget-ms"])),
        ("live without --wl", own(&["live", "--nir", &nir, "--display", "fakesink"]), own(&["--wl"])),
        ("live malformed pipeline", own(&["live", "--pipeline", &p("bad.pipeline"), "--display", "fakesink"]), own(&["bad.pipeline", "does not parse"])),
        ("live phantom size", own(&["live", "--phantom", "abcx10", "--display", "fakesink"]), own(&["--phantom"])),
        ("bench size", own(&["bench", "--size", "abcx10"]), own(&["--size"])),
        ("bench rim lesions", own(&["bench", "--rim-lesions", "18446744073709551615"]), own(&["--rim-lesions"])),
        ("bench mm-per-px 0", own(&["bench", "--mm-per-px", "0"]), own(&["--mm-per-px"])),
        ("bench mm-per-px nan", own(&["bench", "--mm-per-px", "nan"]), own(&["--mm-per-px"])),
        ("bench tolerance", own(&["bench", "--tolerance", "-1"]), own(&["--tolerance"])),
        ("bench missing baseline", own(&["bench", "--backend", "cpu", "--compare", &p("no-baseline.jsonl")]), own(&["--compare", "no-baseline.jsonl"])),
        ("phantom mm-per-px 1e-9", own(&["phantom", "--out", &out, "--mm-per-px", "1e-9"]), own(&["--mm-per-px"])),
        ("phantom noise gain", own(&["phantom", "--out", &out, "--nir-noise-gain", "nan"]), own(&["--nir-noise-gain"])),
        ("phantom size", own(&["phantom", "--out", &out, "--size", "8193x16"]), own(&["--size"])),
        ("calibrate square", own(&["calibrate", "--image", &p("wl/00000.png"), "--square-mm", "-1", "--out", &p("c.json")]), own(&["--square-mm"])),
        // Patterns: one integer field, nothing else.
        ("pattern with %s", own(&["analyze", "--wl", &p("wl/w%05d%s.png"), "--nir", &nir]), own(&["--wl", "%s"])),
        ("pattern with two fields", own(&["analyze", "--wl", &wl, "--nir", &p("nir/%d%05d.png")]), own(&["--nir", "two"])),
        ("live replay of a text file among PNGs", own(&["live", "--wl", &wl, "--nir", &p("bad-nir/%05d.png"), "--display", "fakesink"]), own(&["--nir", "00001.png", "frame 1", "not a PNG"])),
        ("live pattern with %s", own(&["live", "--wl", &p("wl/%s.png"), "--nir", &nir, "--display", "fakesink"]), own(&["--wl", "%s"])),
        // A metrics file with numbers no plot can hold.
        ("report of ±1e308", own(&["report", &p("huge.jsonl"), "--out", &p("r.html")]), own(&["huge.jsonl", "line 1"])),
    ];
    let mut failures = Vec::new();
    for (name, args, needles) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_for(&args, Duration::from_secs(60));
        assert_no_panic(&args, &o);
        let e = stderr(&o);
        if o.status.success() {
            failures.push(format!("{name}: exit 0 (stdout {})", String::from_utf8_lossy(&o.stdout)));
        } else if let Some(n) = needles.iter().find(|n| !e.contains(n.as_str())) {
            failures.push(format!("{name}: the error does not name '{n}': {e}"));
        } else if String::from_utf8_lossy(&o.stdout).contains("no fluorescence") {
            failures.push(format!("{name}: gave a verdict"));
        }
        let now = fingerprint(f.dir.path());
        if now != before {
            let changed: Vec<_> = now.keys().chain(before.keys()).filter(|k| now.get(*k) != before.get(*k)).collect();
            failures.push(format!("{name}: files changed: {changed:?}"));
            break;
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(!f.dir.path().join("out").exists(), "a refused run created its output folder");
}

#[test]
fn a_failed_run_leaves_earlier_outputs_as_they_were() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 160, 120, 3, 72, 0.1);
    // A text file in the middle of the NIR frames: the run stops there, naming it.
    std::fs::write(d.path().join("nir/00001.png"), b"this is text, not a PNG").unwrap();
    let m = d.path().join("m.jsonl");
    let snap = d.path().join("s.png");
    std::fs::write(&m, b"an earlier run's metrics\n").unwrap();
    std::fs::write(&snap, b"an earlier snapshot").unwrap();
    let args = ["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1", "--backend", "cpu"];
    let with = |extra: &[&str]| -> Output {
        let mut v: Vec<&str> = args.to_vec();
        v.extend_from_slice(extra);
        run_for(&v, Duration::from_secs(60))
    };
    let o = with(&["--metrics", m.to_str().unwrap(), "--snapshot", snap.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("--nir") && e.contains("00001.png") && e.contains("frame 1"), "{e}");
    assert_eq!(std::fs::read(&m).unwrap(), b"an earlier run's metrics\n");
    assert_eq!(std::fs::read(&snap).unwrap(), b"an earlier snapshot");
    let stray: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".nirf-")).collect();
    assert!(stray.is_empty(), "temporary files left: {stray:?}");
    // A new metrics path gets what was analysed before the bad frame: frame 0, paired as it should be.
    let fresh = d.path().join("fresh.jsonl");
    let o = with(&["--metrics", fresh.to_str().unwrap()]);
    assert!(!o.status.success());
    let lines = read_jsonl(&fresh);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["frame"], 0);
}

#[test]
fn gaps_and_unequal_lengths_are_reported() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 160, 120, 4, 73, 0.1);
    std::fs::remove_file(d.path().join("nir/00002.png")).unwrap(); // NIR: 0, 1, gap, 3
    let m = d.path().join("m.jsonl");
    let o = run_for(
        &["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1", "--backend", "cpu", "--metrics", m.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("gap") && e.contains("00002.png") && e.contains("00003.png"), "the gap is reported: {e}");
    assert!(e.contains("--nir") && e.contains("ended after 2 frames") && e.contains("--wl") && e.contains("4 frames"), "unequal lengths are reported: {e}");
    assert_eq!(read_jsonl(&m).len(), 2);
}

#[test]
fn a_video_whose_name_holds_percent_is_analysed() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 160, 120, 3, 74, 0.1);
    let (wl, nir) = (d.path().join("wl 100%.mkv"), d.path().join("nir%05d.mkv"));
    gst_run(&format!(
        "multifilesrc location=\"{}\" index=0 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! video/x-raw,format=I420 ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        pattern(d.path(), "wl"),
        wl.display()
    ));
    gst_run(&format!(
        "multifilesrc location=\"{}\" index=0 caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! video/x-raw,format=GRAY16_LE ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        pattern(d.path(), "nir"),
        nir.display()
    ));
    let m = d.path().join("m.jsonl");
    let o = run_for(&["analyze", "--wl", wl.to_str().unwrap(), "--nir", nir.to_str().unwrap(), "--mm-per-px", "0.1", "--backend", "cpu", "--metrics", m.to_str().unwrap()], Duration::from_secs(60));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_jsonl(&m).len(), 3);
}

/// The first frame of a video as RGB.
fn first_frame(path: &Path) -> (u32, u32, Vec<u8>) {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    gst::init().unwrap();
    let desc = format!("filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=s sync=false", path.display());
    let p = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = p.by_name("s").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let s = sink.pull_sample().expect("a frame");
    let f = nirf_margin::media::source::sample_to_rgb(&s).unwrap();
    p.set_state(gst::State::Null).unwrap();
    (f.width as u32, f.height as u32, f.data)
}

#[test]
fn odd_frame_sizes_give_a_true_overlay_and_full_recordings() {
    for (w, h) in [(641, 359), (642, 360), (1366, 768), (33, 17)] {
        let d = tmpdir();
        phantom_on_disk(d.path(), w, h, 2, 75, 0.1);
        let overlay = d.path().join("o.mkv");
        let o = run_for(
            &["analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1", "--backend", "cpu", "--overlay", overlay.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(o.status.success(), "{w}x{h}: {}", stderr(&o));
        assert_eq!(count_video_frames(&overlay), (2, w as u32, h as u32));
        let (_, _, got) = first_frame(&overlay);
        let wl = image::open(d.path().join("wl/00000.png")).unwrap().into_rgb8().into_raw();
        // The overlay is the white light with outlines drawn on it: most pixels within H.264's error.
        let close = got.chunks(3).zip(wl.chunks(3)).filter(|(a, b)| a.iter().zip(b.iter()).all(|(x, y)| x.abs_diff(*y) <= 24)).count();
        // (At 33x17 the labels cover most of the frame: its frame count and size are the check.)
        assert!(w < 64 || close * 10 >= (w * h) * 6, "{w}x{h}: only {close} of {} overlay pixels match the white light", w * h);
        if w > 1000 || w < 64 {
            continue; // the recordings once a size: the two odd ones
        }

        let rec = d.path().join("rec");
        let o = run_for(
            &["live", "--phantom", &format!("{w}x{h}"), "--fps", "10", "--duration", "2", "--mm-per-px", "0.1", "--display", "fakesink", "--backend", "cpu", "--record", rec.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(o.status.success(), "{w}x{h}: {}", stderr(&o));
        let counts: Vec<_> = ["wl.mkv", "nir.mov", "overlay.mkv"].iter().map(|n| count_video_frames(&rec.join(n))).collect();
        for (n, c) in ["wl.mkv", "nir.mov", "overlay.mkv"].iter().zip(&counts) {
            assert!(c.0 >= 5 && (c.1, c.2) == (w as u32, h as u32), "{w}x{h} {n}: {c:?}");
        }
        // The overlay holds an output frame for each white-light frame; the live element's output grid may
        // start one frame earlier (its first timeout can come before the first white light: a black NO WHITE
        // LIGHT frame), so it may hold one more, never fewer.
        assert!(counts[1].0 + 2 >= counts[0].0 && (counts[0].0..=counts[0].0 + 1).contains(&counts[2].0), "{w}x{h}: frames recorded {counts:?}");
        let (_, _, first) = first_frame(&rec.join("wl.mkv"));
        let green = first.chunks(3).filter(|p| p[1] > 200 && p[0] < 40 && p[2] < 40).count();
        assert!(green * 2 < w * h, "{w}x{h}: the white-light recording is green");
    }
}

/// Random flag values and corrupted inputs: never a panic, a hang, or a changed input.
#[test]
fn random_flags_and_corrupt_inputs_never_panic_hang_or_touch_an_input() {
    let seed: u64 = std::env::var("NIRF_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261128);
    eprintln!("fuzz seed {seed} (NIRF_FUZZ_SEED to repeat)");
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let d = tmpdir();
    phantom_on_disk(d.path(), 64, 48, 2, 76, 0.1);
    let root = d.path();
    let good_png = std::fs::read(root.join("nir/00000.png")).unwrap();
    let good_mkv = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/phantom/wl.mkv")).unwrap();
    let corrupt = |rng: &mut rand_pcg::Pcg64, bytes: &[u8]| -> Vec<u8> {
        let mut b = bytes.to_vec();
        match rng.random_range(0..4) {
            0 => b.truncate(rng.random_range(0..b.len())),
            1 => {
                for _ in 0..rng.random_range(1..20) {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
            }
            2 => b = (0..rng.random_range(0..4096)).map(|_| rng.random()).collect(),
            _ => {
                let i = rng.random_range(0..b.len());
                b.splice(i..i, (0..rng.random_range(1..200)).map(|_| rng.random::<u8>()));
            }
        }
        b
    };
    let values = ["nan", "inf", "-inf", "1e308", "-1e308", "0", "-1", "1e-9", "0.1", "1.5", "3", "18446744073709551615", "", "abc", "%s", "1,2,3,4", "0,0,16,16", "10x10", "64x48", "-"];
    let flags = ["--mm-per-px", "--margins-mm", "--tbr", "--roi", "--fps", "--fluo-noise-sigmas", "--mode"];
    let mut runs = 0;
    let started = Instant::now();
    for k in 0..24 {
        let case = root.join(format!("case{k}"));
        std::fs::create_dir_all(case.join("wl")).unwrap();
        std::fs::create_dir_all(case.join("nir")).unwrap();
        for i in 0..2 {
            let name = format!("{i:05}.png");
            std::fs::copy(root.join("wl").join(&name), case.join("wl").join(&name)).unwrap();
            let nir = if rng.random_bool(0.5) { corrupt(&mut rng, &good_png) } else { good_png.clone() };
            std::fs::write(case.join("nir").join(&name), nir).unwrap();
        }
        std::fs::write(case.join("v.mkv"), corrupt(&mut rng, &good_mkv)).unwrap();
        let metrics_line = format!(
            "{{\"frame\":{},\"mm_per_px\":{},\"latency_ms\":{},\"lesions\":[{{\"id\":1,\"kind\":\"rim\",\"tbr\":{},\"core_diameter_mm\":{}}}]}}\n",
            rng.random_range(0..5u64),
            ["0.1", "1e308", "-1e308", "null", "1e15", "5e-324"][rng.random_range(0..6)],
            ["1", "1e308", "-1e308", "\"x\""][rng.random_range(0..4)],
            ["2", "1e308", "-0"][rng.random_range(0..3)],
            ["3", "1e300", "null"][rng.random_range(0..3)],
        );
        let metrics_bytes = if rng.random_bool(0.3) { corrupt(&mut rng, metrics_line.as_bytes()) } else { metrics_line.repeat(rng.random_range(1..4)).into_bytes() };
        std::fs::write(case.join("m.jsonl"), metrics_bytes).unwrap();
        let before = fingerprint(&case);

        let wl = case.join("wl/%05d.png").to_string_lossy().into_owned();
        let nir = if rng.random_bool(0.25) { case.join("v.mkv").to_string_lossy().into_owned() } else { case.join("nir/%05d.png").to_string_lossy().into_owned() };
        let out_m = case.join("out/m.jsonl").to_string_lossy().into_owned();
        let out_o = case.join("out/o.mkv").to_string_lossy().into_owned();
        let mut args: Vec<String> = ["analyze", "--wl", &wl, "--nir", &nir, "--backend", "cpu", "--metrics", &out_m].iter().map(|s| s.to_string()).collect();
        if rng.random_bool(0.3) {
            args.extend(["--overlay".to_string(), out_o.clone()]);
        }
        for _ in 0..rng.random_range(0..3) {
            let flag = flags[rng.random_range(0..flags.len())];
            let v = if flag == "--mode" { ["survey", "wound-bed", "transection", "x"][rng.random_range(0..4)] } else { values[rng.random_range(0..values.len())] };
            args.push(format!("{flag}={v}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_for(&args, Duration::from_secs(30));
        assert_no_panic(&args, &o);
        runs += 1;

        let html = case.join("out/r.html").to_string_lossy().into_owned();
        let m = case.join("m.jsonl").to_string_lossy().into_owned();
        let rargs = ["report", &m, "--out", &html];
        let o = run_for(&rargs, Duration::from_secs(20));
        assert_no_panic(&rargs, &o);
        runs += 1;
        assert_eq!(fingerprint(&case).into_iter().filter(|(p, _)| !p.starts_with(case.join("out"))).collect::<BTreeMap<_, _>>(), before, "case {k}: an input changed");
    }
    eprintln!("{runs} fuzz runs in {:.1} s", started.elapsed().as_secs_f64());
}

/// SIGINT stops `analyze` as an error does: metrics, overlay and snapshot flushed, closed and in place,
/// the overlay holding exactly the frames the metrics do.
#[test]
fn sigint_stops_analyze_with_every_output_closed() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 320, 240, 40, 77, 0.1);
    let out = d.path().join("out");
    let (m, o, s) = (out.join("m.jsonl"), out.join("o.mkv"), out.join("s.png"));
    let mut child = bin()
        .args([
            "analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1", "--backend", "cpu",
            "--metrics", m.to_str().unwrap(), "--overlay", o.to_str().unwrap(), "--snapshot", s.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for a few frames in the (temporary) metrics file, then interrupt.
    let t = Instant::now();
    loop {
        let lines: usize = std::fs::read_dir(&out)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("m.jsonl"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default().lines().count())
            .sum();
        if lines >= 3 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no metrics within 60 s");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be interrupted");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let res = child.wait_with_output().unwrap();
    let e = stderr(&res);
    assert_eq!(res.status.code(), Some(1), "a clean error exit, not death by the signal: {e}");
    assert!(e.contains("SIGINT"), "{e}");
    let n = read_jsonl(&m).len();
    assert!((3..40).contains(&n), "{n} metrics lines");
    assert_eq!(count_video_frames(&o).0 as usize, n, "the overlay holds the frames of the metrics");
    assert!(image::open(&s).is_ok(), "the snapshot is written");
}

/// The wound-bed verdict says what it checked; `live` runs from any folder (built-in pipelines); no
/// "XDG_RUNTIME_DIR is invalid" noise when the variable is unset.
#[test]
fn verdicts_say_what_they_checked_and_messages_are_clean() {
    let d = tmpdir();
    phantom_on_disk(d.path(), 160, 120, 3, 78, 0.1);
    let findings = d.path().join("findings");
    let mut cmd = bin();
    cmd.env_remove("XDG_RUNTIME_DIR").args([
        "analyze", "--wl", &pattern(d.path(), "wl"), "--nir", &pattern(d.path(), "nir"), "--mm-per-px", "0.1", "--backend", "auto",
        "--mode", "wound-bed", "--roi", "10,20,100,80", "--tbr", "2", "--findings", findings.to_str().unwrap(),
    ]);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("XDG_RUNTIME_DIR"), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ROI 10,20,100,80") && stdout.contains("TBR from 2") && stdout.contains("3 frames checked"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(findings.join("findings.json")).unwrap()).unwrap();
    assert_eq!(doc["roi"], serde_json::json!([10, 20, 100, 80]));
    assert_eq!(doc["frames_checked"], 3);
    assert_eq!(doc["min_tbr"], 2.0);

    let elsewhere = tmpdir();
    let o = bin()
        .current_dir(elsewhere.path())
        .args(["live", "--phantom", "64x48", "--duration", "1", "--mm-per-px", "0.1", "--display", "fakesink", "--backend", "cpu"])
        .output()
        .unwrap();
    assert!(o.status.success(), "live from another folder: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("frames; added latency"));
}
